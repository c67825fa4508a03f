"""The Modality Performed Procedure Step state machine (PS3.4 F.7.2).

IN PROGRESS -> COMPLETED or DISCONTINUED, nothing after a final state.
The worklist item a step performs follows it: STARTED while in progress,
then COMPLETED or DISCONTINUED, which takes it off the worklist.
"""

from django.db import IntegrityError, transaction
from pydicom.dataset import Dataset

from apps.archive.status import MPPS_MAY_NO_LONGER_BE_UPDATED, ProcedureStepStatus
from apps.archive.text import normalize_date, normalize_time
from apps.worklist.models import PerformedProcedureStep, ScheduledProcedureStep

PPS = PerformedProcedureStep.Status
SPS = ScheduledProcedureStep.Status
_SPS_FOR: dict[str, str] = {
    PPS.IN_PROGRESS: SPS.STARTED,
    PPS.COMPLETED: SPS.COMPLETED,
    PPS.DISCONTINUED: SPS.DISCONTINUED,
}

# PS3.4 F.7.2.2.1: attributes an N-SET may not change (identity, the
# scheduling link and the start of the step).
_NOT_SETTABLE = frozenset(
    {
        "SOPInstanceUID",
        "SOPClassUID",
        "ScheduledStepAttributesSequence",
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "PatientSex",
        "PerformedProcedureStepStartDate",
        "PerformedProcedureStepStartTime",
        "PerformedStationAETitle",
        "Modality",
    }
)


class ProcedureStepError(Exception):
    def __init__(
        self, status: ProcedureStepStatus, reason: str, error_id: int | None = None
    ) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.error_id = error_id


def create(
    sop_instance_uid: str, ds: Dataset, calling_ae_title: str = ""
) -> PerformedProcedureStep:
    """N-CREATE: a new step, necessarily IN PROGRESS (PS3.4 F.7.2.1.1)."""
    if not sop_instance_uid:
        raise ProcedureStepError(
            ProcedureStepStatus.MISSING_ATTRIBUTE_VALUE, "SOP Instance UID is missing"
        )
    status = str(ds.get("PerformedProcedureStepStatus", "")).strip()
    if status != PPS.IN_PROGRESS:
        raise ProcedureStepError(
            ProcedureStepStatus.INVALID_ATTRIBUTE_VALUE,
            f"PerformedProcedureStepStatus must be IN PROGRESS on N-CREATE, not {status!r}",
        )
    if PerformedProcedureStep.objects.filter(
        sop_instance_uid=sop_instance_uid
    ).exists():
        raise ProcedureStepError(
            ProcedureStepStatus.DUPLICATE_SOP_INSTANCE,
            f"{sop_instance_uid} already exists",
        )

    step = PerformedProcedureStep(
        sop_instance_uid=sop_instance_uid,
        status=PPS.IN_PROGRESS,
        calling_ae_title=calling_ae_title[:16],
    )
    _apply(step, ds)
    step.scheduled_step = _scheduled_step(ds)
    step.study_instance_uid = _study_uid(ds, step.scheduled_step)
    try:
        with transaction.atomic():
            step.save()
            _follow(step)
    except IntegrityError:
        # Two N-CREATEs for one UID at once: the database decided.
        raise ProcedureStepError(
            ProcedureStepStatus.DUPLICATE_SOP_INSTANCE,
            f"{sop_instance_uid} already exists",
        ) from None
    return step


def update(sop_instance_uid: str, ds: Dataset) -> PerformedProcedureStep:
    """N-SET: change attributes, and possibly finish the step (F.7.2.2)."""
    with transaction.atomic():
        step = (
            PerformedProcedureStep.objects.select_for_update()
            .filter(sop_instance_uid=sop_instance_uid)
            .first()
        )
        if step is None:
            raise ProcedureStepError(
                ProcedureStepStatus.NO_SUCH_OBJECT_INSTANCE,
                f"no performed procedure step {sop_instance_uid}",
            )
        if step.status in PerformedProcedureStep.FINAL:
            raise ProcedureStepError(
                ProcedureStepStatus.PROCESSING_FAILURE,
                f"Performed Procedure Step Object may no longer be updated: it is {step.status}",
                MPPS_MAY_NO_LONGER_BE_UPDATED,
            )
        refused = sorted(elem.keyword for elem in ds if elem.keyword in _NOT_SETTABLE)
        if refused:
            raise ProcedureStepError(
                ProcedureStepStatus.INVALID_ATTRIBUTE_VALUE,
                f"N-SET may not change {', '.join(refused)}",
            )
        if "PerformedProcedureStepStatus" in ds:
            status = str(ds.PerformedProcedureStepStatus).strip()
            if status not in PPS.values:
                raise ProcedureStepError(
                    ProcedureStepStatus.INVALID_ATTRIBUTE_VALUE,
                    f"unknown PerformedProcedureStepStatus {status!r}",
                )
            step.status = status
        _apply(step, ds)
        step.save()
        _follow(step)
    return step


def as_dataset(step: PerformedProcedureStep) -> Dataset:
    return Dataset.from_json(step.attributes_json)


def _apply(step: PerformedProcedureStep, ds: Dataset) -> None:
    """Merge the request's attributes into the step and its columns."""
    attributes = dict(step.attributes_json or {})
    attributes.update(ds.to_json_dict())
    step.attributes_json = attributes
    merged = Dataset.from_json(attributes)
    step.performed_station_ae_title = str(
        merged.get("PerformedStationAETitle", "") or ""
    )[:16]
    step.modality = str(merged.get("Modality", "") or "")[:16]
    step.start_date = normalize_date(
        str(merged.get("PerformedProcedureStepStartDate", "") or "")
    )
    step.start_time = normalize_time(
        str(merged.get("PerformedProcedureStepStartTime", "") or "")
    )
    step.end_date = normalize_date(
        str(merged.get("PerformedProcedureStepEndDate", "") or "")
    )
    step.end_time = normalize_time(
        str(merged.get("PerformedProcedureStepEndTime", "") or "")
    )


def _scheduled_step(ds: Dataset) -> ScheduledProcedureStep | None:
    # PS3.3 C.4.14: an unscheduled step has an item with empty values.
    for item in ds.get("ScheduledStepAttributesSequence", []):
        sps_id = str(item.get("ScheduledProcedureStepID", "") or "")
        if not sps_id:
            continue
        steps = ScheduledProcedureStep.objects.filter(
            scheduled_procedure_step_id=sps_id
        )
        for keyword, lookup in (
            ("StudyInstanceUID", "requested_procedure__study_instance_uid"),
            ("RequestedProcedureID", "requested_procedure__requested_procedure_id"),
            ("AccessionNumber", "requested_procedure__accession_number"),
        ):
            value = str(item.get(keyword, "") or "")
            if value:
                steps = steps.filter(**{lookup: value})
        found = steps.first()
        if found:
            return found
    return None


def _study_uid(ds: Dataset, sps: ScheduledProcedureStep | None) -> str:
    for item in ds.get("ScheduledStepAttributesSequence", []):
        uid = str(item.get("StudyInstanceUID", "") or "")
        if uid:
            return uid[:64]
    return sps.requested_procedure.study_instance_uid if sps else ""


def _follow(step: PerformedProcedureStep) -> None:
    if step.scheduled_step_id:
        ScheduledProcedureStep.objects.filter(pk=step.scheduled_step_id).update(
            status=_SPS_FOR[step.status]
        )
