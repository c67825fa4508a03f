"""REST API for remote AEs and jobs (/api/remote-aes/, /api/jobs/).

Permissions are DRF's defaults (settings.REST_FRAMEWORK), so the access
layer tightens them in one place; the views stay plain model views.
"""

from django.db import transaction
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from apps.dimse import jobs
from apps.dimse.models import Job, RemoteAE


class RemoteAESerializer(serializers.ModelSerializer):
    class Meta:
        model = RemoteAE
        fields = [
            "id",
            "ae_title",
            "host",
            "port",
            "description",
            "allow_store",
            "allow_query",
            "allow_retrieve",
            "allow_worklist",
            "allow_mpps",
            "is_move_destination",
            "use_tls",
            "certificate_name",
            "all_collections",
            "collections",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]


class JobSerializer(serializers.ModelSerializer):
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    remote_ae = serializers.SlugRelatedField(
        slug_field="ae_title",
        queryset=RemoteAE.objects.all(),
        required=False,
        allow_null=True,
    )

    class Meta:
        model = Job
        fields = ["id", *Job.REQUEST_FIELDS, *Job.PROGRESS_FIELDS]
        read_only_fields = list(Job.PROGRESS_FIELDS)

    def validate(self, attrs: dict) -> dict:
        try:
            jobs.validate_parameters(
                attrs["kind"], attrs.get("remote_ae"), attrs.get("parameters") or {}
            )
        except jobs.JobError as exc:
            raise serializers.ValidationError({"parameters": str(exc)}) from None
        return attrs


class RemoteAEViewSet(viewsets.ModelViewSet):
    queryset = RemoteAE.objects.all()
    serializer_class = RemoteAESerializer


class JobViewSet(
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Jobs are created here and then only read or cancelled."""

    queryset = Job.objects.select_related("remote_ae", "requested_by")
    serializer_class = JobSerializer

    def perform_create(self, serializer: JobSerializer) -> None:
        user = self.request.user if self.request.user.is_authenticated else None
        job = serializer.save(requested_by=user)
        # The worker must see the committed row.
        transaction.on_commit(lambda: jobs.enqueue(job))

    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        job = jobs.request_cancel(self.get_object())
        return Response(self.get_serializer(job).data, status=status.HTTP_202_ACCEPTED)
