"""Personas for access-control tests: users in the shipped groups, tokens.

clinician (read, share), technologist (read, store, worklist),
archive-admin (everything, all collections), outsider (signed in, no group).
"""

import importlib
import secrets
from datetime import timedelta

import pytest
from django.apps import apps as django_apps
from django.contrib.auth.models import Group, User
from django.test import Client
from django.utils import timezone
from oauth2_provider.models import AccessToken, Application

from apps.accounts.models import CollectionGrant
from apps.archive.models import Collection

PASSWORD = "a-long-test-passphrase-91"
# What the guard (apps/accounts/access.py) costs a bearer-token request, in
# SQL statements: the token, the user's and the groups' permissions, the
# collection grants, and the audit INSERT. Constant, whatever the answer.
GUARD_QUERIES = 5
# For a signed-in session: the permissions (two), the grants and the audit
# INSERT; the session and user lookups are Django's own.
SESSION_GUARD_QUERIES = 4


def ensure_groups() -> None:
    """The shipped groups, again: a transactional test's flush removes them."""
    migration = importlib.import_module("apps.accounts.migrations.0002_groups")
    migration.create_groups(django_apps, None)


def make_user(
    username: str, *groups: str, collections: tuple[Collection, ...] = ()
) -> User:
    if groups and not Group.objects.filter(name__in=groups).exists():
        ensure_groups()
    user = User.objects.create_user(username, password=PASSWORD)
    user.groups.add(*Group.objects.filter(name__in=groups))
    for collection in collections:
        CollectionGrant.objects.create(user=user, collection=collection)
    return user


def make_token(
    user: User | None,
    scope: str,
    *,
    application: Application | None = None,
    seconds: int = 3600,
) -> str:
    if application is None:
        application, _ = Application.objects.get_or_create(
            name=f"tests:{user.username if user else 'app'}",
            user=user,
            client_type=Application.CLIENT_CONFIDENTIAL,
            authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        )
    token = secrets.token_urlsafe(24)
    AccessToken.objects.create(
        user=user,
        application=application,
        token=token,
        scope=scope,
        expires=timezone.now() + timedelta(seconds=seconds),
    )
    return token


def bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


@pytest.fixture
def collections(db) -> dict[str, Collection]:
    return {
        name: Collection.objects.create(name=name)
        for name in ("cardiology", "oncology")
    }


@pytest.fixture
def clinician(db, collections) -> User:
    return make_user("clara", "clinician", collections=(collections["cardiology"],))


@pytest.fixture
def technologist(db, collections) -> User:
    return make_user("theo", "technologist", collections=(collections["cardiology"],))


@pytest.fixture
def archive_admin(db) -> User:
    return make_user("ada", "archive-admin")


@pytest.fixture
def outsider(db) -> User:
    return make_user("otto")


def session_client(user: User) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # PBKDF2 takes most of a second per hash on purpose; users and OAuth
    # client secrets are hashed many times over in these tests.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def archive_client(db) -> Client:
    """A test client whose requests carry an archive-admin token (every scope,
    every collection), for tests of what endpoints answer past the guard."""
    user = make_user("archivist", "archive-admin")
    token = make_token(user, "read store delete worklist admin")
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


def grant_everything(user: User) -> User:
    """Make an existing user an archive-admin (every permission, every
    collection), for tests of pages past the guard."""
    ensure_groups()
    user.groups.add(Group.objects.get(name="archive-admin"))
    return user
