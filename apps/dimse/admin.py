from django.contrib import admin

from apps.dimse.models import ForwardRule, Job, PendingForward, RemoteAE


@admin.register(RemoteAE)
class RemoteAEAdmin(admin.ModelAdmin):
    list_display = [
        "ae_title",
        "host",
        "port",
        "use_tls",
        "operation_list",
        "is_move_destination",
        "all_collections",
    ]
    filter_horizontal = ["collections"]
    search_fields = ["ae_title", "host", "description"]
    list_filter = [
        "is_move_destination",
        "allow_query",
        "allow_retrieve",
        "allow_worklist",
        "use_tls",
        "all_collections",
    ]

    @admin.display(description="operations")
    def operation_list(self, obj: RemoteAE) -> str:
        return ", ".join(obj.operations)


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "kind",
        "remote_ae",
        "state",
        "progress",
        "requested_by",
        "created_at",
        "ended_at",
    ]
    list_filter = ["kind", "state"]
    readonly_fields = [*Job.REQUEST_FIELDS, *Job.PROGRESS_FIELDS]
    actions = ["cancel"]

    @admin.display(description="progress")
    def progress(self, obj: Job) -> str:
        return f"{obj.progress_done}/{obj.progress_total}"

    @admin.action(description="Cancel the selected jobs")
    def cancel(self, request, queryset) -> None:
        from apps.dimse import jobs

        for job in queryset:
            jobs.request_cancel(job)


@admin.register(ForwardRule)
class ForwardRuleAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "enabled",
        "destination",
        "source_ae_title",
        "modality",
        "collection",
        "delay_seconds",
        "waiting",
    ]
    list_filter = ["enabled", "destination"]
    search_fields = ["name", "destination__ae_title"]

    @admin.display(description="instances waiting")
    def waiting(self, obj: ForwardRule) -> int:
        return PendingForward.objects.filter(rule=obj).count()
