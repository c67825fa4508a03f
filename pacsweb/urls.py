from django.contrib import admin
from django.urls import include, path

from pacsweb import health

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("dicomweb/", include("apps.dicomweb.urls")),
    path("api/", include("pacsweb.api")),
    # Browser pages (sign-in, study list, study, upload, viewer).
    path("", include("apps.viewer.urls")),
]
