"""OAuth 2.0 end to end against the running app (live_server + requests)."""

import base64
import hashlib
import secrets
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.test import Client
from django.utils import timezone
from oauth2_provider.models import AccessToken, Application

from apps.accounts.models import AuditEvent, CollectionGrant, ShareLink
from apps.archive.ingest import ingest_file
from apps.archive.models import CollectionRule, Study
from tests.conftest import sample
from tests.security_samples import CT_STUDY, MR_STUDY

pytestmark = pytest.mark.django_db(transaction=True)

REDIRECT = "http://127.0.0.1/callback"


@pytest.fixture
def studies(collections):
    CollectionRule.objects.create(
        collection=collections["cardiology"], source_ae_title="CARDIO_CT"
    )
    CollectionRule.objects.create(
        collection=collections["oncology"], source_ae_title="ONCO_MR"
    )
    ingest_file(sample("CT_small.dcm"), source_ae_title="CARDIO_CT")
    ingest_file(sample("MR_small.dcm"), source_ae_title="ONCO_MR")


def _token(live_server, **data) -> requests.Response:
    return requests.post(f"{live_server.url}/o/token/", data=data, timeout=10)


def test_an_ehr_gets_a_token_by_client_credentials_and_reaches_only_its_collection(
    live_server, studies, collections, archive_admin
):
    secret = secrets.token_urlsafe(24)
    app = Application.objects.create(
        name="ehr",
        user=archive_admin,
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
        client_secret=secret,
    )
    CollectionGrant.objects.create(
        application=app, collection=collections["cardiology"]
    )

    issued = requests.post(
        f"{live_server.url}/o/token/",
        data={"grant_type": "client_credentials", "scope": "read delete"},
        auth=(app.client_id, secret),
        timeout=10,
    )
    token = issued.json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    outside = requests.delete(
        f"{live_server.url}/dicomweb/studies/{MR_STUDY}", headers=headers, timeout=10
    )
    inside = requests.delete(
        f"{live_server.url}/dicomweb/studies/{CT_STUDY}", headers=headers, timeout=10
    )

    assert issued.status_code == 200
    assert issued.json()["scope"] == "read delete"
    assert issued.json()["token_type"] == "Bearer"
    assert issued.json()["expires_in"] == 3600
    # Its owner reaches everything; the application only its grant.
    assert outside.status_code == 404
    assert inside.status_code == 204
    assert list(Study.objects.values_list("study_instance_uid", flat=True)) == [
        MR_STUDY
    ]
    event = AuditEvent.objects.get(action="delete", outcome="success")
    assert event.username == ""
    assert event.application == f"ehr ({app.client_id})"
    assert event.address == "127.0.0.1"


def test_client_credentials_cannot_exceed_the_owners_permissions(
    live_server, technologist
):
    secret = secrets.token_urlsafe(24)
    app = Application.objects.create(
        name="modality-bridge",
        user=technologist,
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
        client_secret=secret,
    )

    asked_delete = requests.post(
        f"{live_server.url}/o/token/",
        data={"grant_type": "client_credentials", "scope": "delete"},
        auth=(app.client_id, secret),
        timeout=10,
    )
    default = requests.post(
        f"{live_server.url}/o/token/",
        data={"grant_type": "client_credentials"},
        auth=(app.client_id, secret),
        timeout=10,
    )
    wrong_secret = requests.post(
        f"{live_server.url}/o/token/",
        data={"grant_type": "client_credentials"},
        auth=(app.client_id, "nope"),
        timeout=10,
    )

    assert asked_delete.status_code == 400
    assert asked_delete.json()["error"] == "invalid_scope"
    assert default.status_code == 200
    assert sorted(default.json()["scope"].split()) == ["read", "store", "worklist"]
    assert wrong_secret.status_code == 401
    assert wrong_secret.json()["error"] == "invalid_client"


@pytest.fixture
def viewer_app(archive_admin):
    return Application.objects.create(
        name="external viewer",
        user=archive_admin,
        client_type=Application.CLIENT_PUBLIC,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=REDIRECT,
        skip_authorization=True,
    )


def _signed_in(live_server, user) -> requests.Session:
    django_client = Client()
    django_client.force_login(user)
    browser = requests.Session()
    browser.cookies.set("sessionid", django_client.cookies["sessionid"].value)
    return browser


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        .rstrip(b"=")
        .decode()
    )
    return verifier, challenge


