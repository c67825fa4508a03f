"""Admin for grants, share links, lockouts, the audit trail, and collections.

The audit trail is read-only here: nobody, superusers included, edits or
deletes an event through the admin.
"""

from django.contrib import admin
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from apps.accounts import share
from apps.accounts.models import AuditEvent, CollectionGrant, ShareLink, SignInThrottle
from apps.archive.models import Collection, CollectionRule, Study
from apps.archive.text import fold


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "action",
        "outcome",
        "username",
        "application",
        "ae_title",
        "address",
        "study_uid",
        "patient_id",
    )
    list_filter = (
        "action",
        "outcome",
        "created_at",
        ("user", admin.RelatedOnlyFieldListFilter),
    )
    date_hierarchy = "created_at"
    search_fields = (
        "username",
        "study_uid",
        "patient_id",
        "address",
        "ae_title",
        "application",
    )
    list_select_related = ()
    show_full_result_count = False

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ):
        found, may_have_duplicates = super().get_search_results(
            request, queryset, search_term
        )
        term = search_term.strip()
        if term:
            # Filter by patient: events name studies; the patient is looked
            # up here, at read time, so writing an event never does it.
            studies = Study.objects.filter(
                Q(patient__patient_id=term)
                | Q(patient__patient_name_norm__contains=fold(term))
            ).values("study_instance_uid")
            found = found | queryset.filter(study_uid__in=studies)
        return found, may_have_duplicates

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(CollectionGrant)
class CollectionGrantAdmin(admin.ModelAdmin):
    list_display = (
        "__str__",
        "collection",
        "all_collections",
        "user",
        "group",
        "application",
    )
    list_filter = ("all_collections", "collection")
    autocomplete_fields = ("user",)


@admin.register(ShareLink)
class ShareLinkAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "study_instance_uid",
        "created_by",
        "created_at",
        "expires_at",
        "revoked_at",
    )
    list_filter = ("revoked_at",)
    search_fields = ("study_instance_uid", "created_by__username")
    readonly_fields = ("token_sha256", "study_instance_uid", "created_by", "created_at")
    actions = ("revoke",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Links are created through the API, which shows the token once.
        return False

    @admin.action(description="Revoke the selected links")
    def revoke(self, request: HttpRequest, queryset: QuerySet) -> None:
        for link in queryset:
            share.revoke(link)


@admin.register(SignInThrottle)
class SignInThrottleAdmin(admin.ModelAdmin):
    list_display = ("key", "failures", "window_started_at", "locked_until")
    search_fields = ("key",)
    actions = ("unlock",)

    @admin.action(description="Unlock the selected keys")
    def unlock(self, request: HttpRequest, queryset: QuerySet) -> None:
        queryset.update(locked_until=None, failures=0, window_started_at=timezone.now())


# Collections live in the archive, which imports no other app; their
# admin is registered here, next to the grants that give them meaning.
if not admin.site.is_registered(Collection):

    @admin.register(Collection)
    class CollectionAdmin(admin.ModelAdmin):
        list_display = ("name", "description", "retention_days")
        search_fields = ("name",)


if not admin.site.is_registered(CollectionRule):

    @admin.register(CollectionRule)
    class CollectionRuleAdmin(admin.ModelAdmin):
        list_display = (
            "__str__",
            "collection",
            "source_ae_title",
            "institution_name",
            "issuer_of_patient_id",
        )
        list_filter = ("collection",)


if not admin.site.is_registered(Study):

    @admin.register(Study)
    class StudyCollectionsAdmin(admin.ModelAdmin):
        """Studies are shown to assign collections; DICOM data is not edited here."""

        list_display = (
            "study_instance_uid",
            "patient",
            "study_date",
            "study_description",
            "number_of_instances",
        )
        search_fields = (
            "study_instance_uid",
            "accession_number",
            "patient__patient_id",
        )
        list_filter = ("collections",)
        filter_horizontal = ("collections",)
        fields = (
            "study_instance_uid",
            "patient",
            "study_date",
            "study_description",
            "collections",
        )
        readonly_fields = (
            "study_instance_uid",
            "patient",
            "study_date",
            "study_description",
        )
        list_select_related = ("patient",)
        actions = None

        def has_add_permission(self, request: HttpRequest) -> bool:
            return False

        def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
            # Deleting goes through apps/archive/deletion.py, which also
            # removes the files and corrects the counters.
            return False
