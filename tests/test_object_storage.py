"""The S3 backend keeps the local store's guarantees (moto server mode)."""

import io
from pathlib import Path

import pydicom
import pytest
from pydicom.encaps import generate_frames

from apps.archive import ingest, objectstore, storage
from apps.archive.ingest import IngestError, Outcome, ingest_file
from apps.archive.models import Instance
from apps.archive.status import Status
from tests.conftest import sample
from tests.multipart_bodies import split_response
from tests.s3_support import moto_server

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(archive_client):
    # Past the security guard (tests/test_auth_*.py covers the guard).
    return archive_client


BUCKET = "pacsweb-test"
ANY_DICOM = 'multipart/related; type="application/dicom"; transfer-syntax=*'
CT_SOP = "1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322"


@pytest.fixture(scope="module")
def s3_endpoint():
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def s3(s3_endpoint, settings, monkeypatch):
    """The archive configured for a fresh bucket; the boto3 client to inspect it."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    settings.PACSWEB_STORAGE_BACKEND = "s3"
    settings.PACSWEB_S3_ENDPOINT_URL = s3_endpoint
    settings.PACSWEB_S3_BUCKET = BUCKET
    settings.PACSWEB_S3_PREFIX = "instances/"
    objectstore._client.cache_clear()
    client = objectstore.client()
    client.create_bucket(Bucket=BUCKET)
    yield client
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])
    client.delete_bucket(Bucket=BUCKET)
    objectstore._client.cache_clear()


def _keys(client) -> list[str]:
    return sorted(
        item["Key"]
        for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    )


def _local_files(storage_dir: Path) -> list[Path]:
    return [p for p in storage_dir.rglob("*") if p.is_file()]


def test_it_stores_the_instance_as_an_object_byte_identical(s3, storage_dir):
    result = ingest_file(sample("CT_small.dcm"))

    instance = Instance.objects.get()
    body = s3.get_object(Bucket=BUCKET, Key="instances/" + instance.storage_path)[
        "Body"
    ]
    assert result.outcome is Outcome.STORED
    assert instance.sop_instance_uid == CT_SOP
    assert body.read() == sample("CT_small.dcm").read_bytes()
    assert _keys(s3) == ["instances/" + instance.storage_path]
    assert _local_files(storage_dir) == []  # the spooled copy is gone too


def test_open_stored_gives_a_seekable_file_that_reads_a_frame_by_range(s3):
    ingest_file(sample("rtdose.dcm"))  # 15 native frames of 10x10x32 bits
    instance = Instance.objects.get()
    original = sample("rtdose.dcm").read_bytes()
    frame_size = instance.rows * instance.columns * instance.bits_allocated // 8
    second = instance.pixel_data_offset + frame_size

    with storage.open_stored(instance.storage_path) as handle:
        handle.seek(second)
        frame = handle.read(frame_size)
        handle.seek(-4, io.SEEK_END)
        tail = handle.read()

    assert instance.number_of_frames == 15
    assert len(frame) == frame_size
    assert frame == original[second : second + frame_size]
    assert tail == original[-4:]


def test_pydicom_reads_the_stored_object_through_open_stored(s3):
    ingest_file(sample("MR_small.dcm"))
    instance = Instance.objects.get()

    with storage.open_stored(instance.storage_path) as handle:
        ds = pydicom.dcmread(handle)

    assert ds.SOPInstanceUID == instance.sop_instance_uid
    assert ds.pixel_array.shape == (64, 64)
    assert int(ds.pixel_array[32, 32]) == int(
        pydicom.dcmread(sample("MR_small.dcm")).pixel_array[32, 32]
    )


def test_iter_stored_streams_the_whole_object_or_a_range(s3):
    ingest_file(sample("CT_small.dcm"))
    instance = Instance.objects.get()
    original = sample("CT_small.dcm").read_bytes()

    whole = b"".join(storage.iter_stored(instance.storage_path))
    part = b"".join(storage.iter_stored(instance.storage_path, 1000, 300))
    past_end = b"".join(storage.iter_stored(instance.storage_path, len(original) + 10))

    assert whole == original
    assert part == original[1000:1300]
    assert past_end == b""


def test_a_missing_object_reads_as_a_missing_file(s3):
    with pytest.raises(FileNotFoundError):
        storage.open_stored("ab/cd/nothing.dcm")
    with pytest.raises(FileNotFoundError):
        list(storage.iter_stored("ab/cd/nothing.dcm"))


def test_it_removes_the_object_when_the_database_step_fails(s3, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(ingest, "_write_rows", broken)

    with pytest.raises(IngestError) as caught:
        ingest_file(sample("CT_small.dcm"))

    assert caught.value.status is Status.PROCESSING_FAILURE
    assert caught.value.sop_instance_uid == CT_SOP
    assert _keys(s3) == []
    assert Instance.objects.count() == 0


def test_it_stores_no_row_when_the_object_cannot_be_written(s3, settings):
    settings.PACSWEB_S3_BUCKET = "no-such-bucket"

    with pytest.raises(IngestError) as caught:
        ingest_file(sample("CT_small.dcm"))

    assert caught.value.status is Status.PROCESSING_FAILURE
    assert "could not write the file" in caught.value.reason
    assert Instance.objects.count() == 0


def test_overwrite_replaces_the_object_and_deletes_the_old_one(s3):
    ingest_file(sample("CT_small.dcm"))
    first = Instance.objects.get().storage_path

    result = ingest_file(sample("CT_small.dcm"), duplicate_policy="overwrite")

    second = Instance.objects.get().storage_path
    assert result.outcome is Outcome.REPLACED
    assert second != first
    assert _keys(s3) == ["instances/" + second]


def test_a_kept_duplicate_leaves_one_object(s3):
    ingest_file(sample("CT_small.dcm"))

    result = ingest_file(sample("CT_small.dcm"))

    assert result.outcome is Outcome.DUPLICATE
    assert _keys(s3) == ["instances/" + Instance.objects.get().storage_path]


def test_stored_objects_lists_every_object_with_its_size(s3):
    ingest_file(sample("CT_small.dcm"))
    ingest_file(sample("MR_small.dcm"))
    s3.put_object(Bucket=BUCKET, Key="instances/zz/zz/orphan.dcm", Body=b"12345")

    listed = {item.relative: item.size for item in storage.stored_objects()}

    expected = {i.storage_path: i.file_size for i in Instance.objects.all()} | {
        "zz/zz/orphan.dcm": 5
    }
    assert listed == expected
    assert storage.stat_stored("zz/zz/orphan.dcm").size == 5


# --- WADO-RS reads objects the same way it reads files --------------------


def _get(client, url: str, accept: str) -> tuple[str, bytes]:
    response = client.get(url, HTTP_ACCEPT=accept)
    assert response.status_code == 200, response.content[:300]
    content = (
        b"".join(response.streaming_content) if response.streaming else response.content
    )
    return response["Content-Type"], content


def _instance_url(result) -> str:
    ident = result.identity
    return (
        f"/dicomweb/studies/{ident.study_uid}/series/{ident.series_uid}"
        f"/instances/{ident.sop_uid}"
    )


def test_wado_rs_retrieves_an_object_byte_identical(s3, client):
    result = ingest_file(sample("CT_small.dcm"))

    content_type, content = _get(client, _instance_url(result), ANY_DICOM)

    [(_, data)] = split_response(content, content_type)
    assert data == sample("CT_small.dcm").read_bytes()


def test_wado_rs_reads_encapsulated_frames_from_an_object(s3, client):
    result = ingest_file(sample("SC_rgb_rle_2frame.dcm"))
    with open(sample("SC_rgb_rle_2frame.dcm"), "rb") as handle:
        ds = pydicom.dcmread(handle)
        expected = list(generate_frames(ds.PixelData, number_of_frames=2))

    content_type, content = _get(
        client,
        _instance_url(result) + "/bulkdata/7FE00010",
        'multipart/related; type="application/octet-stream"; transfer-syntax=*',
    )

    frames = [data for _, data in split_response(content, content_type)]
    assert frames == expected and len(frames[0]) > 0


def test_wado_rs_reads_bulk_data_inside_a_sequence_from_an_object(s3, client):
    ds = pydicom.dcmread(sample("CT_small.dcm"))
    ds.add_new(0x00091010, "OB", b"\x01\x02" * 700)  # above the inline size
    path = storage.tmp_dir() / "private.dcm"
    ds.save_as(path, enforce_file_format=True)
    result = ingest_file(path)

    _, content = _get(
        client, _instance_url(result) + "/bulkdata/00091010", "application/octet-stream"
    )

    assert content == b"\x01\x02" * 700


def test_the_sweep_removes_old_orphan_objects_and_keeps_stored_ones(s3):
    from apps.archive.maintenance import sweep

    ingest_file(sample("CT_small.dcm"))
    kept = Instance.objects.get().storage_path
    s3.put_object(Bucket=BUCKET, Key="instances/zz/zz/orphan.dcm", Body=b"12345")

    young = sweep(grace_seconds=3600)
    old = sweep(grace_seconds=0)

    assert young.orphans_removed == []
    assert old.orphans_removed == ["zz/zz/orphan.dcm"]
    assert old.damaged == []
    assert _keys(s3) == ["instances/" + kept]


def test_the_sweep_reports_an_instance_whose_object_is_gone(s3):
    from apps.archive.maintenance import sweep

    ingest_file(sample("CT_small.dcm"))
    instance = Instance.objects.get()
    s3.delete_object(Bucket=BUCKET, Key="instances/" + instance.storage_path)

    report = sweep(grace_seconds=0)

    assert [(d.sop_instance_uid, d.problem) for d in report.damaged] == [
        (CT_SOP, "is missing")
    ]
