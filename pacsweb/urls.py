from django.contrib import admin
from django.urls import include, path
from oauth2_provider import urls as oauth2_urls

from pacsweb import health

OAUTH_ENDPOINTS = {"authorize", "token", "revoke-token", "introspect"}

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("dicomweb/", include("apps.dicomweb.urls")),
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
]
