"""Time to first image in pacsweb's browser viewer, in headless Chromium.

Each timed run opens the viewer page in a new browser context (empty cache,
the session cookie only) and takes the time from navigation start until
the viewport canvas holds a drawn image. A script installed before the page
runs samples the canvas every animation frame, so the figure does not
depend on how often Playwright polls.
"""

import logging
from dataclasses import dataclass

from bench.client import NotMeasurable, Target, multipart_body, stow
from bench.dataset import BenchData
from bench.ingest import batches
from bench.stats import Figure, latency

logger = logging.getLogger(__name__)

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
VIEWPORT = {"width": 1280, "height": 800}
PAGE_TIMEOUT_MS = 60_000
STOW_BATCH = 20

# A canvas shows an image once this share of its sampled pixels is brighter
# than this level (0-255): the empty viewport is black, CT_small's body
# covers about half of the fitted image.
MIN_LEVEL = 16
MIN_SHARE = 0.01
SAMPLE_SIDE = 64

# Draws each viewport canvas into a small canvas of its own (reading the
# viewer's canvas directly would claim its rendering context) and records
# performance.now(), which counts from navigation start.
_FIRST_IMAGE_SCRIPT = (
    "(() => {\n"
    f"  const SIDE = {SAMPLE_SIDE}, LEVEL = {MIN_LEVEL}, SHARE = {MIN_SHARE};\n"
    """
  const scratch = document.createElement("canvas");
  scratch.width = scratch.height = SIDE;
  const context = scratch.getContext("2d", { willReadFrequently: true });
  const shows = (canvas) => {
    if (!canvas.width || !canvas.height) return false;
    context.clearRect(0, 0, SIDE, SIDE);
    context.drawImage(canvas, 0, 0, SIDE, SIDE);
    const pixels = context.getImageData(0, 0, SIDE, SIDE).data;
    let bright = 0;
    for (let i = 0; i < pixels.length; i += 4) {
      if (Math.max(pixels[i], pixels[i + 1], pixels[i + 2]) > LEVEL) bright++;
    }
    return bright >= SHARE * SIDE * SIDE;
  };
  const poll = () => {
    const canvases = document.querySelectorAll(".viewport-element canvas");
    if ([...canvases].some(shows)) {
      window.__firstImageMs = performance.now();
      return;
    }
    requestAnimationFrame(poll);
  };
  requestAnimationFrame(poll);
})();
"""
)


@dataclass(frozen=True)
class ViewerAccess:
    """Where pacsweb's pages are and who signs in to them."""

    base_url: str  # no trailing slash
    username: str
    password: str


def viewer_path(study_uid: str) -> str:
    return f"/viewer/{study_uid}/"


def store(target: Target, study: BenchData) -> None:
    """Store the viewer's study through STOW-RS (not timed)."""
    instances = [i for _, _, i in study.all_instances()]
    for group in batches(instances, STOW_BATCH):
        body, content_type = multipart_body([study.path(i).read_bytes() for i in group])
        stow(target, body, content_type, len(group))


def time_to_first_image(access: ViewerAccess, study: BenchData, repeats: int) -> Figure:
    """One untimed checked pass, then `repeats` timed cold page loads."""
    # Imported here: only this measurement needs a browser.
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    study_uid = study.studies[0].study_instance_uid
    images = study.studies[0].instance_count
    samples: list[float] = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            try:
                session = _sign_in(browser, access)
                for n in range(repeats + 1):
                    elapsed = _open_once(browser, access, session, study_uid, images)
                    if n:
                        samples.append(elapsed)
            finally:
                browser.close()
    except PlaywrightError as exc:
        raise NotMeasurable(f"the viewer page failed: {exc}".splitlines()[0]) from exc
    return latency(samples)


def _sign_in(browser, access: ViewerAccess) -> dict:
    """Sign in once through the login form; every run reuses the cookie."""
    context = browser.new_context(base_url=access.base_url)
    try:
        page = context.new_page()
        page.goto("/accounts/login/")
        page.fill("#id_username", access.username)
        page.fill("#id_password", access.password)
        page.click("button[type=submit]")
        page.wait_for_load_state()
        if "/accounts/login/" in page.url:
            raise NotMeasurable(f"signing in as {access.username} was refused")
        return context.storage_state()
    finally:
        context.close()


def _open_once(
    browser, access: ViewerAccess, session: dict, study_uid: str, images: int
) -> float:
    context = browser.new_context(
        base_url=access.base_url, storage_state=session, viewport=VIEWPORT
    )
    try:
        context.add_init_script(_FIRST_IMAGE_SCRIPT)
        page = context.new_page()
        page.set_default_timeout(PAGE_TIMEOUT_MS)
        page.goto(viewer_path(study_uid), wait_until="commit")
        page.wait_for_function(
            "() => window.__firstImageMs !== undefined"
            " || document.querySelector('#viewer-root')?.dataset.state === 'error'"
        )
        if page.get_attribute("#viewer-root", "data-state") == "error":
            raise NotMeasurable(
                "the viewer reported: " + page.inner_text("#viewer-root")[:300]
            )
        elapsed = float(page.evaluate("window.__firstImageMs"))
        # Checked after the clock: the whole series is in the stack.
        overlay = page.locator(".viewport-overlay").first
        overlay.wait_for()
        page.wait_for_function(
            "(n) => document.querySelector('.viewport-overlay')"
            "?.textContent.includes(`/ ${n}`)",
            arg=images,
        )
        return elapsed
    finally:
        context.close()
