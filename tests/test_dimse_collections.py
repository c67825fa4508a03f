"""A RemoteAE restricted to collections finds, moves and gets only their
studies (findscu, movescu into a storescp, getscu), and what it stores goes
into them."""

from pathlib import Path

import pydicom
import pytest

from apps.archive.ingest import ingest_file
from apps.archive.models import Collection, Study
from apps.dimse.models import RemoteAE
from tests.archive_fixtures import derived, uid
from tests.conftest import sample
from tests.qr_peers import HOST, free_port, listener, process, run

pytestmark = pytest.mark.django_db(transaction=True)

CT = pydicom.dcmread(sample("CT_small.dcm"), stop_before_pixels=True)
MR = pydicom.dcmread(sample("MR_small.dcm"), stop_before_pixels=True)
# A second study of the CT patient, outside the restricted AE's collection.
CT_LATER_STUDY = uid(7, 1)


@pytest.fixture
def archive(settings, tmp_path) -> dict[str, Collection]:
    """CT study in "north"; MR study and a later CT-patient study in "south";
    LIMITED reaches north only, EVERYONE reaches all."""
    settings.PACSWEB_REQUIRE_KNOWN_AE = True
    north = Collection.objects.create(name="north")
    south = Collection.objects.create(name="south")
    ingest_file(sample("CT_small.dcm"), collection_ids=[north.pk])
    ingest_file(sample("MR_small.dcm"), collection_ids=[south.pk])
    later = derived(
        tmp_path / "later",
        "CT_small.dcm",
        StudyInstanceUID=CT_LATER_STUDY,
        SeriesInstanceUID=uid(7, 2),
        SOPInstanceUID=uid(7, 3),
    )
    ingest_file(later, collection_ids=[south.pk])
    limited = RemoteAE.objects.create(
        ae_title="LIMITED", host=HOST, port=104, all_collections=False
    )
    limited.collections.add(north)
    RemoteAE.objects.create(ae_title="EVERYONE", host=HOST, port=104)
    return {"north": north, "south": south}


def findscu(port: int, calling: str, out: Path, *args: str) -> list[pydicom.Dataset]:
    out.mkdir()
    result = run(
        ["findscu", "-aet", calling, "-aec", "PACSWEB", "-X", "-od", str(out)]
        + [*args, HOST, str(port)]
    )
    assert result.returncode == 0, result.stderr
    return [pydicom.dcmread(path) for path in sorted(out.glob("rsp*.dcm"))]


def study_find(port: int, calling: str, out: Path) -> set[str]:
    answers = findscu(
        port,
        calling,
        out,
        "-S",
        "-k",
        "QueryRetrieveLevel=STUDY",
        "-k",
        "StudyInstanceUID",
    )
    return {str(ds.StudyInstanceUID) for ds in answers}


def test_c_find_sees_only_the_studies_of_the_aes_collections(archive, tmp_path):
    with listener() as port:
        limited = study_find(port, "LIMITED", tmp_path / "limited")
        everyone = study_find(port, "EVERYONE", tmp_path / "everyone")

    assert limited == {CT.StudyInstanceUID}
    assert everyone == {CT.StudyInstanceUID, MR.StudyInstanceUID, CT_LATER_STUDY}


def test_patient_level_counts_only_the_visible_studies(archive, tmp_path):
    keys = ["-P", "-k", "QueryRetrieveLevel=PATIENT", "-k", "PatientID"]
    keys += ["-k", "NumberOfPatientRelatedStudies"]

    with listener() as port:
        limited = findscu(port, "LIMITED", tmp_path / "limited", *keys)
        everyone = findscu(port, "EVERYONE", tmp_path / "everyone", *keys)

    assert [(ds.PatientID, ds.NumberOfPatientRelatedStudies) for ds in limited] == [
        (CT.PatientID, 1)
    ]
    assert sorted(
        (ds.PatientID, ds.NumberOfPatientRelatedStudies) for ds in everyone
    ) == sorted([(CT.PatientID, 2), (MR.PatientID, 1)])


@pytest.fixture
def storescp(archive, tmp_path):
    port = free_port()
    out = tmp_path / "received"
    out.mkdir()
    RemoteAE.objects.create(ae_title="STORESCP", host=HOST, port=port)
    with process(["storescp", "-aet", "STORESCP", "-od", str(out), str(port)], port):
        yield out


