"""C-CANCEL of C-FIND, worklist C-FIND, C-MOVE and C-GET, from real peers.

A peer cancels after reading some responses; responses the listener had
already sent when the C-CANCEL arrived stay sent (PS3.7 9.3.2.3), so the
peer may read more than it had when it cancelled. What must hold: the
stream ends with Cancel (0xFE00) before the last match, and the listener's
log names how many responses it sent, which is what the peer received.
"""

import logging
import re
from pathlib import Path

import pytest
from pydicom import Dataset
from pynetdicom import AE, build_role, evt
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    CTImageStorage,
    StudyRootQueryRetrieveInformationModelGet,
)

from apps.accounts.models import AuditEvent
from apps.archive.ingest import ingest_file
from apps.archive.models import Patient, Study
from apps.archive.status import QueryRetrieveStatus
from apps.worklist.loader import load_dataset
from tests.archive_fixtures import derived
from tests.qr_peers import HOST, free_port, listener, process, run
from tests.worklist_data import worklist_dataset

pytestmark = pytest.mark.django_db(transaction=True)

# Enough matches that the listener is still sending when the C-CANCEL of a
# peer that cancels after a few responses arrives.
STUDIES = 3000
CANCEL_AFTER = 3
LOGGER = "apps.dimse.service"


def _many_studies(count: int) -> None:
    # Rows, not files: C-FIND answers from rows, and ingesting thousands of
    # files would take minutes for nothing the test looks at.
    patient = Patient.objects.create(patient_id="MANY", patient_name="Many^Studies")
    Study.objects.bulk_create(
        Study(
            study_instance_uid=f"2.25.4242.{n}",
            patient=patient,
            study_date=f"2020{1 + n % 12:02d}{1 + n % 28:02d}",
            attributes_json='{"00100020": {"vr": "LO", "Value": ["MANY"]}}',
        )
        for n in range(count)
    )


def _find_statuses(stderr: str) -> tuple[int, str]:
    """Pending responses findscu read, and how its final response was named."""
    pending = re.findall(r"Find Response: (\d+) \(Pending\)", stderr)
    final = re.findall(r"Received Final Find Response \((.+)\)", stderr)
    assert len(final) == 1, stderr[-2000:]
    assert [int(n) for n in pending] == list(range(1, len(pending) + 1))
    return len(pending), final[0]


def _cancel_lines(caplog) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == LOGGER and "C-CANCEL" in r.getMessage()
    ]


def test_findscu_cancel_ends_a_study_query_with_cancel_and_we_log_it(caplog):
    _many_studies(STUDIES)
    caplog.set_level(logging.INFO, logger=LOGGER)

    with listener() as port:
        result = run(
            [
                "findscu",
                "-S",
                "-v",
                "-aet",
                "FINDER",
                "-aec",
                "PACSWEB",
                "--cancel",
                str(CANCEL_AFTER),
                "-k",
                "QueryRetrieveLevel=STUDY",
                "-k",
                "PatientID=MANY",
                "-k",
                "StudyInstanceUID",
                HOST,
                str(port),
            ]
        )

    assert result.returncode == 0, result.stderr
    assert "Sending Cancel Request" in result.stderr
    pending, final = _find_statuses(result.stderr)
    assert final == "Cancel: MatchingTerminatedDueToCancelRequest"
    assert CANCEL_AFTER <= pending < STUDIES
    assert _cancel_lines(caplog) == [
        f"C-FIND from FINDER cancelled by C-CANCEL after {pending} of {STUDIES} "
        "pending responses"
    ]
    (event,) = AuditEvent.objects.filter(action="query", ae_title="FINDER")
    assert event.detail == f"{STUDIES} match(es)"


def test_findscu_cancel_ends_a_worklist_query_with_cancel(caplog):
    items = 600
    for n in range(items):
        load_dataset(
            worklist_dataset(
                patient_id=f"WL-{n}",
                accession=f"ACC-{n}",
                study_uid=f"2.25.4343.{n}",
                sps_id=f"SPS-{n}",
                rp_id=f"RP-{n}",
            )
        )
    caplog.set_level(logging.INFO, logger=LOGGER)

    with listener() as port:
        result = run(
            [
                "findscu",
                "-W",
                "-v",
                "-aet",
                "CT01",
                "-aec",
                "PACSWEB",
                "--cancel",
                "2",
                "-k",
                "PatientID",
                "-k",
                "ScheduledProcedureStepSequence[0].Modality=CT",
                HOST,
                str(port),
            ]
        )

    assert result.returncode == 0, result.stderr
    pending, final = _find_statuses(result.stderr)
    assert final == "Cancel: MatchingTerminatedDueToCancelRequest"
    assert 2 <= pending < items
    assert _cancel_lines(caplog) == [
        f"C-FIND from CT01 cancelled by C-CANCEL after {pending} of {items} "
        "pending responses"
    ]


