"""C-MOVE and C-GET SCP against dcmtk's movescu (into a storescp the test
starts) and getscu."""

from pathlib import Path

import pydicom
import pytest

from apps.archive import storage
from apps.archive.ingest import ingest_file
from apps.archive.models import Instance
from apps.archive.status import QueryRetrieveStatus
from apps.dimse import scu
from apps.dimse.models import RemoteAE
from tests.archive_fixtures import derived
from tests.conftest import sample
from tests.qr_peers import HOST, free_port, listener, process, run

pytestmark = pytest.mark.django_db(transaction=True)

SAMPLES = ["CT_small.dcm", "MR_small.dcm", "rtplan.dcm"]


TRAILING_PADDING = 0xFFFCFFFC


def same_dataset(received: Path, original: Path, same_syntax: bool = True) -> bool:
    """Same transfer syntax and the same elements with the same values.

    Data Set Trailing Padding is the one element that may go: pydicom
    does not write it, and PS3.10 7.2 lets any application drop it."""
    a, b = pydicom.dcmread(received), pydicom.dcmread(original)
    tags = [tag for tag in b.keys() if tag != TRAILING_PADDING]
    return (
        (
            not same_syntax
            or a.file_meta.TransferSyntaxUID == b.file_meta.TransferSyntaxUID
        )
        and sorted(tag for tag in a.keys() if tag != TRAILING_PADDING) == sorted(tags)
        and all(a[tag].VR == b[tag].VR and a[tag].value == b[tag].value for tag in tags)
    )


@pytest.fixture
def stored() -> dict[str, Instance]:
    for name in SAMPLES:
        ingest_file(sample(name))
    return {
        i.sop_instance_uid: i for i in Instance.objects.select_related("series__study")
    }


@pytest.fixture
def storescp(tmp_path):
    port = free_port()
    out = tmp_path / "received"
    out.mkdir()
    RemoteAE.objects.create(ae_title="STORESCP", host=HOST, port=port)
    with process(
        ["storescp", "-aet", "STORESCP", "-od", str(out), "+xa", str(port)], port
    ):
        yield out


def study_of(name: str) -> str:
    return pydicom.dcmread(sample(name), stop_before_pixels=True).StudyInstanceUID


def test_movescu_moves_a_study_into_storescp_as_stored(stored, storescp):
    with listener() as port:
        result = run(
            [
                "movescu",
                "-S",
                "-aet",
                "MOVER",
                "-aec",
                "PACSWEB",
                "-aem",
                "STORESCP",
                "-k",
                "QueryRetrieveLevel=STUDY",
                "-k",
                f"StudyInstanceUID={study_of('CT_small.dcm')}",
                HOST,
                str(port),
            ]
        )

    assert result.returncode == 0, result.stderr
    received = sorted(storescp.iterdir())
    assert len(received) == 1
    assert (
        pydicom.dcmread(received[0]).SOPInstanceUID
        == pydicom.dcmread(sample("CT_small.dcm")).SOPInstanceUID
    )
    assert same_dataset(received[0], sample("CT_small.dcm"))


def test_movescu_at_image_level_with_patient_root(stored, storescp):
    mr = pydicom.dcmread(sample("MR_small.dcm"), stop_before_pixels=True)
    with listener() as port:
        result = run(
            [
                "movescu",
                "-P",
                "-aet",
                "MOVER",
                "-aec",
                "PACSWEB",
                "-aem",
                "STORESCP",
                "-k",
                "QueryRetrieveLevel=IMAGE",
                "-k",
                f"PatientID={mr.PatientID}",
                "-k",
                f"StudyInstanceUID={mr.StudyInstanceUID}",
                "-k",
                f"SeriesInstanceUID={mr.SeriesInstanceUID}",
                "-k",
                f"SOPInstanceUID={mr.SOPInstanceUID}",
                HOST,
                str(port),
            ]
        )

    assert result.returncode == 0, result.stderr
    received = sorted(storescp.iterdir())
    assert [pydicom.dcmread(p).SOPInstanceUID for p in received] == [mr.SOPInstanceUID]
    assert same_dataset(received[0], sample("MR_small.dcm"))


