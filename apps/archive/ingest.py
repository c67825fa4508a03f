"""The one ingest path: every way into the archive ends here.

STOW-RS, C-STORE, the import command, uploads and retrieves all spool the
bytes they receive to a temporary file in the store and hand it over, one
file to `ingest_file` or a request's files to `ingest_files`. Each file is
parsed, its identity validated, and made durable at its final path; then
its rows are committed. Success is only reported once both are durable; if
the database step fails the file goes.

`ingest_files` commits the rows of up to GROUP_SIZE files in one
transaction, each in a savepoint of its own: one durable commit, and one
counter update per series, instead of one of each per instance, while a
file that fails still fails alone (docs/architecture.md, "Ingest").
"""

import errno
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import cast

from django.conf import settings
from django.db import (
    DatabaseError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    transaction,
)
from pydicom.dataset import Dataset

from apps.archive import dicomjson, rows, rules, signals, storage
from apps.archive.models import Instance, Series, Study
from apps.archive.parse import ParsedFile, ParseError, read_header
from apps.archive.status import Status

logger = logging.getLogger(__name__)

# PS3.5 9.1: components of digits without leading zeros, 64 characters at most.
UID_RE = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")

# Files whose rows share one transaction. Bounds how long a group holds the
# database's write lock (SQLite has one for the whole database) and how
# many parsed headers are held in memory at once.
GROUP_SIZE = 50


class Outcome(Enum):
    STORED = "stored"
    DUPLICATE = "duplicate"  # already held; kept as it was (policy "keep")
    REPLACED = "replaced"  # already held; replaced (policy "overwrite")


class IngestError(Exception):
    """An instance that was not stored, with the DICOM status that says why."""

    # True when the archive itself is briefly unable to store (its database
    # is unreachable): the sender should try again later, and STOW-RS
    # answers 503 rather than blaming the data.
    unavailable = False

    def __init__(
        self,
        status: Status,
        reason: str,
        sop_class_uid: str = "",
        sop_instance_uid: str = "",
    ) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.sop_class_uid = sop_class_uid
        self.sop_instance_uid = sop_instance_uid


class ArchiveUnavailable(IngestError):
    unavailable = True


@dataclass(frozen=True)
class Identity:
    study_uid: str
    series_uid: str
    sop_uid: str
    sop_class_uid: str


@dataclass
class IngestResult:
    outcome: Outcome
    identity: Identity
    instance_id: int
    warnings: list[str] = field(default_factory=list)


def is_valid_uid(value: str) -> bool:
    return 0 < len(value) <= 64 and UID_RE.fullmatch(value) is not None


@dataclass(frozen=True)
class _Options:
    source_ae: str
    expected_study_uid: str | None
    collection_ids: list[int]
    policy: str
    # The sender's collections (None = unrestricted), see ingest_file.
    reach: list[int] | None


def ingest_file(
    path: Path,
    *,
    owned: bool = False,
    source_ae_title: str = "",
    expected_study_uid: str | None = None,
    collection_ids: Iterable[int] = (),
    duplicate_policy: str | None = None,
    reach: list[int] | None = None,
) -> IngestResult:
    """Store one PS3.10 file.

    `reach`: the sender's collections (None = unrestricted). An instance
    for an existing study outside them is refused, so that storing into a
    study cannot add the sender's collections to it and open it to them.

    `owned`: the file is a temporary file in the store's receiving area
    (storage.new_temp_file / spool) and is moved into place; otherwise it is
    copied first and left untouched. Either way, nothing is left behind in
    the receiving area when this returns or raises.
    """
    options = _options(
        source_ae_title, expected_study_uid, collection_ids, duplicate_policy, reach
    )
    temp_path = path if owned else storage.copy_to_temp(path)
    try:
        return _finish(_prepare(temp_path, options))
    finally:
        temp_path.unlink(missing_ok=True)


