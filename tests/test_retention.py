"""Retention (apps/archive/retention.py) and accounts housekeeping."""

from datetime import date, datetime, timedelta
from io import StringIO

import pytest
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.core.management import call_command
from django.utils import timezone

from apps.accounts import housekeeping
from apps.accounts.models import AuditEvent, SignInThrottle
from apps.archive import retention, storage
from apps.archive.ingest import ingest_file
from apps.archive.models import Collection, Instance, Patient, Study
from apps.archive.tasks import apply_retention
from tests.security_samples import variant

pytestmark = pytest.mark.django_db

TODAY = date(2026, 12, 4)


def make_study(
    tmp_path, n: int, study_date: str, collections=(), received: str = "2000-01-01"
) -> str:
    """A CT_small copy as its own study, examined on `study_date` and first
    received on `received` (retention counts from the later of the two)."""
    study_uid = f"1.2.826.0.1.3680043.8.498.7100.{n}"
    path = variant(
        tmp_path,
        "CT_small.dcm",
        sop_uid=f"1.2.826.0.1.3680043.8.498.7200.{n}",
        series_uid=f"1.2.826.0.1.3680043.8.498.7300.{n}",
        StudyInstanceUID=study_uid,
        StudyDate=study_date,
        PatientID=f"RET{n}",
    )
    ingest_file(path, collection_ids=[c.pk for c in collections])
    Study.objects.filter(study_instance_uid=study_uid).update(
        created_at=timezone.make_aware(datetime.fromisoformat(received))
    )
    return study_uid


def remaining() -> set[str]:
    return set(Study.objects.values_list("study_instance_uid", flat=True))


@pytest.fixture
def teaching(db):
    return Collection.objects.create(name="teaching", retention_days=365)


@pytest.fixture
def legal_hold(db):
    return Collection.objects.create(name="legal-hold")  # kept for ever


def test_a_study_past_its_collections_period_is_listed_then_deleted(
    tmp_path, teaching, django_capture_on_commit_callbacks
):
    old = make_study(tmp_path, 1, "20240101", [teaching])
    recent = make_study(tmp_path, 2, "20260601", [teaching])
    path = Instance.objects.get(series__study__study_instance_uid=old).storage_path

    listed = retention.expire(apply=False, today=TODAY)
    after_listing = remaining()
    with django_capture_on_commit_callbacks(execute=True):
        applied = retention.expire(apply=True, today=TODAY)

    assert listed.studies == [(old, "RET1", 1)]
    assert after_listing == {old, recent}
    assert applied.studies == [(old, "RET1", 1)]
    assert applied.summary() == "retention: deleted 1 studies (1 instances)"
    assert remaining() == {recent}
    assert not Patient.objects.filter(patient_id="RET1").exists()
    assert path not in set(storage.all_stored())
    event = AuditEvent.objects.get(action="delete")
    assert (event.username, event.study_uid, event.patient_id, event.detail) == (
        "retention",
        old,
        "RET1",
        "1 instance(s) deleted after 365 days",
    )


def test_the_most_generous_collection_decides(tmp_path, teaching, legal_hold):
    research = Collection.objects.create(name="research", retention_days=20 * 365)
    held = make_study(tmp_path, 1, "20200101", [teaching, legal_hold])
    studied = make_study(tmp_path, 2, "20200101", [teaching, research])
    taught = make_study(tmp_path, 3, "20200101", [teaching])

    retention.expire(apply=True, today=TODAY)

    assert remaining() == {held, studied}
    assert taught not in remaining()


def test_studies_in_no_collection_follow_the_global_setting(tmp_path, settings):
    loose = make_study(tmp_path, 1, "20240101")

    settings.PACSWEB_RETENTION_DAYS = 0
    kept = retention.expire(apply=True, today=TODAY)
    settings.PACSWEB_RETENTION_DAYS = 30
    deleted = retention.expire(apply=True, today=TODAY)

    assert kept.studies == []
    assert deleted.studies == [(loose, "RET1", 1)]
    assert remaining() == set()


def test_without_a_study_date_the_period_runs_from_first_reception(tmp_path, teaching):
    undated = make_study(tmp_path, 1, "", [teaching], received="2025-06-01")
    fresh = make_study(tmp_path, 2, "", [teaching], received="2026-06-01")

    retention.expire(apply=True, today=TODAY)

    assert undated not in remaining()
    assert remaining() == {fresh}


def test_an_old_study_date_does_not_delete_a_study_received_recently(
    tmp_path, teaching
):
    # A migration from an old archive, or a modality whose clock said 1900:
    # the period counts from the later of the Study Date and first reception.
    migrated = make_study(tmp_path, 1, "20040119", [teaching], received="2026-11-01")
    bogus = make_study(tmp_path, 2, "19000101", [teaching], received="2026-12-04")
    long_held = make_study(tmp_path, 3, "20040119", [teaching], received="2010-01-01")

    retention.expire(apply=True, today=TODAY)

    assert remaining() == {migrated, bogus}
    assert long_held not in remaining()


