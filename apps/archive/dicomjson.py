"""Datasets to the DICOM JSON model (PS3.18 F.2).

Conversion happens once, at ingest; retrieval serves the stored text.
JSON must stay valid for every value a file can hold, so each value type
has an explicit rule:

- IS, DS: JSON numbers; a malformed legacy string is kept as a JSON string
  rather than dropped or allowed to break the document.
- FL, FD: numbers; NaN and infinities, which JSON cannot express, become the
  strings "NaN", "Infinity" and "-Infinity" (PS3.18 F.2.3.1).
- SV, UV and the other integers: numbers while they fit in a double without
  loss (|v| <= 2**53), strings beyond, so JavaScript clients read them exactly.
- Binary VRs and UN: InlineBinary (base64) up to a size, BulkDataURI above it.
  Pixel data is always bulk data.
- Text: NUL characters are not allowed in DICOM text (PS3.5 6.1.3) and are
  dropped; this also keeps BULK_MARKER unambiguous (see below).

BulkDataURIs are stored relative, prefixed with BULK_MARKER, so that a
response can make them absolute for the host the client used with one string
replacement instead of re-walking the JSON.
"""

import base64
import json
import math
import re
from collections.abc import Iterable, MutableSequence
from typing import Any

from pydicom.dataelem import DataElement, RawDataElement, convert_raw_data_element
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.tag import BaseTag
from pydicom.valuerep import AMBIGUOUS_VR, PersonName

BULK_MARKER = "\x00"
# BULK_MARKER as it appears inside json.dumps() output.
BULK_MARKER_JSON = '"\\u0000'

BINARY_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN"})
PIXEL_DATA_TAGS = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010})
INTEGER_VRS = frozenset({"US", "SS", "UL", "SL", "SV", "UV"})
FLOAT_VRS = frozenset({"FL", "FD"})
MAX_SAFE_INTEGER = 2**53
SPECIFIC_CHARACTER_SET = 0x00080005
_CONVERT_IN_DATASET = frozenset({"SQ", *AMBIGUOUS_VR})
_JSON_NUMBER = re.compile(r"^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$")

JsonDict = dict[str, Any]


def dataset_to_json(ds: Dataset, *, bulkdata_base: str, inline_max: int) -> JsonDict:
    """Convert a dataset; bulk data URIs are `bulkdata_base` + "/bulkdata/..."."""
    return _dataset(ds, bulkdata_base + "/bulkdata/", inline_max, "")


def pixel_data_element(tag: int, vr: str, bulkdata_base: str) -> JsonDict:
    """The entry for pixel data that was not read into the dataset."""
    return {"vr": vr, "BulkDataURI": f"{bulkdata_base}/bulkdata/{tag:08X}"}


def dumps(value: Any) -> str:
    # ensure_ascii=False: names stay readable (and shorter) in the stored
    # text; allow_nan=False: a NaN that slipped through fails loudly here
    # instead of producing invalid JSON for a client.
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _dataset(ds: Dataset, bulk_prefix: str, inline_max: int, path: str) -> JsonDict:
    out: JsonDict = {}
    # The character set the header was read with; None (every element
    # through ds[tag]) for items of sequences, which inherit theirs, and for
    # datasets made in memory.
    encoding = (ds.original_character_set or None) if path == "" else None
    for tag in sorted(ds.keys()):
        if _skipped(tag):
            continue
        key = f"{tag:08X}"
        try:
            elem = _converted(ds, tag, encoding)
            out[key] = _element(elem, ds, bulk_prefix, inline_max, path + key)
        except Exception:
            # A value pydicom cannot interpret (bad VR, wrong length) is
            # kept as the bytes received, typed UN, rather than lost.
            out[key] = _binary(
                "UN", _raw_bytes(ds, tag), bulk_prefix, inline_max, path + key, False
            )
    return out


def _converted(
    ds: Dataset, tag: BaseTag, encoding: str | MutableSequence[str] | None
) -> DataElement:
    """The element at `tag`, its value converted from the bytes read.

    `ds[tag]` converts too, but also stores the result back into the
    dataset and looks it up again several times, which is most of the cost
    of a header read once at ingest. Plain elements of the top level are
    converted here by the same pydicom function, without that; sequences
    (whose items need the pixel representation passed down), ambiguous VRs,
    Specific Character Set itself and values not read yet go through
    `ds[tag]`.
    """
    raw = ds.get_item(tag)
    if (
        encoding is None
        or not isinstance(raw, RawDataElement)
        or raw.value is None
        or raw.VR in _CONVERT_IN_DATASET
        or tag == SPECIFIC_CHARACTER_SET
    ):
        return ds[tag]
    elem = convert_raw_data_element(raw, encoding=encoding, ds=ds)
    if elem.VR in _CONVERT_IN_DATASET:
        # Implicit VR: the dictionary said SQ or an ambiguous VR.
        return ds[tag]
    return elem


