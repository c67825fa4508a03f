"""The web UI in headless Chromium against a live server with real samples.

These run against pacsweb's own endpoints end to end. The viewer checks need
QIDO-RS, WADO-RS metadata and frames, and the upload needs STOW-RS; while a
service still answers 501 Not Implemented or has no route, the test that
needs it is skipped naming the service, never passed. (tests/test_viewer_in_browser.py covers
the viewer's own behaviour against a DICOMweb double meanwhile.)
"""

import shutil

import pydicom
import pytest
from django.contrib.auth.models import User
from django.urls import Resolver404, resolve

from apps.archive.ingest import ingest_file
from apps.archive.models import Instance
from tests.browser_support import (
    PASSWORD,
    centre_box,
    fitted_square,
    mean,
    open_viewer,
    screenshot,
    sign_in,
)
from tests.conftest import sample
from tests.display_expectations import difference, expected_display
from tests.personas import grant_everything
from tests.viewer_fixtures import ingest_dataset_as_new_study

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CT_STUDY = "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322"
HTTP_NOT_IMPLEMENTED = 501


@pytest.fixture
def clinician(page):
    # Past the security guard: every permission and collection.
    return grant_everything(User.objects.create_user("clinician", password=PASSWORD))


def _require(page, path: str, service: str) -> None:
    response = page.request.get(path, headers={"Accept": "application/dicom+json"})
    assert response.status != HTTP_NOT_IMPLEMENTED, f"{service}: {path} answers 501"


def _require_route(path: str, service: str) -> None:
    try:
        resolve(path)
    except Resolver404:
        pytest.fail(f"{service}: no route for {path}")


def _require_viewer_services(page, study_uid: str, series_uid: str) -> None:
    sop_uid = (
        Instance.objects.filter(series__series_instance_uid=series_uid)
        .first()
        .sop_instance_uid
    )
    _require_route(
        f"/dicomweb/studies/{study_uid}/series/{series_uid}/instances/{sop_uid}/frames/1",
        "WADO-RS frames",
    )
    _require(page, f"/dicomweb/studies/{study_uid}/series", "QIDO-RS series search")
    _require(
        page,
        f"/dicomweb/studies/{study_uid}/series/{series_uid}/metadata",
        "WADO-RS series metadata",
    )


def test_it_signs_in_searches_and_opens_a_study(page, clinician):
    ingest_file(sample("CT_small.dcm"))
    ingest_file(sample("MR_small.dcm"))

    page.goto("/")
    assert page.url.endswith("/accounts/login/?next=/")
    sign_in(page, "clinician")
    assert page.locator("table.studies tbody tr").count() == 2
    page.fill("input[name=patient]", "compressedsamples^ct")
    page.click("form.search button[type=submit]")
    page.wait_for_load_state()
    rows = page.locator("table.studies tbody tr")
    assert rows.count() == 1
    assert "CompressedSamples, CT1" in rows.first.inner_text()
    screenshot(page, "study-list")
    rows.first.locator("a.study-link").click()
    page.wait_for_load_state()

    assert page.url.endswith(f"/studies/{CT_STUDY}/")
    assert page.inner_text("h1") == "CompressedSamples, CT1"
    assert "1CT1" in page.inner_text("dl.attributes")
    assert page.locator("ul.series-grid li").count() == 1
    # Each thumbnail is either an image the server made or a placeholder,
    # never a broken image (the thumbnail service may not be deployed).
    page.wait_for_function(
        "() => [...document.querySelectorAll('img.thumb')]"
        ".every((img) => img.complete && img.naturalWidth > 0)"
    )
    thumbs = page.locator("ul.series-grid .thumb")
    assert thumbs.count() == 1
    screenshot(page, "study-page")
    assert page.get_attribute("a.button", "href") == f"/viewer/{CT_STUDY}/"


