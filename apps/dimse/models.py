"""Peers on the DICOM network and the background jobs that talk to them."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from apps.archive.models import Collection


def validate_ae_title(value: str) -> None:
    # PS3.5 6.2: AE is at most 16 characters of the default repertoire,
    # without backslash or control characters; leading/trailing spaces
    # are not significant.
    stripped = value.strip()
    if not stripped or len(value) > 16:
        raise ValidationError("an AE title has 1 to 16 characters")
    if "\\" in value or any(not 0x20 <= ord(ch) < 0x7F for ch in value):
        raise ValidationError(
            "an AE title may not hold backslashes or control characters"
        )


class RemoteAE(models.Model):
    """A DICOM application entity pacsweb knows, and what it may ask for."""

    ae_title = models.CharField(
        max_length=16, unique=True, validators=[validate_ae_title]
    )
    host = models.CharField(max_length=255)
    port = models.PositiveIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(65535)]
    )
    description = models.TextField(blank=True)
    allow_store = models.BooleanField(
        default=True, help_text="may send us instances (C-STORE)"
    )
    allow_query = models.BooleanField(default=True, help_text="may query (C-FIND)")
    allow_retrieve = models.BooleanField(
        default=True, help_text="may retrieve (C-MOVE, C-GET)"
    )
    allow_worklist = models.BooleanField(
        default=True, help_text="may query the worklist"
    )
    allow_mpps = models.BooleanField(
        default=True, help_text="may send MPPS N-CREATE/N-SET"
    )
    is_move_destination = models.BooleanField(
        default=True, help_text="C-MOVE requests may name this AE as destination"
    )
    use_tls = models.BooleanField(
        default=False,
        help_text="our associations to this AE use DICOM TLS (jobs and C-MOVE)",
    )
    certificate_name = models.CharField(
        max_length=255,
        blank=True,
        help_text=(
            "when set, this AE may associate only over DICOM TLS with a client "
            "certificate whose common name or a DNS/URI subject alternative name "
            "is this (known calling AEs required)"
        ),
    )
    # Collection scoping (docs/security.md, "DIMSE TLS and calling AEs"): a
    # flag rather than "no collections means all", so that deleting an AE's
    # last collection narrows its reach instead of widening it.
    all_collections = models.BooleanField(
        default=True, help_text="reaches every study, present and future"
    )
    collections = models.ManyToManyField(
        Collection,
        blank=True,
        related_name="remote_aes",
        help_text=(
            "without 'all collections': C-FIND, C-MOVE and C-GET see only "
            "these; C-STORE puts arriving studies into them"
        ),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["ae_title"]
        verbose_name = "remote AE"

    OPERATIONS = ("store", "query", "retrieve", "worklist", "mpps")

    def __str__(self) -> str:
        return f"{self.ae_title}@{self.host}:{self.port}"

    def allows(self, operation: str) -> bool:
        if operation not in self.OPERATIONS:
            raise ValueError(f"unknown operation {operation!r}")
        return bool(getattr(self, f"allow_{operation}"))

    def reach(self) -> list[int] | None:
        """Its collections for archive reads; None: every study."""
        if self.all_collections:
            return None
        return sorted(self.collections.values_list("pk", flat=True))

    @property
    def operations(self) -> list[str]:
        return [op for op in self.OPERATIONS if self.allows(op)]


class Job(models.Model):
    """One piece of SCU work run as a Celery task, and what came of it."""

    class Kind(models.TextChoices):
        ECHO = "echo", "C-ECHO"
        STORE = "store", "send (C-STORE)"
        FIND = "find", "query (C-FIND)"
        MOVE = "move", "retrieve by C-MOVE"
        GET = "get", "retrieve by C-GET"
        WORKLIST = "worklist", "worklist query"
        MPPS_CREATE = "mpps_create", "MPPS N-CREATE"
        MPPS_SET = "mpps_set", "MPPS N-SET"

    class State(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        RETRYING = "retrying"
        SUCCEEDED = "succeeded"
        # Some sub-operations failed; the others went through.
        PARTIAL = "partial"
        FAILED = "failed"
        CANCELLED = "cancelled"

    FINAL_STATES = (State.SUCCEEDED, State.PARTIAL, State.FAILED, State.CANCELLED)
    # What a requester sets, and what the worker writes as the job runs: the
    # admin shows both read-only, the REST API lets clients set only the first.
    REQUEST_FIELDS = ("kind", "remote_ae", "requested_by", "parameters")
    PROGRESS_FIELDS = (
        "state",
        "progress_done",
        "progress_total",
        "errors",
        "result",
        "message",
        "attempts",
        "cancel_requested",
        "created_at",
        "started_at",
        "ended_at",
    )

    kind = models.CharField(max_length=16, choices=Kind.choices)
    remote_ae = models.ForeignKey(
        RemoteAE, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    parameters = models.JSONField(default=dict, blank=True)
    state = models.CharField(
        max_length=16, choices=State.choices, default=State.PENDING
    )
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    # [{"sop_instance_uid": ..., "reason": ...}], one entry per failed instance.
    errors = models.JSONField(default=list, blank=True)
    result = models.JSONField(default=dict, blank=True)
    message = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    cancel_requested = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["state", "created_at"], name="job_state_idx")]

    def __str__(self) -> str:
        return f"job {self.pk} {self.kind} {self.state}"

    @property
    def is_final(self) -> bool:
        return self.state in self.FINAL_STATES


class ForwardRule(models.Model):
    """Auto-routing: instances that arrive and match are sent on to an AE.

    Every condition that is set must hold (source AE, modality, collection);
    a rule with none forwards everything. Instances wait `delay_seconds`
    so that a study arriving over a minute goes out as a few jobs, not one
    per instance (apps/dimse/forwarding.py).
    """

    name = models.CharField(max_length=64, unique=True)
    enabled = models.BooleanField(default=True)
    destination = models.ForeignKey(
        RemoteAE, on_delete=models.CASCADE, related_name="forward_rules"
    )
    source_ae_title = models.CharField(
        max_length=16,
        blank=True,
        help_text="only instances received from this calling AE (C-STORE)",
    )
    modality = models.CharField(
        max_length=16, blank=True, help_text="only series of this modality"
    )
    collection = models.ForeignKey(
        Collection,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        help_text="only studies of this collection",
    )
    delay_seconds = models.PositiveIntegerField(
        default=30, help_text="wait this long to gather a study's instances"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} → {self.destination.ae_title}"


class PendingForward(models.Model):
    """An instance a rule will send once due; removed when its job is made."""

    rule = models.ForeignKey(ForwardRule, on_delete=models.CASCADE)
    sop_instance_uid = models.CharField(max_length=64)
    due_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "sop_instance_uid"], name="pending_forward_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.sop_instance_uid} by {self.rule_id} at {self.due_at}"
