"""The /api/ root: one router for every app's REST views, and its schema."""

from django.urls import include, path
from rest_framework.renderers import JSONOpenAPIRenderer
from rest_framework.routers import DefaultRouter
from rest_framework.schemas import get_schema_view

from apps.dimse.api import JobViewSet, RemoteAEViewSet
from apps.worklist.api import (
    PerformedProcedureStepViewSet,
    RequestedProcedureViewSet,
    ScheduledProcedureStepViewSet,
)

router = DefaultRouter()
router.register("remote-aes", RemoteAEViewSet)
router.register("jobs", JobViewSet)
router.register("worklist/requested-procedures", RequestedProcedureViewSet)
router.register("worklist/scheduled-steps", ScheduledProcedureStepViewSet)
router.register("worklist/performed-steps", PerformedProcedureStepViewSet)

schema_view = get_schema_view(
    title="pacsweb API",
    description="Remote AEs, DIMSE jobs, worklist and performed procedure steps.",
    version="1",
    renderer_classes=[JSONOpenAPIRenderer],
)

urlpatterns = [
    path("schema/", schema_view, name="api-schema"),
    path("", include(router.urls)),
]
