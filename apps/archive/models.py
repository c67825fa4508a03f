"""The archive schema: Patient -> Study -> Series -> Instance.

Columns hold the attributes QIDO-RS (PS3.18 10.6.1.2) and C-FIND (PS3.4 C.6)
match on, each matching key indexed. Text that is matched case-insensitively
has a `*_norm` twin, folded once at ingest (see apps/archive/text.py), so
queries compare folded text with plain equality or LIKE on an index.
The attributes a level returns are kept as prepared DICOM JSON text.
"""

from django.core.validators import MinValueValidator
from django.db import models


class Collection(models.Model):
    """A named set of studies that access is granted on (apps/accounts)."""

    name = models.CharField(max_length=64, unique=True)
    description = models.TextField(blank=True)
    retention_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        # 0 would read as "delete at once"; PACSWEB_RETENTION_DAYS=0 means
        # "for ever". One meaning only: at least a day, or empty.
        validators=[MinValueValidator(1)],
        help_text=(
            "studies of this collection are deleted this many days after their "
            "Study Date, counted at the earliest from their first reception here; "
            "empty: kept for ever. A study in several collections is kept as long "
            "as the longest says."
        ),
    )

    def __str__(self) -> str:
        return self.name


class Patient(models.Model):
    # Identity is PatientID within its issuer (PS3.3 C.7.1.1); both may be
    # empty, in which case all such instances share one anonymous patient.
    patient_id = models.CharField(max_length=64, blank=True)
    issuer_of_patient_id = models.CharField(max_length=64, blank=True)
    patient_name = models.CharField(max_length=324, blank=True)
    patient_name_norm = models.CharField(max_length=324, blank=True, db_index=True)
    patient_birth_date = models.CharField(max_length=8, blank=True, db_index=True)
    patient_sex = models.CharField(max_length=16, blank=True)
    # Patient-level attributes as DICOM JSON, from the first instance seen.
    attributes_json = models.TextField(default="{}")
    number_of_studies = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["patient_id", "issuer_of_patient_id"], name="patient_identity"
            )
        ]
        indexes = [models.Index(fields=["patient_id"], name="patient_id_idx")]

    def __str__(self) -> str:
        return f"{self.patient_id} {self.patient_name}"


class Study(models.Model):
    study_instance_uid = models.CharField(max_length=64, unique=True)
    patient = models.ForeignKey(
        Patient, on_delete=models.PROTECT, related_name="studies"
    )
    study_date = models.CharField(max_length=8, blank=True, db_index=True)
    # HHMMSS.FFFFFF padded, so that string order is time order.
    study_time = models.CharField(max_length=13, blank=True)
    accession_number = models.CharField(max_length=64, blank=True, db_index=True)
    study_id = models.CharField(max_length=16, blank=True)
    study_description = models.CharField(max_length=64, blank=True)
    referring_physician_name = models.CharField(max_length=324, blank=True)
    referring_physician_name_norm = models.CharField(max_length=324, blank=True)
    # Kept current at ingest: "\\"-joined, sorted; never recomputed per query.
    modalities_in_study = models.CharField(max_length=128, blank=True)
    number_of_series = models.PositiveIntegerField(default=0)
    number_of_instances = models.PositiveIntegerField(default=0)
    # Patient + study level attributes as DICOM JSON (for includefield).
    attributes_json = models.TextField(default="{}")
    collections = models.ManyToManyField(Collection, blank=True, related_name="studies")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "studies"
        indexes = [
            # The default QIDO order: most recent study first, pk breaking ties.
            models.Index(
                fields=["-study_date", "-study_time", "-id"], name="study_recent_idx"
            ),
            models.Index(fields=["created_at"], name="study_created_idx"),
        ]

    def __str__(self) -> str:
        return self.study_instance_uid


class StudyModality(models.Model):
    """One row per modality in a study, so ModalitiesInStudy matches by index."""

    study = models.ForeignKey(
        Study, on_delete=models.CASCADE, related_name="modality_rows"
    )
    modality = models.CharField(max_length=16)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["study", "modality"], name="study_modality_unique"
            )
        ]
        indexes = [
            models.Index(fields=["modality", "study"], name="modality_study_idx")
        ]

    def __str__(self) -> str:
        return self.modality


