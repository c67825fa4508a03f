"""Deleting studies, series and instances: rows and files together.

Rows go in one transaction, with every counter recomputed for the study
touched (deletion is rare; exact counts matter more than speed here). The
files are removed only after that transaction commits, so a rollback never
leaves rows pointing at missing files; a crash between commit and unlink
leaves orphan files, which storage.all_stored() lets a sweep find.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import transaction

from apps.archive import signals, storage
from apps.archive.models import Instance, Patient, Series, Study, StudyModality


class NothingToDelete(LookupError):
    """The resource does not exist or the caller may not see it (same answer)."""


@dataclass
class Deleted:
    study_uid: str
    patient_id: str
    instances: int
    series: int
    study_removed: bool
    paths: list[str] = field(default_factory=list, repr=False)


def delete(
    study_uid: str,
    series_uid: str | None = None,
    sop_uid: str | None = None,
    *,
    collections: list[int] | None = None,
    study_uids: list[str] | None = None,
    still_due: Callable[[Study], bool] | None = None,
) -> Deleted:
    """Delete a study, or one series of it, or one instance of that series.

    `collections` / `study_uids`: the caller's reach (None = unrestricted);
    anything outside it is reported as not found. `still_due` is asked
    once the study row is locked (retention: is it still past its period,
    or was it put on hold meanwhile?); False leaves it as it is.
    """
    if study_uids is not None and study_uid not in study_uids:
        raise NothingToDelete(study_uid)
    with transaction.atomic():
        studies = Study.objects.select_for_update().filter(study_instance_uid=study_uid)
        if collections is not None:
            studies = studies.filter(
                pk__in=Study.collections.through.objects.filter(
                    collection_id__in=collections
                ).values("study_id")
            )
        study = studies.select_related("patient").first()
        if study is None or (still_due is not None and not still_due(study)):
            raise NothingToDelete(study_uid)

        instances = Instance.objects.filter(series__study=study)
        if series_uid is not None:
            instances = instances.filter(series__series_instance_uid=series_uid)
        if sop_uid is not None:
            instances = instances.filter(sop_instance_uid=sop_uid)
        rows = list(
            instances.values_list("pk", "series__series_instance_uid", "storage_path")
        )
        if not rows and (series_uid is not None or sop_uid is not None):
            raise NothingToDelete(sop_uid or series_uid)

        Instance.objects.filter(pk__in=[pk for pk, _, _ in rows]).delete()
        series_before = Series.objects.filter(study=study).count()
        # A series emptied by this delete goes with its last instance.
        Series.objects.filter(study=study, instances__isnull=True).delete()
        if series_uid is not None and sop_uid is None:
            Series.objects.filter(study=study, series_instance_uid=series_uid).delete()
        series_after = Series.objects.filter(study=study).count()

        study_removed = series_after == 0
        if study_removed:
            study.delete()
            _correct_patient(study.patient)
        else:
            _correct_study(study)
        paths = [path for _, _, path in rows]
        touched = sorted({uid for _, uid, _ in rows})
        transaction.on_commit(lambda: _after_commit(paths, touched))

    return Deleted(
        study_uid=study_uid,
        patient_id=study.patient.patient_id,
        instances=len(rows),
        series=series_before - series_after,
        study_removed=study_removed,
        paths=paths,
    )


def _correct_study(study: Study) -> None:
    for series in Series.objects.filter(study=study):
        count = series.instances.count()
        if count != series.number_of_instances:
            Series.objects.filter(pk=series.pk).update(number_of_instances=count)
    modalities = sorted(
        set(
            Series.objects.filter(study=study)
            .exclude(modality="")
            .values_list("modality", flat=True)
        )
    )
    StudyModality.objects.filter(study=study).exclude(modality__in=modalities).delete()
    Study.objects.filter(pk=study.pk).update(
        number_of_series=Series.objects.filter(study=study).count(),
        number_of_instances=Instance.objects.filter(series__study=study).count(),
        modalities_in_study="\\".join(modalities),
    )


def _correct_patient(patient: Patient) -> None:
    remaining = Study.objects.filter(patient=patient).count()
    if remaining:
        Patient.objects.filter(pk=patient.pk).update(number_of_studies=remaining)
    else:
        # A patient with no studies left is identifying data with no purpose.
        patient.delete()


def _after_commit(paths: list[str], series_uids: list[str]) -> None:
    for path in paths:
        storage.remove(path)
    # Derived data kept elsewhere (thumbnails) goes with them.
    signals.instances_deleted.send(sender=Instance, series_uids=series_uids)
