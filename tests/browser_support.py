"""Headless Chromium for the browser tests, driven by Playwright.

The Debian chromium binary is used as it is (Playwright's own browser
download is never run). Screenshots go to test-artifacts/ for people to look
at when a test fails, or to check what the viewer showed.
"""

import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageStat

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
PASSWORD = "a-long-passphrase-42"


# Module scope: Playwright's sync API keeps an event loop running in this
# thread while it is open, which trips Django's async-safety check (meant for
# async views) on every ORM call of the test thread. That loop only drives
# the browser, so the check is lifted exactly while it is open.
@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make sysdeps`")
    sync_api = pytest.importorskip("playwright.sync_api")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            yield browser
            browser.close()


@pytest.fixture
def page(chromium, live_server, settings):
    # Signing in is not what these tests measure; the default hasher's
    # deliberate slowness would cost a second per test on each side.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    context = chromium.new_context(
        base_url=live_server.url, viewport={"width": 1280, "height": 800}
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def sign_in(page, username: str, next_path: str = "/") -> None:
    page.goto(next_path)
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()


def screenshot(target, name: str) -> Image.Image:
    """Save a screenshot of a page or element and return it as an image."""
    ARTIFACTS.mkdir(exist_ok=True)
    data = target.screenshot(path=str(ARTIFACTS / f"{name}.png"))
    return Image.open(io.BytesIO(data)).convert("RGB")


def mean(image: Image.Image, box: tuple[int, int, int, int]) -> float:
    """Mean luminance of a region."""
    return ImageStat.Stat(image.crop(box).convert("L")).mean[0]


# What the viewer page must run under (reported to the security work, which
# sets the real header): only its own origin; 'wasm-unsafe-eval' lets the
# bundled codecs compile WebAssembly; the decode worker is a bundle file, so
# worker-src needs no blob:; images include data:/blob: for canvas exports.
VIEWER_CSP = (
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; "
    "style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; "
    "object-src 'none'; base-uri 'self'; frame-ancestors 'none'; form-action 'self'"
)
_RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`);
});
"""


def enforce_viewer_csp(page) -> None:
    """Serve the viewer pages with VIEWER_CSP and record any violation."""

    def add_header(route, request) -> None:
        response = route.fetch()
        route.fulfill(
            response=response,
            headers={**response.headers, "content-security-policy": VIEWER_CSP},
        )

    page.add_init_script(_RECORD_VIOLATIONS)
    page.route(re.compile(r".*/viewer/[^/]+/(\?.*)?$"), add_header)


def csp_violations(page) -> list[str]:
    return page.evaluate("window.__cspViolations")


def open_viewer(page, study_uid: str):
    """Open the viewer and wait for its first image; returns the viewport."""
    page.goto(f"/viewer/{study_uid}/")
    page.wait_for_selector("#viewer-root[data-state]", state="attached")
    state = page.get_attribute("#viewer-root", "data-state")
    assert state == "ready", page.inner_text(".viewer-status")
    # Set once the series is on the canvas, not merely chosen.
    page.wait_for_selector(".viewport-element[data-series-uid]")
    return page.locator(".viewport-element").first


def fitted_square(image: Image.Image) -> tuple[int, int, int]:
    """Left, top and side of a square image fitted, centred, in a viewport."""
    width, height = image.size
    side = min(width, height)
    return (width - side) // 2, (height - side) // 2, side


def centre_box(image: Image.Image) -> tuple[int, int, int, int]:
    """The middle quarter (by side) of the fitted square: a CT's body."""
    left, top, side = fitted_square(image)
    return (
        left + side * 3 // 8,
        top + side * 3 // 8,
        left + side * 5 // 8,
        top + side * 5 // 8,
    )
