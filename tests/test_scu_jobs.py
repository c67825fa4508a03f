"""SCU jobs against peers nobody on the team wrote: dcmtk's dcmqrscp (a
Q/R archive) and storescp. Jobs run in-process through jobs.run."""

import shutil

import pydicom
import pytest
from django.test import override_settings

from apps.archive import storage
from apps.archive.ingest import ingest_file
from apps.archive.models import Instance
from apps.dimse import jobs, scu, tasks
from apps.dimse.models import Job, RemoteAE
from tests.conftest import sample
from tests.qr_peers import HOST, dcmqrscp, free_port, listener, process
from tests.worklist_data import worklist_dataset, write_worklist_file

pytestmark = pytest.mark.django_db(transaction=True)

SAMPLES = ["CT_small.dcm", "MR_small.dcm"]


def header(name: str) -> pydicom.Dataset:
    return pydicom.dcmread(sample(name), stop_before_pixels=True)


def same_values(stored: Instance, name: str) -> bool:
    a = pydicom.dcmread(storage.absolute(stored.storage_path))
    b = pydicom.dcmread(sample(name))
    padding = 0xFFFCFFFC
    tags = sorted(t for t in b.keys() if t != padding)
    return sorted(t for t in a.keys() if t != padding) == tags and all(
        a[t].value == b[t].value for t in tags
    )


def dataset_bytes(path) -> bytes:
    meta = pydicom.dcmread(path, stop_before_pixels=True).file_meta
    return path.read_bytes()[132 + 12 + meta[0x00020000].value :]


@pytest.fixture
def remote_archive(tmp_path):
    """A dcmqrscp holding the sample files, which knows our AE at `our_port`."""
    files = []
    for name in SAMPLES:
        files.append(tmp_path / name)
        shutil.copyfile(sample(name), files[-1])
    with (
        listener() as our_port,
        dcmqrscp(tmp_path, files, {"PACSWEB": our_port}) as port,
    ):
        yield RemoteAE.objects.create(ae_title="DCMQRSCP", host=HOST, port=port)


def test_an_echo_job_succeeds_against_dcmqrscp(remote_archive):
    job = jobs.create(Job.Kind.ECHO, remote_archive)

    job = jobs.run(job.pk)

    assert job.state == Job.State.SUCCEEDED
    assert job.attempts == 1 and job.started_at and job.ended_at


def test_a_find_job_lists_the_remote_studies(remote_archive):
    job = jobs.create(
        Job.Kind.FIND,
        remote_archive,
        {
            "level": "STUDY",
            "model": "study",
            "keys": {"StudyInstanceUID": "", "PatientName": "", "PatientID": "*"},
        },
    )

    job = jobs.run(job.pk)

    assert job.state == Job.State.SUCCEEDED
    found = {m["0020000D"]["Value"][0] for m in job.result["matches"]}
    assert found == {header(n).StudyInstanceUID for n in SAMPLES}


def test_a_get_job_ingests_the_study_from_the_remote(remote_archive):
    study = header("CT_small.dcm").StudyInstanceUID
    job = jobs.create(
        Job.Kind.GET,
        remote_archive,
        {"level": "STUDY", "keys": {"StudyInstanceUID": study}},
    )

    job = jobs.run(job.pk)

    assert job.state == Job.State.SUCCEEDED, job.message
    assert (job.progress_done, job.progress_total, job.result["completed"]) == (1, 1, 1)
    stored = Instance.objects.get()
    assert stored.sop_instance_uid == header("CT_small.dcm").SOPInstanceUID
    assert stored.source_ae_title == "DCMQRSCP"
    assert same_values(stored, "CT_small.dcm")


def test_a_move_job_brings_the_study_to_our_own_ae(remote_archive):
    study = header("MR_small.dcm").StudyInstanceUID
    job = jobs.create(
        Job.Kind.MOVE,
        remote_archive,
        {"level": "STUDY", "keys": {"StudyInstanceUID": study}},
    )

    job = jobs.run(job.pk)

    assert job.state == Job.State.SUCCEEDED, job.message
    assert job.result["completed"] == 1 and job.result["destination"] == "PACSWEB"
    stored = Instance.objects.get()
    assert stored.sop_instance_uid == header("MR_small.dcm").SOPInstanceUID
    assert same_values(stored, "MR_small.dcm")


def test_a_get_job_run_twice_stores_each_instance_once(remote_archive):
    study = header("CT_small.dcm").StudyInstanceUID
    first = jobs.create(
        Job.Kind.GET,
        remote_archive,
        {"level": "STUDY", "keys": {"StudyInstanceUID": study}},
    )
    second = jobs.create(
        Job.Kind.GET,
        remote_archive,
        {"level": "STUDY", "keys": {"StudyInstanceUID": study}},
    )

    jobs.run(first.pk)
    jobs.run(second.pk)
    rerun = jobs.run(first.pk)

    assert Instance.objects.count() == 1
    assert rerun.attempts == 1  # a finished job is not run again


