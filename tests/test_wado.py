import io
import json
from pathlib import Path

import pydicom
import pytest
from django.test import RequestFactory
from pydicom.encaps import generate_frames

from apps.archive.ingest import ingest_file
from apps.archive.models import Collection, Study
from apps.dicomweb import retrieve
from tests.conftest import sample, storable_samples
from tests.multipart_bodies import STOW_CONTENT_TYPE, files_body, split_response
from tests.personas import GUARD_QUERIES

pytestmark = pytest.mark.django_db

# The guard's constant cost per request (token, permissions, grants, audit)
# comes on top of each retrieve's one query.


@pytest.fixture
def client(archive_client):
    # Past the security guard (tests/test_auth_*.py covers the guard).
    return archive_client


CT_SOP = "1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322"
CT_STUDY = "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322"
CT_SERIES = "1.3.6.1.4.1.5962.1.3.1.1.20040119072730.12322"
CT_URL = f"/dicomweb/studies/{CT_STUDY}/series/{CT_SERIES}/instances/{CT_SOP}"
BASE = "http://testserver/dicomweb/"
ANY_DICOM = 'multipart/related; type="application/dicom"; transfer-syntax=*'
OCTET_MULTIPART = 'multipart/related; type="application/octet-stream"'


def _get(client, url: str, accept: str | None = None):
    headers = {"HTTP_ACCEPT": accept} if accept is not None else {}
    response = client.get(url, **headers)
    content = (
        b"".join(response.streaming_content) if response.streaming else response.content
    )
    return response, content


def _ds_bytes(ds: pydicom.Dataset) -> bytes:
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def _ct_copies(tmp_path: Path, count: int) -> list[str]:
    """`count` instances of one new CT series, stored; their SOP UIDs by InstanceNumber."""
    uids = []
    for number in range(count, 0, -1):
        ds = pydicom.dcmread(sample("CT_small.dcm"))
        ds.SOPInstanceUID = f"{CT_SOP}.{number}"
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.InstanceNumber = number
        path = tmp_path / f"ct{number}.dcm"
        path.write_bytes(_ds_bytes(ds))
        ingest_file(path)
        uids.append(ds.SOPInstanceUID)
    return sorted(uids, key=lambda uid: int(uid.rsplit(".", 1)[1]))


@pytest.mark.parametrize("path", storable_samples(), ids=lambda p: p.name)
def test_every_valid_sample_stored_by_stow_comes_back_byte_identical(
    client, path: Path
):
    stored = client.post(
        "/dicomweb/studies", data=files_body([path]), content_type=STOW_CONTENT_TYPE
    )
    instance_url = json.loads(stored.content)["00081199"]["Value"][0]["00081190"][
        "Value"
    ][0]

    response, content = _get(
        client, instance_url.removeprefix("http://testserver"), ANY_DICOM
    )

    assert stored.status_code == 200
    assert response.status_code == 200
    parts = split_response(content, response["Content-Type"])
    assert len(parts) == 1
    headers, data = parts[0]
    assert data == path.read_bytes()
    ts = pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID
    assert headers["content-type"] == f"application/dicom; transfer-syntax={ts}"


def test_it_retrieves_a_study_and_a_series_in_instance_order(client, tmp_path: Path):
    uids = _ct_copies(tmp_path, 3)
    ingest_file(sample("MR_small.dcm"))

    study, study_content = _get(client, f"/dicomweb/studies/{CT_STUDY}", ANY_DICOM)
    series, series_content = _get(
        client, f"/dicomweb/studies/{CT_STUDY}/series/{CT_SERIES}", ANY_DICOM
    )

    assert study["Content-Type"].startswith(
        'multipart/related; type="application/dicom"; boundary='
    )
    for content, response in ((study_content, study), (series_content, series)):
        parts = split_response(content, response["Content-Type"])
        assert [
            pydicom.dcmread(io.BytesIO(data)).SOPInstanceUID for _, data in parts
        ] == uids


def test_an_instance_stored_as_explicit_little_endian_is_sent_for_the_default_accept(
    client,
):
    ingest_file(sample("CT_small.dcm"))

    response, content = _get(
        client, CT_URL, 'multipart/related; type="application/dicom"'
    )

    assert response.status_code == 200
    assert (
        split_response(content, response["Content-Type"])[0][1]
        == sample("CT_small.dcm").read_bytes()
    )


