"""Retention: studies past the period their collections keep them are deleted.

A hospital keeps images for a period its law or policy sets, then must
delete them. Each Collection may name `retention_days`; a study is kept as
long as the most generous of its collections says (one collection without
a period keeps it for ever). Studies in no collection follow
PACSWEB_RETENTION_DAYS (0: kept for ever). The period runs from the Study
Date, the day of the examination, but never from before the study was
first received here: a study migrated from an old archive, or one whose
modality clock said 1900, is not deleted the night it arrives (keeping
too long can be corrected; deleting too early cannot). Nothing is deleted
unless someone configured a period: both defaults keep everything.

Deletion goes through deletion.delete (rows in one transaction, files after
commit, derived data dropped) one study at a time, and each expired study
is announced with signals.study_expired so that the audit trail records it
(apps/accounts connects there; the archive imports no other app).
"""

import logging
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from apps.archive import deletion, signals
from apps.archive.models import Collection, Study

logger = logging.getLogger(__name__)

# Studies fetched per round trip while looking for expired ones.
CHUNK = 500


@dataclass
class Expiry:
    """What a retention run found or did."""

    applied: bool
    studies: list[tuple[str, str, int]] = field(default_factory=list)
    # (study UID, patient ID, instances) per expired study.

    def summary(self) -> str:
        verb = "deleted" if self.applied else "would delete"
        instances = sum(n for _, _, n in self.studies)
        return f"retention: {verb} {len(self.studies)} studies ({instances} instances)"


def expire(
    *, apply: bool, today: date | None = None, limit: int | None = None
) -> Expiry:
    """Find (and with `apply`, delete) the studies past their retention.

    `limit` caps the studies handled in one run, so that a newly shortened
    period does not become one enormous job; the next run goes on.
    """
    today = today or timezone.localdate()
    limit = settings.PACSWEB_RETENTION_BATCH if limit is None else limit
    result = Expiry(applied=apply)
    for study in _candidate_studies(today):
        if len(result.studies) >= limit:
            break
        kept_days = _retention_days(study)
        if kept_days is None or not _expired(study, kept_days, today):
            continue
        if not apply:
            result.studies.append(
                (
                    study.study_instance_uid,
                    study.patient.patient_id,
                    study.number_of_instances,
                )
            )
            continue
        try:
            # Asked again under the row lock: a hold (a collection without a
            # period) added since the study was read must still save it.
            gone = deletion.delete(
                study.study_instance_uid, still_due=lambda s: _due(s, today)
            )
        except deletion.NothingToDelete:
            continue  # deleted meanwhile, or no longer due
        result.studies.append((gone.study_uid, gone.patient_id, gone.instances))
        signals.study_expired.send(
            sender=Study,
            study_uid=gone.study_uid,
            patient_id=gone.patient_id,
            instances=gone.instances,
            retention_days=kept_days,
        )
        logger.info(
            "retention: deleted study %s (%s instances, kept %s days)",
            gone.study_uid,
            gone.instances,
            kept_days,
        )
    return result


def _candidate_studies(today: date) -> Iterator[Study]:
    """Studies old enough to expire under the shortest period in force.

    The database narrows the search (indexed study date, no study a
    keep-for-ever collection holds); the exact period of each is decided in
    Python (_retention_days). Keys are read first and the studies fetched in
    chunks, so deleting along the way never disturbs an open cursor.
    """
    periods = [
        days
        for days in Collection.objects.values_list("retention_days", flat=True)
        if days  # None, or a 0 that slipped past the validator: for ever
    ]
    if settings.PACSWEB_RETENTION_DAYS:
        periods.append(settings.PACSWEB_RETENTION_DAYS)
    if not periods:
        return
    cutoff = today - timedelta(days=min(periods))
    received_cutoff = timezone.make_aware(datetime.combine(cutoff, datetime.min.time()))
    memberships = Study.collections.through.objects
    studies = Study.objects.filter(
        Q(study_date__lt=cutoff.strftime("%Y%m%d")) | Q(study_date=""),
        created_at__lt=received_cutoff,
    ).exclude(
        pk__in=memberships.filter(collection__retention_days__isnull=True).values(
            "study_id"
        )
    )
    if not settings.PACSWEB_RETENTION_DAYS:
        studies = studies.filter(pk__in=memberships.values("study_id"))
    keys = list(studies.order_by("study_date", "pk").values_list("pk", flat=True))
    for start in range(0, len(keys), CHUNK):
        chunk = keys[start : start + CHUNK]
        found = (
            Study.objects.filter(pk__in=chunk)
            .select_related("patient")
            .prefetch_related("collections")
            .in_bulk()
        )
        yield from (found[pk] for pk in chunk if pk in found)


def _retention_days(study: Study) -> int | None:
    """Days this study is kept; None: for ever."""
    collections = list(study.collections.all())
    if not collections:
        return settings.PACSWEB_RETENTION_DAYS or None
    periods = [c.retention_days for c in collections]
    if not all(periods):
        return None  # a collection without a period (or 0) holds it
    return max(days for days in periods if days)


def _due(study: Study, today: date) -> bool:
    kept_days = _retention_days(study)
    return kept_days is not None and _expired(study, kept_days, today)


def _expired(study: Study, kept_days: int, today: date) -> bool:
    start = timezone.localdate(study.created_at)
    # Without a usable Study Date the first reception alone counts.
    with suppress(ValueError):
        start = max(start, datetime.strptime(study.study_date, "%Y%m%d").date())
    return start + timedelta(days=kept_days) < today
