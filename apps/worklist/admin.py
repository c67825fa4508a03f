from django.contrib import admin

from apps.worklist.models import (
    PerformedProcedureStep,
    RequestedProcedure,
    ScheduledProcedureStep,
)


class StepInline(admin.StackedInline):
    model = ScheduledProcedureStep
    extra = 0


@admin.register(RequestedProcedure)
class RequestedProcedureAdmin(admin.ModelAdmin):
    list_display = [
        "accession_number",
        "patient_id",
        "patient_name",
        "requested_procedure_description",
        "study_instance_uid",
    ]
    search_fields = [
        "accession_number",
        "patient_id",
        "patient_name",
        "study_instance_uid",
    ]
    exclude = ["patient_name_norm"]
    inlines = [StepInline]


@admin.register(ScheduledProcedureStep)
class ScheduledProcedureStepAdmin(admin.ModelAdmin):
    list_display = [
        "scheduled_procedure_step_id",
        "scheduled_station_ae_title",
        "modality",
        "start_date",
        "start_time",
        "status",
    ]
    list_filter = ["status", "modality", "scheduled_station_ae_title"]
    search_fields = [
        "scheduled_procedure_step_id",
        "requested_procedure__accession_number",
        "requested_procedure__patient_id",
    ]


@admin.register(PerformedProcedureStep)
class PerformedProcedureStepAdmin(admin.ModelAdmin):
    list_display = [
        "sop_instance_uid",
        "status",
        "modality",
        "performed_station_ae_title",
        "study_instance_uid",
        "updated_at",
    ]
    list_filter = ["status", "modality"]
    readonly_fields = [f.name for f in PerformedProcedureStep._meta.fields]
