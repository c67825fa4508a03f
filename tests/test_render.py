"""apps.dicomweb.render: rendered frames against independent numpy values.

Each expected image is computed here from pydicom's decoded array with the
formulas of PS3.3 C.11.2.1.2 (windows), C.7.6.3.1.2 (YCbCr) and C.7.6.3.1.5
(palettes), not with the code under test.
"""

import io

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.pixels import pixel_array

from apps.dicomweb import render
from tests.pixel_samples import full_dataset, pixel_source, sample_path


def rendered(name, index=0, media_type=render.PNG, **query) -> np.ndarray:
    path = sample_path(name)
    options = render.parse_options(query, media_type)
    with open(path, "rb") as handle:
        data = render.render_frame(handle, pixel_source(path), index, options)
    image = Image.open(io.BytesIO(data))
    assert image.format == render.PIL_FORMATS[media_type]
    return np.asarray(image.convert("RGB") if image.mode == "P" else image)


def linear(x: np.ndarray, c: float, w: float) -> np.ndarray:
    low, high = c - 0.5 - (w - 1) / 2, c - 0.5 + (w - 1) / 2
    inside = ((x - (c - 0.5)) / (w - 1) + 0.5) * 255
    return np.where(x <= low, 0.0, np.where(x > high, 255.0, inside))


def full_range(x: np.ndarray) -> np.ndarray:
    return (x - x.min()) / (x.max() - x.min()) * 255


def assert_close(got: np.ndarray, expected: np.ndarray, tolerance: float = 1) -> None:
    assert got.shape == expected.shape
    difference = np.abs(got.astype(np.float64) - expected)
    assert difference.max() <= tolerance, difference.max()


def test_it_applies_rescale_and_the_full_range_to_signed_ct_without_a_window():
    ds = full_dataset("CT_small.dcm")
    hounsfield = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)

    got = rendered("CT_small.dcm")

    assert ds.PixelRepresentation == 1 and "WindowCenter" not in ds
    assert_close(got, full_range(hounsfield))


def test_it_applies_the_window_parameter_in_rescaled_units():
    ds = full_dataset("CT_small.dcm")
    hounsfield = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)

    got = rendered("CT_small.dcm", window="40,400,linear")

    assert_close(got, linear(hounsfield, 40, 400))
    assert (got == 0).any() and (got == 255).any()


def test_it_uses_the_window_in_the_file_when_none_is_given():
    ds = full_dataset("MR_small.dcm")

    got = rendered("MR_small.dcm")

    assert_close(got, linear(ds.pixel_array.astype(float), 600, 1600))
    assert (float(ds.WindowCenter), float(ds.WindowWidth)) == (600, 1600)


def test_it_applies_linear_exact_and_sigmoid_windows():
    x = full_dataset("MR_small.dcm").pixel_array.astype(float)
    exact = np.clip((x - 300) / 500 + 0.5, 0, 1) * 255
    sigmoid = 255 / (1 + np.exp(-4 * (x - 300) / 500))

    assert_close(rendered("MR_small.dcm", window="300,500,linear-exact"), exact)
    assert_close(rendered("MR_small.dcm", window="300,500,SIGMOID"), sigmoid)


def test_it_inverts_monochrome1():
    ds = full_dataset("MONOCHROME1")
    x = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    center, width = float(ds.WindowCenter), float(ds.WindowWidth)

    got = rendered("MONOCHROME1")

    assert ds.PhotometricInterpretation == "MONOCHROME1"
    assert_close(got, 255 - linear(x, center, width))


def test_it_applies_a_voi_lut_from_the_file(tmp_path):
    ds = full_dataset("MR_small.dcm")
    lut = (np.arange(4096, dtype=np.float64) ** 0.5 * (65535 / 4095**0.5)).astype("<u2")
    item = pydicom.Dataset()
    item.LUTDescriptor = [4096, 0, 16]
    item.add_new(0x00283006, "US", lut.tolist())  # LUT Data
    ds.VOILUTSequence = [item]
    del ds.WindowCenter, ds.WindowWidth
    path = tmp_path / "voi.dcm"
    ds.save_as(path)
    x = np.clip(ds.pixel_array.astype(np.int64), 0, 4095)

    got = _render_path(path)

    assert_close(got, lut[x] / 65535 * 255)


def _render_path(path, **query) -> np.ndarray:
    options = render.parse_options(query, render.PNG)
    with open(path, "rb") as handle:
        data = render.render_frame(handle, pixel_source(path), 0, options)
    return np.asarray(Image.open(io.BytesIO(data)))