@pytest.mark.parametrize(
    ("name", "accept"),
    [
        # Uncompressed and lossless targets are produced by transcoding
        # (tests/test_transcoded_retrieve.py); lossy ones never are.
        (
            "MR_small_implicit.dcm",
            'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.50',
        ),
        (
            "JPEG2000.dcm",
            'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.50',
        ),
        # The installed decoders refuse this file's pixel data.
        (
            "JPEG-lossy.dcm",
            'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.1',
        ),
        ("CT_small.dcm", "application/dicom"),
        ("CT_small.dcm", "application/dicom+json"),
    ],
)
def test_it_answers_406_when_the_stored_syntax_is_not_acceptable(
    client, name: str, accept
):
    result = ingest_file(sample(name))
    ident = result.identity
    url = f"/dicomweb/studies/{ident.study_uid}/series/{ident.series_uid}/instances/{ident.sop_uid}"

    response, content = _get(client, url, accept)

    assert response.status_code == 406
    assert response["Content-Type"] == "application/json"
    assert json.loads(content)["status"] == 406


def test_it_sends_the_stored_syntax_when_asked_for_by_uid(client):
    result = ingest_file(sample("JPEG2000.dcm"))
    ident = result.identity
    url = f"/dicomweb/studies/{ident.study_uid}/series/{ident.series_uid}/instances/{ident.sop_uid}"

    response, content = _get(
        client,
        url,
        'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.91',
    )

    headers, data = split_response(content, response["Content-Type"])[0]
    assert (
        headers["content-type"]
        == "application/dicom; transfer-syntax=1.2.840.10008.1.2.4.91"
    )
    assert data == sample("JPEG2000.dcm").read_bytes()


@pytest.mark.parametrize(
    "url",
    [
        f"/dicomweb/studies/{CT_STUDY}.9",
        f"/dicomweb/studies/{CT_STUDY}/series/{CT_SERIES}.9",
        f"{CT_URL}.9",
        f"/dicomweb/studies/{CT_STUDY}.9/metadata",
        f"{CT_URL}.9/metadata",
        f"{CT_URL}.9/bulkdata/7FE00010",
        # The instance exists, but not in this study.
        f"/dicomweb/studies/1.2.3/series/{CT_SERIES}/instances/{CT_SOP}",
    ],
)
def test_it_answers_404_for_unknown_uids(client, url: str):
    ingest_file(sample("CT_small.dcm"))

    response, content = _get(
        client,
        url,
        ANY_DICOM if "metadata" not in url and "bulkdata" not in url else None,
    )

    assert response.status_code == 404
    assert json.loads(content)["reason"].startswith("no such")


def test_it_answers_400_for_a_uid_with_a_path_in_it(client):
    response, content = _get(client, "/dicomweb/studies/..", ANY_DICOM)

    assert response.status_code == 400
    assert json.loads(content)["reason"] == "study in the URL is not a valid UID: '..'"


def test_it_hides_instances_outside_the_callers_collections():
    ingest_file(sample("CT_small.dcm"))
    granted = Collection.objects.create(name="granted")
    other = Collection.objects.create(name="other")
    Study.objects.get().collections.add(other)
    factory = RequestFactory()

    def get(view, url, collections, **kwargs):
        accept = (
            "application/dicom+json" if view is retrieve.study_metadata else ANY_DICOM
        )
        request = factory.get(url, HTTP_ACCEPT=accept)
        request.allowed_collections = collections
        return view(request, **kwargs)

    hidden = get(
        retrieve.study, f"/dicomweb/studies/{CT_STUDY}", [granted.pk], study=CT_STUDY
    )
    hidden_metadata = get(retrieve.study_metadata, "/", [granted.pk], study=CT_STUDY)
    visible = get(retrieve.study, "/", [granted.pk, other.pk], study=CT_STUDY)
    unrestricted = get(retrieve.study, "/", None, study=CT_STUDY)

    assert (hidden.status_code, hidden_metadata.status_code) == (404, 404)
    assert visible.status_code == unrestricted.status_code == 200
    assert b"".join(visible.streaming_content).count(b"DICM") == 1


def _stow(client, name: str) -> str:
    """Store a sample through STOW-RS; its instance URL, without the host."""
    response = client.post(
        "/dicomweb/studies",
        data=files_body([sample(name)]),
        content_type=STOW_CONTENT_TYPE,
    )
    url = json.loads(response.content)["00081199"]["Value"][0]["00081190"]["Value"][0]
    return url.removeprefix("http://testserver")