def ingest_files(
    paths: Sequence[Path],
    *,
    owned: bool = False,
    source_ae_title: str = "",
    expected_study_uid: str | None = None,
    collection_ids: Iterable[int] = (),
    duplicate_policy: str | None = None,
    reach: list[int] | None = None,
) -> list[IngestResult | IngestError]:
    """Store several PS3.10 files, as ingest_file would store each.

    The list holds, at each file's position, its IngestResult or the
    IngestError that says why it was not stored. ArchiveUnavailable is
    raised instead: the database is down and nothing more can be stored.
    Files of earlier groups are then stored; the raising group's are not.
    """
    options = _options(
        source_ae_title, expected_study_uid, collection_ids, duplicate_policy, reach
    )
    outcomes: list[IngestResult | IngestError | None] = [None] * len(paths)
    try:
        for start in range(0, len(paths), GROUP_SIZE):
            group = list(enumerate(paths[start : start + GROUP_SIZE], start))
            _ingest_group(group, owned, options, outcomes)
    finally:
        if owned:
            for path in paths:
                path.unlink(missing_ok=True)
    # Every position was filled: a file not stored has its IngestError.
    return cast(list[IngestResult | IngestError], outcomes)


def _options(
    source_ae_title: str,
    expected_study_uid: str | None,
    collection_ids: Iterable[int],
    duplicate_policy: str | None,
    reach: list[int] | None,
) -> _Options:
    return _Options(
        source_ae_title,
        expected_study_uid,
        list(collection_ids),
        duplicate_policy or settings.PACSWEB_DUPLICATE_POLICY,
        reach,
    )


@dataclass(frozen=True)
class _Received:
    """A received instance, parsed and durable at its final path."""

    dataset: Dataset
    parsed: ParsedFile
    identity: Identity
    instance_json: dict
    relative: str
    size: int
    digest: str
    options: _Options


def _prepare(temp_path: Path, options: _Options) -> _Received:
    """Parse and check a received file, then make it durable in the store."""
    try:
        parsed = read_header(temp_path)
    except ParseError as exc:
        raise IngestError(exc.status, exc.reason) from None
    ds = parsed.dataset
    identity = _identity(ds)
    expected = options.expected_study_uid
    if expected is not None and identity.study_uid != expected:
        raise IngestError(
            Status.DATA_SET_DOES_NOT_MATCH_SOP_CLASS,
            f"StudyInstanceUID {identity.study_uid} does not match the target study {expected}",
            identity.sop_class_uid,
            identity.sop_uid,
        )
    # Checked per file, not once per request: another sender may create
    # the study meanwhile, and this one must not then add to it.
    if options.reach is not None and _outside_reach(identity.study_uid, options.reach):
        raise IngestError(
            Status.NOT_AUTHORIZED,
            "the study exists and is outside the sender's collections",
            identity.sop_class_uid,
            identity.sop_uid,
        )

    base = f"{dicomjson.BULK_MARKER}studies/{identity.study_uid}/series/{identity.series_uid}/instances/{identity.sop_uid}"
    instance_json = dicomjson.dataset_to_json(
        ds, bulkdata_base=base, inline_max=settings.PACSWEB_INLINE_BINARY_MAX
    )
    if (
        parsed.pixel_data is not None
        and f"{parsed.pixel_data.tag:08X}" not in instance_json
    ):
        instance_json[f"{parsed.pixel_data.tag:08X}"] = dicomjson.pixel_data_element(
            parsed.pixel_data.tag, parsed.pixel_data.vr, base
        )
        instance_json = dict(sorted(instance_json.items()))
    size = temp_path.stat().st_size
    # One sequential read of a file that was just written (page cache), so
    # a later integrity check can tell a damaged file from a good one.
    digest = storage.sha256_of(temp_path)
    relative = storage.path_for(
        identity.study_uid, identity.series_uid, identity.sop_uid
    )

    try:
        storage.place(temp_path, relative)
    except OSError as exc:
        status = (
            Status.OUT_OF_RESOURCES
            if exc.errno in (errno.ENOSPC, errno.EDQUOT)
            else Status.PROCESSING_FAILURE
        )
        logger.exception("could not store %s", identity.sop_uid)
        raise IngestError(
            status,
            f"could not write the file: {exc.strerror}",
            identity.sop_class_uid,
            identity.sop_uid,
        ) from None
    return _Received(
        ds, parsed, identity, instance_json, relative, size, digest, options
    )