def _authorize(live_server, browser, app, **extra) -> dict[str, list[str]]:
    params = {
        "response_type": "code",
        "client_id": app.client_id,
        "redirect_uri": REDIRECT,
        "scope": "read",
        "state": "s-42",
        **extra,
    }
    response = browser.get(
        f"{live_server.url}/o/authorize/",
        params=params,
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 302, response.text[:500]
    location = response.headers["Location"]
    assert location.startswith(REDIRECT)
    return parse_qs(urlsplit(location).query)


def _pkce_exchange(live_server, viewer_app, user, verifier: str | None = None):
    """Sign in, authorize with an S256 challenge, exchange the code.

    `verifier` replaces the right one at the exchange. Returns the
    authorization answer and the token endpoint's response.
    """
    browser = _signed_in(live_server, user)
    right_verifier, challenge = _pkce()
    answer = _authorize(
        live_server,
        browser,
        viewer_app,
        code_challenge=challenge,
        code_challenge_method="S256",
    )
    issued = _token(
        live_server,
        grant_type="authorization_code",
        code=answer["code"][0],
        redirect_uri=REDIRECT,
        client_id=viewer_app.client_id,
        code_verifier=verifier or right_verifier,
    )
    return answer, issued


def test_authorization_code_with_pkce_acts_for_the_signed_in_user(
    live_server, studies, viewer_app, clinician
):
    answer, issued = _pkce_exchange(live_server, viewer_app, clinician)
    token = issued.json()["access_token"]
    created = requests.post(
        f"{live_server.url}/api/share-links",
        json={"study_uid": CT_STUDY, "hours": 2},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )

    assert answer["state"] == ["s-42"]
    assert issued.status_code == 200
    assert issued.json()["scope"] == "read"
    assert created.status_code == 201
    assert created.json()["study_uid"] == CT_STUDY
    assert ShareLink.objects.get().created_by == clinician
    assert AccessToken.objects.get(token=token).user == clinician


def test_authorization_code_without_pkce_is_refused(live_server, viewer_app, clinician):
    browser = _signed_in(live_server, clinician)

    answer = _authorize(live_server, browser, viewer_app)

    assert answer["error"] == ["invalid_request"]
    assert "code" not in answer


def test_a_code_exchanged_with_the_wrong_verifier_gives_no_token(
    live_server, viewer_app, clinician
):
    _, issued = _pkce_exchange(
        live_server, viewer_app, clinician, verifier=secrets.token_urlsafe(48)
    )

    assert issued.status_code == 400
    assert issued.json()["error"] == "invalid_grant"
    assert AccessToken.objects.count() == 0


def _pkce_token(live_server, viewer_app, user) -> str:
    return _pkce_exchange(live_server, viewer_app, user)[1].json()["access_token"]


def test_an_expired_token_is_refused(live_server, studies, viewer_app, clinician):
    token = _pkce_token(live_server, viewer_app, clinician)
    headers = {"Authorization": f"Bearer {token}"}
    before = requests.get(
        f"{live_server.url}/api/share-links", headers=headers, timeout=10
    )
    AccessToken.objects.filter(token=token).update(
        expires=timezone.now() - timedelta(seconds=1)
    )

    after = requests.get(
        f"{live_server.url}/api/share-links", headers=headers, timeout=10
    )

    assert before.status_code == 200
    assert before.json() == {"links": []}
    assert after.status_code == 401
    assert (
        after.headers["WWW-Authenticate"]
        == 'Bearer realm="pacsweb", error="invalid_token"'
    )


def test_a_revoked_token_is_refused(live_server, studies, viewer_app, clinician):
    token = _pkce_token(live_server, viewer_app, clinician)
    headers = {"Authorization": f"Bearer {token}"}

    revoked = requests.post(
        f"{live_server.url}/o/revoke_token/",
        data={"token": token, "client_id": viewer_app.client_id},
        timeout=10,
    )
    after = requests.get(
        f"{live_server.url}/api/share-links", headers=headers, timeout=10
    )

    assert revoked.status_code == 200
    assert not AccessToken.objects.filter(token=token).exists()
    assert after.status_code == 401
