import json
import threading
from pathlib import Path

import pydicom
import pytest
from django.db import connection

from apps.archive import dicomjson, storage
from apps.archive.ingest import IngestError, Outcome, ingest_file
from apps.archive.models import Instance, Patient, Series, Study, StudyModality
from apps.archive.status import Status
from apps.archive.text import fold
from tests.conftest import REJECTED_SAMPLES, all_samples, sample, storable_samples

pytestmark = pytest.mark.django_db

CT_SOP = "1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322"
CT_STUDY = "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322"


def _stored_bytes(instance: Instance) -> bytes:
    with storage.open_stored(instance.storage_path) as handle:
        return handle.read()


def test_it_stores_a_ct_image_with_its_rows_and_metadata():
    result = ingest_file(sample("CT_small.dcm"))

    assert result.outcome is Outcome.STORED
    instance = Instance.objects.select_related("series__study__patient").get()
    assert instance.sop_instance_uid == CT_SOP
    assert instance.series.study.study_instance_uid == CT_STUDY
    assert instance.series.study.patient.patient_name == "CompressedSamples^CT1"
    assert instance.series.study.patient.patient_name_norm == "compressedsamples^ct1"
    assert instance.series.study.study_date == "20040119"
    assert instance.series.modality == "CT"
    assert (instance.rows, instance.columns, instance.number_of_frames) == (128, 128, 1)
    assert instance.transfer_syntax_uid == "1.2.840.10008.1.2.1"
    assert _stored_bytes(instance) == sample("CT_small.dcm").read_bytes()
    metadata = json.loads(instance.metadata_json)
    assert metadata["00100010"] == {
        "vr": "PN",
        "Value": [{"Alphabetic": "CompressedSamples^CT1"}],
    }
    assert metadata["00280030"]["Value"] == [0.661468, 0.661468]
    assert metadata["7FE00010"]["BulkDataURI"] == (
        f"{dicomjson.BULK_MARKER}studies/{CT_STUDY}/series/"
        f"{instance.series.series_instance_uid}/instances/{CT_SOP}/bulkdata/7FE00010"
    )
    # Pixel data starts where the row says it does.
    data = _stored_bytes(instance)
    full = pydicom.dcmread(sample("CT_small.dcm"))
    start = instance.pixel_data_offset
    assert data[start : start + instance.pixel_data_length] == full.PixelData


def test_it_derives_the_storage_path_from_a_hash_not_from_uid_text():
    ingest_file(sample("CT_small.dcm"))

    path = Instance.objects.get().storage_path
    assert CT_SOP not in path and "1.3.6" not in path
    assert path.endswith(".dcm") and len(path.split("/")) == 3


def test_it_keeps_study_and_series_counters_and_modalities_current():
    ingest_file(sample("MR_small.dcm"))
    ingest_file(sample("CT_small.dcm"))

    for study in Study.objects.all():
        assert study.number_of_instances == 1
        assert study.number_of_series == 1
    assert sorted(StudyModality.objects.values_list("modality", flat=True)) == [
        "CT",
        "MR",
    ]
    assert set(Study.objects.values_list("modalities_in_study", flat=True)) == {
        "CT",
        "MR",
    }


def test_it_decodes_names_with_the_specific_character_set():
    ingest_file(sample("chrH31.dcm"))
    ingest_file(sample("chrRuss.dcm"))
    ingest_file(sample("chrGreek.dcm"))

    names = set(Patient.objects.values_list("patient_name", flat=True))
    assert "Yamada^Tarou=山田^太郎=やまだ^たろう" in names
    assert "Люкceмбypг" in names
    assert "Διονυσιος" in names
    # Full Unicode folding: an upper-case Greek query finds the name.
    assert Patient.objects.filter(patient_name_norm=fold("ΔΙΟΝΥΣΙΟΣ")).exists()


def test_it_reports_a_duplicate_and_keeps_the_first_copy_by_default():
    first = ingest_file(sample("MR_small.dcm"))
    before = _stored_bytes(Instance.objects.get())

    again = ingest_file(sample("MR_small_implicit.dcm"))

    assert again.outcome is Outcome.DUPLICATE
    assert again.instance_id == first.instance_id
    assert _stored_bytes(Instance.objects.get()) == before
    assert len(list(storage.all_stored())) == 1
    assert Study.objects.get().number_of_instances == 1


def test_it_rejects_a_duplicate_under_the_reject_policy():
    ingest_file(sample("MR_small.dcm"))

    with pytest.raises(IngestError) as caught:
        ingest_file(sample("MR_small_implicit.dcm"), duplicate_policy="reject")

    assert caught.value.status == Status.DUPLICATE_SOP_INSTANCE
    assert Instance.objects.get().transfer_syntax_uid == "1.2.840.10008.1.2.1"
    assert len(list(storage.all_stored())) == 1