def _finish(received: _Received) -> IngestResult:
    """Commit one placed instance's rows in a transaction of its own."""
    identity = received.identity
    try:
        written = _commit_rows(received)
    except IngestError:
        _discard(received.relative)
        raise
    except (OperationalError, InterfaceError):
        _discard(received.relative)
        logger.exception(
            "database unavailable while storing %s; file removed", identity.sop_uid
        )
        raise ArchiveUnavailable(
            Status.OUT_OF_RESOURCES,
            "the archive database is unavailable; try again later",
            identity.sop_class_uid,
            identity.sop_uid,
        ) from None
    except Exception:
        _discard(received.relative)
        logger.exception("database step failed for %s; file removed", identity.sop_uid)
        raise IngestError(
            Status.PROCESSING_FAILURE,
            "the archive database could not record the instance",
            identity.sop_class_uid,
            identity.sop_uid,
        ) from None
    _after_commit(received, written)
    if written.outcome is not Outcome.DUPLICATE:
        _announce([written.instance_id], written.series_id)
    return IngestResult(written.outcome, identity, written.instance_id)


def _after_commit(received: _Received, written: "_Written") -> None:
    if written.outcome is Outcome.DUPLICATE:
        _discard(received.relative)
    if written.replaced_path:
        _discard(written.replaced_path)


def _discard(relative: str) -> None:
    """Remove a file no row refers to; failing that, leave it to the sweep.

    Whether the instance was stored is already decided: a file that cannot
    be removed must not turn that answer into an error.
    """
    try:
        storage.remove(relative)
    except Exception:
        logger.exception("could not remove %s; the storage sweep will", relative)


def _announce(instance_ids: list[int], series_id: int) -> None:
    def announce() -> None:
        signals.instance_stored.send(
            sender=Instance,
            instance_id=instance_ids[-1],
            instance_ids=instance_ids,
            series_id=series_id,
        )

    # robust: a failing receiver (a thumbnail, say) is logged by Django
    # and never turns a stored instance into a reported failure.
    transaction.on_commit(announce, robust=True)


def _ingest_group(
    group: list[tuple[int, Path]],
    owned: bool,
    options: _Options,
    outcomes: list[IngestResult | IngestError | None],
) -> None:
    placed: list[tuple[int, _Received]] = []
    try:
        for index, path in group:
            temp_path = path if owned else storage.copy_to_temp(path)
            try:
                placed.append((index, _prepare(temp_path, options)))
            except IngestError as exc:
                outcomes[index] = exc
            except (OperationalError, InterfaceError):
                logger.exception("database unavailable while checking a file")
                raise ArchiveUnavailable(
                    Status.OUT_OF_RESOURCES,
                    "the archive database is unavailable; try again later",
                ) from None
            except Exception:
                logger.exception("could not prepare %s for ingest", path)
                outcomes[index] = IngestError(
                    Status.PROCESSING_FAILURE, "internal error; see the server log"
                )
            finally:
                temp_path.unlink(missing_ok=True)
        _commit_group(placed, outcomes)
    except BaseException:
        # Placed but never committed: no row names these files.
        for index, received in placed:
            if outcomes[index] is None:
                _discard(received.relative)
        raise


def _commit_group(
    placed: list[tuple[int, _Received]],
    outcomes: list[IngestResult | IngestError | None],
) -> None:
    if not placed:
        return
    decided: dict[int, _Written | IngestError] = {}
    alone: list[tuple[int, _Received]] = []
    try:
        with transaction.atomic():
            group = _Group([received for _, received in placed])
            for index, received in placed:
                try:
                    # A savepoint per instance: a failure rolls back its
                    # own rows only, and the group goes on.
                    with transaction.atomic():
                        written = _write_rows(received, group)
                except IngestError as exc:
                    decided[index] = exc
                    continue
                except IntegrityError:
                    # A concurrent ingest inserted this SOP instance: decided
                    # on its own, after this commit, by the duplicate policy.
                    alone.append((index, received))
                    continue
                except DatabaseError:
                    raise
                except Exception:
                    # An overwrite, or an unexpected error: the one-by-one
                    # path replaces, and maps and logs failures, as ever.
                    alone.append((index, received))
                    continue
                group.add(received, written)
                decided[index] = written
            group.counts.apply()
    except Exception as exc:
        # The group's transaction failed as a whole (a deadlock between
        # concurrent groups on PostgreSQL, a lost connection): nothing of
        # it was committed, so each instance is tried alone.
        if isinstance(exc, (OperationalError, InterfaceError)):
            logger.warning("grouped commit failed (%s); committing one by one", exc)
        else:
            logger.exception("grouped commit failed; committing one by one")
        decided.clear()
        alone = placed

    # Outcomes first: from here on a committed file must never be taken
    # for an uncommitted one (_ingest_group removes those) if a removal fails.
    for index, received in placed:
        outcome = decided.get(index)
        if isinstance(outcome, IngestError):
            outcomes[index] = outcome
        elif outcome is not None:
            outcomes[index] = IngestResult(
                outcome.outcome, received.identity, outcome.instance_id
            )
    announced: dict[int, list[int]] = {}
    for index, received in placed:
        outcome = decided.get(index)
        if isinstance(outcome, IngestError):
            _discard(received.relative)
        elif outcome is not None:
            _after_commit(received, outcome)
            if outcome.outcome is not Outcome.DUPLICATE:
                # One announcement per series and group, naming all its
                # instances: thumbnails work per series, forwarding per list.
                announced.setdefault(outcome.series_id, []).append(outcome.instance_id)
    for series_id, instance_ids in announced.items():
        _announce(instance_ids, series_id)
    for index, received in alone:
        try:
            outcomes[index] = _finish(received)
        except IngestError as exc:
            if exc.unavailable:
                raise
            outcomes[index] = exc


