"""The one ingest path: every way into the archive ends in `ingest_file`.

STOW-RS, C-STORE, the import command, uploads and retrieves all spool the
bytes they receive to a temporary file in the store and hand it here. This
function parses the header, validates identity, makes the file durable at
its final path, then commits the rows in one transaction. Success is only
reported once both are durable; if the database step fails the file goes.
"""

import errno
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, InterfaceError, OperationalError, transaction
from django.db.models import F
from pydicom.dataset import Dataset

from apps.archive import dicomjson, levels, rules, signals, storage
from apps.archive.models import (
    Collection,
    Instance,
    Patient,
    Series,
    Study,
    StudyModality,
)
from apps.archive.parse import ParsedFile, ParseError, read_header
from apps.archive.status import Status
from apps.archive.text import fold, normalize_date, normalize_time

logger = logging.getLogger(__name__)

# PS3.5 9.1: components of digits without leading zeros, 64 characters at most.
UID_RE = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")


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
    return 0 < len(value) <= 64 and UID_RE.match(value) is not None


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
    temp_path = path if owned else storage.copy_to_temp(path)
    try:
        return _ingest(
            temp_path,
            source_ae_title=source_ae_title,
            expected_study_uid=expected_study_uid,
            collection_ids=list(collection_ids),
            policy=duplicate_policy or settings.PACSWEB_DUPLICATE_POLICY,
            reach=reach,
        )
    finally:
        temp_path.unlink(missing_ok=True)


def _ingest(
    temp_path: Path,
    *,
    source_ae_title: str,
    expected_study_uid: str | None,
    collection_ids: list[int],
    policy: str,
    reach: list[int] | None = None,
) -> IngestResult:
    try:
        parsed = read_header(temp_path)
    except ParseError as exc:
        raise IngestError(exc.status, exc.reason) from None
    ds = parsed.dataset
    identity = _identity(ds)
    if expected_study_uid is not None and identity.study_uid != expected_study_uid:
        raise IngestError(
            Status.DATA_SET_DOES_NOT_MATCH_SOP_CLASS,
            f"StudyInstanceUID {identity.study_uid} does not match the target study {expected_study_uid}",
            identity.sop_class_uid,
            identity.sop_uid,
        )
    if reach is not None and _outside_reach(identity.study_uid, reach):
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

    replaced_path = None
    try:
        outcome, instance_id, series_id, replaced_path = _commit_rows(
            _Received(
                ds,
                parsed,
                identity,
                instance_json,
                relative,
                size,
                digest,
                source_ae_title,
                collection_ids,
                policy,
            )
        )
    except IngestError:
        storage.remove(relative)
        raise
    except (OperationalError, InterfaceError):
        storage.remove(relative)
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
        storage.remove(relative)
        logger.exception("database step failed for %s; file removed", identity.sop_uid)
        raise IngestError(
            Status.PROCESSING_FAILURE,
            "the archive database could not record the instance",
            identity.sop_class_uid,
            identity.sop_uid,
        ) from None
    if outcome is Outcome.DUPLICATE:
        storage.remove(relative)
    if replaced_path:
        storage.remove(replaced_path)
    if outcome is not Outcome.DUPLICATE:

        def announce() -> None:
            signals.instance_stored.send(
                sender=Instance, instance_id=instance_id, series_id=series_id
            )

        # robust: a failing receiver (a thumbnail, say) is logged by Django
        # and never turns a stored instance into a reported failure.
        transaction.on_commit(announce, robust=True)
    return IngestResult(outcome, identity, instance_id)


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


@dataclass(frozen=True)
class _Received:
    """What the database step needs of a received, placed instance."""

    dataset: Dataset
    parsed: ParsedFile
    identity: Identity
    instance_json: dict
    relative: str
    size: int
    digest: str
    source_ae: str
    collection_ids: list[int]
    policy: str


RowsWritten = tuple[Outcome, int, int, str | None]


