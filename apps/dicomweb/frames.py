"""Frames of a stored instance, read without loading the whole file.

Native pixel data is located by arithmetic from the columns ingest recorded
(Instance.pixel_data_offset, rows, columns, ...) and always returned little
endian, which is what an application/octet-stream frame means when no
transfer syntax is named (PS3.18 8.7.3.5.2). Encapsulated pixel data is
returned as the frame's fragments joined, untouched (PS3.5 A.4), found with
the Extended or Basic Offset Table when the file has one.
"""

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol

import numpy as np
import pydicom
from pydicom.encaps import get_frame, parse_basic_offsets
from pydicom.uid import UID, ExplicitVRBigEndian

# Frame numbers are 1-based in the URL (PS3.18 10.4.1.1.1): "1,3,5".
FRAME_LIST_RE = re.compile(r"^[0-9]+(,[0-9]+)*$")


class FrameError(Exception):
    """A frame request that cannot be answered; the view maps the kind."""


class BadFrameList(FrameError):
    pass


class FrameNotFound(FrameError):
    pass


class NoPixelData(FrameError):
    pass


class PixelSource(Protocol):
    """What frames need to know of a stored instance (an Instance row)."""

    transfer_syntax_uid: str
    number_of_frames: int
    rows: int | None
    columns: int | None
    bits_allocated: int | None
    samples_per_pixel: int | None
    photometric_interpretation: str
    pixel_data_offset: int | None
    pixel_data_length: int | None


@dataclass(frozen=True)
class NativeLayout:
    frame_bits: int
    swap_unit: int  # bytes per value to reverse for big endian; 1: none


def parse_frame_list(text: str) -> list[int]:
    text = text.strip()
    if not FRAME_LIST_RE.fullmatch(text):
        raise BadFrameList(
            f"frame list must be comma-separated frame numbers, got {text[:40]!r}"
        )
    numbers = [int(part) for part in text.split(",")]
    if 0 in numbers:
        raise BadFrameList("frame numbers start at 1")
    return numbers


def is_encapsulated(source: PixelSource) -> bool:
    return UID(source.transfer_syntax_uid).is_encapsulated


def check_frames(source: PixelSource, numbers: list[int]) -> None:
    if not source.number_of_frames or source.pixel_data_length is None:
        raise NoPixelData("the instance has no pixel data")
    missing = [n for n in numbers if n > source.number_of_frames]
    if missing:
        raise FrameNotFound(
            f"frame {missing[0]} does not exist; the instance has "
            f"{source.number_of_frames} frame(s)"
        )


def read_frames(
    handle: BinaryIO, source: PixelSource, numbers: list[int]
) -> Iterator[bytes]:
    """Frames by 1-based number, as stored (encapsulated) or little endian."""
    check_frames(source, numbers)
    if source.pixel_data_offset is None:
        # Deflated files have no usable offsets; they are rare and small.
        yield from _frames_from_dataset(handle, source, numbers)
        return
    if is_encapsulated(source):
        offsets = _extended_offsets(handle, source)
        for number in numbers:
            yield _encapsulated_frame(handle, source, number - 1, offsets)
        return
    layout = _native_layout(handle, source)
    for number in numbers:
        yield _native_frame(handle, source.pixel_data_offset, layout, number - 1)


def native_frame_bits(source: PixelSource) -> int:
    rows = source.rows or 0
    columns = source.columns or 0
    samples = source.samples_per_pixel or 1
    bits = source.bits_allocated or 8
    if source.photometric_interpretation == "YBR_FULL_422" and samples == 3:
        # Two chroma samples shared by each pair of pixels (PS3.3 C.7.6.3.1.2).
        return rows * columns * 2 * bits
    return rows * columns * samples * bits


def _native_layout(handle: BinaryIO, source: PixelSource) -> NativeLayout:
    swap_unit = 1
    if source.transfer_syntax_uid == ExplicitVRBigEndian:
        bits = source.bits_allocated or 8
        if _value_representation(handle, source) == b"OW":
            # OW is a run of 16-bit words (32-bit values: of 32-bit words),
            # each byte-swapped in big endian; OB is a plain byte stream.
            swap_unit = max(2, bits // 8)
    return NativeLayout(native_frame_bits(source), swap_unit)


def _value_representation(handle: BinaryIO, source: PixelSource) -> bytes:
    # Big endian is always explicit VR: tag (4), VR (2), reserved (2),
    # length (4) precede the value.
    handle.seek((source.pixel_data_offset or 0) - 8)
    return handle.read(2)


def _native_frame(
    handle: BinaryIO, value_offset: int, layout: NativeLayout, index: int
) -> bytes:
    first_bit = index * layout.frame_bits
    start = first_bit // 8
    end = -(-(first_bit + layout.frame_bits) // 8)
    unit = layout.swap_unit
    # Read whole swap units so a big-endian value is never cut in two.
    read_start = start - start % unit
    read_end = end + (-end) % unit
    handle.seek(value_offset + read_start)
    data = handle.read(read_end - read_start)
    if len(data) < read_end - read_start:
        # The last unit may stop at the value's end (odd frame, even padding).
        data += bytes(read_end - read_start - len(data))
    if unit > 1:
        data = _swap(data, unit)
    if first_bit % 8 == 0 and layout.frame_bits % 8 == 0:
        return data[start - read_start : end - read_start]
    return _bit_slice(data, first_bit - read_start * 8, layout.frame_bits)


def _swap(data: bytes, unit: int) -> bytes:
    values = np.frombuffer(data, dtype=np.dtype(f">u{unit}"))
    return values.astype(f"<u{unit}").tobytes()


def _bit_slice(data: bytes, first_bit: int, count: int) -> bytes:
    # Bits Allocated 1: pixels are packed least significant bit first
    # (PS3.5 8.1.1); a frame may start inside a byte, and is returned
    # repacked to start at bit 0 of its first byte.
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8), bitorder="little")
    return np.packbits(bits[first_bit : first_bit + count], bitorder="little").tobytes()


def _extended_offsets(
    handle: BinaryIO, source: PixelSource
) -> tuple[bytes, bytes] | None:
    """The Extended Offset Table, read only when the Basic one is empty."""
    if source.number_of_frames <= 1:
        return None
    handle.seek(source.pixel_data_offset or 0)
    if parse_basic_offsets(handle):
        return None
    handle.seek(0)
    header = pydicom.dcmread(
        handle,
        stop_before_pixels=True,
        specific_tags=[0x7FE00001, 0x7FE00002],
    )
    table = header.get("ExtendedOffsetTable")
    lengths = header.get("ExtendedOffsetTableLengths")
    if table and lengths:
        return bytes(table), bytes(lengths)
    return None


def _encapsulated_frame(
    handle: BinaryIO,
    source: PixelSource,
    index: int,
    offsets: tuple[bytes, bytes] | None,
) -> bytes:
    handle.seek(source.pixel_data_offset or 0)
    return get_frame(
        handle,
        index,
        extended_offsets=offsets,
        number_of_frames=source.number_of_frames,
    )


def _frames_from_dataset(
    handle: BinaryIO, source: PixelSource, numbers: list[int]
) -> Iterator[bytes]:
    handle.seek(0)
    ds = pydicom.dcmread(handle)
    value = ds.PixelData
    if is_encapsulated(source):
        for number in numbers:
            yield get_frame(value, number - 1, number_of_frames=source.number_of_frames)
        return
    layout = NativeLayout(native_frame_bits(source), 1)
    buffer = io.BytesIO(value)
    for number in numbers:
        yield _native_frame(buffer, 0, layout, number - 1)
