"""The issue's scenario end to end: a modality (dcmtk, and pynetdicom for
MPPS) pulls its worklist, reports the procedure and sends images; a second
PACS retrieves the study by C-MOVE and C-GET. Known AEs only."""

import pydicom
import pytest
from pydicom.dataset import Dataset

from apps.archive.models import Study
from apps.dimse import scu
from apps.dimse.models import RemoteAE
from apps.worklist.loader import load_dataset
from apps.worklist.models import PerformedProcedureStep, ScheduledProcedureStep
from tests.archive_fixtures import derived
from tests.qr_peers import HOST, free_port, listener, process, run
from tests.worklist_data import worklist_dataset

pytestmark = pytest.mark.django_db(transaction=True)

STUDY = "1.2.826.0.1.3680043.9.7133.1.1"
MPPS = "1.2.826.0.1.3680043.9.7133.3.1"


def test_worklist_mpps_images_then_retrieval_by_another_pacs(settings, tmp_path):
    settings.PACSWEB_REQUIRE_KNOWN_AE = True
    pacs2_port = free_port()
    RemoteAE.objects.create(
        ae_title="CT01", host=HOST, port=104, is_move_destination=False
    )
    RemoteAE.objects.create(
        ae_title="PACS2", host=HOST, port=pacs2_port, allow_store=False
    )
    load_dataset(worklist_dataset())
    image = derived(
        tmp_path / "modality",
        "CT_small.dcm",
        StudyInstanceUID=STUDY,
        PatientID="P-001",
        PatientName="Doe^Jane",
        AccessionNumber="ACC-001",
    )
    moved, got = tmp_path / "pacs2", tmp_path / "pacs2-get"
    after = tmp_path / "after"
    for folder in (moved, got, after):
        folder.mkdir()

    with (
        listener() as port,
        process(
            ["storescp", "-aet", "PACS2", "-od", str(moved), str(pacs2_port)],
            pacs2_port,
        ),
    ):
        # The modality pulls its worklist.
        wl = run(
            [
                "findscu",
                "-W",
                "-aet",
                "CT01",
                "-aec",
                "PACSWEB",
                "-X",
                "-od",
                str(tmp_path),
                "-k",
                "ScheduledProcedureStepSequence[0].ScheduledStationAETitle=CT01",
                "-k",
                "AccessionNumber",
                "-k",
                "StudyInstanceUID",
                HOST,
                str(port),
            ]
        )
        [item] = [pydicom.dcmread(p) for p in tmp_path.glob("rsp*.dcm")]
        # It starts the procedure, sends its image, completes the procedure.
        settings.PACSWEB_AE_TITLE = "CT01"
        scu.mpps_create(scu.Peer("PACSWEB", HOST, port), MPPS, _in_progress(item))
        stored = run(
            ["storescu", "-aet", "CT01", "-aec", "PACSWEB", HOST, str(port), str(image)]
        )
        scu.mpps_set(scu.Peer("PACSWEB", HOST, port), MPPS, _completed())
        settings.PACSWEB_AE_TITLE = "PACSWEB"
        worklist_after = run(
            [
                "findscu",
                "-W",
                "-aet",
                "CT01",
                "-aec",
                "PACSWEB",
                "-X",
                "-od",
                str(after),
                "-k",
                "AccessionNumber",
                HOST,
                str(port),
            ]
        )
        # A second PACS retrieves the study both ways.
        move = run(
            [
                "movescu",
                "-S",
                "-aet",
                "PACS2",
                "-aec",
                "PACSWEB",
                "-aem",
                "PACS2",
                "-k",
                "QueryRetrieveLevel=STUDY",
                "-k",
                f"StudyInstanceUID={STUDY}",
                HOST,
                str(port),
            ]
        )
        get = run(
            [
                "getscu",
                "-S",
                "-aet",
                "PACS2",
                "-aec",
                "PACSWEB",
                "-od",
                str(got),
                "-k",
                "QueryRetrieveLevel=STUDY",
                "-k",
                f"StudyInstanceUID={STUDY}",
                HOST,
                str(port),
            ]
        )

    assert (
        wl.returncode == 0
        and item.AccessionNumber == "ACC-001"
        and item.StudyInstanceUID == STUDY
    )
    assert stored.returncode == 0
    step = PerformedProcedureStep.objects.get()
    assert step.status == "COMPLETED"
    assert step.scheduled_step.status == ScheduledProcedureStep.Status.COMPLETED
    assert step.study == Study.objects.get(study_instance_uid=STUDY)
    assert step.study.number_of_instances == 1
    # The performed step left the worklist: no response files this time.
    assert worklist_after.returncode == 0
    assert list(after.glob("rsp*.dcm")) == []
    assert move.returncode == 0 and get.returncode == 0
    sop = pydicom.dcmread(image).SOPInstanceUID
    assert [pydicom.dcmread(p).SOPInstanceUID for p in moved.iterdir()] == [sop]
    assert [pydicom.dcmread(p).SOPInstanceUID for p in got.iterdir()] == [sop]


def _in_progress(item: Dataset) -> Dataset:
    ds = Dataset()
    reference = Dataset()
    reference.StudyInstanceUID = item.StudyInstanceUID
    reference.AccessionNumber = item.AccessionNumber
    reference.ScheduledProcedureStepID = "SPS-001"
    ds.ScheduledStepAttributesSequence = [reference]
    ds.PerformedProcedureStepStatus = "IN PROGRESS"
    ds.PerformedStationAETitle = "CT01"
    ds.PerformedProcedureStepStartDate = "20261204"
    ds.PerformedProcedureStepStartTime = "100000"
    ds.Modality = "CT"
    return ds


def _completed() -> Dataset:
    ds = Dataset()
    ds.PerformedProcedureStepStatus = "COMPLETED"
    ds.PerformedProcedureStepEndDate = "20261204"
    ds.PerformedProcedureStepEndTime = "101500"
    return ds