def _outside_reach(study_uid: str, reach: list[int]) -> bool:
    existing = Study.objects.filter(study_instance_uid=study_uid)
    return existing.exists() and not existing.filter(collections__in=reach).exists()


def _identity(ds: Dataset) -> Identity:
    values = {}
    for keyword in (
        "StudyInstanceUID",
        "SeriesInstanceUID",
        "SOPInstanceUID",
        "SOPClassUID",
    ):
        value = str(ds.get(keyword, "") or "").strip().rstrip("\x00")
        values[keyword] = value
    sop_uid = values["SOPInstanceUID"]
    sop_class = values["SOPClassUID"]
    for keyword, value in values.items():
        if not value:
            raise IngestError(
                Status.CANNOT_UNDERSTAND, f"{keyword} is missing", sop_class, sop_uid
            )
        if not is_valid_uid(value):
            raise IngestError(
                Status.CANNOT_UNDERSTAND,
                f"{keyword} is not a valid UID: {value[:80]!r}",
                sop_class if is_valid_uid(sop_class) else "",
                sop_uid if is_valid_uid(sop_uid) else "",
            )
    return Identity(
        values["StudyInstanceUID"], values["SeriesInstanceUID"], sop_uid, sop_class
    )


@dataclass
class _Written:
    outcome: Outcome
    instance_id: int
    series_id: int
    replaced_path: str | None = None
    # None for a kept duplicate: no row was written.
    placement: rows.Placement | None = None


class _Overwrite(Exception):
    """A duplicate to replace, which a group leaves to the one-by-one path."""


class _Group:
    """What the instances of one grouped transaction share."""

    def __init__(self, received: list[_Received]) -> None:
        # One query for every duplicate in the group; an instance inserted
        # meanwhile by someone else fails on the unique constraint instead.
        uids = [r.identity.sop_uid for r in received]
        self.existing = {
            instance.sop_instance_uid: instance
            for instance in Instance.objects.select_related("series__study").filter(
                sop_instance_uid__in=uids
            )
        }
        self.placements: dict[str, rows.Placement] = {}
        self.counts = rows.Counts()

    def add(self, received: _Received, written: _Written) -> None:
        placement = written.placement
        if placement is None:
            return
        self.counts.add(placement)
        self.placements[received.identity.series_uid] = rows.Placement(
            placement.patient, placement.study, placement.series
        )
        # A second copy of this SOP instance later in the group is a duplicate.
        self.existing[received.identity.sop_uid] = Instance(
            pk=written.instance_id,
            sop_instance_uid=received.identity.sop_uid,
            series=placement.series,
            storage_path=received.relative,
        )


