"""Auto-routing: send arriving instances on to other AEs by rule.

When an instance is stored (archive.signals.instance_stored, after the
commit), each enabled ForwardRule it matches gets a PendingForward row due
`delay_seconds` later; the row's unique constraint makes a re-sent instance
count once. Periodically (Celery beat, or the DICOM listener without a
broker) `dispatch` turns the due rows of each rule into C-STORE jobs of at
most JOB_SIZE instances and deletes the rows in the same transaction, so a
crash loses no forward and makes no job twice. The jobs then retry, fail
and show up like any other SCU job (admin, /api/dimse/jobs).

An instance never goes back to the AE that sent it, so two archives that
forward to each other do not loop.
"""

import logging
import time
from datetime import datetime, timedelta
from itertools import groupby

from django.db import transaction
from django.utils import timezone

from apps.archive.models import Instance
from apps.dimse import jobs
from apps.dimse.models import ForwardRule, Job, PendingForward

logger = logging.getLogger(__name__)

# Instances per C-STORE job, and handled per dispatch run.
JOB_SIZE = 500
DISPATCH_LIMIT = 20 * JOB_SIZE
# Rule changes reach every process within this many seconds; until then
# each stored instance costs no query when there is no rule.
RULE_CACHE_SECONDS = 10.0

_rules_cache: tuple[float, list[ForwardRule]] = (float("-inf"), [])


def enabled_rules() -> list[ForwardRule]:
    global _rules_cache
    read_at, rules = _rules_cache
    if time.monotonic() - read_at > RULE_CACHE_SECONDS:
        rules = list(
            ForwardRule.objects.filter(enabled=True).select_related("destination")
        )
        _rules_cache = (time.monotonic(), rules)
    return rules


def forget_rules() -> None:
    """Drop the cached rules (after a change in this process; tests)."""
    global _rules_cache
    _rules_cache = (float("-inf"), [])


def on_instance_stored(
    sender, instance_id: int, instance_ids: list[int] | None = None, **kwargs
) -> None:
    """Receiver of instance_stored: note the forwards these instances are due.

    Instances committed together in one series may come in one signal,
    listed in `instance_ids`.
    """
    try:
        rules = enabled_rules()
        if rules:
            note(instance_ids or [instance_id], rules)
    except Exception:
        # Other receivers (thumbnails) still run; the instances stay stored.
        logger.exception("forwarding rules not applied to instance %s", instance_id)


def note(instance_ids: list[int], rules: list[ForwardRule]) -> list[PendingForward]:
    instances = list(
        Instance.objects.select_related("series__study").filter(pk__in=instance_ids)
    )
    collections: dict[int, set[int]] = {}
    if instances and any(rule.collection_id for rule in rules):
        memberships = Instance.objects.filter(
            pk__in=instance_ids, series__study__collections__isnull=False
        ).values_list("series__study_id", "series__study__collections")
        for study_id, collection_id in memberships:
            collections.setdefault(study_id, set()).add(collection_id)
    now = timezone.now()
    pending = [
        PendingForward(
            rule=rule,
            sop_instance_uid=instance.sop_instance_uid,
            due_at=now + timedelta(seconds=rule.delay_seconds),
        )
        for instance in instances
        for rule in rules
        if _matches(rule, instance, collections.get(instance.series.study_id, set()))
    ]
    PendingForward.objects.bulk_create(pending, ignore_conflicts=True)
    return pending


def _matches(rule: ForwardRule, instance: Instance, collections: set[int]) -> bool:
    if instance.source_ae_title and instance.source_ae_title == (
        rule.destination.ae_title
    ):
        return False
    if rule.source_ae_title and rule.source_ae_title != instance.source_ae_title:
        return False
    if rule.modality and rule.modality != instance.series.modality:
        return False
    return not (rule.collection_id and rule.collection_id not in collections)


def dispatch(now: datetime | None = None) -> list[Job]:
    """Make C-STORE jobs of the forwards that are due; returns the jobs."""
    now = now or timezone.now()
    made: list[Job] = []
    due = (
        PendingForward.objects.filter(due_at__lte=now, rule__enabled=True)
        .select_related("rule__destination")
        .order_by("rule_id", "due_at", "pk")
    )
    # Read before deleting (no cursor stays open across the deletes); what
    # is left over goes at the next run.
    for _, rows in groupby(list(due[:DISPATCH_LIMIT]), key=lambda row: row.rule_id):
        batch = list(rows)
        for start in range(0, len(batch), JOB_SIZE):
            job = _job_for(batch[start : start + JOB_SIZE])
            if job is not None:
                made.append(job)
    return made


def _job_for(rows: list[PendingForward]) -> Job | None:
    rule = rows[0].rule
    with transaction.atomic():
        # Only the rows this call removes become a job: a dispatcher running
        # at the same time gets the others, never the same ones twice.
        removed, _ = PendingForward.objects.filter(
            pk__in=[row.pk for row in rows]
        ).delete()
        if removed != len(rows):
            transaction.set_rollback(True)
            return None
        uids = list(
            Instance.objects.filter(
                sop_instance_uid__in=[row.sop_instance_uid for row in rows]
            ).values_list("sop_instance_uid", flat=True)
        )
        if not uids:
            return None  # deleted before their turn came
        job = jobs.create(
            Job.Kind.STORE,
            rule.destination,
            {"level": "IMAGE", "uids": sorted(uids), "forward_rule": rule.name},
        )
        transaction.on_commit(lambda: jobs.enqueue(job))
    logger.info(
        "forwarding %s instance(s) to %s by rule %r (job %s)",
        len(uids),
        rule.destination.ae_title,
        rule.name,
        job.pk,
    )
    return job
