"""The rows an instance's header gives at each level, for ingest.

Patient, study and series rows are found or created under their unique
constraints (`get_or_create`), so concurrent ingests of one new study make
one row per level. Counters are kept by `Counts`: ingest applies them
once per instance, or once per counter row for a group of instances.
"""

from collections import Counter
from dataclasses import dataclass, field

from django.db.models import F
from pydicom.dataset import Dataset

from apps.archive import dicomjson, levels
from apps.archive.models import (
    Collection,
    Instance,
    Patient,
    Series,
    Study,
    StudyModality,
)
from apps.archive.parse import ParsedFile
from apps.archive.text import fold, normalize_date, normalize_time


class SeriesElsewhere(Exception):
    """The series UID is already held by another study."""


@dataclass
class Placement:
    """Where a new instance row went, and what it created on the way."""

    patient: Patient
    study: Study
    series: Series
    study_created: bool = False
    series_created: bool = False
    collection_ids: list[int] = field(default_factory=list)


@dataclass
class Counts:
    """Counter increments, applied in one UPDATE per row."""

    series: Counter[int] = field(default_factory=Counter)
    study_instances: Counter[int] = field(default_factory=Counter)
    study_series: Counter[int] = field(default_factory=Counter)
    patient_studies: Counter[int] = field(default_factory=Counter)
    collections: dict[int, tuple[Study, set[int]]] = field(default_factory=dict)

    def add(self, placement: Placement) -> None:
        study = placement.study
        self.series[placement.series.pk] += 1
        self.study_instances[study.pk] += 1
        if placement.series_created:
            self.study_series[study.pk] += 1
        if placement.study_created:
            self.patient_studies[placement.patient.pk] += 1
        if placement.collection_ids:
            _, ids = self.collections.setdefault(study.pk, (study, set()))
            ids.update(placement.collection_ids)

    def apply(self) -> None:
        # Counters and ModalitiesInStudy are maintained here, under the row
        # lock the UPDATE takes, so queries never aggregate per request.
        # Rows are taken in one order (series, studies, patients, each by
        # key), so two groups cannot wait for each other's counter rows.
        for pk, count in sorted(self.series.items()):
            Series.objects.filter(pk=pk).update(
                number_of_instances=F("number_of_instances") + count
            )
        for pk in sorted(self.study_instances):
            updates = {
                "number_of_instances": F("number_of_instances")
                + self.study_instances[pk]
            }
            if self.study_series[pk]:
                updates["number_of_series"] = (
                    F("number_of_series") + self.study_series[pk]
                )
            Study.objects.filter(pk=pk).update(**updates)
        for pk, count in sorted(self.patient_studies.items()):
            Patient.objects.filter(pk=pk).update(
                number_of_studies=F("number_of_studies") + count
            )
        for _, (study, ids) in sorted(self.collections.items()):
            study.collections.add(*Collection.objects.filter(pk__in=ids))


def patient(ds: Dataset, instance_json: dict) -> tuple[Patient, bool]:
    name = person_name(ds, "PatientName")
    return Patient.objects.get_or_create(
        patient_id=text(ds, "PatientID")[:64],
        issuer_of_patient_id=text(ds, "IssuerOfPatientID")[:64],
        defaults={
            "patient_name": name,
            "patient_name_norm": fold(name),
            "patient_birth_date": normalize_date(text(ds, "PatientBirthDate")),
            "patient_sex": text(ds, "PatientSex")[:16],
            "attributes_json": dicomjson.dumps(
                levels.subset(instance_json, levels.PATIENT_TAGS)
            ),
        },
    )


def study(
    ds: Dataset, study_uid: str, patient: Patient, instance_json: dict
) -> tuple[Study, bool]:
    referring = person_name(ds, "ReferringPhysicianName")
    return Study.objects.get_or_create(
        study_instance_uid=study_uid,
        defaults={
            "patient": patient,
            "study_date": normalize_date(text(ds, "StudyDate")),
            "study_time": normalize_time(text(ds, "StudyTime")),
            "accession_number": text(ds, "AccessionNumber")[:64],
            "study_id": text(ds, "StudyID")[:16],
            "study_description": text(ds, "StudyDescription")[:64],
            "referring_physician_name": referring,
            "referring_physician_name_norm": fold(referring),
            "attributes_json": dicomjson.dumps(
                levels.subset(instance_json, levels.STUDY_TAGS)
            ),
        },
    )