def test_it_maps_palette_colour_through_the_file_lut():
    ds = full_dataset("examples_palette.dcm")
    entries, first, bits = ds.RedPaletteColorLookupTableDescriptor
    index = np.clip(ds.pixel_array.astype(np.int64) - first, 0, entries - 1)
    channels = [
        np.frombuffer(ds[keyword].value, "<u2")[index] / 257
        for keyword in (
            "RedPaletteColorLookupTableData",
            "GreenPaletteColorLookupTableData",
            "BluePaletteColorLookupTableData",
        )
    ]

    got = rendered("examples_palette.dcm")

    assert bits == 16
    assert_close(got, np.stack(channels, axis=-1))


def ybr_to_rgb(ybr: np.ndarray) -> np.ndarray:
    y, cb, cr = (ybr[..., i].astype(np.float64) for i in range(3))
    red = y + 1.402 * (cr - 128)
    green = y - 0.344136 * (cb - 128) - 0.714136 * (cr - 128)
    blue = y + 1.772 * (cb - 128)
    return np.clip(np.stack([red, green, blue], axis=-1), 0, 255)


@pytest.mark.parametrize(
    ("name", "index"),
    [
        ("SC_ybr_full_422_uncompressed.dcm", 0),
        ("examples_ybr_color.dcm", 12),
        ("SC_rgb_jpeg_dcmtk.dcm", 0),
    ],
)
def test_it_converts_ycbcr_to_rgb(name, index):
    ybr = pixel_array(full_dataset(name), index=index, raw=True)

    got = rendered(name, index=index)

    assert full_dataset(name).PhotometricInterpretation.startswith("YBR_FULL")
    assert_close(got, ybr_to_rgb(ybr), tolerance=2)


@pytest.mark.parametrize(
    "name",
    [
        "examples_rgb_color.dcm",
        "SC_rgb_rle.dcm",
        "examples_jpeg2k.dcm",
        "SC_rgb_gdcm_KY.dcm",
    ],
)
def test_it_renders_8_bit_rgb_unchanged(name):
    got = rendered(name)

    assert np.array_equal(got, full_dataset(name).pixel_array)


def test_it_scales_16_bit_rgb_to_8_bits():
    ds = full_dataset("SC_rgb_rle_16bit.dcm")

    got = rendered("SC_rgb_rle_16bit.dcm")

    assert_close(got, ds.pixel_array / 65535 * 255)


@pytest.mark.parametrize(
    ("name", "index"),
    [("rtdose.dcm", 7), ("rtdose_rle.dcm", 14), ("SC_rgb_rle_2frame.dcm", 1)],
)
def test_it_renders_the_requested_frame_of_a_multi_frame_instance(name, index):
    frame = full_dataset(name).pixel_array[index].astype(np.float64)
    expected = frame if frame.ndim == 3 else full_range(frame)

    got = rendered(name, index=index)

    assert_close(got, expected)


@pytest.mark.parametrize(
    ("name", "twin"),
    [
        ("MR_small_jp2klossless.dcm", "MR_small.dcm"),
        ("MR_small_jpeg_ls_lossless.dcm", "MR_small.dcm"),
        ("MR_small_RLE.dcm", "MR_small.dcm"),
        ("MR_small_bigendian.dcm", "MR_small.dcm"),
    ],
)
def test_it_renders_lossless_encodings_like_the_uncompressed_file(name, twin):
    assert np.array_equal(rendered(name), rendered(twin))


@pytest.mark.parametrize(
    "name", ["JPEG2000.dcm", "JPGExtended.dcm", "image_dfl.dcm", "liver_1frame.dcm"]
)
def test_it_renders_other_depths_and_encodings_over_their_full_range(name):
    ds = full_dataset(name)
    values = ds.pixel_array.astype(np.float64)
    if "RescaleSlope" in ds:
        values = values * float(ds.RescaleSlope) + float(ds.RescaleIntercept)

    got = rendered(name)

    assert_close(got, full_range(values))


def test_it_encodes_jpeg_at_the_requested_quality():
    expected = linear(full_dataset("MR_small.dcm").pixel_array.astype(float), 600, 1600)

    high = rendered("MR_small.dcm", media_type=render.JPEG, quality="95")
    low = rendered("MR_small.dcm", media_type=render.JPEG, quality="5")

    assert np.abs(high - expected).mean() < 2
    assert np.abs(low - expected).mean() > np.abs(high - expected).mean()


def test_it_encodes_gif():
    got = rendered("CT_small.dcm", media_type=render.GIF)

    assert got.shape == (128, 128, 3)
    assert np.abs(got[..., 0] - rendered("CT_small.dcm")).max() <= 1


