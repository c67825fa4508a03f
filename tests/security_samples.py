"""Real sample files re-identified, to build studies with several series."""

from pathlib import Path

import pydicom

from tests.conftest import sample

CT_STUDY = "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322"
CT_SERIES = "1.3.6.1.4.1.5962.1.3.1.1.20040119072730.12322"
CT_SOP = "1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322"
MR_STUDY = "1.3.6.1.4.1.5962.1.2.4.20040826185059.5457"


def variant(
    tmp_path: Path,
    name: str,
    *,
    series_uid: str | None = None,
    sop_uid: str,
    modality: str | None = None,
    **attributes: str,
) -> Path:
    """A copy of a pydicom sample with new UIDs (and other attributes)."""
    ds = pydicom.dcmread(sample(name))
    ds.SOPInstanceUID = sop_uid
    ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
    if series_uid:
        ds.SeriesInstanceUID = series_uid
    if modality:
        ds.Modality = modality
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    path = tmp_path / "variants" / f"{sop_uid}.dcm"
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path
