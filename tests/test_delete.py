import pytest
from django.contrib.auth.models import Permission
from django.db import transaction
from django.middleware.csrf import _get_new_csrf_string, _mask_cipher_secret

from apps.accounts.models import AuditEvent
from apps.archive import storage
from apps.archive.deletion import NothingToDelete, delete
from apps.archive.ingest import ingest_file
from apps.archive.models import Instance, Patient, Series, Study, StudyModality
from tests.conftest import sample
from tests.personas import bearer, make_token, make_user, session_client
from tests.security_samples import CT_SERIES, CT_SOP, CT_STUDY, MR_STUDY, variant

pytestmark = pytest.mark.django_db

SR_SERIES = "1.2.826.0.1.3680043.8.498.1001"
SR_SOP_1 = "1.2.826.0.1.3680043.8.498.1001.1"
SR_SOP_2 = "1.2.826.0.1.3680043.8.498.1001.2"


@pytest.fixture
def two_series_study(tmp_path):
    """The CT study with its CT image plus two more instances in an MR series."""
    ingest_file(sample("CT_small.dcm"))
    ingest_file(
        variant(
            tmp_path,
            "CT_small.dcm",
            series_uid=SR_SERIES,
            sop_uid=SR_SOP_1,
            modality="MR",
        )
    )
    ingest_file(
        variant(
            tmp_path,
            "CT_small.dcm",
            series_uid=SR_SERIES,
            sop_uid=SR_SOP_2,
            modality="MR",
        )
    )
    return Study.objects.get(study_instance_uid=CT_STUDY)


def _file_of(sop_uid: str):
    return storage.absolute(Instance.objects.get(sop_instance_uid=sop_uid).storage_path)


def test_it_deletes_one_instance_and_corrects_the_counters(
    two_series_study, django_capture_on_commit_callbacks
):
    path = _file_of(SR_SOP_1)

    with django_capture_on_commit_callbacks(execute=True):
        deleted = delete(CT_STUDY, SR_SERIES, SR_SOP_1)

    assert (deleted.instances, deleted.series, deleted.study_removed) == (1, 0, False)
    assert not path.exists()
    assert not Instance.objects.filter(sop_instance_uid=SR_SOP_1).exists()
    study = Study.objects.get(study_instance_uid=CT_STUDY)
    assert (study.number_of_series, study.number_of_instances) == (2, 2)
    assert Series.objects.get(series_instance_uid=SR_SERIES).number_of_instances == 1
    assert study.modalities_in_study == "CT\\MR"


def test_it_deletes_a_series_and_drops_its_modality(
    two_series_study, django_capture_on_commit_callbacks
):
    paths = [_file_of(SR_SOP_1), _file_of(SR_SOP_2)]

    with django_capture_on_commit_callbacks(execute=True):
        deleted = delete(CT_STUDY, SR_SERIES)

    assert (deleted.instances, deleted.series) == (2, 1)
    assert not any(p.exists() for p in paths)
    study = Study.objects.get(study_instance_uid=CT_STUDY)
    assert (study.number_of_series, study.number_of_instances) == (1, 1)
    assert study.modalities_in_study == "CT"
    assert list(
        StudyModality.objects.filter(study=study).values_list("modality", flat=True)
    ) == ["CT"]
    assert _file_of(CT_SOP).exists()


def test_deleting_the_last_series_removes_the_study_and_its_patient(
    two_series_study, django_capture_on_commit_callbacks
):
    ingest_file(sample("MR_small.dcm"))

    with django_capture_on_commit_callbacks(execute=True):
        deleted = delete(CT_STUDY)

    assert (deleted.instances, deleted.series, deleted.study_removed) == (3, 2, True)
    assert deleted.patient_id == "1CT1"
    assert not Study.objects.filter(study_instance_uid=CT_STUDY).exists()
    assert not Patient.objects.filter(patient_id="1CT1").exists()
    assert list(Study.objects.values_list("study_instance_uid", flat=True)) == [
        MR_STUDY
    ]
    assert Instance.objects.count() == 1
    assert list(storage.all_stored()) == [Instance.objects.get().storage_path]


def test_files_stay_when_the_transaction_rolls_back(
    two_series_study, django_capture_on_commit_callbacks
):
    path = _file_of(CT_SOP)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            delete(CT_STUDY, CT_SERIES, CT_SOP)
            raise RuntimeError("roll back")

    assert callbacks == []
    assert path.exists()
    assert Instance.objects.filter(sop_instance_uid=CT_SOP).exists()


