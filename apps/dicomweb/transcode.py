"""Other transfer syntaxes from any stored transfer syntax pydicom decodes.

WADO-RS clients that cannot decompress ask for 1.2.840.10008.1.2.1 (PS3.18
8.7.3.5.2); this module produces it for a whole instance or for one frame.
A whole instance can also be had as Implicit VR Little Endian, or
re-encoded losslessly as RLE Lossless or JPEG 2000 Lossless (pydicom's
encoders with pylibjpeg-openjpeg), for clients that want smaller transfers
without further loss. Lossy targets are not offered: they would need a new
SOP Instance UID (PS3.3 C.7.6.1.1.5).
Decoding goes through pydicom's decoders with the pylibjpeg plugins pinned
in requirements.txt (JPEG baseline, extended and lossless, JPEG-LS, JPEG
2000, RLE). YCbCr from a codec is converted to RGB, as the decoded samples
are no longer in a subsampled or codec-specific colour space; the instance
keeps its SOP Instance UID, since the pixel values are unchanged or, for
lossy sources, no more lossy than what was stored.
"""

import io
from typing import BinaryIO

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.filewriter import dcmwrite
from pydicom.pixels import get_decoder, get_encoder, pixel_array
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLSNearLossless,
    RLELossless,
)

from apps.dicomweb.frames import PixelSource, read_frames

NATIVE_SYNTAXES = frozenset(
    {
        ImplicitVRLittleEndian,
        ExplicitVRLittleEndian,
        ExplicitVRBigEndian,
        DeflatedExplicitVRLittleEndian,
    }
)
# Decompressing these must keep the instance flagged as lossy (PS3.3
# C.7.6.1.1.5) even when the file forgot to say so.
LOSSY_SYNTAXES = frozenset({JPEGBaseline8Bit, JPEGExtended12Bit, JPEGLSNearLossless})
# What a whole instance can be re-encoded in, beside Explicit VR LE.
UNCOMPRESSED_TARGETS = frozenset({ExplicitVRLittleEndian, ImplicitVRLittleEndian})
LOSSLESS_TARGETS = frozenset({RLELossless, JPEG2000Lossless})
# Bytes per value of each binary VR, for swapping big-endian values.
SWAP_WIDTH = {"OW": 2, "OL": 4, "OF": 4, "OD": 8, "OV": 8}


class TranscodeError(Exception):
    """The requested representation cannot be produced from the stored one."""


def can_decode(transfer_syntax_uid: str) -> bool:
    uid = UID(transfer_syntax_uid)
    if uid in NATIVE_SYNTAXES:
        return True
    try:
        return bool(get_decoder(uid).is_available)
    except NotImplementedError:
        return False


def can_produce_instance(stored: str, target: str) -> bool:
    """Whether a whole instance stored in `stored` can be sent in `target`."""
    if not can_decode(stored):
        return False
    if target in UNCOMPRESSED_TARGETS:
        return True
    return target in LOSSLESS_TARGETS and bool(get_encoder(UID(target)).is_available)


def instance_as_explicit_le(handle: BinaryIO) -> bytes:
    """The whole stored file rewritten as Explicit VR Little Endian."""
    return instance_as(handle, ExplicitVRLittleEndian)


def instance_as(handle: BinaryIO, target: str) -> bytes:
    """The whole stored file rewritten in `target` (see can_produce_instance)."""
    handle.seek(0)
    ds = pydicom.dcmread(handle)
    # When a file's data set is not in the encoding its meta names (pydicom
    # falls back to implicit VR when reading), elements stay raw, without
    # a VR, until read; writing them in explicit VR would fail. Reading
    # each one gives it its dictionary VR.
    for _ in ds.iterall():
        pass
    syntax = UID(ds.file_meta.TransferSyntaxUID)
    target = UID(target)
    if not can_produce_instance(syntax, target):
        raise TranscodeError(f"{syntax.name} cannot be turned into {target.name} here")
    if syntax == ExplicitVRBigEndian:
        _swap_to_little_endian(ds, ds)
        # The values are little endian now; encoders read the syntax.
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    elif syntax.is_compressed and "PixelData" in ds:
        _decompress(ds, syntax)
    if target in LOSSLESS_TARGETS and "PixelData" in ds:
        _compress(ds, target)
    ds.file_meta.TransferSyntaxUID = target
    return _encode(ds, implicit_vr=target == ImplicitVRLittleEndian)


def read_pixel_header(handle: BinaryIO) -> FileDataset:
    """Everything before the pixel data, for decoding and rendering frames."""
    handle.seek(0)
    return pydicom.dcmread(handle, stop_before_pixels=True)


