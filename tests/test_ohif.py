"""The real OHIF Viewer reading pacsweb, as a hospital would deploy it.

OHIF 3.13.2's prebuilt app (tests/ohif, installed by `make ohif`) and a
pacsweb gunicorn process share one origin through tests/ohif_proxy.py,
the reverse proxy of docs/viewer.md; a clinician signs in to pacsweb and
OHIF's requests carry that session. One server, proxy and browser serve
the whole module. Screenshots land in test-artifacts/ohif-*.png.
"""

import shutil
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageStat

from tests import ohif_proxy
from tests.browser_support import centre_box, fitted_square, mean, screenshot
from tests.conftest import sample
from tests.process_support import (
    BASE_DIR,
    environment,
    migrated_template,
    new_var_dir,
)
from tests.services_support import gunicorn

# django_db: the server's database is a copy of the test database, which
# pytest-django creates only for a run that has a database test.
pytestmark = [pytest.mark.browser, pytest.mark.django_db]

USERNAME = "reader"
PASSWORD = "a-long-passphrase-42"
IMAGE_TIMEOUT = 60
# Study rows, not the filter row above them.
STUDY_ROWS = "tbody tr[aria-selected]"


@dataclass(frozen=True)
class Study:
    uid: str
    patient_name: str  # as OHIF shows it
    patient_id: str
    modality: str
    instances: int


CT = Study(
    "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322",
    "CompressedSamples, CT1",
    "1CT1",
    "CT",
    1,
)
CT_SERIES = "1.3.6.1.4.1.5962.1.3.1.1.20040119072730.12322"
CT_SOP = "1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322"
MR = Study(
    "1.3.6.1.4.1.5962.1.2.4.20040826185059.5457",
    "CompressedSamples, MR1",
    "4MR1",
    "MR",
    1,
)
# Native RGB and JPEG 2000 (YBR_RCT) colour Doppler: one study, two instances.
US_COLOUR = Study(
    "1.3.6.1.4.1.5962.1.2.13.20040826185059.5457",
    "CompressedSamples, US1",
    "13US1",
    "US",
    2,
)
# 30 JPEG baseline YBR_FULL_422 frames in one instance.
US_CINE = Study(
    "1.2.840.114340.3.8251017118051.1.20160503.120850.2171",
    "PLA",
    "204",
    "US",
    1,
)
STUDIES = [CT, MR, US_COLOUR, US_CINE]
FILES = [
    "CT_small.dcm",
    "MR_small.dcm",
    "examples_rgb_color.dcm",
    "examples_jpeg2k.dcm",
    "examples_ybr_color.dcm",
]
US_CINE_FRAMES = 30

# The samples, imported as `manage.py import_dicom` does, and a clinician
# as docs/security.md describes one: the shipped group (read scope) and a
# grant on every collection. One process: each Django start costs seconds.
SET_UP = f"""
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from apps.accounts.models import CollectionGrant
call_command("import_dicom", *{[str(sample(name)) for name in FILES]!r})
user = User.objects.create_user({USERNAME!r}, password={PASSWORD!r})
user.groups.add(Group.objects.get(name="clinician"))
CollectionGrant.objects.create(user=user, all_collections=True)
"""


@pytest.fixture(scope="module")
def ohif_dist() -> Path:
    if not (ohif_proxy.OHIF_DIST / "index.html").exists():
        if shutil.which("npm"):
            pytest.fail(f"{ohif_proxy.OHIF_DIST} is missing: run `make ohif`")
        pytest.skip("Node.js/npm are not installed, so OHIF cannot be installed")
    return ohif_proxy.OHIF_DIST


@pytest.fixture(scope="module")
def pacsweb(tmp_path_factory, django_db_setup, django_db_blocker) -> Iterator[str]:
    """A pacsweb gunicorn process holding the samples; its URL."""
    folder = tmp_path_factory.mktemp("ohif-pacsweb")
    var_dir = new_var_dir(
        migrated_template(folder / "template", django_db_blocker), folder / "var"
    )
    env = environment(var_dir)
    manage(env, "shell", "-c", SET_UP)
    with gunicorn(env, folder / "gunicorn.log") as web:
        yield web.url


