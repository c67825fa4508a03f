"""Modality Worklist C-FIND: matching and return keys (PS3.4 K.6).

Matching keys (PS3.4 K.6.1.2.2, matched inside the Scheduled Procedure
Step Sequence item or at the top level): ScheduledStationAETitle,
ScheduledProcedureStepStartDate/Time (single value or range; both given
match as one date-time range, PS3.4 C.2.2.2.5.2), Modality,
ScheduledPerformingPhysicianName, ScheduledProcedureStepStatus, PatientName
(case-insensitive, wildcards), PatientID, AccessionNumber,
RequestedProcedureID. Wildcards `*` and `?` become an anchored regular
expression, so SQL LIKE characters in a value match literally.
"""

import re
from collections.abc import Iterator

from django.db.models import QuerySet, Value
from django.db.models.functions import Concat
from pydicom.dataset import Dataset

from apps.archive.text import fold, normalize_date, normalize_time
from apps.worklist.models import RequestedProcedure, ScheduledProcedureStep

SPS_SEQUENCE = "ScheduledProcedureStepSequence"

# Column per keyword, for the top-level (requested procedure, patient) and
# step-level attributes that are held as columns.
RP_COLUMNS = {
    "PatientName": "patient_name",
    "PatientID": "patient_id",
    "IssuerOfPatientID": "issuer_of_patient_id",
    "PatientBirthDate": "patient_birth_date",
    "PatientSex": "patient_sex",
    "AccessionNumber": "accession_number",
    "ReferringPhysicianName": "referring_physician_name",
    "RequestingPhysician": "requesting_physician",
    "AdmissionID": "admission_id",
    "RequestedProcedureID": "requested_procedure_id",
    "RequestedProcedureDescription": "requested_procedure_description",
    "RequestedProcedurePriority": "requested_procedure_priority",
    "StudyInstanceUID": "study_instance_uid",
}
SPS_COLUMNS = {
    "ScheduledProcedureStepID": "scheduled_procedure_step_id",
    "ScheduledStationAETitle": "scheduled_station_ae_title",
    "ScheduledStationName": "scheduled_station_name",
    "ScheduledProcedureStepLocation": "scheduled_procedure_step_location",
    "ScheduledProcedureStepStartDate": "start_date",
    "ScheduledProcedureStepStartTime": "start_time",
    "Modality": "modality",
    "ScheduledPerformingPhysicianName": "scheduled_performing_physician_name",
    "ScheduledProcedureStepDescription": "description",
    "ScheduledProcedureStepStatus": "status",
}
_WILDCARD_KEYS = {
    "PatientName",
    "PatientID",
    "AccessionNumber",
    "RequestedProcedureID",
    "ScheduledStationAETitle",
    "ScheduledPerformingPhysicianName",
    "ScheduledProcedureStepID",
}
_FOLDED = {"PatientName", "ScheduledPerformingPhysicianName"}


class WorklistQueryError(ValueError):
    """An identifier the worklist cannot be matched with."""


def search(identifier: Dataset) -> QuerySet[ScheduledProcedureStep]:
    steps = ScheduledProcedureStep.objects.select_related("requested_procedure")
    item = _sps_item(identifier)
    explicit_status = bool(_value(item, "ScheduledProcedureStepStatus"))
    if not explicit_status:
        # Performed or abandoned steps are no longer on the worklist.
        steps = steps.exclude(status__in=ScheduledProcedureStep.CLOSED)

    for keyword in (
        "PatientName",
        "PatientID",
        "AccessionNumber",
        "RequestedProcedureID",
        "StudyInstanceUID",
    ):
        steps = _match(
            steps,
            f"requested_procedure__{RP_COLUMNS[keyword]}",
            keyword,
            _value(identifier, keyword),
        )
    for keyword in (
        "ScheduledStationAETitle",
        "Modality",
        "ScheduledPerformingPhysicianName",
        "ScheduledProcedureStepID",
        "ScheduledProcedureStepStatus",
    ):
        steps = _match(steps, SPS_COLUMNS[keyword], keyword, _value(item, keyword))
    steps = _match_start(
        steps,
        _value(item, "ScheduledProcedureStepStartDate"),
        _value(item, "ScheduledProcedureStepStartTime"),
    )
    return steps.order_by("start_date", "start_time", "id")


def responses(identifier: Dataset) -> Iterator[Dataset]:
    for step in search(identifier):
        yield project(full_dataset(step), identifier)


def _sps_item(identifier: Dataset) -> Dataset:
    sequence = identifier.get(SPS_SEQUENCE)
    if sequence:
        return sequence[0]
    return Dataset()


