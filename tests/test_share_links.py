import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from apps.accounts.models import AuditEvent, ShareLink
from apps.archive.ingest import ingest_file
from tests.conftest import sample
from tests.personas import bearer, make_token
from tests.security_samples import CT_STUDY, MR_STUDY

pytestmark = pytest.mark.django_db


@pytest.fixture
def studies(collections):
    ingest_file(sample("CT_small.dcm"), collection_ids=[collections["cardiology"].pk])
    ingest_file(sample("MR_small.dcm"), collection_ids=[collections["oncology"].pk])


def _create(client, token, study_uid=CT_STUDY, hours=2):
    return client.post(
        "/api/share-links",
        {"study_uid": study_uid, "hours": hours, "note": "for Dr Who"},
        content_type="application/json",
        **bearer(token),
    )


def _open(link_url: str) -> tuple[Client, object]:
    visitor = Client()
    path = link_url.split("testserver", 1)[1]
    return visitor, visitor.get(path)


def test_a_clinician_shares_a_study_and_a_visitor_reads_only_that_study(
    client, studies, clinician
):
    token = make_token(clinician, "read")

    created = _create(client, token)
    visitor, opened = _open(created.json()["url"])
    own = visitor.get(f"/dicomweb/studies/{CT_STUDY}/metadata")
    other = visitor.get(f"/dicomweb/studies/{MR_STUDY}/metadata")
    search_all = visitor.get("/dicomweb/studies")
    search_own = visitor.get("/dicomweb/studies", {"StudyInstanceUID": CT_STUDY})
    delete = visitor.delete(f"/dicomweb/studies/{CT_STUDY}")

    assert created.status_code == 201
    body = created.json()
    assert (body["study_uid"], body["note"], body["active"], body["revoked"]) == (
        CT_STUDY,
        "for Dr Who",
        True,
        False,
    )
    link = ShareLink.objects.get()
    assert link.created_by == clinician
    assert abs((link.expires_at - timezone.now()) - timedelta(hours=2)) < timedelta(
        seconds=30
    )
    # Only a hash is stored, never the token in the URL.
    assert body["url"].rsplit("/", 1)[1] not in link.token_sha256
    assert opened.status_code == 302
    assert CT_STUDY in opened["Location"]
    assert own.status_code == 200
    assert json.loads(b"".join(own.streaming_content))[0]["0020000D"]["Value"] == [
        CT_STUDY
    ]
    assert other.status_code == 403
    assert search_all.status_code == 403
    assert search_own.status_code == 200
    assert [s["0020000D"]["Value"][0] for s in search_own.json()] == [CT_STUDY]
    assert delete.status_code == 403


def test_a_study_outside_the_creators_collections_cannot_be_shared(
    client, studies, clinician
):
    response = _create(client, make_token(clinician, "read"), study_uid=MR_STUDY)

    assert response.status_code == 404
    assert ShareLink.objects.count() == 0


def test_a_technologist_has_no_share_permission(client, studies, technologist):
    response = _create(client, make_token(technologist, "read"))

    assert response.status_code == 403
    assert response.json()["reason"] == "the share permission is required"


def test_share_hours_are_bounded(client, studies, clinician, settings):
    settings.PACSWEB_SHARE_MAX_HOURS = 24

    response = _create(client, make_token(clinician, "read"), hours=25)

    assert response.status_code == 400
    assert response.json()["reason"] == "hours must be between 0 and 24"


def test_an_expired_link_stops_working_even_in_an_open_session(
    client, studies, clinician
):
    created = _create(client, make_token(clinician, "read"))
    visitor, _ = _open(created.json()["url"])
    ShareLink.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    reused = visitor.get(f"/dicomweb/studies/{CT_STUDY}/metadata")
    reopened = Client().get(created.json()["url"].split("testserver", 1)[1])

    assert reused.status_code == 401
    assert reopened.status_code == 404
    assert b"This link is not available" in reopened.content


def test_a_revoked_link_stops_working(client, studies, clinician):
    token = make_token(clinician, "read")
    created = _create(client, token)
    visitor, _ = _open(created.json()["url"])

    revoked = client.delete(f"/api/share-links/{created.json()['id']}", **bearer(token))
    reused = visitor.get(f"/dicomweb/studies/{CT_STUDY}/metadata")
    listed = client.get("/api/share-links", **bearer(token))

    assert revoked.status_code == 204
    assert reused.status_code == 401
    assert listed.json()["links"][0]["revoked"] is True
    assert listed.json()["links"][0]["active"] is False


def test_another_user_cannot_revoke_a_link(client, studies, clinician):
    from tests.personas import make_user

    created = _create(client, make_token(clinician, "read"))
    colleague = make_user("carl", "clinician")

    response = client.delete(
        f"/api/share-links/{created.json()['id']}",
        **bearer(make_token(colleague, "read")),
    )

    assert response.status_code == 404
    assert ShareLink.objects.get().revoked_at is None


def test_every_use_of_a_link_is_audited(client, studies, clinician):
    created = _create(client, make_token(clinician, "read"))
    visitor, _ = _open(created.json()["url"])
    link = ShareLink.objects.get()

    b"".join(visitor.get(f"/dicomweb/studies/{CT_STUDY}/metadata").streaming_content)
    visitor.get(f"/dicomweb/studies/{MR_STUDY}/metadata")

    create_event = AuditEvent.objects.get(action="share-create")
    assert (create_event.username, create_event.study_uid, create_event.outcome) == (
        "clara",
        CT_STUDY,
        "success",
    )
    opened = AuditEvent.objects.get(action="share-open")
    assert (
        opened.share_link_id,
        opened.study_uid,
        opened.username,
        opened.outcome,
    ) == (link.pk, CT_STUDY, "", "success")
    retrieve = AuditEvent.objects.filter(action="retrieve").order_by("id")
    assert [
        (e.share_link_id, e.study_uid, e.outcome, e.application) for e in retrieve
    ] == [
        (link.pk, CT_STUDY, "success", "share link"),
        (link.pk, MR_STUDY, "denied", "share link"),
    ]


def test_an_unknown_link_is_audited_as_denied(client):
    response = client.get("/share/not-a-real-token")

    assert response.status_code == 404
    event = AuditEvent.objects.get()
    assert (event.action, event.outcome, event.status_code, event.detail) == (
        "share-open",
        "denied",
        404,
        "unknown, expired or revoked link",
    )


def test_a_nul_in_a_share_request_is_refused_before_the_database(
    client, studies, clinician
):
    # PostgreSQL refuses NUL in text; both answered 500 there.
    token = make_token(clinician, "read")

    bad_uid = _create(client, token, study_uid="1.2\x00")
    bad_note = client.post(
        "/api/share-links",
        {"study_uid": CT_STUDY, "hours": 2, "note": "Dr\x00Who"},
        content_type="application/json",
        **bearer(token),
    )

    assert bad_uid.status_code == 404
    assert bad_note.status_code == 400
    assert bad_note.json()["reason"] == "the note must not contain a NUL character"
    assert ShareLink.objects.count() == 0
