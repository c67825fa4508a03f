"""Query identifiers from plain key/value maps, and results back to JSON.

Jobs, the REST API and the command line describe a query as a map of
DICOM keywords to values ({"PatientID": "12*", "StudyInstanceUID": ""});
a map as value is a sequence with one item (worklist queries).
"""

from typing import Any

from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataset import Dataset


class IdentifierError(ValueError):
    pass


def build(
    keys: dict[str, Any], level: str | None = None, *, top: bool = True
) -> Dataset:
    ds = Dataset()
    if level:
        ds.QueryRetrieveLevel = level.upper()
    for keyword, value in keys.items():
        tag = tag_for_keyword(keyword)
        if tag is None:
            raise IdentifierError(f"unknown DICOM keyword {keyword!r}")
        if isinstance(value, dict):
            setattr(ds, keyword, [build(value, top=False)])
        elif dictionary_VR(tag) == "SQ":
            setattr(
                ds,
                keyword,
                [] if value in ("", None) else [build(v, top=False) for v in value],
            )
        else:
            setattr(ds, keyword, value if value is not None else "")
    if top and not str(keys).isascii():
        # Command-line and JSON values are Unicode: send them as UTF-8.
        ds.SpecificCharacterSet = "ISO_IR 192"
    return ds


def parse_pairs(pairs: list[str]) -> dict[str, Any]:
    """Command-line keys: "PatientID=12*", "StudyInstanceUID" (return key),
    "ScheduledProcedureStepSequence.Modality=CT" (an item key)."""
    keys: dict[str, Any] = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        target = keys
        *parents, keyword = name.strip().split(".")
        for parent in parents:
            target = target.setdefault(parent, {})
        target[keyword] = value
    return keys


def to_json(ds: Dataset) -> dict[str, Any]:
    return ds.to_json_dict(bulk_data_threshold=1024 * 1024)
