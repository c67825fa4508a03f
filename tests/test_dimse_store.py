"""C-STORE with dcmtk's storescu as the peer: samples, statuses, duplicates."""

from collections import defaultdict
from pathlib import Path

import pydicom

from apps.archive import storage
from apps.archive.models import Instance
from tests.conftest import REJECTED_SAMPLES, sample, storable_samples
from tests.dimse_support import meta_of, responses, storescu

CT_SOP = "1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322"


# Valid files that dcmtk 3.6.7 itself refuses to read, so storescu never sends them.
DCMTK_UNREADABLE = {
    "SC_rgb_jpeg.dcm": "element (4544,4952) larger than the file",
    "rtdose_rle.dcm": "odd-length OW pixel data hides the SOP UIDs from dcmtk",
    "rtdose_rle_1frame.dcm": "odd-length OW pixel data hides the SOP UIDs from dcmtk",
}


def _header(path: Path) -> pydicom.Dataset:
    return pydicom.dcmread(path, stop_before_pixels=True)


def _rounds_of_distinct_instances(paths: list[Path]) -> list[list[Path]]:
    # Some samples are one instance in several transfer syntaxes; each round
    # sends one copy of each, so every copy is stored and checked.
    copies: dict[str, list[Path]] = defaultdict(list)
    for path in paths:
        copies[str(_header(path).SOPInstanceUID)].append(path)
    depth = max(len(group) for group in copies.values())
    return [
        [group[n] for group in copies.values() if len(group) > n] for n in range(depth)
    ]


def test_it_stores_every_valid_sample_that_storescu_sends(
    dicom_listener, tmp_path, settings
):
    # storescu re-encodes data sets on the wire (see send_raw), so this test
    # checks what was stored by value; test_dimse_bytes checks the bytes.
    settings.PACSWEB_DUPLICATE_POLICY = "overwrite"
    samples = [p for p in storable_samples() if p.name not in DCMTK_UNREADABLE]

    for files in _rounds_of_distinct_instances(samples):
        result = storescu(dicom_listener, files, tmp_path)

        assert responses(result) == ["Success"] * len(files), result.stderr
        for path in files:
            original = _header(path)
            instance = Instance.objects.get(sop_instance_uid=original.SOPInstanceUID)
            stored = _header(storage.absolute(instance.storage_path))
            assert (
                stored.file_meta.TransferSyntaxUID
                == original.file_meta.TransferSyntaxUID
            ), path.name
            assert stored.StudyInstanceUID == original.StudyInstanceUID
            assert stored.SeriesInstanceUID == original.SeriesInstanceUID
            assert stored.get("PatientName") == original.get("PatientName"), path.name
            assert instance.source_ae_title == "STORESCU"

    assert Instance.objects.count() == len({_header(p).SOPInstanceUID for p in samples})
    assert list(storage.tmp_dir().iterdir()) == []


def test_it_writes_file_meta_from_the_association_with_the_calling_ae(
    dicom_listener, tmp_path
):
    result = storescu(
        dicom_listener, [sample("JPEG2000.dcm")], tmp_path, "-aet", "MODALITY1"
    )

    assert responses(result) == ["Success"], result.stderr
    instance = Instance.objects.get()
    meta = meta_of(storage.absolute(instance.storage_path))
    assert meta.SourceApplicationEntityTitle == "MODALITY1"
    assert meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.91"
    assert meta.MediaStorageSOPClassUID == "1.2.840.10008.5.1.4.1.1.7"
    assert (
        meta.MediaStorageSOPInstanceUID
        == "1.3.6.1.4.1.5962.1.1.8.1.3.20040826185059.5457"
    )
    assert instance.series.source_ae_title == "MODALITY1"
    assert instance.file_sha256 == storage.sha256_of(
        storage.absolute(instance.storage_path)
    )


def test_it_answers_cannot_understand_for_a_data_set_without_a_study_uid(
    dicom_listener, tmp_path
):
    name = "JPEGLSNearLossless_08.dcm"

    result = storescu(dicom_listener, [sample(name), sample("CT_small.dcm")], tmp_path)

    assert responses(result) == ["Error: CannotUnderstand", "Success"]
    assert REJECTED_SAMPLES[name] == "StudyInstanceUID is missing"
    assert list(Instance.objects.values_list("sop_instance_uid", flat=True)) == [CT_SOP]
    assert list(storage.tmp_dir().iterdir()) == []
    assert len(list(storage.all_stored())) == 1


def test_it_keeps_the_first_copy_and_answers_success_for_a_duplicate_by_default(
    dicom_listener, tmp_path, settings
):
    settings.PACSWEB_DUPLICATE_POLICY = "keep"
    storescu(dicom_listener, [sample("MR_small.dcm")], tmp_path)

    result = storescu(dicom_listener, [sample("MR_small_bigendian.dcm")], tmp_path)

    assert responses(result) == ["Success"], result.stderr
    instance = Instance.objects.get()
    assert instance.transfer_syntax_uid == "1.2.840.10008.1.2.1"
    assert (
        meta_of(storage.absolute(instance.storage_path)).TransferSyntaxUID
        == "1.2.840.10008.1.2.1"
    )
    assert len(list(storage.all_stored())) == 1


def test_it_answers_duplicate_sop_instance_under_the_reject_policy(
    dicom_listener, tmp_path, settings
):
    settings.PACSWEB_DUPLICATE_POLICY = "reject"
    storescu(dicom_listener, [sample("MR_small.dcm")], tmp_path)

    result = storescu(dicom_listener, [sample("MR_small_bigendian.dcm")], tmp_path)

    # dcmtk has no name for the general status 0111 (PS3.7 C.4.4).
    assert responses(result) == ["Unknown Status: 0x111"]
    assert Instance.objects.get().transfer_syntax_uid == "1.2.840.10008.1.2.1"
    assert len(list(storage.all_stored())) == 1


def test_it_replaces_the_copy_under_the_overwrite_policy(
    dicom_listener, tmp_path, settings
):
    settings.PACSWEB_DUPLICATE_POLICY = "overwrite"
    storescu(dicom_listener, [sample("MR_small.dcm")], tmp_path)

    result = storescu(dicom_listener, [sample("MR_small_bigendian.dcm")], tmp_path)

    assert responses(result) == ["Success"], result.stderr
    instance = Instance.objects.get()
    assert instance.transfer_syntax_uid == "1.2.840.10008.1.2.2"
    assert (
        pydicom.dcmread(storage.absolute(instance.storage_path)).PatientName
        == "CompressedSamples^MR1"
    )
    assert len(list(storage.all_stored())) == 1
