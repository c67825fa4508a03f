import logging

import pytest
from django.apps import apps
from django.core.checks import Error

from pacsweb import checks
from tests.personas import bearer, make_token

pytestmark = pytest.mark.django_db


def test_every_response_carries_the_security_headers(client):
    response = client.get("/healthz")

    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "script-src 'self' 'wasm-unsafe-eval'" in csp
    assert "worker-src 'self' blob:" in csp
    assert "frame-ancestors 'none'" in csp
    assert "http" not in csp  # no remote origin anywhere
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in response


def test_hsts_and_secure_cookies_when_served_over_https(client, settings):
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

    response = client.get("/healthz", HTTP_X_FORWARDED_PROTO="https")

    assert response["Strict-Transport-Security"] == "max-age=31536000"


def test_production_refuses_debug_and_the_generated_secret_key(settings):
    settings.PRODUCTION = True
    settings.DEBUG = True
    settings.SECRET_KEY_FROM_ENV = False
    settings.PACSWEB_ANONYMOUS_READ = True

    found = checks.check_production_settings(None)

    assert [(type(m), m.id) for m in found] == [
        (Error, "pacsweb.E001"),
        (Error, "pacsweb.E002"),
        (Error, "pacsweb.E003"),
    ]


def test_the_embedded_set_up_passes_the_production_checks(settings):
    settings.PRODUCTION = False
    settings.DEBUG = True

    assert checks.check_production_settings(None) == []


def test_an_unwritable_storage_directory_is_reported(settings, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    settings.PACSWEB_STORAGE_DIR = blocker / "storage"

    found = checks.check_storage_writable(None)

    assert [m.id for m in found] == ["pacsweb.W002"]
    assert str(blocker / "storage") in found[0].msg


def test_anonymous_read_only_when_the_setting_turns_it_on(client, settings):
    off = client.get("/dicomweb/studies")
    settings.PACSWEB_ANONYMOUS_READ = True
    read = client.get("/dicomweb/studies")
    store = client.post("/dicomweb/studies", b"", content_type="application/dicom")
    delete = client.delete("/dicomweb/studies/1.2.3")

    assert off.status_code == 401
    assert read.status_code not in (401, 403)
    assert store.status_code == 403
    assert delete.status_code == 403


def test_anonymous_read_is_announced_in_the_log(settings, caplog):
    settings.PACSWEB_ANONYMOUS_READ = True

    with caplog.at_level(logging.WARNING, logger="apps.accounts.apps"):
        apps.get_app_config("accounts").ready()

    assert [r.getMessage() for r in caplog.records] == [
        "PACSWEB_ANONYMOUS_READ is on: anyone who can reach this server can search and retrieve every study without signing in"
    ]


# Personas against the guard


@pytest.mark.parametrize(
    ("persona", "expected"),
    [
        ("clinician", {"GET": True, "POST": False, "DELETE": False}),
        ("technologist", {"GET": True, "POST": True, "DELETE": False}),
        ("archive_admin", {"GET": True, "POST": True, "DELETE": True}),
        ("outsider", {"GET": False, "POST": False, "DELETE": False}),
    ],
)
def test_each_persona_gets_exactly_its_groups_rights(
    client, request, persona, expected
):
    user = request.getfixturevalue(persona)
    token = make_token(user, "read store delete worklist admin")

    answers = {
        "GET": client.get("/dicomweb/studies", **bearer(token)),
        "POST": client.post(
            "/dicomweb/studies", b"", content_type="application/dicom", **bearer(token)
        ),
        "DELETE": client.delete("/dicomweb/studies/1.2.840.99.404", **bearer(token)),
    }

    passed = {method: r.status_code not in (401, 403) for method, r in answers.items()}
    assert passed == expected
    # Past the guard, an unknown study is simply not found.
    if expected["DELETE"]:
        assert answers["DELETE"].status_code == 404


def test_the_shipped_groups_hold_their_permissions():
    from django.contrib.auth.models import Group

    from tests.personas import ensure_groups

    ensure_groups()
    perms = {
        g.name: sorted(
            g.permissions.filter(content_type__model="capability").values_list(
                "codename", flat=True
            )
        )
        for g in Group.objects.all()
    }

    assert perms["clinician"] == ["read_studies", "share_studies"]
    assert perms["technologist"] == ["manage_worklist", "read_studies", "store_studies"]
    assert perms["archive-admin"] == [
        "administer_dimse",
        "delete_studies",
        "manage_worklist",
        "read_studies",
        "share_studies",
        "store_studies",
    ]
    assert (
        Group.objects.get(name="archive-admin")
        .collectiongrant_set.get()
        .all_collections
        is True
    )


def _manage(*args: str, **env: str):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    environment = {
        k: v for k, v in os.environ.items() if not k.startswith(("PACSWEB_", "DJANGO_"))
    }
    environment.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=root,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_https_settings_turn_on_hsts_and_secure_cookies(tmp_path):
    code = "from django.conf import settings as s; print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS, s.SECURE_PROXY_SSL_HEADER)"

    result = _manage(
        "shell", "-c", code, PACSWEB_HTTPS="1", PACSWEB_VAR_DIR=str(tmp_path)
    )

    assert (
        result.stdout.strip().splitlines()[-1]
        == "True True 31536000 ('HTTP_X_FORWARDED_PROTO', 'https')"
    )


def test_manage_check_fails_in_production_without_a_secret_key(tmp_path):
    result = _manage("check", PACSWEB_PRODUCTION="1", PACSWEB_VAR_DIR=str(tmp_path))

    assert result.returncode == 1
    assert "pacsweb.E002" in result.stderr
    assert "pacsweb.E001" not in result.stderr


def test_a_request_that_no_guard_saw_reaches_no_study(rf):
    from django.http import HttpResponse

    from apps.accounts.middleware import DenyByDefaultMiddleware

    seen = {}

    def view(request):
        seen["collections"] = getattr(request, "allowed_collections", None)
        seen["uids"] = getattr(request, "allowed_study_uids", None)
        return HttpResponse()

    DenyByDefaultMiddleware(view)(rf.get("/somewhere"))

    assert seen == {"collections": [], "uids": []}


def test_the_rest_api_gives_worklist_to_technologists_and_remote_aes_to_admins(
    client, technologist, archive_admin, clinician
):
    from apps.dimse.models import RemoteAE

    RemoteAE.objects.create(ae_title="CT01", host="10.1.2.3", port=104)
    tech = bearer(make_token(technologist, "read store worklist"))
    admin = bearer(make_token(archive_admin, "admin worklist"))
    clin = bearer(make_token(clinician, "read"))

    assert client.get("/api/worklist/requested-procedures/", **tech).json() == []
    assert client.get("/api/remote-aes/", **tech).status_code == 403
    assert client.get("/api/worklist/requested-procedures/", **clin).status_code == 403
    assert [r["ae_title"] for r in client.get("/api/remote-aes/", **admin).json()] == [
        "CT01"
    ]
    assert client.get("/api/worklist/requested-procedures/", **admin).status_code == 200