class Series(models.Model):
    series_instance_uid = models.CharField(max_length=64, unique=True)
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="series")
    modality = models.CharField(max_length=16, blank=True, db_index=True)
    series_number = models.IntegerField(null=True, blank=True)
    series_description = models.CharField(max_length=64, blank=True)
    body_part_examined = models.CharField(max_length=16, blank=True)
    performed_procedure_step_start_date = models.CharField(max_length=8, blank=True)
    performed_procedure_step_start_time = models.CharField(max_length=13, blank=True)
    station_name = models.CharField(max_length=16, blank=True)
    institution_name = models.CharField(max_length=64, blank=True)
    source_ae_title = models.CharField(max_length=16, blank=True)
    number_of_instances = models.PositiveIntegerField(default=0)
    attributes_json = models.TextField(default="{}")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "series"
        indexes = [
            models.Index(
                fields=["study", "series_number", "id"], name="series_order_idx"
            )
        ]

    def __str__(self) -> str:
        return self.series_instance_uid


class Instance(models.Model):
    sop_instance_uid = models.CharField(max_length=64, unique=True)
    series = models.ForeignKey(
        Series, on_delete=models.CASCADE, related_name="instances"
    )
    sop_class_uid = models.CharField(max_length=64, db_index=True)
    instance_number = models.IntegerField(null=True, blank=True)
    transfer_syntax_uid = models.CharField(max_length=64)
    number_of_frames = models.PositiveIntegerField(default=0)
    rows = models.PositiveIntegerField(null=True, blank=True)
    columns = models.PositiveIntegerField(null=True, blank=True)
    bits_allocated = models.PositiveIntegerField(null=True, blank=True)
    bits_stored = models.PositiveIntegerField(null=True, blank=True)
    samples_per_pixel = models.PositiveIntegerField(null=True, blank=True)
    photometric_interpretation = models.CharField(max_length=16, blank=True)
    content_date = models.CharField(max_length=8, blank=True)
    content_time = models.CharField(max_length=13, blank=True)
    # Where the pixel data value starts in the stored file and its length
    # (-1: undefined length, encapsulated), so frames are read without
    # parsing the file again. Null when there is no pixel data or the
    # file is deflated.
    pixel_data_offset = models.BigIntegerField(null=True, blank=True)
    pixel_data_length = models.BigIntegerField(null=True, blank=True)
    file_size = models.BigIntegerField()
    file_sha256 = models.CharField(max_length=64)
    # Relative to PACSWEB_STORAGE_DIR; derived from a hash of the UIDs.
    storage_path = models.CharField(max_length=255, unique=True)
    # Instance metadata as DICOM JSON text; BulkDataURI values are relative
    # and carry a marker that retrieve replaces with the base URL (see
    # apps/archive/dicomjson.py).
    metadata_json = models.TextField()
    source_ae_title = models.CharField(max_length=16, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["series", "instance_number", "id"], name="instance_order_idx"
            )
        ]

    def __str__(self) -> str:
        return self.sop_instance_uid


class CollectionRule(models.Model):
    """Puts arriving studies into a collection (applied in ingest.py).

    A rule matches when every criterion it sets matches; empty criteria are
    ignored. The AE title and the issuer compare exactly, the institution
    name without regard to case. Several matching rules add several
    collections.
    """

    collection = models.ForeignKey(
        Collection, on_delete=models.CASCADE, related_name="rules"
    )
    source_ae_title = models.CharField(max_length=16, blank=True)
    institution_name = models.CharField(max_length=64, blank=True)
    issuer_of_patient_id = models.CharField(max_length=64, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                name="collection_rule_has_a_criterion",
                condition=~models.Q(
                    source_ae_title="", institution_name="", issuer_of_patient_id=""
                ),
            )
        ]

    def __str__(self) -> str:
        criteria = [
            f"AE={self.source_ae_title}" if self.source_ae_title else "",
            f"institution={self.institution_name}" if self.institution_name else "",
            f"issuer={self.issuer_of_patient_id}" if self.issuer_of_patient_id else "",
        ]
        return f"{' '.join(c for c in criteria if c)} -> {self.collection}"