def decode_frame(
    handle: BinaryIO,
    source: PixelSource,
    header: Dataset,
    index: int,
    *,
    raw: bool = False,
) -> np.ndarray:
    """One frame (0-based) decoded; `raw` keeps YCbCr as stored.

    The frame is cut out by apps.dicomweb.frames and decoded alone, so a
    large multi-frame file is never read whole.
    """
    syntax = UID(source.transfer_syntax_uid)
    if not can_decode(syntax):
        raise TranscodeError(f"pixel data in {syntax.name} cannot be decoded here")
    frame = next(read_frames(handle, source, [index + 1]))
    single = _single_frame_dataset(header, syntax, frame)
    try:
        return pixel_array(single, raw=raw)
    except Exception as exc:
        raise TranscodeError(f"the frame could not be decoded: {exc}") from None


def frame_as_native(
    handle: BinaryIO, source: PixelSource, header: Dataset, index: int
) -> bytes:
    """One decoded frame (0-based) as little-endian native pixel data."""
    return little_endian_bytes(decode_frame(handle, source, header, index))


def _single_frame_dataset(header: Dataset, syntax: UID, frame: bytes) -> Dataset:
    ds = Dataset()
    for element in header.group_dataset(0x0028):
        ds.add(element)
    ds.NumberOfFrames = 1
    ds.file_meta = FileMetaDataset()
    if syntax.is_encapsulated:
        ds.file_meta.TransferSyntaxUID = syntax
        ds.PixelData = encapsulate([frame])
    else:
        # frames.read_frames returns native frames little endian.
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.PixelData = frame
    return ds


def little_endian_bytes(array: np.ndarray) -> bytes:
    # Samples interleaved (Planar Configuration 0), as decoders return them.
    return array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()


def _decompress(ds: FileDataset, syntax: UID) -> None:
    try:
        ds.decompress(generate_instance_uid=False)
    except Exception as exc:
        raise TranscodeError(f"the pixel data could not be decoded: {exc}") from None
    if syntax in LOSSY_SYNTAXES and ds.get("LossyImageCompression") != "01":
        ds.LossyImageCompression = "01"


# pylibjpeg-openjpeg encodes with 6 resolution levels, which needs images
# of at least 2**5 pixels a side; smaller ones are refused up front rather
# than through an encoder error and its logged traceback.
J2K_MIN_SIDE = 32


def _compress(ds: FileDataset, target: UID) -> None:
    smallest = min(int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0))
    if target == JPEG2000Lossless and smallest < J2K_MIN_SIDE:
        raise TranscodeError(
            f"JPEG 2000 Lossless is made here for images of at least "
            f"{J2K_MIN_SIDE}x{J2K_MIN_SIDE} pixels; this one is "
            f"{ds.get('Columns')}x{ds.get('Rows')}"
        )
    if ds.get("SamplesPerPixel", 1) > 1 and ds.get("PlanarConfiguration") == 1:
        # pydicom's RLE encoder reads native colour-by-plane samples as if
        # they were interleaved and scrambles the image; interleave first.
        _interleave(ds)
    try:
        ds.compress(target, generate_instance_uid=False)
    except Exception as exc:
        raise TranscodeError(
            f"the pixel data could not be encoded as {target.name}: {exc}"
        ) from None


def _interleave(ds: FileDataset) -> None:
    try:
        samples = pixel_array(ds, raw=True)
    except Exception as exc:
        raise TranscodeError(f"the pixel data could not be read: {exc}") from None
    ds.PixelData = little_endian_bytes(samples)
    ds.PlanarConfiguration = 0


def _swap_to_little_endian(ds: Dataset, top: Dataset) -> None:
    # pydicom converts the numbers it decodes but leaves binary values as
    # read (see pydicom.filewriter.dcmwrite); those are swapped here.
    for element in ds:
        if element.VR == "SQ":
            for item in element.value:
                _swap_to_little_endian(item, top)
            continue
        if element.tag == 0x7FE00010:
            width = _pixel_swap_width(top, element.VR)
        else:
            width = SWAP_WIDTH.get(element.VR, 1)
        if width > 1 and element.value:
            raw = bytes(element.value)
            usable = len(raw) - len(raw) % width
            swapped = np.frombuffer(raw[:usable], dtype=f">u{width}").astype(
                f"<u{width}"
            )
            element.value = swapped.tobytes() + raw[usable:]


def _pixel_swap_width(ds: Dataset, vr: str) -> int:
    if vr != "OW":
        return 1
    return max(2, int(ds.get("BitsAllocated", 16)) // 8)


def _encode(ds: FileDataset, *, implicit_vr: bool = False) -> bytes:
    buffer = io.BytesIO()
    try:
        dcmwrite(
            buffer,
            ds,
            implicit_vr=implicit_vr,
            little_endian=True,
            enforce_file_format=True,
        )
    except Exception as exc:
        # A stored element pydicom cannot write in this encoding: the
        # client can still have the file as stored (transfer-syntax=*).
        raise TranscodeError(f"the instance could not be rewritten: {exc}") from None
    return buffer.getvalue()
