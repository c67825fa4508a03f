"""Stored studies for the matching and QIDO-RS tests, from real sample files.

`derived()` rewrites a few attributes of a pydicom sample (new UIDs, a
name with SQL pattern characters, a second series) so that traps and
multi-series studies exist; everything else stays as the file has it.
"""

from pathlib import Path

import pydicom

from apps.archive.ingest import ingest_file
from tests.conftest import sample

CT_STUDY = "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322"
CT_SERIES = "1.3.6.1.4.1.5962.1.3.1.1.20040119072730.12322"
CT_SOP = "1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322"
MR_STUDY = "1.3.6.1.4.1.5962.1.2.4.20040826185059.5457"
RTPLAN_STUDY = "1.22.333.4.555555.6.7777777777777777777777777777"
RTDOSE_STUDY = "1.2.999.999.99.9.9999.8888"
SC_STUDY = "1.2.826.0.1.3680043.8.498.12406831542731051035295345080039845114"
ECG_STUDY = "1.3.76.13.65829.2.20130125082826.1072139.2"
H31_STUDY = "1.3.6.1.4.1.5962.1.2.0.1175775771.5702.0"
H32_STUDY = "1.3.6.1.4.1.5962.1.2.0.1175775771.5705.0"
I2_STUDY = "1.3.6.1.4.1.5962.1.2.0.1175775771.5708.0"
GREEK_STUDY = "1.3.6.1.4.1.5962.1.2.0.1175775772.5717.0"
RUSS_STUDY = "1.3.6.1.4.1.5962.1.2.0.1175775772.5729.0"
FREN_STUDY = "1.3.6.1.4.1.5962.1.2.0.1175775772.5720.0"
GERM_STUDY = "1.3.6.1.4.1.5962.1.2.0.1175775772.5723.0"
KOREAN_STUDY = "1.3.51.0.7.11986030739.15242.20106.39861.48967.23056.44419"
JAPMULTI_STUDY = "1.3.51.0.7.11986030739.15242.20106.39861.48967.23056.44420"

SAMPLES = (
    "CT_small.dcm",
    "MR_small.dcm",
    "rtplan.dcm",
    "rtdose.dcm",
    "SC_rgb_rle.dcm",
    "waveform_ecg.dcm",
    "chrH31.dcm",
    "chrH32.dcm",
    "chrI2.dcm",
    "chrGreek.dcm",
    "chrRuss.dcm",
    "chrFren.dcm",
    "chrGerm.dcm",
    "chrKoreanMulti.dcm",
    "chrJapMulti.dcm",
)


def store_samples(names: tuple[str, ...] = SAMPLES) -> None:
    for name in names:
        ingest_file(sample(name))


def derived(folder: Path, name: str, **attributes: object) -> Path:
    """A copy of sample `name` with `attributes` (keyword=value) replaced."""
    ds = pydicom.dcmread(sample(name))
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{ds.SOPInstanceUID}.dcm"
    ds.save_as(path)
    return path


def uid(*parts: int) -> str:
    return "2.25." + ".".join(str(p) for p in parts)


def store_multiseries_studies(folder: Path, count: int = 5) -> list[str]:
    """`count` studies of three series each (CT, MR, SR); newest first.

    Study n is dated 2020-01-(10+n), so the default order is the reverse of
    creation order.
    """
    uids = []
    for n in range(count):
        study = uid(1, n)
        for s, modality in enumerate(("CT", "MR", "SR")):
            path = derived(
                folder,
                "CT_small.dcm",
                StudyInstanceUID=study,
                SeriesInstanceUID=uid(2, n, s),
                SOPInstanceUID=uid(3, n, s),
                Modality=modality,
                SeriesNumber=s + 1,
                StudyDate=f"202001{10 + n}",
                PatientID=f"MULTI{n}",
                PatientName=f"Multi^Series{n}",
            )
            ingest_file(path)
        uids.append(study)
    return list(reversed(uids))
