"""Reading what ingest needs from a PS3.10 file without loading pixel data."""

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import DeflatedExplicitVRLittleEndian

from apps.archive.status import Status

EXPLICIT_VR_32BIT_LENGTH = {
    b"OB",
    b"OD",
    b"OF",
    b"OL",
    b"OV",
    b"OW",
    b"SQ",
    b"UC",
    b"UN",
    b"UR",
    b"UT",
}


class ParseError(Exception):
    def __init__(self, status: Status, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class PixelDataHeader:
    tag: int
    vr: str
    value_offset: int
    length: int  # -1 for undefined length (encapsulated)


@dataclass(frozen=True)
class ParsedFile:
    dataset: Dataset
    transfer_syntax_uid: str
    pixel_data: PixelDataHeader | None


class _ShortReadGuard:
    """A file wrapper that notices reads cut short by the end of the file.

    pydicom stops quietly when a file ends inside an element and returns the
    elements it got; an archive must refuse such a file instead.
    """

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle
        self.truncated = False
        self.seek = handle.seek
        self.tell = handle.tell

    def read(self, size: int = -1) -> bytes:
        data = self._handle.read(size)
        if size > 0 and 0 < len(data) < size:
            self.truncated = True
        return data


def read_header(path: Path) -> ParsedFile:
    """Parse everything before the pixel data; locate the pixel data."""
    with open(path, "rb") as handle:
        guard = _ShortReadGuard(handle)
        try:
            # force: accept a file that has File Meta Information but no
            # preamble; a file without meta is refused just below.
            ds = pydicom.dcmread(guard, stop_before_pixels=True, force=True)
        except Exception as exc:
            raise ParseError(
                Status.CANNOT_UNDERSTAND, f"unreadable DICOM file: {exc}"
            ) from None
        ts = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
        if not ts:
            raise ParseError(
                Status.CANNOT_UNDERSTAND,
                "not a DICOM PS3.10 file: no File Meta Information with a TransferSyntaxUID (0002,0010)",
            )
        if guard.truncated:
            raise ParseError(
                Status.CANNOT_UNDERSTAND,
                "the file ends inside a data element (truncated)",
            )
        if ts == DeflatedExplicitVRLittleEndian:
            # Offsets in a deflated file are meaningless; such files are
            # rare and small, so read them whole.
            handle.seek(0)
            ds = pydicom.dcmread(handle)
            header = None
            if "PixelData" in ds:
                header = PixelDataHeader(
                    0x7FE00010, str(ds["PixelData"].VR), -1, len(ds.PixelData)
                )
            return ParsedFile(ds, str(ts), header)
        # The encoding actually read, which a few files contradict in their
        # meta header (explicit VR declared, implicit VR written).
        implicit, little = ds.original_encoding
        header = _pixel_data_header(handle, bool(implicit), bool(little))
    return ParsedFile(ds, str(ts), header)


def _pixel_data_header(
    handle: BinaryIO, implicit: bool, little: bool
) -> PixelDataHeader | None:
    # dcmread(stop_before_pixels=True) leaves the file at the start of the
    # pixel data element, if there is one.
    start = handle.tell()
    raw = handle.read(12)
    if len(raw) < 8:
        return None
    endian = "<" if little else ">"
    group, element = struct.unpack(endian + "HH", raw[:4])
    tag = group << 16 | element
    if tag not in (0x7FE00008, 0x7FE00009, 0x7FE00010):
        return None
    # pydicom does the same per element: a header whose VR bytes are not
    # letters was written implicit even in an explicit-VR file.
    if implicit or not raw[4:6].isalpha() or not raw[4:6].isupper():
        vr = "OW" if implicit else "OB"
        (length,) = struct.unpack(endian + "I", raw[4:8])
        offset = start + 8
    else:
        vr_bytes = raw[4:6]
        vr = vr_bytes.decode("ascii", "replace")
        if vr_bytes in EXPLICIT_VR_32BIT_LENGTH:
            if len(raw) < 12:
                raise ParseError(
                    Status.CANNOT_UNDERSTAND, "pixel data element is truncated"
                )
            (length,) = struct.unpack(endian + "I", raw[8:12])
            offset = start + 12
        else:
            (length,) = struct.unpack(endian + "H", raw[6:8])
            offset = start + 8
    size = handle.seek(0, 2)
    if length == 0xFFFFFFFF:
        _check_fragments(handle, offset, size, endian)
        return PixelDataHeader(tag, vr, offset, -1)
    if offset + length > size:
        raise ParseError(
            Status.CANNOT_UNDERSTAND,
            f"pixel data is truncated: {length} bytes declared, {size - offset} present",
        )
    return PixelDataHeader(tag, vr, offset, length)


def _check_fragments(handle: BinaryIO, offset: int, size: int, endian: str) -> None:
    """Walk the items of encapsulated pixel data (PS3.5 A.4) to the delimiter.

    Only item headers are read, so this costs one seek per fragment; it
    catches a file cut short, which would otherwise be stored and then fail
    when a frame is requested.
    """
    position = offset
    while position + 8 <= size:
        handle.seek(position)
        group, element, length = struct.unpack(endian + "HHI", handle.read(8))
        tag = group << 16 | element
        if tag == 0xFFFEE0DD:
            return
        if tag != 0xFFFEE000 or length == 0xFFFFFFFF:
            raise ParseError(
                Status.CANNOT_UNDERSTAND,
                f"encapsulated pixel data has an unexpected element ({group:04X},{element:04X})",
            )
        position += 8 + length
    raise ParseError(Status.CANNOT_UNDERSTAND, "encapsulated pixel data is truncated")