def _commit_rows(received: _Received) -> RowsWritten:
    # One retry: a concurrent ingest of the same new SOP instance makes our
    # insert fail on the unique constraint; the second pass sees its row and
    # applies the duplicate policy to it.
    for attempt in (1, 2):
        try:
            with transaction.atomic():
                return _write_rows(received)
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _write_rows(received: _Received) -> RowsWritten:
    ds, parsed, identity = received.dataset, received.parsed, received.identity
    instance_json, relative = received.instance_json, received.relative
    size, digest, source_ae = received.size, received.digest, received.source_ae
    collection_ids, policy = received.collection_ids, received.policy
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
            return Outcome.DUPLICATE, existing.pk, existing.series_id, None
        replaced_path = existing.storage_path
        _delete_instance_rows(existing)

    # Most instances arrive into a series that already exists: one joined
    # lookup then replaces the three get_or_create round trips.
    known = (
        Series.objects.select_related("study__patient")
        .filter(series_instance_uid=identity.series_uid)
        .first()
    )
    if known is not None and known.study.study_instance_uid == identity.study_uid:
        series, study, patient = known, known.study, known.study.patient
        study_created = series_created = False
    else:
        patient = _patient(ds, instance_json)
        study, study_created = _study(ds, identity, patient, instance_json)
        series, series_created = _series(ds, identity, study, instance_json, source_ae)

    instance = Instance.objects.create(
        sop_instance_uid=identity.sop_uid,
        series=series,
        sop_class_uid=identity.sop_class_uid,
        instance_number=_int_or_none(ds.get("InstanceNumber")),
        transfer_syntax_uid=parsed.transfer_syntax_uid,
        number_of_frames=_number_of_frames(ds, parsed),
        rows=_int_or_none(ds.get("Rows")),
        columns=_int_or_none(ds.get("Columns")),
        bits_allocated=_int_or_none(ds.get("BitsAllocated")),
        bits_stored=_int_or_none(ds.get("BitsStored")),
        samples_per_pixel=_int_or_none(ds.get("SamplesPerPixel")),
        photometric_interpretation=_text(ds, "PhotometricInterpretation")[:16],
        content_date=normalize_date(_text(ds, "ContentDate")),
        content_time=normalize_time(_text(ds, "ContentTime")),
        pixel_data_offset=parsed.pixel_data.value_offset
        if parsed.pixel_data and parsed.pixel_data.value_offset >= 0
        else None,
        pixel_data_length=parsed.pixel_data.length if parsed.pixel_data else None,
        file_size=size,
        file_sha256=digest,
        storage_path=relative,
        metadata_json=dicomjson.dumps(instance_json),
        source_ae_title=source_ae[:16],
    )

    # Counters and ModalitiesInStudy are maintained here, under the row
    # lock the UPDATE takes, so queries never aggregate per request.
    Series.objects.filter(pk=series.pk).update(
        number_of_instances=F("number_of_instances") + 1
    )
    study_updates = {"number_of_instances": F("number_of_instances") + 1}
    if series_created:
        study_updates["number_of_series"] = F("number_of_series") + 1
    Study.objects.filter(pk=study.pk).update(**study_updates)
    if study_created:
        Patient.objects.filter(pk=patient.pk).update(
            number_of_studies=F("number_of_studies") + 1
        )
    if series_created and series.modality:
        _add_modality(study, series.modality)
    if series_created:
        collection_ids = collection_ids + rules.collections_for(
            source_ae, series.institution_name, patient.issuer_of_patient_id
        )
    if collection_ids:
        study.collections.add(*Collection.objects.filter(pk__in=collection_ids))

    outcome = Outcome.REPLACED if replaced_path else Outcome.STORED
    return outcome, instance.pk, series.pk, replaced_path


def _patient(ds: Dataset, instance_json: dict) -> Patient:
    name = _person_name(ds, "PatientName")
    patient, _ = Patient.objects.get_or_create(
        patient_id=_text(ds, "PatientID")[:64],
        issuer_of_patient_id=_text(ds, "IssuerOfPatientID")[:64],
        defaults={
            "patient_name": name,
            "patient_name_norm": fold(name),
            "patient_birth_date": normalize_date(_text(ds, "PatientBirthDate")),
            "patient_sex": _text(ds, "PatientSex")[:16],
            "attributes_json": dicomjson.dumps(
                levels.subset(instance_json, levels.PATIENT_TAGS)
            ),
        },
    )
    return patient


