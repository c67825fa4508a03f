"""apps.dicomweb.transcode: Explicit VR Little Endian from stored syntaxes."""

import io
from types import SimpleNamespace

import numpy as np
import pydicom
import pytest
from pydicom.uid import ExplicitVRLittleEndian, JPEG2000Lossless, RLELossless

from apps.dicomweb import transcode
from tests.pixel_samples import full_dataset, pixel_source, sample_path

COMPRESSED_SAMPLES = [
    "SC_rgb_jpeg_dcmtk.dcm",  # JPEG baseline, YBR_FULL
    "examples_ybr_color.dcm",  # JPEG baseline, YBR_FULL_422, 30 frames
    "JPGExtended.dcm",  # JPEG extended, 12 bit
    "SC_rgb_jpeg_gdcm.dcm",  # JPEG lossless
    "MR_small_jpeg_ls_lossless.dcm",
    "JPEGLSNearLossless_16.dcm",
    "JPEG2000.dcm",
    "MR_small_jp2klossless.dcm",
    "examples_jpeg2k.dcm",  # JPEG 2000 lossless, YBR_RCT
    "MR_small_RLE.dcm",
    "rtdose_rle.dcm",  # 32 bit, 15 frames
    "SC_rgb_rle_2frame.dcm",
]


def transcode_file(name: str) -> pydicom.Dataset:
    with open(sample_path(name), "rb") as handle:
        data = transcode.instance_as_explicit_le(handle)
    return pydicom.dcmread(io.BytesIO(data))


@pytest.mark.parametrize("name", COMPRESSED_SAMPLES)
def test_it_decompresses_to_a_valid_explicit_le_file_with_the_same_pixels(name):
    original = full_dataset(name)

    result = transcode_file(name)

    assert result.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert result.SOPInstanceUID == original.SOPInstanceUID
    assert not result["PixelData"].is_undefined_length
    assert np.array_equal(result.pixel_array, original.pixel_array)
    assert result.get("PlanarConfiguration", 0) == 0


@pytest.mark.parametrize(
    ("compressed", "uncompressed"),
    [
        ("MR_small_RLE.dcm", "MR_small.dcm"),
        ("MR_small_jp2klossless.dcm", "MR_small.dcm"),
        ("MR_small_jpeg_ls_lossless.dcm", "MR_small.dcm"),
        ("rtdose_rle.dcm", "rtdose.dcm"),
    ],
)
def test_it_gives_lossless_sources_the_bytes_of_the_uncompressed_twin(
    compressed, uncompressed
):
    result = transcode_file(compressed)

    assert result.PixelData == full_dataset(uncompressed).PixelData


def test_it_converts_codec_ycbcr_to_rgb_and_keeps_the_lossy_flag():
    result = transcode_file("SC_rgb_jpeg_dcmtk.dcm")

    assert result.PhotometricInterpretation == "RGB"
    assert result.LossyImageCompression == "01"
    assert len(result.PixelData) == 100 * 100 * 3


@pytest.mark.parametrize(
    ("big_endian", "little_endian"),
    [
        ("MR_small_bigendian.dcm", "MR_small.dcm"),
        ("rtdose_expb.dcm", "rtdose.dcm"),
        ("SC_rgb_small_odd_big_endian.dcm", "SC_rgb_small_odd.dcm"),
        ("MR_small_implicit.dcm", "MR_small.dcm"),
    ],
)
def test_it_rewrites_native_files_as_explicit_le(big_endian, little_endian):
    expected = full_dataset(little_endian)

    result = transcode_file(big_endian)

    assert result.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert result.PixelData == expected.PixelData
    assert result.PatientName == expected.PatientName


def test_it_decodes_one_frame_of_a_multi_frame_instance():
    path = sample_path("examples_ybr_color.dcm")
    source = pixel_source(path)
    expected = full_dataset("examples_ybr_color.dcm").pixel_array[29]

    with open(path, "rb") as handle:
        header = transcode.read_pixel_header(handle)
        data = transcode.frame_as_native(handle, source, header, 29)

    assert data == expected.tobytes()
    assert len(data) == 240 * 320 * 3


def test_it_decodes_a_lossless_frame_to_the_uncompressed_frame():
    path = sample_path("rtdose_rle.dcm")
    source = pixel_source(path)
    uncompressed = full_dataset("rtdose.dcm").PixelData

    with open(path, "rb") as handle:
        header = transcode.read_pixel_header(handle)
        data = transcode.frame_as_native(handle, source, header, 14)

    assert data == uncompressed[14 * 400 : 15 * 400]


def test_it_knows_which_syntaxes_it_can_decode():
    assert transcode.can_decode("1.2.840.10008.1.2.4.50")
    assert transcode.can_decode("1.2.840.10008.1.2.5")
    assert transcode.can_decode("1.2.840.10008.1.2.2")
    # MPEG-2: no decoder in pydicom.
    assert not transcode.can_decode("1.2.840.10008.1.2.4.100")


def test_it_refuses_a_syntax_without_a_decoder():
    source = SimpleNamespace(transfer_syntax_uid="1.2.840.10008.1.2.4.100")

    with pytest.raises(transcode.TranscodeError, match="cannot be decoded"):
        transcode.decode_frame(io.BytesIO(), source, pydicom.Dataset(), 0)


@pytest.mark.parametrize(
    "name", ["JPEG-lossy.dcm", "JPEG2000-embedded-sequence-delimiter.dcm"]
)
def test_it_reports_pixel_data_the_decoders_fail_on(name):
    with pytest.raises(transcode.TranscodeError, match="could not be decoded"):
        transcode_file(name)


@pytest.mark.parametrize("target", [RLELossless, JPEG2000Lossless])
def test_it_keeps_colour_by_plane_pixels_when_reencoding(target):
    # Planar Configuration 1, big endian: pydicom's RLE encoder took the
    # planes for interleaved samples and scrambled 7,450 of 14,400 values.
    original = full_dataset("ExplVR_BigEnd.dcm")
    assert original.PlanarConfiguration == 1

    with open(sample_path("ExplVR_BigEnd.dcm"), "rb") as handle:
        result = pydicom.dcmread(io.BytesIO(transcode.instance_as(handle, target)))

    assert result.file_meta.TransferSyntaxUID == target
    assert result.PlanarConfiguration == 0
    assert np.array_equal(result.pixel_array, original.pixel_array)


@pytest.mark.parametrize("target", [ExplicitVRLittleEndian, RLELossless])
def test_it_rewrites_a_file_whose_data_set_is_not_in_its_meta_encoding(target):
    # SC_rgb_jpeg.dcm says JPEG Baseline but holds an implicit VR data
    # set; writing it in explicit VR raised TypeError (a 500).
    original = full_dataset("SC_rgb_jpeg.dcm")

    with open(sample_path("SC_rgb_jpeg.dcm"), "rb") as handle:
        result = pydicom.dcmread(io.BytesIO(transcode.instance_as(handle, target)))

    assert result.file_meta.TransferSyntaxUID == target
    assert result.ImageType == original.ImageType
    assert result.SOPInstanceUID == original.SOPInstanceUID
    assert np.array_equal(result.pixel_array, original.pixel_array)
