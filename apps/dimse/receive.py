"""Turning a received C-STORE data set into a PS3.10 file for ingest.

pynetdicom receives each data set to a temporary file rather than memory
(`_config.STORE_RECV_CHUNKED_DATASET`), so a 2 GB multi-frame costs disk,
not RAM. Its file starts with File Meta Information of its own; ours is
written from the presentation context plus the calling AE title (PS3.10
7.1: Source Application Entity Title), followed by the data set bytes
exactly as they arrived, so nothing is re-encoded.
"""

import shutil
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from io import BytesIO
from pathlib import Path
from tempfile import NamedTemporaryFile
from typing import IO, Any, BinaryIO

import pynetdicom.dimse_messages
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_file_meta_info
from pynetdicom import _config
from pynetdicom.events import Event

from apps.archive import storage

PREAMBLE = b"\x00" * 128 + b"DICM"
# (0002,0000) UL, explicit VR little endian, value length 4 (PS3.10 7.1).
GROUP_LENGTH_HEADER = b"\x02\x00\x00\x00UL\x04\x00"


def enable_chunked_receive() -> None:
    """Receive data sets to files in the store's receiving area.

    pynetdicom would put them in the system temporary directory, which may
    be a RAM-backed tmpfs and is not swept after a crash; in the store they
    are on the archive's disk and the storage sweep removes leftovers.
    """
    _config.STORE_RECV_CHUNKED_DATASET = True
    pynetdicom.dimse_messages.NamedTemporaryFile = _receiving_file  # type: ignore[attr-defined,assignment]


def discard_partial_receive(event: Event) -> None:
    """Remove the file of a data set cut off by an abort or a dropped link.

    pynetdicom creates it with delete=False and forgets it when the
    association ends mid-message; left alone, each aborted transfer would
    hold its bytes in storage/tmp until a sweep after the grace period.
    A completed message has already been handed over (and its `message`
    reset), so only an incomplete one is found here. EVT_CONN_CLOSE runs
    in the thread that writes the file, so nothing writes to it any more.
    """
    message = getattr(event.assoc.dimse, "message", None)
    partial = getattr(message, "_data_set_file", None)
    if partial is None:
        return
    partial.close()
    Path(partial.name).unlink(missing_ok=True)


def _receiving_file(**kwargs: Any) -> IO[bytes]:
    return NamedTemporaryFile(dir=storage.tmp_dir(), prefix="dimse-", **kwargs)  # noqa: SIM115


def write_part10(event: Event, calling_ae: str) -> Path:
    """Write the request's data set as a PS3.10 file; the caller owns it."""
    meta = event.file_meta
    meta.SourceApplicationEntityTitle = calling_ae
    encoded_meta = DicomBytesIO()
    write_file_meta_info(encoded_meta, meta, enforce_standard=True)

    handle, path = storage.new_temp_file()
    try:
        with handle, _received_data_set(event) as source:
            handle.write(PREAMBLE)
            handle.write(encoded_meta.getvalue())
            shutil.copyfileobj(source, handle, storage.CHUNK_SIZE)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


@contextmanager
def _received_data_set(event: Event) -> Iterator[BinaryIO]:
    """The received data set bytes, without pynetdicom's preamble and meta."""
    try:
        received = event.dataset_path
    except AttributeError:
        # Chunked receive is off (pynetdicom's default): bytes in memory.
        yield BytesIO(event.request.DataSet.getvalue())  # type: ignore[union-attr]
        return

    with open(received, "rb") as source:
        source.seek(len(PREAMBLE))
        header = source.read(12)
        if header[:8] != GROUP_LENGTH_HEADER:
            raise ValueError(
                f"unexpected file meta in pynetdicom's received file {received}"
            )
        (group_length,) = struct.unpack("<I", header[8:])
        source.seek(len(PREAMBLE) + 12 + group_length)
        yield source