def _study(
    ds: Dataset, identity: Identity, patient: Patient, instance_json: dict
) -> tuple[Study, bool]:
    referring = _person_name(ds, "ReferringPhysicianName")
    return Study.objects.get_or_create(
        study_instance_uid=identity.study_uid,
        defaults={
            "patient": patient,
            "study_date": normalize_date(_text(ds, "StudyDate")),
            "study_time": normalize_time(_text(ds, "StudyTime")),
            "accession_number": _text(ds, "AccessionNumber")[:64],
            "study_id": _text(ds, "StudyID")[:16],
            "study_description": _text(ds, "StudyDescription")[:64],
            "referring_physician_name": referring,
            "referring_physician_name_norm": fold(referring),
            "attributes_json": dicomjson.dumps(
                levels.subset(instance_json, levels.STUDY_TAGS)
            ),
        },
    )


def _series(
    ds: Dataset, identity: Identity, study: Study, instance_json: dict, source_ae: str
) -> tuple[Series, bool]:
    series, created = Series.objects.get_or_create(
        series_instance_uid=identity.series_uid,
        defaults={
            "study": study,
            "modality": _text(ds, "Modality")[:16],
            "series_number": _int_or_none(ds.get("SeriesNumber")),
            "series_description": _text(ds, "SeriesDescription")[:64],
            "body_part_examined": _text(ds, "BodyPartExamined")[:16],
            "performed_procedure_step_start_date": normalize_date(
                _text(ds, "PerformedProcedureStepStartDate")
            ),
            "performed_procedure_step_start_time": normalize_time(
                _text(ds, "PerformedProcedureStepStartTime")
            ),
            "station_name": _text(ds, "StationName")[:16],
            "institution_name": _text(ds, "InstitutionName")[:64],
            "source_ae_title": source_ae[:16],
            "attributes_json": dicomjson.dumps(
                levels.subset(instance_json, levels.SERIES_TAGS)
            ),
        },
    )
    if series.study_id != study.pk:
        raise IngestError(
            Status.DATA_SET_DOES_NOT_MATCH_SOP_CLASS,
            f"SeriesInstanceUID {identity.series_uid} already belongs to another study",
            identity.sop_class_uid,
            identity.sop_uid,
        )
    return series, created


def _add_modality(study: Study, modality: str) -> None:
    StudyModality.objects.get_or_create(study=study, modality=modality)
    # Lock the study row while the joined string is rebuilt, so two series
    # of new modalities arriving together cannot each write a stale list.
    locked = Study.objects.select_for_update().get(pk=study.pk)
    modalities = sorted(
        StudyModality.objects.filter(study=locked).values_list("modality", flat=True)
    )
    Study.objects.filter(pk=study.pk).update(modalities_in_study="\\".join(modalities))


def _delete_instance_rows(instance: Instance) -> None:
    """Remove an instance's rows and correct the counters (its file stays)."""
    series = instance.series
    study = series.study
    instance.delete()
    remaining = Instance.objects.filter(series=series).count()
    if remaining:
        Series.objects.filter(pk=series.pk).update(number_of_instances=remaining)
        Study.objects.filter(pk=study.pk).update(
            number_of_instances=F("number_of_instances") - 1
        )
        return
    series.delete()
    Study.objects.filter(pk=study.pk).update(
        number_of_instances=F("number_of_instances") - 1,
        number_of_series=F("number_of_series") - 1,
    )
    if (
        series.modality
        and not Series.objects.filter(study=study, modality=series.modality).exists()
    ):
        StudyModality.objects.filter(study=study, modality=series.modality).delete()
        modalities = sorted(
            StudyModality.objects.filter(study=study).values_list("modality", flat=True)
        )
        Study.objects.filter(pk=study.pk).update(
            modalities_in_study="\\".join(modalities)
        )


def _text(ds: Dataset, keyword: str) -> str:
    try:
        value = ds.get(keyword)
    except Exception:
        return ""
    if value is None:
        return ""
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if not isinstance(value, str) and hasattr(value, "__iter__"):
        value = "\\".join(str(v) for v in value)
    return str(value).replace("\x00", "").strip()


def _person_name(ds: Dataset, keyword: str) -> str:
    try:
        value = ds.get(keyword)
    except Exception:
        return ""
    if value is None:
        return ""
    # The decoded form of all component groups, "Alphabetic=Ideographic=Phonetic".
    components = getattr(value, "components", None)
    text = "=".join(components) if components else str(value)
    return text.replace("\x00", "").strip()[:324]


def _int_or_none(value) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _number_of_frames(ds: Dataset, parsed) -> int:
    if parsed.pixel_data is None:
        return 0
    frames = _int_or_none(ds.get("NumberOfFrames"))
    return frames if frames and frames > 0 else 1
