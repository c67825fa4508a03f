"""Keeping the store and the database in step after crashes.

Ingest makes a file durable before its row commits, so a process killed
in between leaves a temporary file (still receiving) or an orphan (placed,
never committed). Both are harmless to readers but waste space; the sweep
removes them once they are older than a grace period, which keeps it away
from ingests still in flight in other processes. Rows whose file is gone
or has the wrong size are reported, never deleted: that needs a person.
"""

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

from django.conf import settings

from apps.archive import storage
from apps.archive.models import Instance

logger = logging.getLogger(__name__)

BATCH = 500


@dataclass
class Damaged:
    sop_instance_uid: str
    storage_path: str
    problem: str


@dataclass
class SweepReport:
    temp_removed: list[Path] = field(default_factory=list)
    orphans_removed: list[str] = field(default_factory=list)
    damaged: list[Damaged] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"storage sweep: {len(self.temp_removed)} temporary and "
            f"{len(self.orphans_removed)} orphan files removed, "
            f"{len(self.damaged)} instances with a missing or damaged file"
        )


def sweep(
    grace_seconds: float | None = None, *, check_rows: bool = True
) -> SweepReport:
    """Remove stale temporary and orphan files; report damaged rows."""
    if grace_seconds is None:
        grace_seconds = settings.PACSWEB_SWEEP_GRACE_SECONDS
    report = SweepReport()

    for path in storage.stale_temp_files(grace_seconds):
        path.unlink(missing_ok=True)
        report.temp_removed.append(path)

    report.orphans_removed = _remove_orphans(grace_seconds)
    if check_rows:
        report.damaged = list(_damaged_rows())

    for item in report.damaged:
        logger.error(
            "instance %s: stored file %s %s",
            item.sop_instance_uid,
            item.storage_path,
            item.problem,
        )
    return report


def _remove_orphans(grace_seconds: float) -> list[str]:
    removed = []
    candidates = _old_stored_files(grace_seconds)
    while batch := list(islice(candidates, BATCH)):
        known = set(
            Instance.objects.filter(storage_path__in=batch).values_list(
                "storage_path", flat=True
            )
        )
        for relative in batch:
            if relative not in known:
                storage.remove(relative)
                removed.append(relative)
    return removed


def _old_stored_files(grace_seconds: float) -> Iterator[str]:
    # Age is judged by mtime: a file is placed (renamed) right before its
    # row commits, so a young file may belong to an ingest in flight.
    # An object store gives the time with the listing: one request per
    # thousand objects, not one per object.
    cutoff = time.time() - grace_seconds
    for stored in storage.stored_objects():
        if stored.modified < cutoff:
            yield stored.relative


def _damaged_rows() -> Iterator[Damaged]:
    rows = Instance.objects.order_by("pk").values_list(
        "sop_instance_uid", "storage_path", "file_size"
    )
    for sop_uid, relative, size in rows.iterator(chunk_size=2000):
        try:
            actual = storage.stat_stored(relative).size
        except FileNotFoundError:
            yield Damaged(sop_uid, relative, "is missing")
            continue
        except (OSError, ValueError) as exc:
            yield Damaged(sop_uid, relative, f"cannot be read: {exc}")
            continue
        if actual != size:
            yield Damaged(sop_uid, relative, f"has {actual} bytes, {size} recorded")
