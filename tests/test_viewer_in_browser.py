"""The viewer bundle in headless Chromium, against a DICOMweb double.

The page, the session and the bundle come from the live server; only the
/dicomweb answers come from tests/fake_dicomweb.py, so these pin what the
viewer itself does and what it asks the server for. The pages run under the
Content-Security-Policy the viewer needs (browser_support.VIEWER_CSP), and
any violation fails the test.
"""

import copy
import re
import shutil
from pathlib import Path

import numpy
import pydicom
import pytest
from django.contrib.auth.models import User
from PIL import Image, ImageChops, ImageStat

from apps.archive.ingest import ingest_file
from apps.archive.models import Instance
from tests.browser_support import (
    PASSWORD,
    centre_box,
    csp_violations,
    enforce_viewer_csp,
    fitted_square,
    mean,
    open_viewer,
    screenshot,
    sign_in,
)
from tests.conftest import sample
from tests.display_expectations import (
    cells,
    difference,
    drawn_region,
    expected_display,
    value_cells,
)
from tests.fake_dicomweb import FakeDicomWeb
from tests.personas import grant_everything
from tests.viewer_fixtures import (
    ingest_as_new_series,
    ingest_as_new_study,
    ingest_dataset_as_new_study,
    ingest_into_study,
    ingest_renamed,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CT_STUDY = "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322"
CT_SOP = "1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322"
# pydicom ships MONOCHROME1 with pixel data only in its DICOMDIR tree.
MONOCHROME1_NAME = "dicomdirtests/77654033/CR1/6154"


@pytest.fixture
def dicomweb(page, tmp_path):
    # Past the security guard: every permission and collection.
    grant_everything(User.objects.create_user("clinician", password=PASSWORD))
    fake = FakeDicomWeb(spool_dir=tmp_path)
    fake.install(page)
    enforce_viewer_csp(page)
    sign_in(page, "clinician")
    return fake


def _index(page) -> int:
    return int(page.get_attribute(".viewport-element", "data-image-index"))


def test_it_shows_the_ct_asking_only_dicomweb_with_any_transfer_syntax(page, dicomweb):
    result = ingest_file(sample("CT_small.dcm"))
    series = result.identity.series_uid

    image = screenshot(open_viewer(page, CT_STUDY), "in-browser-ct")

    left, top, side = fitted_square(image)
    body = mean(image, centre_box(image))
    air = mean(image, (left + 4, top + side // 8, left + side // 10, top + side // 5))
    assert body > 60, f"viewport looks blank (centre mean {body:.0f})"
    assert body > air + 40, f"body {body:.0f} is not brighter than air {air:.0f}"
    asked = dict(dicomweb.requests)
    assert asked[f"studies/{CT_STUDY}/series"] == "application/dicom+json"
    assert (
        asked[f"studies/{CT_STUDY}/series/{series}/metadata"]
        == "application/dicom+json"
    )
    frame_accept = asked[
        f"studies/{CT_STUDY}/series/{series}/instances/{CT_SOP}/frames/1"
    ]
    assert (
        frame_accept
        == "multipart/related; type=application/octet-stream; transfer-syntax=*"
    )
    assert "Patient ID1CT1" in page.inner_text(".meta-panel").replace("\t", "")
    assert csp_violations(page) == []


def test_it_scrolls_frames_by_wheel_and_keys_and_plays_cine(page, dicomweb):
    # 30 JPEG baseline frames: decoded by the bundled wasm codec in a worker.
    study = ingest_file(sample("examples_ybr_color.dcm")).identity.study_uid
    viewport = open_viewer(page, study)
    first = screenshot(viewport, "in-browser-us-frame-1")

    viewport.hover()
    page.mouse.wheel(0, 300)
    page.wait_for_function(
        "() => document.querySelector('.viewport-element').dataset.imageIndex !== '0'"
    )
    after_wheel = _index(page)
    page.keyboard.press("ArrowDown")
    page.wait_for_function(
        f"() => document.querySelector('.viewport-element').dataset.imageIndex === '{after_wheel + 1}'"
    )
    later = screenshot(viewport, f"in-browser-us-frame-{after_wheel + 2}")
    page.keyboard.press("End")
    page.wait_for_function(
        "() => document.querySelector('.viewport-element').dataset.imageIndex === '29'"
    )
    page.click("[data-action=cine]")
    page.wait_for_function(
        "() => document.querySelector('.viewport-element').dataset.imageIndex !== '29'"
    )
    page.click("[data-action=cine]")

    assert after_wheel >= 1
    assert first.tobytes() != later.tobytes()
    assert "Frames30" in page.inner_text(".meta-panel").replace("\t", "")
    assert csp_violations(page) == []


def test_it_windows_by_drag_preset_and_inverts_and_resets(page, dicomweb):
    ingest_file(sample("CT_small.dcm"))
    viewport = open_viewer(page, CT_STUDY)
    initial = viewport.get_attribute("data-window")
    box = viewport.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    normal = screenshot(viewport, "in-browser-ct-default-window")

    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 120, y + 60, steps=8)
    page.mouse.up()
    page.wait_for_function(
        "(w) => document.querySelector('.viewport-element').dataset.window !== w",
        arg=initial,
    )
    dragged = viewport.get_attribute("data-window")
    page.select_option("select[aria-label='Window preset']", "1500,-600")
    page.wait_for_function(
        "() => document.querySelector('.viewport-element').dataset.window === '1500,-600'"
    )
    lung = screenshot(viewport, "in-browser-ct-lung-window")
    page.click("[data-action=invert]")
    page.wait_for_function(
        "() => document.querySelector('.viewport-overlay').textContent.includes('Inverted')"
    )
    inverted = screenshot(viewport, "in-browser-ct-inverted")
    page.click("[data-action=reset]")
    page.wait_for_function(
        "(w) => document.querySelector('.viewport-element').dataset.window === w",
        arg=initial,
    )

    assert dragged != initial
    assert lung.tobytes() != normal.tobytes()
    centre = centre_box(lung)
    assert mean(inverted, centre) < mean(lung, centre) - 40
    assert "Inverted" not in page.inner_text(".viewport-overlay")


def test_it_measures_a_length_in_millimetres(page, dicomweb):
    ingest_file(sample("CT_small.dcm"))
    viewport = open_viewer(page, CT_STUDY)
    box = viewport.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2

    page.click("[data-tool=Length]")
    page.mouse.move(x - 100, y)
    page.mouse.down()
    page.mouse.move(x + 100, y, steps=8)
    page.mouse.up()
    label = page.locator(".viewport-element svg text").first
    label.wait_for()
    screenshot(viewport, "in-browser-ct-length")

    # 200 screen pixels across a 128-pixel image drawn `side` pixels high,
    # at 0.661468 mm per image pixel.
    side = min(box["width"], box["height"])
    expected = 200 * 128 / side * 0.661468
    text = label.text_content()
    measured = float(text.split()[0])
    assert text.endswith("mm")
    assert measured == pytest.approx(expected, rel=0.05)


def test_it_shows_four_series_side_by_side_in_the_2x2_layout(page, dicomweb, tmp_path):
    # One study, four encodings of the same MR image: native, RLE, JPEG 2000
    # and JPEG-LS, so the 2x2 also shows every bundled lossless codec at work.
    study = ingest_file(sample("MR_small.dcm")).identity.study_uid
    for number, name in enumerate(
        (
            "MR_small_RLE.dcm",
            "MR_small_jp2klossless.dcm",
            "MR_small_jpeg_ls_lossless.dcm",
        ),
        start=2,
    ):
        ingest_as_new_series(tmp_path, name, number)
    open_viewer(page, study)

    page.click("[data-action=layout-2x2]")
    page.wait_for_function(
        "() => document.querySelectorAll('.viewport-element[data-rendered=true]').length === 4"
    )
    screenshot(page, "in-browser-2x2")
    page.locator(".viewport").nth(3).click()
    page.click("[data-action=layout-1x1]")

    assert page.locator(".viewport:not([hidden])").count() == 1
    assert page.locator(".series-item").count() == 4
    assert csp_violations(page) == []


def test_it_shows_a_hostile_patient_name_as_text_in_the_metadata_panel(
    page, dicomweb, tmp_path
):
    ingest_renamed(tmp_path, "CT_small.dcm", "<b>Bold</b>^<script>alert(1)</script>")

    open_viewer(page, CT_STUDY)

    assert "<b>Bold</b>, <script>alert(1)</script>" in page.inner_text(".meta-panel")
    assert "<b>Bold</b>, <script>alert(1)</script>" in page.inner_text(".viewer-bar")
    assert page.locator("main b, main script").count() == 0


def test_the_upload_page_sends_a_folder_file_by_file_and_reports_each_outcome(
    page, dicomweb, tmp_path
):
    folder = tmp_path / "exam"
    (folder / "nested").mkdir(parents=True)
    shutil.copyfile(sample("CT_small.dcm"), folder / "CT_small.dcm")
    shutil.copyfile(sample("MR_small.dcm"), folder / "nested" / "MR_small.dcm")
    (folder / "notes.txt").write_text("not a DICOM file")
    page.goto("/upload/")

    page.set_input_files("#pick-folder", str(folder))
    page.wait_for_selector("#upload[data-state=done]", state="attached")
    screenshot(page, "in-browser-upload-done")

    assert page.get_attribute("#total-progress", "value") == "100"
    assert page.inner_text("#total-text") == "100 % · 3 of 3 files"
    assert page.inner_text("#summary") == "2 stored, 1 failed"
    names = page.locator("#file-rows td:first-child").all_inner_texts()
    outcomes = page.locator("#file-rows td.result").all_inner_texts()
    results = dict(zip(names, outcomes, strict=True))
    assert results == {
        "exam/CT_small.dcm": "stored",
        "exam/nested/MR_small.dcm": "stored",
        "exam/notes.txt": "cannot understand (0xC000)",
    }
    bars = page.locator("#file-rows progress").evaluate_all(
        "(bars) => bars.map((b) => b.value)"
    )
    assert bars == [100, 100, 100]
    posts = [accept for path, accept in dicomweb.requests if path == "studies"]
    assert posts == ["application/dicom+json"] * 3
    assert sorted(Instance.objects.values_list("series__modality", flat=True)) == [
        "CT",
        "MR",
    ]


# One real sample of every photometric interpretation pydicom and
# pydicom-data ship, across the encodings the viewer decodes.
DISPLAY_SAMPLES = [
    MONOCHROME1_NAME,  # MONOCHROME1 CR, window from the file
    "CT_small.dcm",  # MONOCHROME2, rescaled, window from the file
    "MR_small_bigendian.dcm",  # MONOCHROME2, explicit VR big endian
    "JPGExtended.dcm",  # MONOCHROME2, 12-bit JPEG extended
    "image_dfl.dcm",  # MONOCHROME2, deflated explicit VR little endian
    "examples_rgb_color.dcm",  # RGB native
    "SC_rgb_rle.dcm",  # RGB, RLE
    "SC_rgb_jpeg_gdcm.dcm",  # RGB, JPEG lossless
    "examples_palette.dcm",  # PALETTE COLOR
    "SC_ybr_full_uncompressed.dcm",  # YBR_FULL native
    "SC_rgb_dcmtk_+eb+cy+n1.dcm",  # YBR_FULL, JPEG baseline
    "SC_ybr_full_422_uncompressed.dcm",  # YBR_FULL_422 native
    "SC_rgb_dcmtk_+eb+cy+s2.dcm",  # YBR_FULL_422, JPEG baseline
    "examples_jpeg2k.dcm",  # YBR_RCT, JPEG 2000 lossless
    "US1_J2KI.dcm",  # YBR_ICT, JPEG 2000
]


def _shown(page, tmp_path, name: str) -> Image.Image:
    study = ingest_as_new_study(tmp_path, name)
    return screenshot(open_viewer(page, study), f"in-browser-sample-{Path(name).name}")


def test_it_draws_native_ybr_full_422_as_pydicom_converts_it_to_rgb(
    page, dicomweb, tmp_path
):
    ds = pydicom.dcmread(sample("SC_ybr_full_422_uncompressed.dcm"))

    image = _shown(page, tmp_path, "SC_ybr_full_422_uncompressed.dcm")

    # Ten bars: red, pink, green, ..., black to white; pydicom's RGB.
    expected = ds.pixel_array
    drawn = numpy.asarray(
        drawn_region(image, ds.Rows, ds.Columns).resize((ds.Columns, ds.Rows))
    ).astype(int)
    for row in range(5, 100, 10):
        assert numpy.abs(drawn[row, 50] - expected[row, 50]).max() <= 12, row
    assert difference(image, expected) < 6


def test_it_draws_every_photometric_interpretation_as_pydicom_decodes_it(
    page, dicomweb, tmp_path
):
    # All samples as series of one study, shown one after the other from the
    # series panel: one page and one Cornerstone start-up for all of them.
    study = "2.25.4242"
    expected, sop_uids = {}, {}
    for number, name in enumerate(DISPLAY_SAMPLES, start=1):
        ds = pydicom.dcmread(sample(name))
        expected[name] = expected_display(ds)
        ds.PatientID, ds.PatientName = "SAMPLES", "Samples^All"
        ds.SeriesNumber = number
        sop_uids[name] = ingest_into_study(tmp_path, ds, study)
    series = dict(
        Instance.objects.values_list("sop_instance_uid", "series__series_instance_uid")
    )
    open_viewer(page, study)

    off = {}
    for name in DISPLAY_SAMPLES:
        sop = sop_uids[name]
        page.click(f".series-item[data-series-uid='{series[sop]}']")
        page.wait_for_selector(f".viewport-element[data-series-uid='{series[sop]}']")
        shot = screenshot(
            page.locator(".viewport-element").first,
            f"in-browser-sample-{Path(name).name}",
        )
        off[name] = round(difference(shot, expected[name]), 1)

    assert {name: d for name, d in off.items() if d > 12} == {}, off
    assert csp_violations(page) == []


def test_it_draws_monochrome1_inverted(page, dicomweb, tmp_path):
    ds = pydicom.dcmread(sample(MONOCHROME1_NAME))
    stored = ds.pixel_array.astype(float)

    image = _shown(page, tmp_path, MONOCHROME1_NAME)

    # The CR's stored values rise from the top left to the bottom left
    # corner; in MONOCHROME1 the higher value is the darker one.
    drawn = cells(drawn_region(image, ds.Rows, ds.Columns)).mean(axis=2)
    stored_cells = value_cells(stored)
    high = numpy.unravel_index(stored_cells.argmax(), stored_cells.shape)
    low = numpy.unravel_index(stored_cells.argmin(), stored_cells.shape)
    assert stored_cells[high] > stored_cells[low] + 500
    assert drawn[high] < drawn[low] - 40
    correlation = numpy.corrcoef(drawn.ravel(), stored_cells.ravel())[0, 1]
    assert correlation < -0.9


# The 512-byte tables are inline in the metadata by default; with inlining
# off they are BulkDataURIs that the viewer fetches from WADO-RS bulk data.
@pytest.mark.parametrize(("inline_max", "fetches"), [(1024, 0), (0, 3)])
def test_it_draws_palette_colour_from_inline_or_bulk_tables(
    page, dicomweb, settings, inline_max, fetches
):
    settings.PACSWEB_INLINE_BINARY_MAX = inline_max
    result = ingest_file(sample("examples_palette.dcm"))

    viewport = open_viewer(page, result.identity.study_uid)
    image = screenshot(viewport, f"in-browser-palette-{inline_max}")

    fetched = [path for path, _ in dicomweb.requests if "/bulkdata/" in path]
    assert len(fetched) == fetches
    assert sorted({p.rsplit("/", 1)[1] for p in fetched}) == (
        ["00281201", "00281202", "00281203"] if fetches else []
    )
    # The scanner's banner is drawn in blue through the palette.
    pixels = numpy.asarray(image, dtype=int)
    bluish = int((pixels[..., 2] > pixels[..., 0] + 40).sum())
    assert bluish > 1000


def _with_cubic_lut(name: str, keyword: str) -> pydicom.Dataset:
    # pydicom's LUT samples carry straight ramps, which a plain window draws
    # just the same; a cubic table tells the two apart.
    ds = pydicom.dcmread(sample(name))
    item = ds[keyword][0]
    entries = len(item.LUTData)
    item.LUTData = [round(65535 * (i / (entries - 1)) ** 3) for i in range(entries)]
    return ds


# mlut_18: 4,096 entries (8 KB), vlut_04: 256 (512 bytes). Explicit VR keeps
# LUT Data as US values; implicit VR makes it OW, inline up to
# PACSWEB_INLINE_BINARY_MAX and a BulkDataURI the viewer fetches above.
@pytest.mark.parametrize(
    ("name", "keyword", "implicit_vr", "inline_max", "fetched"),
    [
        ("mlut_18.dcm", "ModalityLUTSequence", False, 1024, None),
        ("mlut_18.dcm", "ModalityLUTSequence", True, 1024, "00283000/0/00283006"),
        ("vlut_04.dcm", "VOILUTSequence", True, 1024, None),
        ("vlut_04.dcm", "VOILUTSequence", True, 0, "00283010/0/00283006"),
    ],
)
def test_it_draws_through_the_modality_or_voi_lut_table(
    page, dicomweb, settings, tmp_path, name, keyword, implicit_vr, inline_max, fetched
):
    settings.PACSWEB_INLINE_BINARY_MAX = inline_max
    ds = _with_cubic_lut(name, keyword)
    through_lut = expected_display(ds)
    plain = copy.deepcopy(ds)
    del plain[keyword]
    plain_window = expected_display(plain)
    study = ingest_dataset_as_new_study(tmp_path, ds, implicit_vr=implicit_vr)

    image = screenshot(
        open_viewer(page, study), f"in-browser-lut-{name}-{implicit_vr}-{inline_max}"
    )

    # The two renderings differ, so the test can fail.
    assert (
        difference(Image.fromarray(plain_window.astype(numpy.uint8)), through_lut) > 30
    )
    assert difference(image, through_lut) < 8
    assert difference(image, plain_window) > 25
    bulk = [path for path, _ in dicomweb.requests if "/bulkdata/" in path]
    assert [path.split("/bulkdata/")[1] for path in bulk] == (
        [fetched] if fetched else []
    )


def test_a_modality_lut_wins_over_a_rescale_the_file_also_has(page, dicomweb, tmp_path):
    # Not allowed together (PS3.3 C.11.1), but seen; pydicom uses the table.
    ds = _with_cubic_lut("mlut_18.dcm", "ModalityLUTSequence")
    ds.RescaleSlope, ds.RescaleIntercept, ds.RescaleType = 1, 1000, "US"
    rescaled = copy.deepcopy(ds)
    del rescaled.ModalityLUTSequence
    study = ingest_dataset_as_new_study(tmp_path, ds)

    image = screenshot(open_viewer(page, study), "in-browser-lut-and-rescale")

    assert difference(image, expected_display(ds)) < 8
    assert difference(image, expected_display(rescaled)) > 25


@pytest.mark.parametrize("fault", ["short table", "bulk data refused"])
def test_an_unreadable_voi_lut_costs_the_image_its_lut_not_its_display(
    page, dicomweb, settings, tmp_path, fault
):
    settings.PACSWEB_INLINE_BINARY_MAX = 0
    ds = _with_cubic_lut("vlut_04.dcm", "VOILUTSequence")
    if fault == "short table":
        ds.VOILUTSequence[0].LUTData = ds.VOILUTSequence[0].LUTData[:100]
    else:
        page.route(re.compile(r".*/bulkdata/.*"), lambda route: route.abort())
    plain = copy.deepcopy(ds)
    del plain.VOILUTSequence
    warnings: list[str] = []
    page.on("console", lambda m: warnings.append(m.text) if m.type == "warning" else 0)
    study = ingest_dataset_as_new_study(tmp_path, ds, implicit_vr=True)

    image = screenshot(open_viewer(page, study), f"in-browser-lut-fault-{fault}")

    assert difference(image, expected_display(plain)) < 8
    assert any("not applied" in text for text in warnings), warnings


def test_it_zooms_by_right_drag_pans_by_middle_drag_and_resets(page, dicomweb):
    ingest_file(sample("CT_small.dcm"))
    viewport = open_viewer(page, CT_STUDY)
    box = viewport.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    fitted = screenshot(viewport, "in-browser-ct-fitted")
    left, _, _ = fitted_square(fitted)
    # The black band beside the fitted square image.
    band = (2, fitted.height // 3, left - 2, fitted.height * 2 // 3)

    def drag(button: str, dx: float, dy: float) -> None:
        page.mouse.move(x, y)
        page.mouse.down(button=button)
        page.mouse.move(x + dx, y + dy, steps=10)
        page.mouse.up(button=button)
        page.wait_for_timeout(300)  # let the next frame be drawn

    drag("right", 0, 150)  # down zooms in
    zoomed = screenshot(viewport, "in-browser-ct-zoomed")
    drag("middle", 300, 0)
    panned = screenshot(viewport, "in-browser-ct-panned")
    page.click("[data-action=reset]")
    page.wait_for_timeout(300)
    reset = screenshot(viewport, "in-browser-ct-reset")

    assert mean(fitted, band) < 5
    assert mean(zoomed, band) > 30, "zooming in should fill the band with image"
    moved = ImageStat.Stat(ImageChops.difference(zoomed, panned).convert("L")).mean[0]
    assert moved > 5, "panning should move the image"
    assert mean(reset, band) < 5