def _commit_rows(received: _Received) -> "_Written":
    # One retry: a concurrent ingest of the same new SOP instance makes our
    # insert fail on the unique constraint; the second pass sees its row and
    # applies the duplicate policy to it.
    for attempt in (1, 2):
        try:
            with transaction.atomic():
                written = _write_rows(received)
                if written.placement is not None:
                    counts = rows.Counts()
                    counts.add(written.placement)
                    counts.apply()
                return written
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _write_rows(received: _Received, group: _Group | None = None) -> _Written:
    """Write an instance's rows; counters are left to the caller (rows.Counts)."""
    ds, parsed, identity = received.dataset, received.parsed, received.identity
    policy = received.options.policy
    if group is not None:
        existing = group.existing.get(identity.sop_uid)
    else:
        existing = (
            Instance.objects.select_related("series__study")
            .filter(sop_instance_uid=identity.sop_uid)
            .first()
        )
    replaced_path = None
    if existing is not None:
        if policy == "reject":
            raise IngestError(
                Status.DUPLICATE_SOP_INSTANCE,
                "an instance with this SOPInstanceUID is already stored",
                identity.sop_class_uid,
                identity.sop_uid,
            )
        if policy == "keep":
            # "keep" tells the sender its instance is held; that is only true
            # where it sent it. The same UID in another series is a UID
            # collision, and reporting it stored gave a RetrieveURL that 404s.
            held = existing.series
            if (held.series_instance_uid, held.study.study_instance_uid) != (
                identity.series_uid,
                identity.study_uid,
            ):
                raise IngestError(
                    Status.DUPLICATE_SOP_INSTANCE,
                    f"this SOPInstanceUID is already stored in study {held.study.study_instance_uid}, "
                    f"series {held.series_instance_uid}",
                    identity.sop_class_uid,
                    identity.sop_uid,
                )
            return _Written(Outcome.DUPLICATE, existing.pk, existing.series_id)
        if group is not None:
            # Replacing rewrites counters from a count of rows, which the
            # group's pending increments would make wrong.
            raise _Overwrite(identity.sop_uid)
        replaced_path = existing.storage_path
        rows.delete_instance(existing)

    placement = _place_rows(received, group)
    instance = Instance.objects.create(
        sop_instance_uid=identity.sop_uid,
        series=placement.series,
        sop_class_uid=identity.sop_class_uid,
        file_size=received.size,
        file_sha256=received.digest,
        storage_path=received.relative,
        metadata_json=dicomjson.dumps(received.instance_json),
        source_ae_title=received.options.source_ae[:16],
        **rows.instance_fields(ds, parsed),
    )
    outcome = Outcome.REPLACED if replaced_path else Outcome.STORED
    return _Written(outcome, instance.pk, placement.series.pk, replaced_path, placement)


def _place_rows(received: _Received, group: _Group | None) -> rows.Placement:
    """The patient, study and series rows of an instance, found or created."""
    ds, identity, instance_json = (
        received.dataset,
        received.identity,
        received.instance_json,
    )
    source_ae = received.options.source_ae
    cached = group.placements.get(identity.series_uid) if group else None
    if cached is not None and cached.study.study_instance_uid == identity.study_uid:
        return rows.Placement(
            cached.patient,
            cached.study,
            cached.series,
            collection_ids=received.options.collection_ids,
        )

    # Most instances arrive into a series that already exists: one joined
    # lookup then replaces the three get_or_create round trips.
    known = (
        Series.objects.select_related("study__patient")
        .filter(series_instance_uid=identity.series_uid)
        .first()
    )
    if known is not None and known.study.study_instance_uid == identity.study_uid:
        return rows.Placement(
            known.study.patient,
            known.study,
            known,
            collection_ids=received.options.collection_ids,
        )

    patient, _ = rows.patient(ds, instance_json)
    study, study_created = rows.study(ds, identity.study_uid, patient, instance_json)
    try:
        series, series_created = rows.series(
            ds, identity.series_uid, study, instance_json, source_ae
        )
    except rows.SeriesElsewhere:
        raise IngestError(
            Status.DATA_SET_DOES_NOT_MATCH_SOP_CLASS,
            f"SeriesInstanceUID {identity.series_uid} already belongs to another study",
            identity.sop_class_uid,
            identity.sop_uid,
        ) from None
    collection_ids = received.options.collection_ids
    if series_created:
        if series.modality:
            rows.add_modality(study, series.modality)
        collection_ids = collection_ids + rules.collections_for(
            source_ae, series.institution_name, patient.issuer_of_patient_id
        )
    return rows.Placement(
        patient, study, series, study_created, series_created, collection_ids
    )
