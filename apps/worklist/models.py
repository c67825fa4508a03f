"""Modality Worklist and Modality Performed Procedure Step.

A RequestedProcedure (with its patient and imaging service request) has one
or more ScheduledProcedureSteps; each SPS is one worklist item (PS3.4 K.6).
Columns hold the keys the worklist is matched on and the return keys of
PS3.4 Table K.6-1; anything else a loaded dataset carried is kept as DICOM
JSON (`extra_json`) and returned when asked for.
"""

from django.db import models

from apps.archive.text import fold


class RequestedProcedure(models.Model):
    # Patient (PS3.4 K.6-1, Patient Identification / Demographic)
    patient_name = models.CharField(max_length=324, blank=True)
    patient_name_norm = models.CharField(max_length=324, blank=True, db_index=True)
    patient_id = models.CharField(max_length=64, blank=True, db_index=True)
    issuer_of_patient_id = models.CharField(max_length=64, blank=True)
    patient_birth_date = models.CharField(max_length=8, blank=True)
    patient_sex = models.CharField(max_length=16, blank=True)
    # Imaging Service Request
    accession_number = models.CharField(max_length=16, blank=True, db_index=True)
    referring_physician_name = models.CharField(max_length=324, blank=True)
    requesting_physician = models.CharField(max_length=324, blank=True)
    # Visit
    admission_id = models.CharField(max_length=64, blank=True)
    # Requested Procedure
    requested_procedure_id = models.CharField(max_length=16, blank=True)
    requested_procedure_description = models.CharField(max_length=64, blank=True)
    requested_procedure_priority = models.CharField(max_length=16, blank=True)
    study_instance_uid = models.CharField(max_length=64, unique=True)
    # Other attributes of the request (codes, allergies, …) as DICOM JSON.
    extra_json = models.JSONField(default=dict, blank=True)
    specific_character_set = models.CharField(max_length=128, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.accession_number or self.requested_procedure_id} {self.patient_name}"

    def save(self, *args, **kwargs) -> None:
        # Admin, REST and the loader all save through here, so the folded
        # twin can never go stale.
        self.patient_name_norm = fold(self.patient_name)
        super().save(*args, **kwargs)


class ScheduledProcedureStep(models.Model):
    """One worklist item."""

    class Status(models.TextChoices):
        # PS3.3 C.4.10 Scheduled Procedure Step Status defined terms.
        SCHEDULED = "SCHEDULED"
        ARRIVED = "ARRIVED"
        READY = "READY"
        STARTED = "STARTED"
        COMPLETED = "COMPLETED"
        DISCONTINUED = "DISCONTINUED"

    # Items in these states have left the worklist (IHE SWF: a modality
    # should not be offered a step that was already performed).
    CLOSED = (Status.COMPLETED, Status.DISCONTINUED)

    requested_procedure = models.ForeignKey(
        RequestedProcedure, on_delete=models.CASCADE, related_name="steps"
    )
    scheduled_procedure_step_id = models.CharField(max_length=16, blank=True)
    scheduled_station_ae_title = models.CharField(
        max_length=16, blank=True, db_index=True
    )
    scheduled_station_name = models.CharField(max_length=16, blank=True)
    scheduled_procedure_step_location = models.CharField(max_length=16, blank=True)
    # YYYYMMDD and HHMMSS.FFFFFF (apps.archive.text), so ranges compare as text.
    start_date = models.CharField(max_length=8, blank=True, db_index=True)
    start_time = models.CharField(max_length=13, blank=True)
    modality = models.CharField(max_length=16, blank=True, db_index=True)
    scheduled_performing_physician_name = models.CharField(max_length=324, blank=True)
    description = models.CharField(max_length=64, blank=True)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.SCHEDULED
    )
    extra_json = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["start_date", "start_time", "id"]
        indexes = [
            models.Index(fields=["status", "start_date"], name="sps_status_date_idx")
        ]

    def __str__(self) -> str:
        return f"{self.scheduled_procedure_step_id} {self.modality} {self.start_date} ({self.status})"


class PerformedProcedureStep(models.Model):
    """A Modality Performed Procedure Step (PS3.4 F.7, PS3.3 C.4.13-C.4.16)."""

    class Status(models.TextChoices):
        IN_PROGRESS = "IN PROGRESS"
        COMPLETED = "COMPLETED"
        DISCONTINUED = "DISCONTINUED"

    FINAL = (Status.COMPLETED, Status.DISCONTINUED)

    sop_instance_uid = models.CharField(max_length=64, unique=True)
    status = models.CharField(max_length=16, choices=Status.choices)
    scheduled_step = models.ForeignKey(
        ScheduledProcedureStep,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="performed_steps",
    )
    # The study the procedure produced; its images may arrive later than
    # the MPPS, so this is a UID, resolved against the archive on demand.
    study_instance_uid = models.CharField(max_length=64, blank=True, db_index=True)
    performed_station_ae_title = models.CharField(max_length=16, blank=True)
    modality = models.CharField(max_length=16, blank=True)
    start_date = models.CharField(max_length=8, blank=True)
    start_time = models.CharField(max_length=13, blank=True)
    end_date = models.CharField(max_length=8, blank=True)
    end_time = models.CharField(max_length=13, blank=True)
    calling_ae_title = models.CharField(max_length=16, blank=True)
    # The full attribute set as DICOM JSON, as created and then updated.
    attributes_json = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "performed procedure step"

    def __str__(self) -> str:
        return f"{self.sop_instance_uid} ({self.status})"

    @property
    def study(self):
        from apps.archive.models import Study

        return Study.objects.filter(study_instance_uid=self.study_instance_uid).first()