def test_a_hold_added_after_the_study_was_read_still_saves_it(
    tmp_path, teaching, legal_hold, monkeypatch
):
    held = make_study(tmp_path, 1, "20200101", [teaching])
    other = make_study(tmp_path, 2, "20200102", [teaching])
    real_delete = retention.deletion.delete

    def hold_first_then_delete(study_uid, **kwargs):
        # The hold lands between retention's read and its delete.
        if study_uid == held:
            Study.objects.get(study_instance_uid=held).collections.add(legal_hold)
        return real_delete(study_uid, **kwargs)

    monkeypatch.setattr(retention.deletion, "delete", hold_first_then_delete)
    result = retention.expire(apply=True, today=TODAY)

    assert [uid for uid, _, _ in result.studies] == [other]
    assert remaining() == {held}


def test_a_collection_period_of_zero_days_is_refused():
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="retention_days"):
        Collection(name="oops", retention_days=0).full_clean()


def test_a_run_stops_at_its_limit_and_the_next_goes_on(tmp_path, teaching, legal_hold):
    # Older studies kept for ever must not use up the limit of every run.
    for n in range(3):
        make_study(tmp_path, 10 + n, "19990101", [legal_hold])
    due = [make_study(tmp_path, n, f"2020010{n}", [teaching]) for n in (1, 2, 3)]

    first = retention.expire(apply=True, today=TODAY, limit=2)
    second = retention.expire(apply=True, today=TODAY, limit=2)

    assert [uid for uid, _, _ in first.studies] == due[:2]
    assert [uid for uid, _, _ in second.studies] == due[2:]
    assert len(remaining()) == 3


def test_nothing_is_deleted_when_no_period_is_configured(tmp_path):
    Collection.objects.create(name="cardiology")
    make_study(tmp_path, 1, "19900101", [Collection.objects.get()])
    make_study(tmp_path, 2, "19900101")

    assert retention.expire(apply=True, today=TODAY).studies == []
    assert len(remaining()) == 2


def test_the_command_lists_without_apply_and_deletes_with_it(tmp_path, teaching):
    old = make_study(tmp_path, 1, "20200101", [teaching])
    listing, applying = StringIO(), StringIO()

    call_command("retention", stdout=listing)
    kept = remaining()
    call_command("retention", "--apply", stdout=applying)

    assert f"  {old}  patient RET1  1 instances" in listing.getvalue()
    assert "retention: would delete 1 studies (1 instances)" in listing.getvalue()
    assert kept == {old}
    assert "retention: deleted 1 studies (1 instances)" in applying.getvalue()
    assert remaining() == set()


def test_beat_runs_retention_and_housekeeping(tmp_path, teaching):
    make_study(tmp_path, 1, "20200101", [teaching])

    summary = apply_retention()

    schedule = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {"archive.apply_retention", "accounts.housekeeping"} <= schedule
    assert summary == "retention: deleted 1 studies (1 instances)"


def test_housekeeping_clears_what_expired_and_purges_audit_past_its_period(
    settings,
):
    settings.PACSWEB_AUDIT_RETENTION_DAYS = 365
    old = AuditEvent.objects.create(action="query", username="clara")
    AuditEvent.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - timedelta(days=400)
    )
    recent = AuditEvent.objects.create(action="query", username="clara")
    expired_session = SessionStore()
    expired_session.set_expiry(-1)
    expired_session.save()
    long_ago = timezone.now() - timedelta(days=2)
    SignInThrottle.objects.create(key="user:stale", window_started_at=long_ago)
    SignInThrottle.objects.create(
        key="user:locked",
        window_started_at=long_ago,
        locked_until=timezone.now() + timedelta(minutes=5),
    )

    cleaned = housekeeping.run()

    assert cleaned.audit_events == 1
    assert not AuditEvent.objects.filter(pk=old.pk).exists()
    assert AuditEvent.objects.filter(pk=recent.pk).exists()
    purge = AuditEvent.objects.get(username="housekeeping")
    assert purge.detail == "1 audit events older than 365 days purged"
    assert not SessionStore().exists(expired_session.session_key)
    assert set(SignInThrottle.objects.values_list("key", flat=True)) == {"user:locked"}


def test_audit_events_are_kept_for_ever_by_default():
    old = AuditEvent.objects.create(action="query", username="clara")
    AuditEvent.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - timedelta(days=20 * 365)
    )

    assert housekeeping.run().audit_events == 0
    assert AuditEvent.objects.filter(pk=old.pk).exists()
