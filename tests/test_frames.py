"""apps.dicomweb.frames: frames cut from stored files, byte for byte."""

from pathlib import Path

import numpy as np
import pytest
from pydicom.encaps import generate_frames
from pydicom.pixels import pack_bits
from pydicom.pixels.utils import get_expected_length

from apps.dicomweb import frames
from tests.pixel_samples import full_dataset, pixel_source, sample_path


def read(name_or_path: str | Path, numbers: list[int]) -> list[bytes]:
    path = name_or_path if isinstance(name_or_path, Path) else sample_path(name_or_path)
    source = pixel_source(path)
    with open(path, "rb") as handle:
        return list(frames.read_frames(handle, source, numbers))


@pytest.mark.parametrize(
    ("name", "frame_count"),
    [
        ("MR_small.dcm", 1),
        ("CT_small.dcm", 1),
        ("MR_small_implicit.dcm", 1),
        ("rtdose.dcm", 15),
        ("SC_rgb_small_odd.dcm", 1),
        ("SC_ybr_full_422_uncompressed.dcm", 1),
        ("examples_palette.dcm", 1),
        ("liver_1frame.dcm", 1),
    ],
)
def test_it_returns_native_frames_identical_to_the_stored_value(name, frame_count):
    ds = full_dataset(name)
    length = get_expected_length(ds) // frame_count
    numbers = list(range(1, frame_count + 1))

    got = read(name, numbers)

    expected = [ds.PixelData[i * length : (i + 1) * length] for i in range(frame_count)]
    assert got == expected
    assert len(got[0]) == length


@pytest.mark.parametrize(
    ("big_endian", "little_endian"),
    [
        ("MR_small_bigendian.dcm", "MR_small.dcm"),
        ("MR_small_expb.dcm", "MR_small.dcm"),
        ("rtdose_expb.dcm", "rtdose.dcm"),
        ("SC_rgb_small_odd_big_endian.dcm", "SC_rgb_small_odd.dcm"),
        ("liver_expb_1frame.dcm", "liver_1frame.dcm"),
    ],
)
def test_it_returns_big_endian_frames_in_little_endian(big_endian, little_endian):
    count = pixel_source(sample_path(little_endian)).number_of_frames
    numbers = list(range(1, count + 1))

    got = read(big_endian, numbers)

    assert got == read(little_endian, numbers)
    assert len(got) == count


def test_it_returns_an_8_bit_big_endian_ob_frame_unswapped():
    ds = full_dataset("ExplVR_BigEnd.dcm")

    (got,) = read("ExplVR_BigEnd.dcm", [1])

    # Planar Configuration 1 is kept: the frame is the stored byte stream.
    assert got == ds.PixelData
    assert got == ds.pixel_array.transpose(2, 0, 1).tobytes()
    assert len(got) == 60 * 80 * 3


def test_it_repacks_one_bit_frames_that_start_inside_a_byte(tmp_path):
    # Three 7x9 frames: 63 bits each, so frames 2 and 3 start mid-byte.
    ds = full_dataset("liver_1frame.dcm")
    bits = ds.pixel_array[140:161, 200:209].reshape(3, 7, 9)
    ds.Rows, ds.Columns, ds.NumberOfFrames = 7, 9, 3
    ds.PixelData = pack_bits(bits)
    path = tmp_path / "bits.dcm"
    ds.save_as(path)

    got = read(path, [1, 2, 3])

    assert got == [pack_bits(bits[i], pad=False) for i in range(3)]
    assert [len(frame) for frame in got] == [8, 8, 8]
    assert bits.min() == 0 and bits.max() == 1


@pytest.mark.parametrize(
    ("name", "frame_count"),
    [
        ("examples_ybr_color.dcm", 30),  # Basic Offset Table
        ("rtdose_rle.dcm", 15),  # empty BOT, one fragment per frame
        ("examples_jpeg2k.dcm", 1),  # one frame in three fragments
        ("JPEG2000.dcm", 1),
        ("SC_rgb_jpeg.dcm", 1),
        ("MR_small_jpeg_ls_lossless.dcm", 1),
        ("SC_rgb_rle_2frame.dcm", 2),
        ("JPGExtended.dcm", 1),
    ],
)
def test_it_returns_encapsulated_frames_as_their_fragments(name, frame_count):
    ds = full_dataset(name)
    expected = list(generate_frames(ds.PixelData, number_of_frames=frame_count))

    got = read(name, list(range(1, frame_count + 1)))

    assert got == expected
    assert len(got) == frame_count


def test_it_returns_frames_in_the_order_asked_with_repeats():
    ds = full_dataset("examples_ybr_color.dcm")
    all_frames = list(generate_frames(ds.PixelData, number_of_frames=30))

    got = read("examples_ybr_color.dcm", [30, 2, 2])

    assert got == [all_frames[29], all_frames[1], all_frames[1]]


def test_it_uses_the_extended_offset_table(tmp_path):
    # The fragments are stored last frame first (one fragment per frame,
    # PS3.5 A.4), so only a reader that follows the table gets the order right.
    ds = full_dataset("SC_rgb_rle_2frame.dcm")
    originals = list(generate_frames(ds.PixelData, number_of_frames=2))
    second, first = _item(originals[1]), _item(originals[0])
    ds.PixelData = _item(b"") + second + first
    ds["PixelData"].is_undefined_length = True
    ds.ExtendedOffsetTable = np.array([len(second), 0], dtype="<u8").tobytes()
    ds.ExtendedOffsetTableLengths = np.array(
        [len(frame) for frame in originals], dtype="<u8"
    ).tobytes()
    path = tmp_path / "eot.dcm"
    ds.save_as(path)

    got = read(path, [1, 2])

    assert got == originals
    assert originals[0] != originals[1]


def _item(fragment: bytes) -> bytes:
    return b"\xfe\xff\x00\xe0" + len(fragment).to_bytes(4, "little") + fragment


def test_it_reads_frames_of_a_deflated_file():
    ds = full_dataset("image_dfl.dcm")

    (got,) = read("image_dfl.dcm", [1])

    assert got == ds.pixel_array.tobytes()
    assert pixel_source(sample_path("image_dfl.dcm")).pixel_data_offset is None


def test_it_parses_a_frame_list():
    assert frames.parse_frame_list("1,3, 2".replace(" ", "")) == [1, 3, 2]
    assert frames.parse_frame_list("7") == [7]


@pytest.mark.parametrize("text", ["", "a", "1,,2", "1;2", "-1", "1.5"])
def test_it_rejects_a_malformed_frame_list(text):
    with pytest.raises(frames.BadFrameList, match="frame list"):
        frames.parse_frame_list(text)


def test_it_rejects_frame_zero():
    with pytest.raises(frames.BadFrameList, match="start at 1"):
        frames.parse_frame_list("0,1")


def test_it_refuses_a_frame_beyond_the_last():
    with pytest.raises(frames.FrameNotFound, match="frame 3 does not exist.*2 frame"):
        read("SC_rgb_rle_2frame.dcm", [1, 3])


def test_it_refuses_frames_of_an_instance_without_pixel_data():
    source = pixel_source(sample_path("rtplan.dcm"))

    with pytest.raises(frames.NoPixelData):
        frames.check_frames(source, [1])
