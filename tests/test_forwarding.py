"""Auto-routing (apps/dimse/forwarding.py) to dcmtk's storescp."""

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pydicom
import pytest
from django.conf import settings
from django.utils import timezone

from apps.archive.ingest import ingest_file
from apps.archive.models import Collection
from apps.dimse import forwarding
from apps.dimse.models import ForwardRule, Job, PendingForward, RemoteAE
from tests.conftest import sample
from tests.qr_peers import HOST, free_port, process
from tests.security_samples import variant

# The archive announces stored instances after the commit.
pytestmark = pytest.mark.django_db(transaction=True)

CT = pydicom.dcmread(sample("CT_small.dcm"), stop_before_pixels=True)
MR = pydicom.dcmread(sample("MR_small.dcm"), stop_before_pixels=True)


@pytest.fixture(autouse=True)
def fresh_rules():
    forwarding.forget_rules()
    yield
    forwarding.forget_rules()


@pytest.fixture
def job_runner(settings, storage_dir, tmp_path):
    """Where the forwarding jobs run: in this process without a broker, in a
    real celery worker (told not to retry) when one is configured."""
    settings.PACSWEB_JOB_RETRIES = 0
    if not settings.BROKER_CONFIGURED:
        yield None
        return
    from tests.celery_support import celery_worker, purge_queues

    purge_queues()
    with celery_worker(storage_dir, tmp_path, env={"PACSWEB_JOB_RETRIES": "0"}) as w:
        yield w


def finished(job: Job, timeout: float = 60) -> Job:
    """The job once it has reached a final state."""
    deadline = time.monotonic() + timeout
    while True:
        job.refresh_from_db()
        if job.state in Job.FINAL_STATES or time.monotonic() > deadline:
            return job
        time.sleep(0.2)


@pytest.fixture
def reading(tmp_path, job_runner) -> Iterator[tuple[RemoteAE, Path]]:
    """A reading workstation: dcmtk's storescp, and its RemoteAE."""
    port = free_port()
    out = tmp_path / "received"
    out.mkdir()
    remote = RemoteAE.objects.create(ae_title="READING", host=HOST, port=port)
    with process(["storescp", "-aet", "READING", "-od", str(out), str(port)], port):
        yield remote, out


def received(out: Path) -> list[str]:
    return sorted(pydicom.dcmread(p).SOPInstanceUID for p in out.iterdir())


def test_matching_instances_go_out_as_one_job_once_due(reading):
    remote, out = reading
    rule = ForwardRule.objects.create(
        name="CT to reading", destination=remote, modality="CT", delay_seconds=30
    )

    ingest_file(sample("CT_small.dcm"))
    ingest_file(sample("MR_small.dcm"))
    early = forwarding.dispatch()
    jobs = forwarding.dispatch(timezone.now() + timedelta(seconds=31))

    assert early == []
    [job] = jobs
    job = finished(job)
    assert (job.kind, job.state, job.remote_ae) == (Job.Kind.STORE, "succeeded", remote)
    assert job.parameters == {
        "level": "IMAGE",
        "uids": [CT.SOPInstanceUID],
        "forward_rule": rule.name,
    }
    assert received(out) == [CT.SOPInstanceUID]
    sent = pydicom.dcmread(next(out.iterdir()))
    assert (sent.PatientName, sent.StudyInstanceUID) == (
        CT.PatientName,
        CT.StudyInstanceUID,
    )
    assert not PendingForward.objects.exists()
    # Nothing is due any more: a second run sends nothing twice.
    assert forwarding.dispatch(timezone.now() + timedelta(hours=1)) == []


def test_an_instance_never_goes_back_to_its_sender(reading, tmp_path):
    remote, out = reading
    ForwardRule.objects.create(name="all", destination=remote, delay_seconds=0)
    ForwardRule.objects.create(
        name="from the scanner",
        destination=remote,
        source_ae_title="CT_SCANNER",
        delay_seconds=0,
    )

    ingest_file(sample("CT_small.dcm"), source_ae_title="READING")
    ingest_file(sample("MR_small.dcm"), source_ae_title="CT_SCANNER")
    rules_per_uid = sorted(
        PendingForward.objects.values_list("sop_instance_uid", "rule__name")
    )
    for job in forwarding.dispatch():
        finished(job)

    assert rules_per_uid == [
        (MR.SOPInstanceUID, "all"),
        (MR.SOPInstanceUID, "from the scanner"),
    ]
    # Two rules, one destination: the workstation simply stores it twice.
    assert received(out) == [MR.SOPInstanceUID]


def test_a_collection_condition_and_a_disabled_rule(reading, tmp_path):
    remote, out = reading
    oncology = Collection.objects.create(name="oncology")
    ForwardRule.objects.create(
        name="oncology", destination=remote, collection=oncology, delay_seconds=0
    )
    ForwardRule.objects.create(
        name="switched off", destination=remote, enabled=False, delay_seconds=0
    )

    ingest_file(sample("CT_small.dcm"), collection_ids=[oncology.pk])
    ingest_file(sample("MR_small.dcm"))
    for job in forwarding.dispatch():
        finished(job)

    assert received(out) == [CT.SOPInstanceUID]


def test_a_study_arriving_again_is_forwarded_once_per_instance(
    reading, tmp_path, settings
):
    remote, out = reading
    settings.PACSWEB_DUPLICATE_POLICY = "overwrite"
    ForwardRule.objects.create(name="all", destination=remote, delay_seconds=60)

    ingest_file(sample("CT_small.dcm"))
    ingest_file(sample("CT_small.dcm"))

    assert PendingForward.objects.count() == 1


def test_instances_deleted_before_their_turn_are_not_sent(reading, tmp_path):
    from apps.archive import deletion

    remote, out = reading
    ForwardRule.objects.create(name="all", destination=remote, delay_seconds=0)
    ingest_file(sample("CT_small.dcm"))
    kept = variant(tmp_path, "CT_small.dcm", sop_uid="1.2.826.0.1.3680043.8.498.7400.1")
    ingest_file(kept)
    deletion.delete(CT.StudyInstanceUID, sop_uid=CT.SOPInstanceUID)

    [job] = forwarding.dispatch()
    finished(job)

    assert job.parameters["uids"] == ["1.2.826.0.1.3680043.8.498.7400.1"]
    assert received(out) == ["1.2.826.0.1.3680043.8.498.7400.1"]


def test_a_destination_that_is_down_fails_the_job_and_keeps_no_pending_row(
    job_runner,
):
    nobody = RemoteAE.objects.create(ae_title="GONE", host=HOST, port=free_port())
    ForwardRule.objects.create(name="gone", destination=nobody, delay_seconds=0)
    ingest_file(sample("CT_small.dcm"))

    [job] = forwarding.dispatch()

    assert finished(job).state == "failed"
    assert not PendingForward.objects.exists()


def test_beat_dispatches_forwards():
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "dimse.dispatch_forwards" in tasks
