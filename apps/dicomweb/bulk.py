"""Reading bulk data values that the stored metadata points at.

A BulkDataURI ends in a tag path as apps/archive/dicomjson.py writes it:
"7FE00010" at the top level, "00540016/0/00181072" through item 0 of a
sequence. Top-level pixel data is located at ingest and read by offset;
everything else is found by parsing the stored file and walking the path.
"""

import re
from collections.abc import Iterator

import pydicom
from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames

from apps.archive import dicomjson, storage

TAG_PATH_RE = re.compile(r"^[0-9A-Fa-f]{8}(/[0-9]{1,6}/[0-9A-Fa-f]{8})*$")


def is_tag_path(text: str) -> bool:
    return TAG_PATH_RE.fullmatch(text) is not None


def is_top_level_pixel_data(tag_path: str) -> bool:
    return "/" not in tag_path and int(tag_path, 16) in dicomjson.PIXEL_DATA_TAGS


def element_bytes(storage_path: str, tag_path: str) -> bytes | None:
    """The value bytes of the element at `tag_path`, or None if absent."""
    # Pixel data is only read when it is what was asked for; nested pixel
    # data (an icon in a sequence) comes before the top-level element.
    pixel = is_top_level_pixel_data(tag_path)
    with storage.open_stored(storage_path) as handle:
        ds = pydicom.dcmread(handle, force=True, stop_before_pixels=not pixel)
    steps = tag_path.split("/")
    current: Dataset = ds
    for position in range(0, len(steps) - 1, 2):
        tag, index = int(steps[position], 16), int(steps[position + 1])
        if tag not in current:
            return None
        items = current[tag].value
        if not isinstance(items, list | pydicom.Sequence) or index >= len(items):
            return None
        current = items[index]
    tag = int(steps[-1], 16)
    if tag not in current:
        return None
    try:
        vr = str(current[tag].VR).split(" or ")[0]
    except Exception:
        # A value pydicom cannot interpret is kept as UN in the metadata.
        vr = "UN"
    if vr not in dicomjson.BINARY_VRS and tag not in dicomjson.PIXEL_DATA_TAGS:
        return None
    # The raw element when pydicom has not converted it: the bytes as stored.
    raw = current.get_item(tag)
    value = getattr(raw, "value", None)
    if not isinstance(value, bytes):
        value = current[tag].value
    return value if isinstance(value, bytes) else None


def encapsulated_frames(
    storage_path: str, value_offset: int, number_of_frames: int
) -> Iterator[bytes]:
    """Frames of encapsulated pixel data (PS3.5 A.4), one at a time."""
    # open_stored: a local file or ranged reads from the object store, so
    # one frame of a large instance never fetches the others.
    with storage.open_stored(storage_path) as handle:
        handle.seek(value_offset)
        yield from generate_frames(handle, number_of_frames=max(number_of_frames, 1))