def test_a_send_job_delivers_the_stored_bytes_to_storescp(tmp_path):
    for name in SAMPLES:
        ingest_file(sample(name))
    out = tmp_path / "received"
    out.mkdir()
    port = free_port()
    remote = RemoteAE.objects.create(ae_title="STORESCP", host=HOST, port=port)
    study = header("CT_small.dcm").StudyInstanceUID

    with process(["storescp", "-aet", "STORESCP", "-od", str(out), str(port)], port):
        job = jobs.run(
            jobs.create(Job.Kind.STORE, remote, {"level": "STUDY", "uids": [study]}).pk
        )

    assert job.state == Job.State.SUCCEEDED, job.message
    assert (job.progress_done, job.progress_total) == (1, 1)
    [received] = list(out.iterdir())
    body, original = dataset_bytes(received), dataset_bytes(sample("CT_small.dcm"))
    # The dataset after the file meta is byte for byte what was stored, up
    # to the Data Set Trailing Padding storescp leaves out (PS3.10 7.2).
    assert len(body) > 30000
    assert original[: len(body)] == body
    assert original[len(body) : len(body) + 4] == b"\xfc\xff\xfc\xff"


def test_a_job_on_an_unreachable_peer_retries_then_fails():
    remote = RemoteAE.objects.create(ae_title="GONE", host=HOST, port=free_port())
    job = jobs.create(Job.Kind.ECHO, remote)

    with override_settings(
        PACSWEB_JOB_RETRIES=2, PACSWEB_JOB_RETRY_BACKOFF=0, PACSWEB_DIMSE_TIMEOUT=2
    ):
        # apply(): in this process whatever the broker, so that the
        # overridden settings reach the task.
        tasks.run_job.apply(args=(job.pk,))

    job.refresh_from_db()
    assert job.state == Job.State.FAILED
    assert job.attempts == 3
    assert "could not associate" in job.message


def test_a_cancelled_job_does_not_run():
    remote = RemoteAE.objects.create(ae_title="GONE", host=HOST, port=free_port())
    job = jobs.create(Job.Kind.ECHO, remote)

    jobs.request_cancel(job)
    job = jobs.run(job.pk)

    assert job.state == Job.State.CANCELLED
    assert job.attempts == 0


def test_a_rejected_association_fails_the_job_without_retrying(settings):
    # Our own listener as the peer: it rejects a calling AE it does not know
    # (A-ASSOCIATE-RJ), every time; a third-party peer under load sometimes
    # dropped the connection instead, which is a different, retried failure.
    settings.PACSWEB_REQUIRE_KNOWN_AE = True
    with listener() as port:
        # Known as a peer of ours, while our calling AE (PACSWEB) is not a
        # RemoteAE there.
        peer = RemoteAE.objects.create(ae_title="SELF", host=HOST, port=port)

        with pytest.raises(scu.DimseFailure, match="rejected the association"):
            scu.echo(scu.Peer.of(peer))
        job = jobs.run(jobs.create(Job.Kind.ECHO, peer).pk)

    assert job.state == Job.State.FAILED
    assert job.attempts == 1


def test_a_worklist_job_queries_dcmtks_worklist_server(tmp_path):
    # wlmscpfs serves the .wl files in a folder named after its AE title.
    folder = tmp_path / "worklists" / "WLM"
    folder.mkdir(parents=True)
    (folder / "lockfile").touch()
    write_worklist_file(folder / "item1.wl", worklist_dataset())
    write_worklist_file(
        folder / "item2.wl",
        worklist_dataset(
            accession="ACC-002", modality="MR", station="MR01", sps_id="SPS-002"
        ),
    )
    port = free_port()
    remote = RemoteAE.objects.create(ae_title="WLM", host=HOST, port=port)
    keys = {
        "PatientName": "",
        "AccessionNumber": "",
        "ScheduledProcedureStepSequence": {
            "Modality": "MR",
            "ScheduledStationAETitle": "",
        },
    }

    with process(["wlmscpfs", "-dfp", str(tmp_path / "worklists"), str(port)], port):
        job = jobs.run(jobs.create(Job.Kind.WORKLIST, remote, {"keys": keys}).pk)

    assert job.state == Job.State.SUCCEEDED, job.message
    [match] = job.result["matches"]
    assert match["00080050"]["Value"] == ["ACC-002"]
    assert match["00400100"]["Value"][0]["00400001"]["Value"] == ["MR01"]
