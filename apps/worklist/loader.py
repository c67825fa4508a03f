"""Worklist items from DICOM files, in the form dcmtk's worklist tools use.

A file holds one requested procedure: patient, request and visit attributes
at the top level and one or more items of ScheduledProcedureStepSequence.
Loading the same file again updates the item instead of adding a second.
"""

from pathlib import Path

import pydicom
from django.db import transaction
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from apps.archive.text import normalize_date, normalize_time
from apps.worklist.models import RequestedProcedure, ScheduledProcedureStep
from apps.worklist.mwl import RP_COLUMNS, SPS_COLUMNS, SPS_SEQUENCE


class WorklistFileError(ValueError):
    pass


def load_file(path: Path) -> RequestedProcedure:
    try:
        ds = pydicom.dcmread(path, force=True)
    except Exception as exc:
        raise WorklistFileError(f"{path}: not a DICOM dataset ({exc})") from None
    if not ds.get(SPS_SEQUENCE):
        raise WorklistFileError(f"{path}: no ScheduledProcedureStepSequence")
    return load_dataset(ds)


def load_dataset(ds: Dataset) -> RequestedProcedure:
    study_uid = _text(ds, "StudyInstanceUID") or generate_uid()
    columns = {
        column: _text(ds, keyword)[: _max(RequestedProcedure, column)]
        for keyword, column in RP_COLUMNS.items()
    }
    columns["study_instance_uid"] = study_uid
    columns["patient_birth_date"] = normalize_date(columns["patient_birth_date"])
    extra = _extra(ds, set(RP_COLUMNS) | {SPS_SEQUENCE, "SpecificCharacterSet"})
    charset = ds.get("SpecificCharacterSet", "")
    charset = (
        "\\".join(charset)
        if isinstance(charset, list | pydicom.multival.MultiValue)
        else str(charset)
    )

    with transaction.atomic():
        procedure, _ = RequestedProcedure.objects.update_or_create(
            study_instance_uid=study_uid,
            defaults={
                **columns,
                "extra_json": extra,
                "specific_character_set": charset,
            },
        )
        for item in ds.ScheduledProcedureStepSequence:
            _load_step(procedure, item)
    return procedure


def _load_step(procedure: RequestedProcedure, item: Dataset) -> ScheduledProcedureStep:
    columns = {column: _text(item, keyword) for keyword, column in SPS_COLUMNS.items()}
    columns["start_date"] = normalize_date(columns["start_date"])
    columns["start_time"] = normalize_time(columns["start_time"])
    columns["status"] = columns["status"] or ScheduledProcedureStep.Status.SCHEDULED
    columns = {k: v[: _max(ScheduledProcedureStep, k)] for k, v in columns.items()}
    extra = _extra(item, set(SPS_COLUMNS))
    step, _ = ScheduledProcedureStep.objects.update_or_create(
        requested_procedure=procedure,
        scheduled_procedure_step_id=columns.pop("scheduled_procedure_step_id"),
        defaults={**columns, "extra_json": extra},
    )
    return step


def _extra(ds: Dataset, held: set[str]) -> dict:
    rest = Dataset()
    for elem in ds:
        if elem.keyword not in held and elem.tag.group != 0x0002:
            rest.add(elem)
    return rest.to_json_dict()


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword)
    if value is None:
        return ""
    return str(value).replace("\x00", "").strip()


def _max(model, column: str) -> int:
    return model._meta.get_field(column).max_length or 64
