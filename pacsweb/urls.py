import functools
from collections.abc import Callable

from django.contrib import admin
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import URLPattern, include, path
from oauth2_provider import urls as oauth2_urls

from apps.accounts import audit, scopes
from apps.accounts.access import guard_patterns
from pacsweb import api, health

OAUTH_ENDPOINTS = {"authorize", "token", "revoke-token", "introspect"}


def _without_nul(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    # django-oauth-toolkit looks a client_id or token up as given, and
    # PostgreSQL refuses a NUL in text: a 500 instead of RFC 6749's 400.
    @functools.wraps(view)
    def guarded(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        values = [v for _, vs in request.GET.lists() for v in vs]
        if request.content_type == "application/x-www-form-urlencoded":
            values += [v for _, vs in request.POST.lists() for v in vs]
        if any("\x00" in value for value in values):
            return JsonResponse(
                {
                    "error": "invalid_request",
                    "error_description": "a parameter holds a NUL character",
                },
                status=400,
            )
        return view(request, *args, **kwargs)

    return guarded


def _api_scope(route: str) -> tuple[str, str]:
    if route.lstrip("^").startswith("worklist/"):
        return scopes.WORKLIST, audit.WORKLIST
    return scopes.ADMIN, audit.DIMSE_ADMIN


urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("dicomweb/", include("apps.dicomweb.urls")),
    # The REST API behind the security guard: worklist routes need the
    # worklist scope, everything else (remote AEs, jobs) DIMSE admin.
    path("api/", include(guard_patterns(api.urlpatterns, _api_scope))),
    # OAuth 2.0: only the protocol endpoints. Applications are managed in
    # the admin, not by self-registration pages.
    path(
        "o/",
        include(
            (
                [
                    URLPattern(
                        p.pattern, _without_nul(p.callback), p.default_args, p.name
                    )
                    for p in oauth2_urls.base_urlpatterns
                    if p.name in OAUTH_ENDPOINTS
                ],
                "oauth2_provider",
            )
        ),
    ),
    path("", include("apps.accounts.urls")),
    # Browser pages (sign-in, study list, study, upload, viewer).
    path("", include("apps.viewer.urls")),
]