def test_it_crops_and_flips_with_the_viewport():
    full = rendered("CT_small.dcm")

    cropped = rendered("CT_small.dcm", viewport="32,16,10,20,32,16")
    flipped = rendered("CT_small.dcm", viewport="128,128,0,0,-128,-128")

    assert np.array_equal(cropped, full[20:36, 10:42])
    assert np.array_equal(flipped, full[::-1, ::-1])


def test_it_scales_into_the_viewport_keeping_the_aspect_ratio():
    got = rendered("JPEG2000.dcm", viewport="64,64")

    assert got.shape == (64, 16)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"window": "a,b"}, "window center and width must be numbers"),
        ({"window": "40"}, "window must be center,width"),
        ({"window": "40,400,cubic"}, "window function"),
        ({"window": "40,0"}, "window width"),
        ({"viewport": "0,10"}, "viewport width and height"),
        ({"viewport": "10,10,1,1"}, "viewport must be"),
        ({"viewport": "x,10"}, "viewport width must be an integer"),
        ({"quality": "0"}, "quality must be an integer from 1 to 100"),
        ({"quality": "high"}, "quality must be an integer"),
    ],
)
def test_it_rejects_malformed_parameters_naming_them(query, message):
    with pytest.raises(render.RenderParameterError, match=message):
        render.parse_options(query, render.JPEG)


def test_it_rejects_a_viewport_region_outside_the_image():
    with pytest.raises(render.RenderParameterError, match="outside the image"):
        rendered("CT_small.dcm", viewport="10,10,500,500,10,10")


def test_it_takes_rescale_and_window_from_enhanced_functional_groups(tmp_path):
    ds = full_dataset("rtdose.dcm")
    shared = pydicom.Dataset()
    transformation = pydicom.Dataset()
    transformation.RescaleSlope, transformation.RescaleIntercept = 0.001, -100
    shared.PixelValueTransformationSequence = [transformation]
    ds.SharedFunctionalGroupsSequence = [shared]
    per_frame = []
    for number in range(15):
        window = pydicom.Dataset()
        window.WindowCenter, window.WindowWidth = 500 + 100 * number, 600
        item = pydicom.Dataset()
        item.FrameVOILUTSequence = [window]
        per_frame.append(item)
    ds.PerFrameFunctionalGroupsSequence = per_frame
    path = tmp_path / "enhanced.dcm"
    ds.save_as(path)
    values = ds.pixel_array[3].astype(np.float64) * 0.001 - 100

    options = render.parse_options({}, render.PNG)
    with open(path, "rb") as handle:
        data = render.render_frame(handle, pixel_source(path), 3, options)

    assert_close(np.asarray(Image.open(io.BytesIO(data))), linear(values, 800, 600))


@pytest.mark.parametrize(
    ("name", "byte_order"), [("MR_small.dcm", "<u2"), ("MR_small_bigendian.dcm", ">u2")]
)
def test_it_reads_ow_voi_lut_data_in_the_files_byte_order(tmp_path, name, byte_order):
    ds = full_dataset(name)
    lut = np.linspace(0, 65535, 4096).astype(np.uint16)
    item = pydicom.Dataset()
    item.LUTDescriptor = [4096, 0, 16]
    item.add_new(0x00283006, "OW", lut.astype(byte_order).tobytes())  # LUT Data
    ds.VOILUTSequence = [item]
    path = tmp_path / "voi-ow.dcm"
    ds.save_as(path)
    x = np.clip(ds.pixel_array.astype(np.int64), 0, 4095)

    got = _render_path(path)

    assert_close(got, lut[x] / 65535 * 255)


@pytest.mark.parametrize(
    "name",
    [
        "SC_rgb_jpeg.dcm",  # RGB declared, YCbCr inside the JPEG
        "SC_jpeg_no_color_transform.dcm",
        "SC_rgb_jpeg_app14_dcmd.dcm",
        "SC_rgb_dcmtk_+eb+cr.dcm",
        "SC_rgb_dcmtk_+eb+cy+np.dcm",  # YBR_FULL_422
        "SC_rgb_dcmtk_+eb+cy+n1.dcm",  # YBR_FULL
        "SC_rgb_jpeg_lossy_gdcm.dcm",
        "SC_rgb_small_odd_jpeg.dcm",
        "GDCMJ2K_TextGBR.dcm",  # JPEG 2000, YBR_RCT
    ],
)
def test_it_renders_colour_jpeg_variants_as_pydicoms_rgb(name):
    got = rendered(name)

    assert np.array_equal(got, full_dataset(name).pixel_array)