def test_instance_metadata_of_a_ct_image_stored_by_stow(client):
    assert _stow(client, "CT_small.dcm") == CT_URL

    response, content = _get(client, f"{CT_URL}/metadata")

    assert response["Content-Type"] == "application/dicom+json"
    [metadata] = json.loads(content)
    assert metadata["00100010"] == {
        "vr": "PN",
        "Value": [{"Alphabetic": "CompressedSamples^CT1"}],
    }
    assert metadata["0020000D"] == {"vr": "UI", "Value": [CT_STUDY]}
    assert metadata["00080018"] == {"vr": "UI", "Value": [CT_SOP]}
    assert metadata["00280010"] == {"vr": "US", "Value": [128]}
    assert metadata["7FE00010"] == {
        "vr": "OW",
        "BulkDataURI": f"{BASE[:-1]}{CT_URL.removeprefix('/dicomweb')}/bulkdata/7FE00010",
    }


def test_instance_metadata_keeps_japanese_name_groups(client):
    url = _stow(client, "chrH31.dcm")

    response, content = _get(client, f"{url}/metadata", "application/json")

    assert response["Content-Type"] == "application/json"
    assert json.loads(content)[0]["00100010"]["Value"] == [
        {
            "Alphabetic": "Yamada^Tarou",
            "Ideographic": "山田^太郎",
            "Phonetic": "やまだ^たろう",
        }
    ]


def test_metadata_answers_406_for_xml(client):
    ingest_file(sample("CT_small.dcm"))

    response, _ = _get(
        client, f"{CT_URL}/metadata", 'multipart/related; type="application/dicom+xml"'
    )

    assert response.status_code == 406


@pytest.mark.parametrize("count", [1, 12])
def test_study_and_series_metadata_take_one_query_for_any_number_of_instances(
    client, tmp_path: Path, django_assert_num_queries, count: int
):
    uids = _ct_copies(tmp_path, count)

    with django_assert_num_queries(1 + GUARD_QUERIES):
        _, study_content = _get(client, f"/dicomweb/studies/{CT_STUDY}/metadata")
    with django_assert_num_queries(1 + GUARD_QUERIES):
        _, series_content = _get(
            client, f"/dicomweb/studies/{CT_STUDY}/series/{CT_SERIES}/metadata"
        )
    with django_assert_num_queries(1 + GUARD_QUERIES):
        _get(client, f"/dicomweb/studies/{CT_STUDY}", ANY_DICOM)

    for content in (study_content, series_content):
        assert [item["00080018"]["Value"][0] for item in json.loads(content)] == uids


def test_metadata_of_many_instances_streams_as_one_valid_array(
    client, tmp_path: Path, settings
):
    uids = _ct_copies(tmp_path, 40)

    response, content = _get(client, f"/dicomweb/studies/{CT_STUDY}/metadata")

    assert response.streaming
    metadata = json.loads(content)
    assert len(metadata) == 40 and metadata[-1]["00080018"]["Value"] == [uids[-1]]
    assert all(item["7FE00010"]["BulkDataURI"].startswith(BASE) for item in metadata)


# --- Bulk data -----------------------------------------------------------------


def _bulk_url(result, tag_path: str) -> str:
    ident = result.identity
    return (
        f"/dicomweb/studies/{ident.study_uid}/series/{ident.series_uid}"
        f"/instances/{ident.sop_uid}/bulkdata/{tag_path}"
    )


def test_bulkdata_of_native_pixel_data_is_the_pixel_bytes(client):
    ingest_file(sample("CT_small.dcm"))

    response, content = _get(client, f"{CT_URL}/bulkdata/7FE00010")

    [(headers, data)] = split_response(content, response["Content-Type"])
    assert response["Content-Type"].startswith(
        'multipart/related; type="application/octet-stream"'
    )
    assert (
        headers["content-type"]
        == "application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1"
    )
    assert data == pydicom.dcmread(sample("CT_small.dcm")).PixelData


def test_bulkdata_as_a_single_part_octet_stream(client):
    ingest_file(sample("MR_small_implicit.dcm"))
    ds = pydicom.dcmread(sample("MR_small_implicit.dcm"))
    url = f"/dicomweb/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}/bulkdata/7FE00010"

    response, content = _get(client, url, "application/octet-stream")

    assert response["Content-Type"] == "application/octet-stream"
    assert content == ds.PixelData


