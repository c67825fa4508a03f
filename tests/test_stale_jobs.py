"""Jobs that no worker finished are sent again by the periodic check."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.archive import tasks as archive_tasks
from apps.dimse import jobs, stale
from apps.dimse import tasks as dimse_tasks
from apps.dimse.models import Job, RemoteAE
from pacsweb.celery import app

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(monkeypatch) -> list[int]:
    ids: list[int] = []
    monkeypatch.setattr(jobs, "enqueue", lambda job: ids.append(job.pk))
    return ids


def _job(state: str, *, age_seconds: int, attempts: int = 0) -> Job:
    remote, _ = RemoteAE.objects.get_or_create(
        ae_title="REMOTE", defaults={"host": "127.0.0.1", "port": 104}
    )
    job = jobs.create(Job.Kind.ECHO, remote)
    then = timezone.now() - timedelta(seconds=age_seconds)
    Job.objects.filter(pk=job.pk).update(
        state=state, created_at=then, started_at=then, attempts=attempts
    )
    return job


def test_it_sends_again_a_job_left_pending_and_one_left_running(settings, sent):
    settings.PACSWEB_STALE_JOB_SECONDS = 600
    settings.CELERY_TASK_TIME_LIMIT = 3600
    lost = _job(Job.State.PENDING, age_seconds=1300)
    recent = _job(Job.State.PENDING, age_seconds=60)
    stranded = _job(Job.State.RUNNING, age_seconds=3600 + 3900 + 60, attempts=1)
    busy = _job(Job.State.RUNNING, age_seconds=600, attempts=1)
    done = _job(Job.State.SUCCEEDED, age_seconds=99999, attempts=1)

    requeued = stale.requeue_stale_jobs()

    assert requeued == sent == [lost.pk, stranded.pk]
    assert {recent.pk, busy.pk, done.pk}.isdisjoint(sent)


def test_it_fails_a_job_stranded_more_often_than_it_may_retry(settings, sent):
    settings.PACSWEB_JOB_RETRIES = 2
    job = _job(Job.State.RUNNING, age_seconds=10**6, attempts=3)

    requeued = stale.requeue_stale_jobs()

    job.refresh_from_db()
    assert requeued == sent == []
    assert job.state == Job.State.FAILED
    assert job.message == "the job stopped making progress; no worker finished it"


def test_beat_runs_the_stale_job_check_and_the_storage_sweep():
    schedule = app.conf.beat_schedule

    assert schedule["requeue-stale-jobs"]["task"] == "dimse.requeue_stale_jobs"
    assert schedule["sweep-storage"]["task"] == "archive.sweep_storage"
    assert archive_tasks.sweep_storage.name == "archive.sweep_storage"
    assert dimse_tasks.requeue_stale_jobs.name == "dimse.requeue_stale_jobs"
