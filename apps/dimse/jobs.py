"""SCU work as Job rows: validate, enqueue, run, report progress, cancel.

`run(job_id)` is what the Celery task calls and what tests call directly.
It is idempotent: a job that already reached a final state is not run
again (Celery may deliver a task twice with acks_late), and what a rerun
repeats is itself harmless (a duplicate C-STORE, an instance ingested
twice, are kept once).
"""

import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from pydicom.dataset import Dataset

from apps.archive.models import Instance
from apps.dimse import identifiers, scu
from apps.dimse.models import Job, RemoteAE

logger = logging.getLogger(__name__)

LEVELS = ("PATIENT", "STUDY", "SERIES", "IMAGE")
MODELS = ("patient", "study")


class JobError(ValueError):
    """Parameters a job cannot run with."""


def validate_parameters(
    kind: str, remote: RemoteAE | None, params: dict[str, Any]
) -> None:
    if remote is None:
        raise JobError("remote_ae is required")
    if kind in (Job.Kind.FIND, Job.Kind.MOVE, Job.Kind.GET):
        if params.get("level", "STUDY").upper() not in LEVELS:
            raise JobError(f"level must be one of {', '.join(LEVELS)}")
        if params.get("model", "study") not in MODELS:
            raise JobError("model must be patient or study")
        _keys(params)
    elif kind == Job.Kind.WORKLIST:
        _keys(params)
    elif kind == Job.Kind.STORE:
        if params.get("level", "STUDY").upper() not in ("STUDY", "SERIES", "IMAGE"):
            raise JobError("level must be STUDY, SERIES or IMAGE")
        if not isinstance(params.get("uids"), list) or not params["uids"]:
            raise JobError("uids must be a non-empty list")
    elif kind in (Job.Kind.MPPS_CREATE, Job.Kind.MPPS_SET):
        if not params.get("sop_instance_uid"):
            raise JobError("sop_instance_uid is required")
        if not isinstance(params.get("attributes", {}), dict):
            raise JobError("attributes must be DICOM JSON")


def _keys(params: dict[str, Any]) -> dict[str, Any]:
    keys = params.get("keys", {})
    if not isinstance(keys, dict):
        raise JobError("keys must map DICOM keywords to values")
    try:
        identifiers.build(keys)
    except (ValueError, TypeError) as exc:
        raise JobError(f"keys: {exc}") from None
    return keys


def create(
    kind: str, remote: RemoteAE, params: dict[str, Any] | None = None, user=None
) -> Job:
    params = params or {}
    validate_parameters(kind, remote, params)
    return Job.objects.create(
        kind=kind, remote_ae=remote, parameters=params, requested_by=user
    )


def enqueue(job: Job) -> None:
    from apps.dimse.tasks import run_job

    run_job.delay(job.pk)


def request_cancel(job: Job) -> Job:
    """Ask a job to stop; a job not yet running is cancelled at once."""
    Job.objects.filter(pk=job.pk).update(cancel_requested=True)
    Job.objects.filter(pk=job.pk, state=Job.State.PENDING).update(
        state=Job.State.CANCELLED, ended_at=timezone.now()
    )
    job.refresh_from_db()
    return job


def is_cancelled(job_id: int) -> bool:
    return Job.objects.filter(pk=job_id, cancel_requested=True).exists()


def run(job_id: int) -> Job:
    """Run one job to a final state; network failures propagate for retry."""
    job = Job.objects.select_related("remote_ae").get(pk=job_id)
    if job.is_final:
        return job
    if job.remote_ae is None:
        return _finish(job, Job.State.FAILED, "the remote AE was deleted")
    Job.objects.filter(pk=job.pk).update(
        state=Job.State.RUNNING,
        started_at=job.started_at or timezone.now(),
        attempts=job.attempts + 1,
    )
    job.refresh_from_db()

    peer = scu.Peer.of(job.remote_ae)
    try:
        state, message = RUNNERS[job.kind](job, peer)
    except scu.PeerUnavailable as exc:
        Job.objects.filter(pk=job.pk).update(state=Job.State.RETRYING, message=str(exc))
        raise
    except (scu.DimseFailure, JobError, ValueError) as exc:
        return _finish(job, Job.State.FAILED, str(exc))
    return _finish(job, state, message)


def give_up(job_id: int, reason: str) -> None:
    """Retries are exhausted: the job fails with the last network error."""
    job = Job.objects.get(pk=job_id)
    if not job.is_final:
        _finish(job, Job.State.FAILED, reason)


def _finish(job: Job, state: str, message: str) -> Job:
    # A cancel that arrived while the last step ran still wins over success.
    if state == Job.State.SUCCEEDED and is_cancelled(job.pk):
        state = Job.State.CANCELLED
    Job.objects.filter(pk=job.pk).update(
        state=state, message=message, ended_at=timezone.now()
    )
    job.refresh_from_db()
    return job