def manage(env: dict[str, str], *args: str) -> None:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def origin(ohif_dist, pacsweb) -> Iterator[ohif_proxy.OneOrigin]:
    server, thread = ohif_proxy.start(pacsweb)
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def signed_in(chromium, origin):
    """A browser context signed in to pacsweb on the shared origin."""
    # Service workers would fetch out of Playwright's sight.
    context = chromium.new_context(
        base_url=origin.url,
        viewport={"width": 1280, "height": 800},
        service_workers="block",
    )
    page = context.new_page()
    page.goto("/accounts/login/?next=/")
    page.fill("#id_username", USERNAME)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{origin.url}/")
    page.close()
    yield context
    context.close()


@pytest.fixture
def ohif(signed_in, origin):
    """A new tab of the signed-in browser; the proxy's record starts empty."""
    origin.config_suffix = ""
    origin.take_exchanges()
    page = signed_in.new_page()
    page.set_default_timeout(30_000)
    yield page
    page.close()


def open_study_list(page) -> list[list[str]]:
    """Load OHIF's study list; the cells of each row."""
    page.goto("/")
    page.get_by_text("1-4 of 4").wait_for()
    hide_notice(page)
    return [
        [cell.strip() for cell in row.locator("td").all_inner_texts()]
        for row in page.locator(STUDY_ROWS).all()
    ]


def hide_notice(page) -> None:
    """Confirm OHIF's investigational-use notice, as a user does."""
    button = page.get_by_role("button", name="Confirm and hide")
    if button.count():
        button.click()


def open_viewer(page, study: Study, name: str, ready) -> Image.Image:
    """Open the study in OHIF's viewer; a screenshot of its viewport once
    `ready(image)` holds (OHIF draws asynchronously)."""
    page.goto(f"/viewer?StudyInstanceUIDs={study.uid}")
    canvas = page.locator("canvas.cornerstone-canvas").first
    canvas.wait_for()
    hide_notice(page)
    deadline = time.monotonic() + IMAGE_TIMEOUT
    while True:
        skip_tour(page)
        image = screenshot(canvas, name)
        if ready(image) or time.monotonic() > deadline:
            return image
        time.sleep(0.5)


def skip_tour(page) -> None:
    """Close OHIF's first-visit tour, which covers the top of the viewport."""
    skip = page.get_by_text("Skip all", exact=True)
    if skip.is_visible():
        skip.click()


def drawn(image: Image.Image) -> bool:
    return ImageStat.Stat(image.convert("L")).extrema[0][1] > 40


def assert_no_failures(origin: ohif_proxy.OneOrigin) -> list[ohif_proxy.Exchange]:
    """Every answer since the last call was a success; the pacsweb ones."""
    exchanges = origin.take_exchanges()
    failed = [e for e in exchanges if e.status >= 400]
    assert failed == []
    return [e for e in exchanges if e.source == "pacsweb"]


def paths(exchanges: list[ohif_proxy.Exchange]) -> list[str]:
    return [urllib.parse.unquote(e.path) for e in exchanges]


def test_the_study_list_shows_exactly_the_stored_studies(ohif, origin):
    rows = open_study_list(ohif)

    # Patient, date, modalities, description, instances (and a menu cell).
    listed = sorted((row[0], row[2], row[4]) for row in rows)
    assert listed == sorted(
        (s.patient_name, s.modality, str(s.instances)) for s in STUDIES
    )
    assert next(row for row in rows if row[0] == CT.patient_name)[3] == "e+1"
    screenshot(ohif, "ohif-study-list")
    # The study panel names the patient ID of the row picked.
    for study in STUDIES:
        ohif.locator("tbody tr", has_text=study.patient_name).first.click()
        ohif.get_by_text(study.patient_id, exact=True).wait_for()
    pacsweb = assert_no_failures(origin)

    searches = [p for p in paths(pacsweb) if p.startswith("/dicomweb/studies?")]
    assert searches, "OHIF searched nothing on pacsweb"
    assert all("includefield=" in p and "fuzzymatching=true" in p for p in searches)