def _value(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword)
    if value is None:
        return ""
    if (
        not isinstance(value, str)
        and hasattr(value, "__iter__")
        and not hasattr(value, "components")
    ):
        value = "\\".join(str(v) for v in value)
    return str(value).strip()


def _match(steps: QuerySet, column: str, keyword: str, value: str) -> QuerySet:
    if not value or value == "*":
        return steps  # universal matching (PS3.4 C.2.2.2.3)
    if keyword in _FOLDED:
        value = fold(value)
        column = (
            column.replace("patient_name", "patient_name_norm")
            if keyword == "PatientName"
            else column
        )
        if keyword == "ScheduledPerformingPhysicianName":
            return steps.filter(**{f"{column}__iregex": _regex(value)})
    if "\\" in value and keyword not in _FOLDED:
        return steps.filter(**{f"{column}__in": value.split("\\")})  # list of values
    if keyword in _WILDCARD_KEYS and ("*" in value or "?" in value):
        return steps.filter(**{f"{column}__regex": _regex(value)})
    return steps.filter(**{column: value})


def _regex(value: str) -> str:
    parts = []
    for ch in value:
        parts.append(".*" if ch == "*" else "." if ch == "?" else re.escape(ch))
    return "^" + "".join(parts) + "$"


def _match_start(steps: QuerySet, date: str, time: str) -> QuerySet:
    if not date and not time:
        return steps
    if date and time:
        # PS3.4 C.2.2.2.5.2: date and time together form one range.
        low_d, high_d = _range(date, normalize_date)
        low_t, high_t = _range(time, normalize_time, upper_end=True)
        steps = steps.annotate(_start=Concat("start_date", Value(" "), "start_time"))
        if low_d:
            steps = steps.filter(_start__gte=f"{low_d} {low_t or '000000.000000'}")
        if high_d:
            steps = steps.filter(_start__lte=f"{high_d} {high_t or '235959.999999'}")
        return steps
    if date:
        low, high = _range(date, normalize_date)
        column = "start_date"
    else:
        low, high = _range(time, normalize_time, upper_end=True)
        column = "start_time"
    if low:
        steps = steps.filter(**{f"{column}__gte": low})
    if high:
        steps = steps.filter(**{f"{column}__lte": high})
    return steps


def _range(value: str, normalize, upper_end: bool = False) -> tuple[str, str]:
    low, sep, high = value.partition("-")
    if not sep:
        high = low
    low_n = normalize(low) if low else ""
    high_n = (
        (normalize(high, upper=True) if upper_end else normalize(high)) if high else ""
    )
    if (low and not low_n) or (high and not high_n):
        raise WorklistQueryError(f"malformed date or time range {value!r}")
    return low_n, high_n


def full_dataset(step: ScheduledProcedureStep) -> Dataset:
    """Everything known about a worklist item, as the MWL dataset."""
    procedure: RequestedProcedure = step.requested_procedure
    ds = Dataset.from_json(procedure.extra_json or {})
    if procedure.specific_character_set:
        ds.SpecificCharacterSet = procedure.specific_character_set.split("\\")
    for keyword, column in RP_COLUMNS.items():
        setattr(ds, keyword, getattr(procedure, column))
    item = Dataset.from_json(step.extra_json or {})
    for keyword, column in SPS_COLUMNS.items():
        value = getattr(step, column)
        if keyword == "ScheduledProcedureStepStartTime" and value:
            value = value.split(".")[0]
        setattr(item, keyword, value)
    ds.ScheduledProcedureStepSequence = [item]
    return ds


def project(full: Dataset, identifier: Dataset) -> Dataset:
    """The return keys the identifier asked for, with our values (PS3.4 C.2.2.1)."""
    out = Dataset()
    for elem in identifier:
        if elem.keyword in ("QueryRetrieveLevel",) or elem.tag.group == 0x0002:
            continue
        if elem.keyword == "SpecificCharacterSet":
            continue
        if elem.VR == "SQ":
            source = full.get(elem.tag)
            if source is None or source.VR != "SQ" or not source.value:
                out.add_new(elem.tag, "SQ", [])
                continue
            requested = elem.value[0] if elem.value else None
            out.add_new(
                elem.tag,
                "SQ",
                [
                    project(item, requested) if requested is not None else item
                    for item in source.value
                ],
            )
            continue
        if elem.tag in full:
            out[elem.tag] = full[elem.tag]
        else:
            out.add_new(elem.tag, elem.VR, None)
    if "SpecificCharacterSet" in full:
        out.SpecificCharacterSet = full.SpecificCharacterSet
    return out