def test_move_reports_counts_and_the_instances_that_failed(stored, storescp):
    ct_uid = pydicom.dcmread(sample("CT_small.dcm")).SOPInstanceUID
    storage.absolute(stored[ct_uid].storage_path).unlink()
    studies = [study_of(name) for name in SAMPLES]
    identifier = pydicom.Dataset()
    identifier.QueryRetrieveLevel = "STUDY"
    identifier.StudyInstanceUID = studies
    seen = []

    with listener() as port:
        result = scu.move(
            scu.Peer("PACSWEB", HOST, port),
            identifier,
            "STORESCP",
            progress=lambda ops: seen.append(ops.remaining),
        )

    assert (result.completed, result.failed, result.warning) == (2, 1, 0)
    assert result.status == QueryRetrieveStatus.SUB_OPERATIONS_WITH_FAILURES
    assert result.failed_uids == [ct_uid]
    assert len(list(storescp.iterdir())) == 2
    # Pending responses counted down the remaining sub-operations.
    assert seen[0] == 2 and seen[-1] == 0


def test_an_unknown_move_destination_is_refused(stored):
    identifier = pydicom.Dataset()
    identifier.QueryRetrieveLevel = "STUDY"
    identifier.StudyInstanceUID = study_of("CT_small.dcm")

    with listener() as port:
        with pytest.raises(scu.DimseFailure) as caught:
            scu.move(scu.Peer("PACSWEB", HOST, port), identifier, "NOWHERE")

    assert caught.value.status == QueryRetrieveStatus.MOVE_DESTINATION_UNKNOWN


def test_a_retrieve_without_the_level_key_is_refused(stored):
    identifier = pydicom.Dataset()
    identifier.QueryRetrieveLevel = "SERIES"
    identifier.StudyInstanceUID = study_of("CT_small.dcm")

    with listener() as port:
        with pytest.raises(scu.DimseFailure) as caught:
            scu.get(scu.Peer("PACSWEB", HOST, port), identifier)

    assert (
        caught.value.status == QueryRetrieveStatus.IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS
    )


def test_getscu_gets_a_study_over_its_own_association(stored, tmp_path):
    out = tmp_path / "got"
    out.mkdir()
    with listener() as port:
        result = run(
            [
                "getscu",
                "-S",
                "-aet",
                "GETTER",
                "-aec",
                "PACSWEB",
                "-od",
                str(out),
                "-k",
                "QueryRetrieveLevel=STUDY",
                "-k",
                f"StudyInstanceUID={study_of('MR_small.dcm')}",
                HOST,
                str(port),
            ]
        )

    assert result.returncode == 0, result.stderr
    received = sorted(out.iterdir())
    assert len(received) == 1
    # The listener picks the transfer syntax among those getscu offered
    # (implicit VR first); the values are the stored ones either way.
    assert pydicom.dcmread(received[0]).file_meta.TransferSyntaxUID in (
        "1.2.840.10008.1.2",
        "1.2.840.10008.1.2.1",
    )
    assert same_dataset(received[0], sample("MR_small.dcm"), same_syntax=False)


def test_a_cancelled_move_stops_sending_and_says_so(tmp_path, storescp):
    study = "2.25.77.1"
    for n in range(40):
        ingest_file(
            derived(
                tmp_path / "in",
                "CT_small.dcm",
                StudyInstanceUID=study,
                SOPInstanceUID=f"2.25.77.2.{n}",
            )
        )
    identifier = pydicom.Dataset()
    identifier.QueryRetrieveLevel = "STUDY"
    identifier.StudyInstanceUID = study

    with listener() as port:
        result = scu.move(
            scu.Peer("PACSWEB", HOST, port),
            identifier,
            "STORESCP",
            cancelled=lambda: True,
        )

    assert result.status == QueryRetrieveStatus.CANCEL
    assert 1 <= result.completed < 40
    assert len(list(storescp.iterdir())) == result.completed