def test_a_patient_name_search_from_the_list(ohif, origin):
    open_study_list(ohif)

    # The first filter field is the patient's name.
    with ohif.expect_response(lambda r: "PatientName=" in r.url):
        ohif.locator("input").first.fill("compressed")
    ohif.get_by_text("1-3 of 3").wait_for()

    names = sorted(
        row.locator("td").first.inner_text().strip()
        for row in ohif.locator(STUDY_ROWS).all()
    )
    assert names == sorted(s.patient_name for s in (CT, MR, US_COLOUR))
    pacsweb = assert_no_failures(origin)
    searched = paths(pacsweb)
    assert any("PatientName=*compressed*" in p for p in searched), searched


def test_the_viewer_draws_the_ct_with_the_body_brighter_than_the_background(
    ohif, origin
):
    image = open_viewer(ohif, CT, "ohif-viewer-ct", drawn)

    left, top, side = fitted_square(image)
    body = mean(image, centre_box(image))
    background = mean(image, (0, top + side // 4, max(left - 4, 1), top + side // 2))
    assert body > background + 40, (body, background)
    pacsweb = paths(assert_no_failures(origin))
    series = f"/dicomweb/studies/{CT.uid}/series/{CT_SERIES}"
    assert f"{series}/metadata" in pacsweb
    assert f"{series}/instances/{CT_SOP}/frames/1" in pacsweb


def test_the_viewer_draws_colour_doppler_in_colour(ohif, origin):
    def coloured(image: Image.Image) -> bool:
        rgb = np.asarray(image, dtype=np.int16)
        red, blue = rgb[..., 0], rgb[..., 2]
        return int(((red - blue > 80) & (red > 150)).sum()) > 500

    image = open_viewer(ohif, US_COLOUR, "ohif-viewer-us-colour", coloured)

    assert coloured(image)
    pacsweb = paths(assert_no_failures(origin))
    frames = [p for p in pacsweb if p.endswith("/frames/1")]
    assert len(frames) == US_COLOUR.instances


def test_the_viewer_loads_every_frame_of_a_multiframe_instance(ohif, origin):
    # pacsweb's own rendered thumbnails, OHIF's other thumbnail source.
    origin.config_suffix = (
        "\nwindow.config.dataSources[0].configuration.thumbnailRendering"
        " = 'thumbnail';\n"
    )

    def all_frames_fetched(image: Image.Image) -> bool:
        fetched = [e for e in origin.exchanges if "/frames/" in e.path]
        return drawn(image) and len(fetched) >= US_CINE_FRAMES

    image = open_viewer(ohif, US_CINE, "ohif-viewer-us-cine", all_frames_fetched)

    # The bright band of the pericardium, low in the sector, against the
    # black left of it.
    left, top, side = fitted_square(image)
    band = mean(
        image,
        (
            left + side * 35 // 100,
            top + side * 68 // 100,
            left + side * 65 // 100,
            top + side * 80 // 100,
        ),
    )
    outside = mean(image, (20, top + side * 40 // 100, left, top + side * 55 // 100))
    assert band > outside + 40, (band, outside)
    pacsweb = paths(assert_no_failures(origin))
    frames = sorted(int(p.rsplit("/", 1)[1]) for p in pacsweb if "/frames/" in p)
    assert frames == list(range(1, US_CINE_FRAMES + 1))
    assert any("/thumbnail?accept=image/jpeg" in p for p in pacsweb)


def test_ohif_without_a_pacsweb_session_lists_nothing(chromium, origin):
    context = chromium.new_context(base_url=origin.url, service_workers="block")
    page = context.new_page()
    origin.take_exchanges()
    try:
        with page.expect_response(lambda r: "/dicomweb/studies" in r.url) as answer:
            page.goto("/")
        page.get_by_text("Study List").first.wait_for()

        assert answer.value.status == 401
        assert page.locator(STUDY_ROWS).count() == 0
        assert CT.patient_name not in page.inner_text("body")
        screenshot(page, "ohif-study-list-signed-out")
    finally:
        context.close()
    searches = [e for e in origin.take_exchanges() if e.path.startswith("/dicomweb/")]
    assert searches and all(e.status == 401 for e in searches)