def _progress(job: Job) -> Callable[[scu.SubOperations], None]:
    def report(ops: scu.SubOperations) -> None:
        Job.objects.filter(pk=job.pk).update(
            progress_done=ops.completed + ops.failed + ops.warning,
            progress_total=ops.total,
        )

    return report


def _record(
    job: Job, ops: scu.SubOperations, extra: dict | None = None
) -> tuple[str, str]:
    errors = list(ops.errors)
    known = {e["sop_instance_uid"] for e in errors}
    errors += [
        {"sop_instance_uid": uid, "reason": "failed at the peer"}
        for uid in ops.failed_uids
        if uid not in known
    ]
    result = {
        "completed": ops.completed,
        "failed": ops.failed,
        "warning": ops.warning,
        "status": ops.status,
        **(extra or {}),
    }
    Job.objects.filter(pk=job.pk).update(
        errors=errors,
        result=result,
        progress_done=ops.completed + ops.failed + ops.warning,
        progress_total=max(ops.total, ops.completed + ops.failed + ops.warning),
    )
    summary = f"{ops.completed} completed, {ops.failed} failed, {ops.warning} warning"
    if ops.status == scu.QueryRetrieveStatus.CANCEL:
        return Job.State.CANCELLED, summary
    if ops.failed or ops.warning:
        return (Job.State.PARTIAL if ops.completed else Job.State.FAILED), summary
    return Job.State.SUCCEEDED, summary


def _echo(job: Job, peer: scu.Peer) -> tuple[str, str]:
    scu.echo(peer)
    return Job.State.SUCCEEDED, f"{peer} answered C-ECHO"


def _find(job: Job, peer: scu.Peer) -> tuple[str, str]:
    params = job.parameters
    identifier = identifiers.build(params.get("keys", {}), params.get("level", "STUDY"))
    matches = scu.find(peer, identifier, params.get("model", "study"))
    return _found(job, matches)


def _worklist(job: Job, peer: scu.Peer) -> tuple[str, str]:
    identifier = identifiers.build(job.parameters.get("keys", {}))
    return _found(job, scu.find(peer, identifier, "worklist"))


def _found(job: Job, matches: list[Dataset]) -> tuple[str, str]:
    Job.objects.filter(pk=job.pk).update(
        result={"matches": [identifiers.to_json(m) for m in matches]},
        progress_done=len(matches),
        progress_total=len(matches),
    )
    return Job.State.SUCCEEDED, f"{len(matches)} matches"


def _retrieve_identifier(job: Job) -> tuple[Dataset, str]:
    params = job.parameters
    return identifiers.build(
        params.get("keys", {}), params.get("level", "STUDY")
    ), params.get("model", "study")


def _move(job: Job, peer: scu.Peer) -> tuple[str, str]:
    identifier, model = _retrieve_identifier(job)
    destination = job.parameters.get("destination") or settings.PACSWEB_AE_TITLE
    ops = scu.move(
        peer,
        identifier,
        destination,
        model,
        _progress(job),
        lambda: is_cancelled(job.pk),
    )
    return _record(job, ops, {"destination": destination})


def _get(job: Job, peer: scu.Peer) -> tuple[str, str]:
    identifier, model = _retrieve_identifier(job)
    ops = scu.get(peer, identifier, model, _progress(job), lambda: is_cancelled(job.pk))
    return _record(job, ops)


def _store(job: Job, peer: scu.Peer) -> tuple[str, str]:
    level = job.parameters.get("level", "STUDY").upper()
    uids = job.parameters["uids"]
    field = {
        "STUDY": "series__study__study_instance_uid__in",
        "SERIES": "series__series_instance_uid__in",
        "IMAGE": "sop_instance_uid__in",
    }[level]
    instances = list(
        Instance.objects.filter(Q(**{field: uids})).order_by(
            "series_id", "instance_number", "id"
        )
    )
    if not instances:
        raise JobError("no stored instances match the given UIDs")
    ops = scu.store(peer, instances, _progress(job), lambda: is_cancelled(job.pk))
    return _record(job, ops)


def _mpps(job: Job, peer: scu.Peer) -> tuple[str, str]:
    uid = job.parameters["sop_instance_uid"]
    attributes = Dataset.from_json(job.parameters.get("attributes", {}))
    if job.kind == Job.Kind.MPPS_CREATE:
        scu.mpps_create(peer, uid, attributes)
    else:
        scu.mpps_set(peer, uid, attributes)
    return Job.State.SUCCEEDED, f"{job.get_kind_display()} of {uid} accepted"


RUNNERS: dict[str, Callable[[Job, scu.Peer], tuple[str, str]]] = {
    Job.Kind.ECHO: _echo,
    Job.Kind.FIND: _find,
    Job.Kind.WORKLIST: _worklist,
    Job.Kind.MOVE: _move,
    Job.Kind.GET: _get,
    Job.Kind.STORE: _store,
    Job.Kind.MPPS_CREATE: _mpps,
    Job.Kind.MPPS_SET: _mpps,
}
