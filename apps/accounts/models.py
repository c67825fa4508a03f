"""Who may reach which studies, and the record of what they did.

Permissions say what a caller may do (read, store, ...; see scopes.py);
collection grants say which studies they may do it to. Both are checked by
the one wrapper in access.py.
"""

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.db.models import Q
from django.utils import timezone
from oauth2_provider.models import Application

from apps.archive.models import Collection


class Capability(models.Model):
    """Carries pacsweb's permissions; it has no table and no rows.

    Django attaches permissions to a model; these belong to no real one.
    """

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [
            ("read_studies", "Search and retrieve studies (QIDO, WADO, viewer)"),
            ("store_studies", "Store studies (STOW, upload)"),
            ("delete_studies", "Delete studies, series and instances"),
            ("manage_worklist", "Manage the worklist and MPPS"),
            ("administer_dimse", "Administer DIMSE and remote AEs"),
            ("share_studies", "Create share links to studies"),
        ]

    def __str__(self) -> str:
        return "capability"


class CollectionGrant(models.Model):
    """Access to one collection (or to all) for a user, group or application."""

    collection = models.ForeignKey(
        Collection,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="grants",
    )
    all_collections = models.BooleanField(
        default=False, help_text="Reach every study, present and future."
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True
    )
    group = models.ForeignKey(Group, on_delete=models.CASCADE, null=True, blank=True)
    application = models.ForeignKey(
        Application, on_delete=models.CASCADE, null=True, blank=True
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                name="grant_has_one_principal",
                condition=(
                    Q(user__isnull=False, group__isnull=True, application__isnull=True)
                    | Q(
                        user__isnull=True, group__isnull=False, application__isnull=True
                    )
                    | Q(
                        user__isnull=True, group__isnull=True, application__isnull=False
                    )
                ),
            ),
            models.CheckConstraint(
                name="grant_has_one_target",
                condition=(
                    Q(collection__isnull=False, all_collections=False)
                    | Q(collection__isnull=True, all_collections=True)
                ),
            ),
        ]

    def __str__(self) -> str:
        principal = self.user or self.group or self.application
        target = "all collections" if self.all_collections else self.collection
        return f"{principal} -> {target}"


class SignInThrottle(models.Model):
    """Recent failed sign-ins for one key ("user:NAME" or "addr:IP")."""

    key = models.CharField(max_length=200, unique=True)
    failures = models.PositiveIntegerField(default=0)
    window_started_at = models.DateTimeField(default=timezone.now)
    locked_until = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.key


class AuditEvent(models.Model):
    """One access to patient data or one change; written once, never edited."""

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    action = models.CharField(max_length=32, db_index=True)
    # "success", "failure" (the operation failed) or "denied" (access refused)
    outcome = models.CharField(max_length=16)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    # Who: the names are copied so the record survives the account.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        db_constraint=False,
    )
    username = models.CharField(max_length=150, blank=True, db_index=True)
    application = models.CharField(max_length=255, blank=True)
    ae_title = models.CharField(max_length=16, blank=True)
    share_link_id = models.BigIntegerField(null=True, blank=True)
    address = models.GenericIPAddressField(null=True, blank=True)
    # What
    resource = models.CharField(max_length=500, blank=True)
    # The first study named is indexed for the admin filter; all are kept.
    study_uid = models.CharField(max_length=64, blank=True, db_index=True)
    study_uids = models.TextField(blank=True)
    patient_id = models.CharField(max_length=64, blank=True, db_index=True)
    query = models.TextField(blank=True)
    detail = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at"], name="audit_user_idx")]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.action} {self.outcome}"


class ShareLink(models.Model):
    """A read-only, expiring, revocable link to one study."""

    # Only a SHA-256 of the token is kept: a database leak gives no links.
    token_sha256 = models.CharField(max_length=64, unique=True)
    study_instance_uid = models.CharField(max_length=64, db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="share_links"
    )
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"share {self.pk} of {self.study_instance_uid}"

    def is_active(self) -> bool:
        return self.revoked_at is None and timezone.now() < self.expires_at
