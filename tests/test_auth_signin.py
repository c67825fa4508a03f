from datetime import timedelta

import pytest
from django.contrib.auth import authenticate
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import RequestFactory
from django.utils import timezone
from oauth2_provider.models import AccessToken

from apps.accounts.models import AuditEvent, SignInThrottle
from tests.personas import PASSWORD, bearer

pytestmark = pytest.mark.django_db


def _try(password: str, address: str = "192.0.2.20", username: str = "clara"):
    request = RequestFactory().post("/accounts/login/", REMOTE_ADDR=address)
    return authenticate(request, username=username, password=password)


def test_a_flood_of_failed_sign_ins_locks_the_account(clinician, settings):
    settings.PACSWEB_SIGNIN_MAX_FAILURES = 5

    for attempt in range(5):
        assert _try(f"guess-{attempt}") is None
    locked = _try(PASSWORD)

    assert locked is None
    row = SignInThrottle.objects.get(key="user:clara")
    assert (
        timedelta(minutes=14)
        < row.locked_until - timezone.now()
        <= timedelta(minutes=15)
    )
    events = list(AuditEvent.objects.order_by("id").values_list("action", "detail"))
    assert events[:5] == [("sign-in-failed", "wrong user name or password")] * 5
    assert events[5] == ("sign-in-failed", "account or address locked")


def test_the_lockout_ends_after_its_period(clinician, settings):
    settings.PACSWEB_SIGNIN_MAX_FAILURES = 3
    for attempt in range(3):
        _try(f"guess-{attempt}")
    SignInThrottle.objects.update(locked_until=timezone.now() - timedelta(seconds=1))

    user = _try(PASSWORD)

    assert user == clinician


def test_one_address_guessing_many_names_is_locked_too(clinician, settings):
    settings.PACSWEB_SIGNIN_MAX_FAILURES = 10
    settings.PACSWEB_SIGNIN_MAX_FAILURES_PER_ADDRESS = 4
    for name in ("alice", "bob", "carol", "dave"):
        _try("password1", address="198.51.100.66", username=name)

    from_that_address = _try(PASSWORD, address="198.51.100.66")
    from_elsewhere = _try(PASSWORD, address="198.51.100.67")

    assert from_that_address is None
    assert from_elsewhere == clinician


def test_colleagues_behind_one_nat_are_not_locked_out_by_a_few_typos(
    clinician, settings
):
    # A ward shares one address; five people mistyping once each must not
    # lock out the sixth, who types the right password.
    settings.PACSWEB_SIGNIN_MAX_FAILURES = 5
    settings.PACSWEB_SIGNIN_MAX_FAILURES_PER_ADDRESS = 50
    for name in ("alice", "bob", "carol", "dave", "erin", "frank"):
        _try("typo", address="203.0.113.9", username=name)

    assert _try(PASSWORD, address="203.0.113.9") == clinician
    row = SignInThrottle.objects.get(key="addr:203.0.113.9")
    assert (row.failures, row.locked_until) == (6, None)


def test_failures_during_a_lockout_do_not_extend_it(clinician, settings):
    settings.PACSWEB_SIGNIN_MAX_FAILURES = 2
    _try("a")
    _try("b")
    until = SignInThrottle.objects.get(key="user:clara").locked_until

    _try("c")
    _try("d")

    assert SignInThrottle.objects.get(key="user:clara").locked_until == until


def test_a_successful_sign_in_clears_the_counter(clinician):
    from django.contrib.auth import login
    from django.contrib.sessions.backends.db import SessionStore

    _try("wrong-1")
    request = RequestFactory().post("/accounts/login/", REMOTE_ADDR="192.0.2.20")
    request.session = SessionStore()
    login(request, _try(PASSWORD))

    assert not SignInThrottle.objects.filter(key="user:clara").exists()


# Management commands


def test_issue_token_prints_a_token_with_every_scope_the_user_may_use(
    client, technologist, capsys
):
    call_command("issue_token", "theo")

    token = capsys.readouterr().out.strip()
    row = AccessToken.objects.get()
    assert row.token == token
    assert sorted(row.scope.split()) == ["read", "store", "worklist"]
    assert row.user == technologist
    assert row.application.name == "issue_token:theo"
    assert (
        client.get("/api/share-links", **bearer(token)).status_code == 403
    )  # no share permission
    assert client.get("/dicomweb/studies", **bearer(token)).status_code not in (
        401,
        403,
    )


def test_issue_token_reuses_the_application_and_narrows_scopes(technologist, capsys):
    call_command("issue_token", "theo", "--scope", "read")
    call_command("issue_token", "theo", "--scope", "read store")

    tokens = AccessToken.objects.order_by("id")
    assert [t.scope for t in tokens] == ["read", "read store"]
    assert tokens[0].application_id == tokens[1].application_id


def test_issue_token_refuses_scopes_the_user_lacks(technologist):
    with pytest.raises(CommandError, match="theo may not use scope\\(s\\): delete"):
        call_command("issue_token", "theo", "--scope", "read delete")
    with pytest.raises(CommandError, match="unknown scope\\(s\\): everything"):
        call_command("issue_token", "theo", "--scope", "everything")
    with pytest.raises(CommandError, match="no active user 'nobody'"):
        call_command("issue_token", "nobody")


def test_ensure_admin_creates_the_admin_once_and_prints_the_password(
    capsys, monkeypatch
):
    monkeypatch.delenv("PACSWEB_ADMIN_PASSWORD", raising=False)

    call_command("ensure_admin")
    first = capsys.readouterr().out
    call_command("ensure_admin")
    second = capsys.readouterr().out

    password = first.split("with password: ")[1].split("\n")[0]
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff
    assert admin.check_password(password)
    assert len(password) >= 20
    assert second == ""


def test_ensure_admin_takes_the_password_from_the_environment(capsys, monkeypatch):
    monkeypatch.setenv("PACSWEB_ADMIN_PASSWORD", "correct-horse-battery-staple-7")

    call_command("ensure_admin")

    assert User.objects.get(username="admin").check_password(
        "correct-horse-battery-staple-7"
    )
    assert "correct-horse" not in capsys.readouterr().out


def test_ensure_admin_refuses_a_weak_password_from_the_environment(monkeypatch):
    monkeypatch.setenv("PACSWEB_ADMIN_PASSWORD", "12345678")

    with pytest.raises(CommandError, match="too weak"):
        call_command("ensure_admin")
    assert not User.objects.exists()
