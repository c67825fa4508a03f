"""Modality Worklist C-FIND against dcmtk's `findscu -W`."""

from pathlib import Path

import pydicom
import pytest

from apps.worklist.loader import load_dataset
from apps.worklist.models import ScheduledProcedureStep
from tests.qr_peers import HOST, listener, run
from tests.worklist_data import worklist_dataset

pytestmark = pytest.mark.django_db(transaction=True)

RETURN_KEYS = [
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "AccessionNumber",
    "StudyInstanceUID",
    "RequestedProcedureID",
    "RequestedProcedureDescription",
    "PatientWeight",
    "ScheduledProcedureStepSequence[0].ScheduledStationAETitle",
    "ScheduledProcedureStepSequence[0].ScheduledProcedureStepID",
    "ScheduledProcedureStepSequence[0].ScheduledProcedureStepDescription",
    "ScheduledProcedureStepSequence[0].ScheduledProtocolCodeSequence",
]


def findscu_worklist(port: int, out: Path, *keys: str) -> list[pydicom.Dataset]:
    out.mkdir(exist_ok=True)
    args = ["findscu", "-W", "-aet", "CT01", "-aec", "PACSWEB", "-X", "-od", str(out)]
    for key in [*RETURN_KEYS, *keys]:
        args += ["-k", key]
    result = run([*args, HOST, str(port)])
    assert result.returncode == 0, result.stderr
    return [pydicom.dcmread(p) for p in sorted(out.glob("rsp*.dcm"))]


@pytest.fixture
def worklist():
    load_dataset(worklist_dataset())
    load_dataset(
        worklist_dataset(
            patient_name="Müller^Ärger",
            patient_id="P-002",
            accession="ACC-002",
            study_uid="1.2.826.0.1.3680043.9.7133.1.2",
            station="MR01",
            modality="MR",
            date="20261205",
            time="140000",
            sps_id="SPS-002",
            rp_id="RP-002",
        )
    )


def test_it_returns_the_items_scheduled_for_a_station_with_their_return_keys(
    worklist, tmp_path
):
    with listener() as port:
        found = findscu_worklist(
            port,
            tmp_path / "rsp",
            "ScheduledProcedureStepSequence[0].Modality=CT",
            "ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate=20261201-20261204",
        )

    assert len(found) == 1
    item = found[0]
    assert str(item.PatientName) == "Doe^Jane"
    assert item.AccessionNumber == "ACC-001"
    assert item.StudyInstanceUID == "1.2.826.0.1.3680043.9.7133.1.1"
    assert item.PatientWeight == 61.5
    step = item.ScheduledProcedureStepSequence[0]
    assert step.ScheduledStationAETitle == "CT01"
    assert step.ScheduledProcedureStepID == "SPS-001"
    assert step.ScheduledProtocolCodeSequence[0].CodeValue == "CTCHEST"


def test_it_matches_station_and_time_range_and_names_without_case(worklist, tmp_path):
    with listener() as port:
        by_station = findscu_worklist(
            port,
            tmp_path / "a",
            "ScheduledProcedureStepSequence[0].ScheduledStationAETitle=MR01",
        )
        by_range = findscu_worklist(
            port,
            tmp_path / "b",
            "ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate=20261204-20261205",
            "ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartTime=1000-1500",
        )
        by_name = findscu_worklist(
            port, tmp_path / "c", "PatientName=mül*", "SpecificCharacterSet=ISO_IR 192"
        )
        nobody = findscu_worklist(port, tmp_path / "d", "PatientID=P-00%")

    assert [d.PatientID for d in by_station] == ["P-002"]
    # 2026-12-04 09:30 is before 10:00 of the first day; 2026-12-05 14:00 is inside.
    assert [d.AccessionNumber for d in by_range] == ["ACC-002"]
    assert [str(d.PatientName) for d in by_name] == ["Müller^Ärger"]
    # SQL pattern characters in a value match literally.
    assert nobody == []


def test_performed_steps_leave_the_worklist(worklist, tmp_path):
    ScheduledProcedureStep.objects.filter(scheduled_procedure_step_id="SPS-001").update(
        status=ScheduledProcedureStep.Status.COMPLETED
    )

    with listener() as port:
        found = findscu_worklist(port, tmp_path / "rsp")

    assert [d.AccessionNumber for d in found] == ["ACC-002"]
