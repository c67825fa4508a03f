"""Celery tasks of the archive: thin wrappers around plain functions.

Each is idempotent: importing a file twice stores it once (the duplicate
policy keeps the first copy) and a second sweep finds nothing more to do,
so a redelivery after a worker died costs time, not data.
"""

from pathlib import Path

from celery import shared_task

from apps.archive import retention
from apps.archive.ingest import IngestError, ingest_file
from apps.archive.maintenance import sweep
from pacsweb.tasks import RetryingTask, TransientError


@shared_task(name="archive.sweep_storage")
def sweep_storage() -> str:
    """The storage sweep, scheduled by Celery beat where a broker runs."""
    return sweep().summary()


@shared_task(name="archive.apply_retention")
def apply_retention() -> str:
    """Delete what retention says is due; idempotent (a second run finds less)."""
    return retention.expire(apply=True).summary()


@shared_task(base=RetryingTask, ignore_result=False)
def import_file(path: str, source_ae_title: str = "") -> dict[str, str]:
    """Ingest a file the server can read (a mounted share, an upload area).

    The file is copied, never moved or changed. The result names the
    outcome, or the failure status and reason of a file that cannot be
    stored; only an archive that is briefly unavailable makes it retry.
    """
    try:
        result = ingest_file(Path(path), source_ae_title=source_ae_title)
    except IngestError as exc:
        if exc.unavailable:
            raise TransientError(exc.reason) from None
        return {
            "outcome": "failed",
            "status": f"{exc.status:04X}",
            "reason": exc.reason,
        }
    return {
        "outcome": result.outcome.value,
        "sop_instance_uid": result.identity.sop_uid,
    }