def test_bulkdata_in_big_endian_needs_any_transfer_syntax(client):
    result = ingest_file(sample("MR_small_bigendian.dcm"))

    refused, _ = _get(client, _bulk_url(result, "7FE00010"), OCTET_MULTIPART)
    response, content = _get(
        client, _bulk_url(result, "7FE00010"), OCTET_MULTIPART + "; transfer-syntax=*"
    )

    assert refused.status_code == 406
    [(headers, data)] = split_response(content, response["Content-Type"])
    assert (
        headers["content-type"]
        == "application/octet-stream; transfer-syntax=1.2.840.10008.1.2.2"
    )
    raw = sample("MR_small_bigendian.dcm").read_bytes()
    assert raw.endswith(data) and len(data) == 64 * 64 * 2


def test_bulkdata_of_encapsulated_pixel_data_is_one_part_per_frame(client):
    result = ingest_file(sample("SC_rgb_rle_2frame.dcm"))

    response, content = _get(
        client, _bulk_url(result, "7FE00010"), OCTET_MULTIPART + "; transfer-syntax=*"
    )

    parts = split_response(content, response["Content-Type"])
    ds = pydicom.dcmread(sample("SC_rgb_rle_2frame.dcm"))
    assert [data for _, data in parts] == list(
        generate_frames(ds.PixelData, number_of_frames=2)
    )
    assert (
        parts[0][0]["content-type"]
        == "application/octet-stream; transfer-syntax=1.2.840.10008.1.2.5"
    )


def test_bulkdata_of_a_deflated_file_is_read_by_parsing(client):
    result = ingest_file(sample("image_dfl.dcm"))

    response, content = _get(
        client, _bulk_url(result, "7FE00010"), "application/octet-stream"
    )

    assert response.status_code == 200
    assert content == pydicom.dcmread(sample("image_dfl.dcm")).PixelData


def test_bulkdata_inside_a_sequence_and_at_the_top_level(client, tmp_path: Path):
    ds = pydicom.dcmread(sample("CT_small.dcm"))
    icon = pydicom.Dataset()
    icon.Rows, icon.Columns, icon.BitsAllocated = 32, 64, 8
    icon.add_new(0x7FE00010, "OB", bytes(range(256)) * 8)
    ds.IconImageSequence = [icon]
    ds.add_new(0x00420011, "OB", b"%PDF" + bytes(3000))
    path = tmp_path / "with-icon.dcm"
    path.write_bytes(_ds_bytes(ds))
    result = ingest_file(path)

    _, metadata = _get(
        client, _bulk_url(result, "x").replace("/bulkdata/x", "/metadata")
    )
    nested_uri = json.loads(metadata)[0]["00880200"]["Value"][0]["7FE00010"][
        "BulkDataURI"
    ]
    nested, nested_content = _get(
        client, nested_uri.removeprefix("http://testserver"), "application/octet-stream"
    )
    top, top_content = _get(
        client, _bulk_url(result, "00420011"), "application/octet-stream"
    )

    assert (
        nested_uri
        == f"{BASE[:-1]}{_bulk_url(result, '00880200/0/7FE00010').removeprefix('/dicomweb')}"
    )
    assert nested.status_code == top.status_code == 200
    assert nested_content == bytes(range(256)) * 8
    assert top_content == b"%PDF" + bytes(3000)


@pytest.mark.parametrize(
    ("tag_path", "status"),
    [
        ("00100020", 404),
        ("00880200/5/7FE00010", 404),
        ("../etc", 400),
        ("7FE00010/x", 400),
    ],
)
def test_bulkdata_refuses_a_path_with_no_bulk_data(client, tag_path: str, status: int):
    ingest_file(sample("CT_small.dcm"))

    response, _ = _get(client, f"{CT_URL}/bulkdata/{tag_path}")

    assert response.status_code == status


def test_bulkdata_takes_one_query(client, django_assert_num_queries):
    ingest_file(sample("CT_small.dcm"))

    with django_assert_num_queries(1 + GUARD_QUERIES):
        response, content = _get(
            client, f"{CT_URL}/bulkdata/7FE00010", "application/octet-stream"
        )

    assert len(content) == 128 * 128 * 2