def movescu(port: int, calling: str, study_uid: str) -> str:
    result = run(
        ["movescu", "-v", "-S", "-aet", calling, "-aec", "PACSWEB", "-aem", "STORESCP"]
        + ["-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study_uid}"]
        + [HOST, str(port)]
    )
    assert result.returncode == 0, result.stderr
    return result.stdout + result.stderr


def test_c_move_sends_only_studies_of_the_aes_collections(storescp):
    with listener() as port:
        outside = movescu(port, "LIMITED", MR.StudyInstanceUID)
        received_outside = list(storescp.iterdir())
        inside = movescu(port, "LIMITED", CT.StudyInstanceUID)

    # Outside its collections the study does not exist for the AE: an
    # empty, successful retrieve, as for an unknown UID.
    assert received_outside == []
    assert "Received Final Move Response (Success)" in outside
    assert "Received Final Move Response (Success)" in inside
    [received] = list(storescp.iterdir())
    assert pydicom.dcmread(received).SOPInstanceUID == CT.SOPInstanceUID


def getscu(port: int, calling: str, study_uid: str, out: Path) -> list[str]:
    out.mkdir()
    result = run(
        ["getscu", "-S", "-aet", calling, "-aec", "PACSWEB", "-od", str(out)]
        + ["-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study_uid}"]
        + [HOST, str(port)]
    )
    assert result.returncode == 0, result.stderr
    return sorted(str(pydicom.dcmread(p).SOPInstanceUID) for p in out.iterdir())


def test_c_get_returns_only_studies_of_the_aes_collections(archive, tmp_path):
    with listener() as port:
        outside = getscu(port, "LIMITED", CT_LATER_STUDY, tmp_path / "outside")
        inside = getscu(port, "LIMITED", CT.StudyInstanceUID, tmp_path / "inside")
        unrestricted = getscu(port, "EVERYONE", CT_LATER_STUDY, tmp_path / "all")

    assert outside == []
    assert inside == [CT.SOPInstanceUID]
    assert unrestricted == [uid(7, 3)]


def test_c_store_puts_the_study_into_the_aes_collections(archive):
    plan = pydicom.dcmread(sample("rtplan.dcm"), stop_before_pixels=True)

    with listener() as port:
        result = run(
            ["storescu", "-v", "-aet", "LIMITED", "-aec", "PACSWEB", HOST, str(port)]
            + [str(sample("rtplan.dcm"))]
        )

    assert "Received Store Response (Success)" in result.stderr
    study = Study.objects.get(study_instance_uid=plan.StudyInstanceUID)
    assert [c.name for c in study.collections.all()] == ["north"]


def test_the_api_restricts_a_remote_ae_to_collections(admin_client):
    north = Collection.objects.create(name="north")

    created = admin_client.post(
        "/api/remote-aes/",
        {
            "ae_title": "CLINIC",
            "host": "10.1.2.3",
            "port": 104,
            "use_tls": True,
            "all_collections": False,
            "collections": [north.pk],
        },
        content_type="application/json",
    )

    assert created.status_code == 201, created.content
    remote = RemoteAE.objects.get(ae_title="CLINIC")
    assert (remote.use_tls, remote.reach()) == (True, [north.pk])
    assert created.json()["collections"] == [north.pk]


def test_an_ae_restricted_to_no_collection_reaches_nothing(archive):
    bare = RemoteAE.objects.create(
        ae_title="BARE", host=HOST, port=104, all_collections=False
    )

    assert bare.reach() == []
    assert RemoteAE.objects.get(ae_title="EVERYONE").reach() is None


def test_c_store_into_a_study_outside_the_aes_collections_is_refused(archive):
    with listener() as port:
        result = run(
            ["storescu", "-v", "-aet", "LIMITED", "-aec", "PACSWEB", HOST, str(port)]
            + [str(sample("MR_small.dcm"))]
        )

    # 0x0124 Refused: Not Authorized, which dcmtk does not name.
    assert "Received Store Response (Unknown Status: 0x124)" in result.stderr
    study = Study.objects.get(study_instance_uid=MR.StudyInstanceUID)
    assert [c.name for c in study.collections.all()] == ["south"]
