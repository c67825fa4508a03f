"""REST API for worklist items (/api/worklist/…) and performed steps."""

from rest_framework import serializers, viewsets

from apps.worklist.models import (
    PerformedProcedureStep,
    RequestedProcedure,
    ScheduledProcedureStep,
)


class ScheduledProcedureStepSerializer(serializers.ModelSerializer):
    class Meta:
        model = ScheduledProcedureStep
        exclude = ["created_at", "updated_at"]


class NestedStepSerializer(serializers.ModelSerializer):
    class Meta:
        model = ScheduledProcedureStep
        exclude = ["requested_procedure", "created_at", "updated_at"]


class RequestedProcedureSerializer(serializers.ModelSerializer):
    steps = NestedStepSerializer(many=True, read_only=True)

    class Meta:
        model = RequestedProcedure
        exclude = ["patient_name_norm", "created_at"]


class PerformedProcedureStepSerializer(serializers.ModelSerializer):
    class Meta:
        model = PerformedProcedureStep
        fields = "__all__"


class RequestedProcedureViewSet(viewsets.ModelViewSet):
    queryset = RequestedProcedure.objects.prefetch_related("steps").order_by("id")
    serializer_class = RequestedProcedureSerializer


class ScheduledProcedureStepViewSet(viewsets.ModelViewSet):
    queryset = ScheduledProcedureStep.objects.all()
    serializer_class = ScheduledProcedureStepSerializer


class PerformedProcedureStepViewSet(viewsets.ReadOnlyModelViewSet):
    """MPPS are written by modalities over DIMSE; the API only shows them."""

    queryset = PerformedProcedureStep.objects.order_by("-created_at")
    serializer_class = PerformedProcedureStepSerializer
    lookup_field = "sop_instance_uid"
    lookup_value_regex = r"[0-9.]+"
