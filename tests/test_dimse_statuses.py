"""C-ECHO, and every C-STORE failure status the listener answers.

dcmtk's tools send only what they can read, so the broken data sets here
go out through pynetdicom streaming the file's own bytes (send_raw).
"""

import logging
from pathlib import Path

import pydicom

from apps.archive import storage
from apps.archive.models import Instance
from apps.archive.status import Status
from apps.dimse import store
from tests.conftest import sample
from tests.dimse_support import echoscu, send_raw

CT_SOP = "1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322"


def _ct_without(tmp_path: Path, keyword: str) -> Path:
    ds = pydicom.dcmread(sample("CT_small.dcm"))
    del ds[keyword]
    path = tmp_path / f"ct_without_{keyword}.dcm"
    ds.save_as(path)
    return path


def _nothing_stored() -> bool:
    return (
        Instance.objects.count() == 0
        and list(storage.all_stored()) == []
        and list(storage.tmp_dir().iterdir()) == []
    )


def test_it_answers_c_echo_with_success(dicom_listener):
    result = echoscu(dicom_listener, "-v")

    assert result.returncode == 0, result.stderr
    assert "Received Echo Response (Success)" in result.stderr


def test_it_answers_cannot_understand_for_a_data_set_without_a_sop_instance_uid(
    dicom_listener, tmp_path
):
    path = _ct_without(tmp_path, "SOPInstanceUID")

    answers = send_raw(dicom_listener, [path])

    assert answers == [(Status.CANNOT_UNDERSTAND, "SOPInstanceUID is missing")]
    assert _nothing_stored()


def test_it_answers_cannot_understand_for_a_truncated_data_set(dicom_listener):
    answers = send_raw(dicom_listener, [sample("MR_truncated.dcm")])

    assert answers == [
        (
            Status.CANNOT_UNDERSTAND,
            "pixel data is truncated: 8192 bytes declared, 8130 present",
        )
    ]
    assert _nothing_stored()


def test_it_answers_out_of_resources_when_the_disk_is_full(dicom_listener, monkeypatch):
    # /dev/full fails every write with ENOSPC, as a full disk does.
    def full_disk():
        handle, path = original()
        handle.close()
        return open("/dev/full", "w+b"), path

    original = storage.new_temp_file
    monkeypatch.setattr(storage, "new_temp_file", full_disk)

    answers = send_raw(dicom_listener, [sample("CT_small.dcm")])

    assert answers == [(Status.OUT_OF_RESOURCES, "no space left to store the instance")]
    assert _nothing_stored()


def test_it_answers_processing_failure_and_logs_one_traceback_for_a_crash(
    dicom_listener, monkeypatch, caplog
):
    def broken_ingest(*args, **kwargs):
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(store, "ingest_file", broken_ingest)

    with caplog.at_level(logging.ERROR):
        answers = send_raw(
            dicom_listener, [sample("CT_small.dcm"), sample("CT_small.dcm")]
        )

    assert [status for status, _ in answers] == [Status.PROCESSING_FAILURE] * 2
    tracebacks = [
        r
        for r in caplog.records
        if r.exc_info and r.exc_info[1].args == ("simulated bug",)
    ]
    assert len(tracebacks) == 2
    assert tracebacks[0].name == "apps.dimse.service"
    assert _nothing_stored()


def test_the_association_survives_a_failed_store(dicom_listener, tmp_path):
    broken = _ct_without(tmp_path, "SOPInstanceUID")

    answers = send_raw(dicom_listener, [broken, sample("CT_small.dcm")])

    assert [status for status, _ in answers] == [
        Status.CANNOT_UNDERSTAND,
        Status.SUCCESS,
    ]
    assert list(Instance.objects.values_list("sop_instance_uid", flat=True)) == [CT_SOP]
