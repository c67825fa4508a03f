"""Helpers shared by the viewer page tests: users and archive rows."""

import itertools
from pathlib import Path

import pydicom
from pydicom.uid import ImplicitVRLittleEndian

from apps.archive.ingest import Identity, ingest_file
from apps.archive.models import Patient, Study, StudyModality
from apps.archive.text import fold
from tests.conftest import sample

_uids = itertools.count(1)


def make_study(
    *,
    name: str = "Doe^Jane",
    patient_id: str = "P1",
    date: str = "20240101",
    time: str = "120000.000000",
    accession: str = "",
    modalities: tuple[str, ...] = ("CT",),
    description: str = "",
) -> Study:
    """A study row made directly, for list tests that need many of them."""
    patient, _ = Patient.objects.get_or_create(
        patient_id=patient_id,
        issuer_of_patient_id="",
        defaults={"patient_name": name, "patient_name_norm": fold(name)},
    )
    study = Study.objects.create(
        study_instance_uid=f"2.25.{next(_uids)}",
        patient=patient,
        study_date=date,
        study_time=time,
        accession_number=accession,
        study_description=description,
        modalities_in_study="\\".join(sorted(modalities)),
    )
    for modality in modalities:
        StudyModality.objects.create(study=study, modality=modality)
    return study


def ingest_renamed(
    tmp_path: Path, name: str, patient_name: str, **attributes: str
) -> Study:
    """Ingest a real sample with its patient name (and others) replaced."""
    ds = pydicom.dcmread(sample(name))
    ds.PatientName = patient_name
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    path = tmp_path / f"renamed-{next(_uids)}.dcm"
    ds.save_as(path)
    result = ingest_file(path)
    return Study.objects.get(study_instance_uid=result.identity.study_uid)


def ingest_as_new_series(tmp_path: Path, name: str, series_number: int) -> str:
    """Ingest a real sample as a new series (new series and SOP UIDs)."""
    ds = pydicom.dcmread(sample(name))
    ds.SeriesInstanceUID = f"2.25.{next(_uids)}{series_number}"
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = (
        f"2.25.{next(_uids)}{series_number}0"
    )
    ds.SeriesNumber = series_number
    path = tmp_path / f"series-{next(_uids)}.dcm"
    ds.save_as(path)
    return ingest_file(path).identity.series_uid


def ingest_as_new_study(tmp_path: Path, name: str) -> str:
    """Ingest a real sample under new study, series and SOP instance UIDs.

    Several pydicom samples are one image in different encodings sharing
    their UIDs; stored as they are, all but the first would be duplicates.
    """
    return ingest_dataset_as_new_study(tmp_path, pydicom.dcmread(sample(name)))


def ingest_dataset_as_new_study(
    tmp_path: Path, ds: pydicom.Dataset, *, implicit_vr: bool = False
) -> str:
    """Ingest a (changed) sample under new UIDs, optionally as implicit VR."""
    ds.StudyInstanceUID = f"2.25.{next(_uids)}1"
    return _ingest_as_new_series(tmp_path, ds, implicit_vr).study_uid


def ingest_into_study(tmp_path: Path, ds: pydicom.Dataset, study_uid: str) -> str:
    """Ingest a sample as a new series of the given study; its SOP UID."""
    ds.StudyInstanceUID = study_uid
    return _ingest_as_new_series(tmp_path, ds, False).sop_uid


def _ingest_as_new_series(
    tmp_path: Path, ds: pydicom.Dataset, implicit_vr: bool
) -> Identity:
    ds.SeriesInstanceUID = f"2.25.{next(_uids)}2"
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = f"2.25.{next(_uids)}3"
    path = tmp_path / f"study-{next(_uids)}.dcm"
    if implicit_vr:
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
        ds.save_as(path, implicit_vr=True, little_endian=True)
    else:
        ds.save_as(path)
    return ingest_file(path).identity
