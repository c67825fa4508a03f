"""Stale job detection, run periodically by Celery beat.

A job's task is acknowledged late, so a worker that dies hands it back to
Redis and another worker runs it again. Two things can still strand a job:
its message was lost (Redis restarted without persistence, a purge) and it
stays pending, or it was redelivered so often that it never finished.
This finds jobs that have not reached a final state long after they
should have and sends them again; `jobs.run` is idempotent, so a job that
was in fact still running is not harmed. A job stranded more times than
it may be retried fails, with a message saying so.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from apps.dimse import jobs
from apps.dimse.models import Job

logger = logging.getLogger(__name__)


def requeue_stale_jobs() -> list[int]:
    """Send stranded jobs again, or fail them; the ids sent again."""
    now = timezone.now()
    # Pending: no worker has started it in twice the sweep period. Running:
    # longer than a task may run plus the redelivery delay.
    pending_before = now - timedelta(seconds=2 * settings.PACSWEB_STALE_JOB_SECONDS)
    running_before = now - timedelta(
        seconds=settings.CELERY_TASK_TIME_LIMIT + settings.PACSWEB_VISIBILITY_TIMEOUT
    )
    stale = Job.objects.filter(
        Q(state=Job.State.PENDING, created_at__lt=pending_before)
        | Q(
            state__in=(Job.State.RUNNING, Job.State.RETRYING),
            started_at__lt=running_before,
        )
    ).order_by("pk")

    requeued = []
    for job in stale:
        if job.attempts > settings.PACSWEB_JOB_RETRIES:
            jobs.give_up(
                job.pk, "the job stopped making progress; no worker finished it"
            )
            logger.error(
                "job %s failed: stranded after %s attempts", job.pk, job.attempts
            )
            continue
        jobs.enqueue(job)
        requeued.append(job.pk)
    if requeued:
        logger.warning("requeued stranded jobs %s", requeued)
    return requeued
