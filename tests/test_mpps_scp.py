"""MPPS N-CREATE / N-SET (PS3.4 F.7) over real associations; pynetdicom
is the modality, as no third-party MPPS SCU is packaged."""

import pytest
from pydicom.dataset import Dataset

from apps.archive.status import MPPS_MAY_NO_LONGER_BE_UPDATED, ProcedureStepStatus
from apps.dimse import scu
from apps.worklist.loader import load_dataset
from apps.worklist.models import PerformedProcedureStep, ScheduledProcedureStep
from tests.qr_peers import HOST, listener
from tests.worklist_data import worklist_dataset

pytestmark = pytest.mark.django_db(transaction=True)

MPPS_UID = "1.2.826.0.1.3680043.9.7133.2.1"
STUDY_UID = "1.2.826.0.1.3680043.9.7133.1.1"


def in_progress() -> Dataset:
    ds = Dataset()
    item = Dataset()
    item.StudyInstanceUID = STUDY_UID
    item.AccessionNumber = "ACC-001"
    item.RequestedProcedureID = "RP-001"
    item.ScheduledProcedureStepID = "SPS-001"
    ds.ScheduledStepAttributesSequence = [item]
    ds.PatientName = "Doe^Jane"
    ds.PatientID = "P-001"
    ds.PerformedStationAETitle = "CT01"
    ds.PerformedProcedureStepID = "PPS-1"
    ds.PerformedProcedureStepStartDate = "20261204"
    ds.PerformedProcedureStepStartTime = "093512"
    ds.PerformedProcedureStepStatus = "IN PROGRESS"
    ds.Modality = "CT"
    return ds


def final(status: str) -> Dataset:
    ds = Dataset()
    ds.PerformedProcedureStepStatus = status
    ds.PerformedProcedureStepEndDate = "20261204"
    ds.PerformedProcedureStepEndTime = "095000"
    return ds


def sps_status() -> str:
    return ScheduledProcedureStep.objects.get(
        scheduled_procedure_step_id="SPS-001"
    ).status


def refusal(call) -> scu.DimseFailure:
    with pytest.raises(scu.DimseFailure) as caught:
        call()
    return caught.value


def test_a_step_goes_in_progress_then_completed_and_its_worklist_item_follows():
    load_dataset(worklist_dataset())

    with listener() as port:
        peer = scu.Peer("PACSWEB", HOST, port)
        created = scu.mpps_create(peer, MPPS_UID, in_progress())
        step = PerformedProcedureStep.objects.get()
        state_after_create = (step.status, sps_status())
        scu.mpps_set(peer, MPPS_UID, final("COMPLETED"))

    step.refresh_from_db()
    assert created.PerformedProcedureStepStatus == "IN PROGRESS"
    assert state_after_create == ("IN PROGRESS", "STARTED")
    assert (step.status, sps_status()) == ("COMPLETED", "COMPLETED")
    assert step.scheduled_step.scheduled_procedure_step_id == "SPS-001"
    assert step.study_instance_uid == STUDY_UID
    assert (step.start_date, step.end_date, step.performed_station_ae_title) == (
        "20261204",
        "20261204",
        "CT01",
    )
    assert step.attributes_json["00400252"]["Value"] == ["COMPLETED"]


def test_a_discontinued_step_discontinues_its_worklist_item():
    load_dataset(worklist_dataset())

    with listener() as port:
        peer = scu.Peer("PACSWEB", HOST, port)
        scu.mpps_create(peer, MPPS_UID, in_progress())
        scu.mpps_set(peer, MPPS_UID, final("DISCONTINUED"))

    assert PerformedProcedureStep.objects.get().status == "DISCONTINUED"
    assert sps_status() == "DISCONTINUED"


def test_it_refuses_what_the_state_machine_does_not_allow():
    with listener() as port:
        peer = scu.Peer("PACSWEB", HOST, port)
        not_in_progress = refusal(
            lambda: scu.mpps_create(peer, MPPS_UID, final("COMPLETED"))
        )
        scu.mpps_create(peer, MPPS_UID, in_progress())
        duplicate = refusal(lambda: scu.mpps_create(peer, MPPS_UID, in_progress()))
        unknown = refusal(lambda: scu.mpps_set(peer, "1.2.3.4", final("COMPLETED")))
        identity = Dataset()
        identity.PatientID = "OTHER"
        not_settable = refusal(lambda: scu.mpps_set(peer, MPPS_UID, identity))
        bad_status = refusal(lambda: scu.mpps_set(peer, MPPS_UID, final("DONE")))
        scu.mpps_set(peer, MPPS_UID, final("COMPLETED"))
        after_final = refusal(
            lambda: scu.mpps_set(peer, MPPS_UID, final("IN PROGRESS"))
        )

    assert not_in_progress.status == ProcedureStepStatus.INVALID_ATTRIBUTE_VALUE
    assert duplicate.status == ProcedureStepStatus.DUPLICATE_SOP_INSTANCE
    assert unknown.status == ProcedureStepStatus.NO_SUCH_OBJECT_INSTANCE
    assert not_settable.status == ProcedureStepStatus.INVALID_ATTRIBUTE_VALUE
    assert bad_status.status == ProcedureStepStatus.INVALID_ATTRIBUTE_VALUE
    assert after_final.status == ProcedureStepStatus.PROCESSING_FAILURE
    assert after_final.error_id == MPPS_MAY_NO_LONGER_BE_UPDATED
    assert "may no longer be updated" in str(after_final)
    assert PerformedProcedureStep.objects.get().status == "COMPLETED"
    # An unscheduled step is recorded without a worklist link.
    assert PerformedProcedureStep.objects.get().scheduled_step is None