@pytest.fixture
def forty_instances(tmp_path: Path) -> str:
    study = "2.25.4444.1"
    for n in range(40):
        ingest_file(
            derived(
                tmp_path / "in",
                "CT_small.dcm",
                StudyInstanceUID=study,
                SOPInstanceUID=f"2.25.4444.2.{n}",
            )
        )
    return study


def test_movescu_cancel_stops_the_sub_operations_and_we_log_it(
    forty_instances, tmp_path, caplog
):
    from apps.dimse.models import RemoteAE

    received = tmp_path / "received"
    received.mkdir()
    store_port = free_port()
    RemoteAE.objects.create(ae_title="STORESCP", host=HOST, port=store_port)
    caplog.set_level(logging.INFO, logger=LOGGER)

    with (
        process(
            ["storescp", "-aet", "STORESCP", "-od", str(received), str(store_port)],
            store_port,
        ),
        listener() as port,
    ):
        result = run(
            [
                "movescu",
                "-S",
                "-v",
                "-aet",
                "MOVER",
                "-aec",
                "PACSWEB",
                "-aem",
                "STORESCP",
                "--cancel",
                "1",
                "-k",
                "QueryRetrieveLevel=STUDY",
                "-k",
                f"StudyInstanceUID={forty_instances}",
                HOST,
                str(port),
            ]
        )

    assert result.returncode == 0, result.stderr
    assert "Sending Cancel Request" in result.stderr
    finals = re.findall(r"Received Final Move Response \((.+)\)", result.stderr)
    assert finals == ["Cancel: SubOperationsTerminatedDueToCancelIndication"]
    (line,) = _cancel_lines(caplog)
    sent = int(re.fullmatch(r"C-MOVE from MOVER .* after (\d+) of 40 .*", line)[1])
    assert 1 <= sent < 40
    assert len(list(received.iterdir())) == sent


def test_a_pynetdicom_c_cancel_stops_a_c_get(forty_instances, caplog):
    stored: list[str] = []

    def on_store(event) -> int:
        stored.append(str(event.dataset.SOPInstanceUID))
        return 0x0000

    identifier = Dataset()
    identifier.QueryRetrieveLevel = "STUDY"
    identifier.StudyInstanceUID = forty_instances
    ae = AE(ae_title="GETTER")
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
    ae.add_requested_context(CTImageStorage)
    caplog.set_level(logging.INFO, logger=LOGGER)

    with listener() as port:
        assoc = ae.associate(
            HOST,
            port,
            ae_title="PACSWEB",
            ext_neg=[build_role(CTImageStorage, scp_role=True)],
            evt_handlers=[(evt.EVT_C_STORE, on_store)],
        )
        assert assoc.is_established
        (context,) = [
            c
            for c in assoc.accepted_contexts
            if c.abstract_syntax == StudyRootQueryRetrieveInformationModelGet
        ]
        statuses = []
        for status, _ in assoc.send_c_get(
            identifier, StudyRootQueryRetrieveInformationModelGet, msg_id=7
        ):
            statuses.append(status)
            if len(statuses) == 1:
                assoc.send_c_cancel(7, context.context_id)
        assoc.release()
        ae.shutdown()

    final = statuses[-1]
    assert final.Status == QueryRetrieveStatus.CANCEL
    assert all(s.Status == QueryRetrieveStatus.PENDING for s in statuses[:-1])
    (line,) = _cancel_lines(caplog)
    assert line == (
        f"C-GET from GETTER cancelled by C-CANCEL after {len(stored)} of 40 "
        "sub-operations"
    )
    assert 1 <= len(stored) < 40
    assert final.NumberOfCompletedSuboperations == len(stored)
    assert final.NumberOfRemainingSuboperations == 40 - len(stored)
