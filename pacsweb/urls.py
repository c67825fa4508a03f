from django.contrib import admin
from django.urls import include, path
from oauth2_provider import urls as oauth2_urls

from apps.accounts import audit, scopes
from apps.accounts.access import guard_patterns
from pacsweb import api, health

OAUTH_ENDPOINTS = {"authorize", "token", "revoke-token", "introspect"}


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
                [p for p in oauth2_urls.base_urlpatterns if p.name in OAUTH_ENDPOINTS],
                "oauth2_provider",
            )
        ),
    ),
    path("", include("apps.accounts.urls")),
    # Browser pages (sign-in, study list, study, upload, viewer).
    path("", include("apps.viewer.urls")),
]