def test_the_viewer_shows_the_ct_image_with_the_body_brighter_than_air(page, clinician):
    result = ingest_file(sample("CT_small.dcm"))
    sign_in(page, "clinician")
    _require_viewer_services(page, CT_STUDY, result.identity.series_uid)

    image = screenshot(open_viewer(page, CT_STUDY), "viewer-ct")

    left, top, side = fitted_square(image)
    body = mean(image, centre_box(image))
    air = mean(image, (left + 4, top + side // 8, left + side // 10, top + side // 5))
    assert body > 60, f"viewport looks blank (centre mean {body:.0f})"
    assert body > air + 40, f"body {body:.0f} is not brighter than air {air:.0f}"


def test_the_viewer_changes_the_window_by_drag_and_by_preset(page, clinician):
    result = ingest_file(sample("CT_small.dcm"))
    sign_in(page, "clinician")
    _require_viewer_services(page, CT_STUDY, result.identity.series_uid)
    viewport = open_viewer(page, CT_STUDY)
    before = viewport.get_attribute("data-window")
    box = viewport.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2

    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 120, y + 60, steps=8)
    page.mouse.up()
    page.wait_for_function(
        "(b) => document.querySelector('.viewport-element').dataset.window !== b",
        arg=before,
    )
    dragged = viewport.get_attribute("data-window")
    page.select_option("select[aria-label='Window preset']", "1500,-600")
    page.wait_for_function(
        "() => document.querySelector('.viewport-element').dataset.window === '1500,-600'"
    )
    screenshot(viewport, "viewer-ct-lung-window")

    assert dragged != before
    assert "W 1500 L -600" in page.inner_text(".viewport-overlay")


def test_the_viewer_scrolls_a_multi_frame_series_by_wheel_and_keys(page, clinician):
    # 30 frames of JPEG baseline YBR ultrasound: also proves the bundled codec.
    result = ingest_file(sample("examples_ybr_color.dcm"))
    study = result.identity.study_uid
    sign_in(page, "clinician")
    _require_viewer_services(page, study, result.identity.series_uid)
    viewport = open_viewer(page, study)
    first = screenshot(viewport, "viewer-us-frame-1")

    viewport.hover()
    page.mouse.wheel(0, 300)
    page.wait_for_function(
        "() => document.querySelector('.viewport-element').dataset.imageIndex !== '0'"
    )
    after_wheel = int(viewport.get_attribute("data-image-index"))
    page.keyboard.press("ArrowDown")
    page.wait_for_function(
        f"() => document.querySelector('.viewport-element').dataset.imageIndex === '{after_wheel + 1}'"
    )
    later = screenshot(viewport, f"viewer-us-frame-{after_wheel + 2}")

    assert after_wheel >= 1
    assert f"Image {after_wheel + 2} / 30" in page.inner_text(".viewport-overlay")
    assert first.tobytes() != later.tobytes()


def test_the_viewer_draws_native_ybr_full_422_as_pydicom_does(page, clinician):
    # Two bytes a pixel (Y Y Cb Cr per pair) from the frames endpoint.
    result = ingest_file(sample("SC_ybr_full_422_uncompressed.dcm"))
    study = result.identity.study_uid
    sign_in(page, "clinician")
    _require_viewer_services(page, study, result.identity.series_uid)
    expected = pydicom.dcmread(sample("SC_ybr_full_422_uncompressed.dcm")).pixel_array

    image = screenshot(open_viewer(page, study), "viewer-native-ybr-422")

    assert difference(image, expected) < 6


def test_the_viewer_applies_a_voi_lut_read_from_bulk_data(
    page, clinician, settings, tmp_path
):
    # vlut_04's table made cubic (its own is a straight ramp) and served as
    # a BulkDataURI under its sequence item, which the viewer fetches.
    settings.PACSWEB_INLINE_BINARY_MAX = 0
    ds = pydicom.dcmread(sample("vlut_04.dcm"))
    ds.VOILUTSequence[0].LUTData = [round(65535 * (i / 255) ** 3) for i in range(256)]
    expected = expected_display(ds)
    study = ingest_dataset_as_new_study(tmp_path, ds, implicit_vr=True)
    series = Instance.objects.get().series.series_instance_uid
    sign_in(page, "clinician")
    _require_viewer_services(page, study, series)
    bulk = []
    page.on("request", lambda r: bulk.append(r.url) if "/bulkdata/" in r.url else None)

    image = screenshot(open_viewer(page, study), "viewer-voi-lut-bulk")

    assert difference(image, expected) < 8
    assert [url.rsplit("/bulkdata/", 1)[1] for url in bulk] == ["00283010/0/00283006"]


def test_it_uploads_a_folder_and_shows_progress_reaching_100_percent(
    page, clinician, tmp_path
):
    folder = tmp_path / "exam"
    (folder / "nested").mkdir(parents=True)
    shutil.copyfile(sample("CT_small.dcm"), folder / "CT_small.dcm")
    shutil.copyfile(sample("MR_small.dcm"), folder / "nested" / "MR_small.dcm")
    (folder / "notes.txt").write_text("not a DICOM file")
    sign_in(page, "clinician", "/upload/")
    _require_stow(page)

    page.set_input_files("#pick-folder", str(folder))
    page.wait_for_selector("#upload[data-state=done]", state="attached")
    screenshot(page, "upload-done")

    assert page.get_attribute("#total-progress", "value") == "100"
    assert page.inner_text("#summary") == "2 stored, 1 failed"
    names = page.locator("#file-rows td:first-child").all_inner_texts()
    outcomes = page.locator("#file-rows td.result").all_inner_texts()
    results = dict(zip(names, outcomes, strict=True))
    assert results["exam/CT_small.dcm"] == "stored"
    assert results["exam/nested/MR_small.dcm"] == "stored"
    # The FailureReason code, then the server's reason from the Warning header.
    assert results["exam/notes.txt"].startswith("cannot understand (0xC000): ")
    assert len(results["exam/notes.txt"]) > len("cannot understand (0xC000): ")
    assert sorted(Instance.objects.values_list("series__modality", flat=True)) == [
        "CT",
        "MR",
    ]


def _require_stow(page) -> None:
    token = page.get_attribute("#upload", "data-csrf-token")
    response = page.request.post(
        "/dicomweb/studies",
        headers={
            "Content-Type": "multipart/related; type=application/dicom; boundary=x",
            "X-CSRFToken": token,
        },
        data=b"--x--\r\n",
    )
    assert response.status != HTTP_NOT_IMPLEMENTED, "STOW-RS answers 501"