def _skipped(tag: BaseTag) -> bool:
    # Group lengths, file meta (PS3.10), command group, item delimiters and
    # trailing padding are not part of the JSON model.
    return (
        tag.element == 0 or tag.group in (0x0000, 0x0002, 0xFFFE) or tag == 0xFFFCFFFC
    )


def _raw_bytes(ds: Dataset, tag: BaseTag) -> bytes:
    raw = ds.get_item(tag)
    value = getattr(raw, "value", None)
    return value if isinstance(value, bytes) else b""


def _element(
    elem: DataElement, ds: Dataset, bulk_prefix: str, inline_max: int, path: str
) -> JsonDict:
    vr = _single_vr(elem, ds)
    value = elem.value

    if vr == "SQ":
        items = [
            _dataset(item, bulk_prefix, inline_max, f"{path}/{index}/")
            for index, item in enumerate(value or [])
        ]
        return {"vr": "SQ", "Value": items} if items else {"vr": "SQ"}

    if vr in BINARY_VRS or elem.tag in PIXEL_DATA_TAGS:
        data = value if isinstance(value, bytes) else b""
        return _binary(
            vr, data, bulk_prefix, inline_max, path, elem.tag in PIXEL_DATA_TAGS
        )

    values = _values(value)
    if not values:
        return {"vr": vr}
    converted = [_convert(vr, v) for v in values]
    if all(v is None for v in converted):
        return {"vr": vr}
    return {"vr": vr, "Value": converted}


def _single_vr(elem: DataElement, ds: Dataset) -> str:
    vr = str(elem.VR)
    if " or " not in vr:
        return vr
    # Ambiguous in the dictionary ("US or SS", "OB or OW"): pydicom resolves
    # it from the dataset (PixelRepresentation, BitsAllocated).
    from pydicom.filewriter import correct_ambiguous_vr_element

    try:
        vr = str(correct_ambiguous_vr_element(elem, ds, True).VR)
    except Exception:
        pass
    return vr.split(" or ")[0] if " or " in vr else vr


def _values(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (MultiValue, list, tuple)):
        return list(value)
    if isinstance(value, str) and value == "":
        return []
    return [value]


def _binary(
    vr: str, data: bytes, bulk_prefix: str, inline_max: int, path: str, pixel: bool
) -> JsonDict:
    if pixel or len(data) > inline_max:
        return {"vr": vr, "BulkDataURI": bulk_prefix + path}
    if not data:
        return {"vr": vr}
    return {"vr": vr, "InlineBinary": base64.b64encode(data).decode("ascii")}


def _convert(vr: str, value: Any) -> Any:
    if value is None:
        return None
    if vr == "PN":
        return _person_name(value)
    if vr in ("IS", "DS"):
        return _decimal(value, integer=vr == "IS")
    if vr in FLOAT_VRS:
        return _float(value)
    if vr in INTEGER_VRS:
        return _integer(value)
    if vr == "AT":
        return f"{int(value):08X}"
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    text = str(value).replace("\x00", "")
    return text if text != "" else None


def _person_name(value: Any) -> dict[str, str] | None:
    if isinstance(value, PersonName):
        groups: Iterable[str] = value.components
    else:
        groups = str(value).split("=")
    out = {}
    for name, text in zip(
        ("Alphabetic", "Ideographic", "Phonetic"), groups, strict=False
    ):
        text = text.replace("\x00", "")
        if text:
            out[name] = text
    return out or None


def _decimal(value: Any, *, integer: bool) -> int | float | str | None:
    text = getattr(value, "original_string", None) or str(value)
    text = text.strip().replace("\x00", "")
    if text == "":
        return None
    if _JSON_NUMBER.fullmatch(text):
        number = (
            float(text)
            if not integer or "." in text or "e" in text.lower()
            else int(text)
        )
    else:
        try:
            number = float(text.lstrip("+")) if not integer else int(text.lstrip("+"))
        except ValueError:
            return text
    if isinstance(number, float):
        if not math.isfinite(number):
            return text
        if integer and number.is_integer():
            return int(number)
        if (
            number.is_integer()
            and abs(number) < MAX_SAFE_INTEGER
            and "." not in text
            and "e" not in text.lower()
        ):
            return int(number)
    return number


def _float(value: Any) -> float | str:
    number = float(value)
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "Infinity" if number > 0 else "-Infinity"
    return number


def _integer(value: Any) -> int | str:
    number = int(value)
    if abs(number) > MAX_SAFE_INTEGER:
        return str(number)
    return number