def series(
    ds: Dataset, series_uid: str, study: Study, instance_json: dict, source_ae: str
) -> tuple[Series, bool]:
    row, created = Series.objects.get_or_create(
        series_instance_uid=series_uid,
        defaults={
            "study": study,
            "modality": text(ds, "Modality")[:16],
            "series_number": int_or_none(ds.get("SeriesNumber")),
            "series_description": text(ds, "SeriesDescription")[:64],
            "body_part_examined": text(ds, "BodyPartExamined")[:16],
            "performed_procedure_step_start_date": normalize_date(
                text(ds, "PerformedProcedureStepStartDate")
            ),
            "performed_procedure_step_start_time": normalize_time(
                text(ds, "PerformedProcedureStepStartTime")
            ),
            "station_name": text(ds, "StationName")[:16],
            "institution_name": text(ds, "InstitutionName")[:64],
            "source_ae_title": source_ae[:16],
            "attributes_json": dicomjson.dumps(
                levels.subset(instance_json, levels.SERIES_TAGS)
            ),
        },
    )
    if row.study_id != study.pk:
        raise SeriesElsewhere(series_uid)
    return row, created


def instance_fields(ds: Dataset, parsed: ParsedFile) -> dict:
    """The Instance columns read from the header (identity and file aside)."""
    pixel_data = parsed.pixel_data
    return {
        "instance_number": int_or_none(ds.get("InstanceNumber")),
        "transfer_syntax_uid": parsed.transfer_syntax_uid,
        "number_of_frames": number_of_frames(ds, parsed),
        "rows": int_or_none(ds.get("Rows")),
        "columns": int_or_none(ds.get("Columns")),
        "bits_allocated": int_or_none(ds.get("BitsAllocated")),
        "bits_stored": int_or_none(ds.get("BitsStored")),
        "samples_per_pixel": int_or_none(ds.get("SamplesPerPixel")),
        "photometric_interpretation": text(ds, "PhotometricInterpretation")[:16],
        "content_date": normalize_date(text(ds, "ContentDate")),
        "content_time": normalize_time(text(ds, "ContentTime")),
        "pixel_data_offset": pixel_data.value_offset
        if pixel_data and pixel_data.value_offset >= 0
        else None,
        "pixel_data_length": pixel_data.length if pixel_data else None,
    }


def add_modality(study: Study, modality: str) -> None:
    StudyModality.objects.get_or_create(study=study, modality=modality)
    # Lock the study row while the joined string is rebuilt, so two series
    # of new modalities arriving together cannot each write a stale list.
    locked = Study.objects.select_for_update().get(pk=study.pk)
    modalities = sorted(
        StudyModality.objects.filter(study=locked).values_list("modality", flat=True)
    )
    Study.objects.filter(pk=study.pk).update(modalities_in_study="\\".join(modalities))


def delete_instance(instance: Instance) -> None:
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


def text(ds: Dataset, keyword: str) -> str:
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


def person_name(ds: Dataset, keyword: str) -> str:
    try:
        value = ds.get(keyword)
    except Exception:
        return ""
    if value is None:
        return ""
    # The decoded form of all component groups, "Alphabetic=Ideographic=Phonetic".
    components = getattr(value, "components", None)
    joined = "=".join(components) if components else str(value)
    return joined.replace("\x00", "").strip()[:324]


def int_or_none(value) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def number_of_frames(ds: Dataset, parsed: ParsedFile) -> int:
    if parsed.pixel_data is None:
        return 0
    frames = int_or_none(ds.get("NumberOfFrames"))
    return frames if frames and frames > 0 else 1