def test_it_replaces_a_duplicate_under_the_overwrite_policy():
    ingest_file(sample("MR_small.dcm"))
    old_path = Instance.objects.get().storage_path

    result = ingest_file(sample("MR_small_implicit.dcm"), duplicate_policy="overwrite")

    assert result.outcome is Outcome.REPLACED
    instance = Instance.objects.get()
    assert instance.transfer_syntax_uid == "1.2.840.10008.1.2"
    assert instance.storage_path != old_path
    assert list(storage.all_stored()) == [instance.storage_path]
    assert _stored_bytes(instance) == sample("MR_small_implicit.dcm").read_bytes()
    study = Study.objects.get()
    assert (study.number_of_instances, study.number_of_series) == (1, 1)


def test_it_rejects_a_uid_with_a_path_in_it_and_stores_nothing(tmp_path: Path):
    ds = pydicom.dcmread(sample("CT_small.dcm"))
    ds.SOPInstanceUID = "../../etc/passwd"
    path = tmp_path / "evil.dcm"
    ds.save_as(path)

    with pytest.raises(IngestError) as caught:
        ingest_file(path)

    assert caught.value.status == Status.CANNOT_UNDERSTAND
    assert "SOPInstanceUID is not a valid UID" in caught.value.reason
    assert Instance.objects.count() == 0
    assert list(storage.all_stored()) == []
    assert list(storage.tmp_dir().iterdir()) == []


def test_it_rejects_a_study_uid_that_does_not_match_the_target():
    with pytest.raises(IngestError) as caught:
        ingest_file(sample("CT_small.dcm"), expected_study_uid="1.2.3")

    assert caught.value.status == Status.DATA_SET_DOES_NOT_MATCH_SOP_CLASS
    assert caught.value.sop_instance_uid == CT_SOP
    assert Study.objects.count() == 0


def test_it_removes_the_file_when_the_database_step_fails(monkeypatch):
    def fail(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(Instance.objects, "create", fail)

    with pytest.raises(IngestError) as caught:
        ingest_file(sample("CT_small.dcm"))

    assert caught.value.status == Status.PROCESSING_FAILURE
    assert list(storage.all_stored()) == []
    assert Study.objects.count() == 0


def test_it_leaves_the_source_file_alone_when_not_owned(copy_sample):
    path = copy_sample("CT_small.dcm")

    ingest_file(path)

    assert path.read_bytes() == sample("CT_small.dcm").read_bytes()


def test_it_moves_an_owned_temporary_file_into_place():
    temp = storage.spool([sample("CT_small.dcm").read_bytes()])

    ingest_file(temp, owned=True)

    assert not temp.exists()
    assert list(storage.tmp_dir().iterdir()) == []


@pytest.mark.parametrize("path", storable_samples(), ids=lambda p: p.name)
def test_it_stores_every_valid_sample_byte_identical(path: Path):
    result = ingest_file(path)

    instance = Instance.objects.get(pk=result.instance_id)
    assert _stored_bytes(instance) == path.read_bytes()
    json.loads(instance.metadata_json)  # valid JSON whatever the file held
    for text in (
        instance.series.attributes_json,
        instance.series.study.attributes_json,
    ):
        json.loads(text)


@pytest.mark.parametrize(
    "path",
    [p for p in all_samples() if p.name in REJECTED_SAMPLES],
    ids=lambda p: p.name,
)
def test_it_rejects_every_broken_sample_and_stores_nothing(path: Path):
    with pytest.raises(IngestError) as caught:
        ingest_file(path)

    assert caught.value.status == Status.CANNOT_UNDERSTAND
    assert REJECTED_SAMPLES[path.name] in caught.value.reason
    assert Instance.objects.count() == 0
    assert list(storage.all_stored()) == []


@pytest.mark.django_db(transaction=True)
def test_concurrent_ingest_of_one_new_study_creates_one_row_per_level(tmp_path: Path):
    base = pydicom.dcmread(sample("CT_small.dcm"))
    paths = []
    for index in range(8):
        base.SOPInstanceUID = f"1.2.826.0.1.3680043.8.498.{index + 1}"
        path = tmp_path / f"{index}.dcm"
        base.save_as(path)
        paths.append(path)
    errors: list[BaseException] = []

    def run(path: Path) -> None:
        try:
            ingest_file(path)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(p,)) for p in paths]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert (Patient.objects.count(), Study.objects.count(), Series.objects.count()) == (
        1,
        1,
        1,
    )
    study = Study.objects.get()
    assert (study.number_of_instances, study.number_of_series) == (8, 1)
    assert Series.objects.get().number_of_instances == 8
    assert Patient.objects.get().number_of_studies == 1
