"""REST API (DRF) views behind guard_patterns: the same 401/403/audit rules."""

import pytest

from apps.accounts.models import AuditEvent
from tests.personas import bearer, make_token, session_client

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.drf_urls")]


def test_the_api_refuses_a_caller_without_credentials(client):
    response = client.get("/api/echo")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="pacsweb"'


def test_the_api_needs_the_admin_scope(client, technologist):
    response = client.get(
        "/api/echo", **bearer(make_token(technologist, "read store worklist"))
    )

    assert response.status_code == 403
    assert 'scope="admin"' in response["WWW-Authenticate"]


def test_an_archive_admin_reaches_the_api_and_it_is_audited(client, archive_admin):
    response = client.get("/api/echo", **bearer(make_token(archive_admin, "admin")))

    assert response.status_code == 200
    assert response.json() == {"user": "ada", "collections": None}
    event = AuditEvent.objects.get()
    assert (event.action, event.username, event.outcome, event.resource) == (
        "dimse-admin",
        "ada",
        "success",
        "GET /api/echo",
    )


def test_a_session_post_to_the_api_needs_csrf(archive_admin):
    client = session_client(archive_admin)

    response = client.post("/api/echo", {"a": 1}, content_type="application/json")

    assert response.status_code == 403
    assert response.json()["reason"] == "CSRF check failed: CSRF cookie not set."


def test_a_drf_view_that_no_guard_wrapped_refuses_everybody(client, archive_admin):
    response = client.get(
        "/unguarded/echo", **bearer(make_token(archive_admin, "admin"))
    )

    assert response.status_code == 401


def test_a_router_mixing_areas_gets_each_routes_scope(client, technologist):
    token = bearer(make_token(technologist, "read store worklist"))

    worklist = client.get("/mixed/worklist/echo", **token)
    remote_aes = client.get("/mixed/remote-aes/echo", **token)

    assert worklist.status_code == 200
    assert worklist.json()["user"] == "theo"
    assert remote_aes.status_code == 403
    assert [e.action for e in AuditEvent.objects.order_by("id")] == [
        "worklist",
        "dimse-admin",
    ]