def test_a_study_outside_the_callers_collections_is_not_found(
    two_series_study, collections
):
    two_series_study.collections.add(collections["oncology"])

    with pytest.raises(NothingToDelete):
        delete(CT_STUDY, collections=[collections["cardiology"].pk])

    assert Instance.objects.count() == 3


def test_an_unknown_series_is_not_found(two_series_study):
    with pytest.raises(NothingToDelete):
        delete(CT_STUDY, "1.2.3.4")

    assert Instance.objects.count() == 3


# Over HTTP


def test_an_archive_admin_deletes_a_series_over_dicomweb_and_it_is_audited(
    client, two_series_study, archive_admin
):
    token = make_token(archive_admin, "read delete")

    response = client.delete(
        f"/dicomweb/studies/{CT_STUDY}/series/{SR_SERIES}", **bearer(token)
    )

    assert response.status_code == 204
    assert Instance.objects.count() == 1
    event = AuditEvent.objects.get(action="delete")
    assert (event.outcome, event.status_code, event.username) == ("success", 204, "ada")
    assert event.study_uid == CT_STUDY
    assert event.patient_id == "1CT1"
    assert event.detail == "2 instance(s), 1 series removed"
    assert event.resource == f"DELETE /dicomweb/studies/{CT_STUDY}/series/{SR_SERIES}"


def test_delete_is_refused_without_the_delete_permission(
    client, two_series_study, technologist
):
    token = make_token(technologist, "read store")

    response = client.delete(f"/dicomweb/studies/{CT_STUDY}", **bearer(token))

    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response["WWW-Authenticate"]
    assert Instance.objects.count() == 3
    assert AuditEvent.objects.get().outcome == "denied"


def test_a_delete_token_without_the_users_permission_is_refused(
    client, two_series_study, technologist
):
    # The scope was written into the token, but the user may not delete.
    token = make_token(technologist, "read delete")

    response = client.delete(f"/dicomweb/studies/{CT_STUDY}", **bearer(token))

    assert response.status_code == 403
    assert Instance.objects.count() == 3


def test_delete_answers_404_alike_for_missing_and_invisible_studies(
    client, two_series_study, collections
):
    user = make_user("dora", collections=(collections["cardiology"],))
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["read_studies", "delete_studies"])
    )
    token = make_token(user, "delete")

    hidden = client.delete(f"/dicomweb/studies/{CT_STUDY}", **bearer(token))
    missing = client.delete("/dicomweb/studies/1.2.3.999", **bearer(token))

    assert hidden.status_code == missing.status_code == 404
    assert (
        hidden.json() == missing.json() == {"status": 404, "reason": "no such resource"}
    )
    assert Instance.objects.count() == 3


def test_delete_rejects_a_malformed_uid(client, archive_admin):
    token = make_token(archive_admin, "delete")

    response = client.delete("/dicomweb/studies/1.2.3'%20OR%20'1'='1", **bearer(token))

    assert response.status_code == 400
    assert response.json()["reason"] == "the study UID in the path is not a valid UID"


def test_a_session_delete_needs_the_csrf_token(two_series_study, archive_admin):
    client = session_client(archive_admin)
    secret = _get_new_csrf_string()
    client.cookies["csrftoken"] = secret

    refused = client.delete(f"/dicomweb/studies/{CT_STUDY}")
    accepted = client.delete(
        f"/dicomweb/studies/{CT_STUDY}", HTTP_X_CSRFTOKEN=_mask_cipher_secret(secret)
    )

    assert refused.status_code == 403
    assert refused.json()["reason"] == "CSRF check failed: CSRF token missing."
    assert accepted.status_code == 204
    assert not Study.objects.exists()


def test_deleting_a_series_drops_its_cached_thumbnail(
    client, archive_admin, django_capture_on_commit_callbacks
):
    from apps.dicomweb import thumbnails

    ingest_file(sample("CT_small.dcm"))
    token = make_token(archive_admin, "read delete")
    series = Series.objects.get()
    assert thumbnails.series_thumbnail(series.pk, CT_SERIES) is not None
    cached = list(thumbnails.cache_root().rglob("*.jpg"))

    with django_capture_on_commit_callbacks(execute=True):
        response = client.delete(
            f"/dicomweb/studies/{CT_STUDY}/series/{CT_SERIES}", **bearer(token)
        )

    assert response.status_code == 204
    assert len(cached) == 1
    assert not cached[0].exists()
