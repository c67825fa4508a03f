"""Celery tasks: thin wrappers around apps.dimse.jobs.run."""

import time

from celery import shared_task
from django.conf import settings

from apps.dimse import forwarding, jobs, scu, stale


@shared_task(bind=True, acks_late=True)
def run_job(self, job_id: int) -> str:
    try:
        return jobs.run(job_id).state
    except scu.PeerUnavailable as exc:
        retries = self.request.retries
        if retries >= settings.PACSWEB_JOB_RETRIES:
            jobs.give_up(job_id, str(exc))
            return "failed"
        # Exponential backoff: 10 s, 20 s, 40 s… with the default setting.
        countdown = settings.PACSWEB_JOB_RETRY_BACKOFF * 2**retries
        if self.request.is_eager:
            # In-process (no broker) nothing else would run the retry, and
            # an eager retry with propagation on would only raise.
            time.sleep(countdown)
            return run_job.apply(args=(job_id,), retries=retries + 1).result
        raise self.retry(exc=exc, countdown=countdown) from None


@shared_task(name="dimse.requeue_stale_jobs", ignore_result=True)
def requeue_stale_jobs() -> None:
    """Periodic (Celery beat): send stranded jobs again (apps/dimse/stale.py)."""
    stale.requeue_stale_jobs()


@shared_task(name="dimse.dispatch_forwards", ignore_result=True)
def dispatch_forwards() -> None:
    """Periodic (Celery beat): jobs for the auto-routing that is due."""
    forwarding.dispatch()
