"""Every URL of the project refuses callers without credentials or rights.

The patterns are enumerated from the URL conf, so an endpoint added later
is covered without anyone remembering to list it here.
"""

import re

import pytest
from django.conf import settings
from django.urls import URLPattern, URLResolver, get_resolver

from tests.personas import bearer, make_token, make_user

pytestmark = pytest.mark.django_db

# Reachable without an account on purpose.
PUBLIC_PREFIXES = ("healthz", "static/", "o/", "accounts/login/", "accounts/logout/")
PUBLIC_PATTERNS = {"share/<str:token>"}
# Django admin has its own sign-in (checked below, not 401).
ADMIN_PREFIX = "admin/"

SAMPLE_VALUES = {
    "study": "1.2.840.99.1",
    "study_uid": "1.2.840.99.1",
    "series": "1.2.840.99.1.1",
    "instance": "1.2.840.99.1.1.1",
    "tag_path": "7FE00010",
    "frames": "1",
}
METHODS = ("get", "post", "put", "delete")
CONVERTER = re.compile(r"<(?:(?P<conv>[^>:]+):)?(?P<name>[^>]+)>")


def _routes(patterns, prefix=""):
    for entry in patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _routes(entry.url_patterns, route)
        elif isinstance(entry, URLPattern):
            yield route


REGEX_GROUP = re.compile(r"\(\?P<(?P<name>\w+)>[^)]*\)")


def _url(route: str) -> str:
    """A concrete URL for a route, with plausible values in its parameters."""

    def value(match: re.Match) -> str:
        conv = match.groupdict().get("conv")
        if conv == "drf_format_suffix":
            return ".json"
        if match["name"] == "format":
            return "json"
        if conv == "int" or match["name"] == "pk":
            return "1"
        return SAMPLE_VALUES.get(match["name"], "1.2.3")

    # Regex routes (DRF routers): fill the groups, drop the anchors.
    url = REGEX_GROUP.sub(value, route)
    url = CONVERTER.sub(value, url)
    url = url.replace("^", "").replace("$", "").replace("/?", "/").replace("\\.", ".")
    return "/" + url


def protected_routes() -> list[str]:
    routes = []
    for route in _routes(get_resolver().url_patterns):
        if (
            route.startswith(ADMIN_PREFIX)
            or route.startswith(PUBLIC_PREFIXES)
            or route in PUBLIC_PATTERNS
        ):
            continue
        routes.append(route)
    return sorted(set(routes))


def test_the_enumeration_finds_the_dicomweb_and_api_routes():
    routes = protected_routes()

    assert "dicomweb/studies" in routes
    assert (
        "dicomweb/studies/<str:study>/series/<str:series>/instances/<str:instance>/bulkdata/<path:tag_path>"
        in routes
    )
    assert "api/share-links" in routes
    assert len(routes) >= 15


@pytest.mark.parametrize("route", protected_routes())
def test_it_refuses_a_caller_without_credentials(client, route):
    url = _url(route)

    answers = {method: getattr(client, method)(url) for method in METHODS}

    refused = {m: r for m, r in answers.items() if r.status_code != 405}
    assert refused, f"{url}: every method answered 405"
    for method, response in refused.items():
        if response.status_code == 302:
            # An HTML page: the browser is sent to sign in.
            assert response["Location"].startswith(settings.LOGIN_URL), (method, url)
        else:
            assert response.status_code == 401, (method, url, response.status_code)
            assert response["WWW-Authenticate"] == 'Bearer realm="pacsweb"'
            assert response.json() == {
                "status": 401,
                "reason": "authentication required",
            }


@pytest.mark.parametrize("route", protected_routes())
def test_it_refuses_a_token_without_the_scope_or_the_permission(client, route):
    url = _url(route)
    superuser = make_user("root")
    superuser.is_superuser = True
    superuser.save()
    no_scope = make_token(superuser, "")
    no_permission = make_token(make_user("nobody"), "read store delete worklist admin")

    for token in (no_scope, no_permission):
        answers = {
            method: getattr(client, method)(url, **bearer(token)) for method in METHODS
        }

        refused = {m: r for m, r in answers.items() if r.status_code != 405}
        assert refused
        for method, response in refused.items():
            assert response.status_code == 403, (method, url, response.status_code)
            assert 'error="insufficient_scope"' in response["WWW-Authenticate"]


def test_an_invalid_token_gets_401_with_invalid_token(client):
    response = client.get("/dicomweb/studies", **bearer("not-a-token"))

    assert response.status_code == 401
    assert (
        response["WWW-Authenticate"] == 'Bearer realm="pacsweb", error="invalid_token"'
    )


def test_basic_authorization_is_not_accepted(client):
    response = client.get(
        "/dicomweb/studies", HTTP_AUTHORIZATION="Basic YWRtaW46YWRtaW4="
    )

    assert response.status_code == 401
    assert (
        response["WWW-Authenticate"]
        == 'Bearer realm="pacsweb", error="invalid_request"'
    )


def test_admin_sends_a_caller_without_a_staff_session_to_its_sign_in(client):
    response = client.get("/admin/accounts/auditevent/")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_a_refusal_does_not_tell_whether_the_study_exists(client, tmp_path):
    from apps.archive.ingest import ingest_file
    from tests.conftest import sample
    from tests.security_samples import CT_STUDY

    ingest_file(sample("CT_small.dcm"))

    existing = client.get(f"/dicomweb/studies/{CT_STUDY}/metadata")
    missing = client.get("/dicomweb/studies/1.2.840.99.404/metadata")

    assert existing.status_code == missing.status_code == 401
    assert existing.content == missing.content
