import io
import json
from pathlib import Path

import pydicom
import pytest
from django.test import RequestFactory

from apps.archive import storage
from apps.archive.models import Collection, Instance, Study
from apps.dicomweb import store
from tests.conftest import REJECTED_SAMPLES, sample
from tests.multipart_bodies import BOUNDARY, STOW_CONTENT_TYPE, body, files_body

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(archive_client):
    # Past the security guard (tests/test_auth_*.py covers the guard).
    return archive_client


CT_SOP = "1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322"
CT_STUDY = "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322"
CT_SERIES = "1.3.6.1.4.1.5962.1.3.1.1.20040119072730.12322"
CT_CLASS = "1.2.840.10008.5.1.4.1.1.2"
MR_STUDY = "1.3.6.1.4.1.5962.1.2.4.20040826185059.5457"
BASE = "http://testserver/dicomweb/"

CANNOT_UNDERSTAND = 0xC000
DOES_NOT_MATCH = 0xA900
DUPLICATE = 0x0111


def _post(
    client,
    data: bytes,
    url: str = "/dicomweb/studies",
    content_type=STOW_CONTENT_TYPE,
    **headers,
):
    return client.post(url, data=data, content_type=content_type, **headers)


def _archive() -> tuple[list[str], list[str], list[str]]:
    """What a failed request must leave as it was: rows, files, temporaries."""
    files = sorted(storage.all_stored())
    temps = sorted(p.name for p in storage.tmp_dir().iterdir())
    return (
        sorted(Instance.objects.values_list("sop_instance_uid", flat=True)),
        files,
        temps,
    )


def _failed(payload: dict) -> list[tuple[str | None, int]]:
    return [
        (item["00081155"].get("Value", [None])[0], item["00081197"]["Value"][0])
        for item in payload.get("00081198", {}).get("Value", [])
    ]


def _referenced(payload: dict) -> list[tuple[str, str, str]]:
    return [
        (
            item["00081150"]["Value"][0],
            item["00081155"]["Value"][0],
            item["00081190"]["Value"][0],
        )
        for item in payload.get("00081199", {}).get("Value", [])
    ]


def _with_uids(name: str, **values: str) -> bytes:
    ds = pydicom.dcmread(sample(name))
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def test_it_stores_an_instance_and_answers_the_store_instances_response(client):
    response = _post(client, files_body([sample("CT_small.dcm")]))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/dicom+json"
    payload = json.loads(response.content)
    assert payload["00081190"] == {"vr": "UR", "Value": [f"{BASE}studies/{CT_STUDY}"]}
    assert _referenced(payload) == [
        (
            CT_CLASS,
            CT_SOP,
            f"{BASE}studies/{CT_STUDY}/series/{CT_SERIES}/instances/{CT_SOP}",
        )
    ]
    assert "00081198" not in payload
    assert Instance.objects.get().sop_instance_uid == CT_SOP


def test_it_stores_into_the_study_named_in_the_url(client):
    response = _post(
        client,
        files_body([sample("CT_small.dcm")]),
        url=f"/dicomweb/studies/{CT_STUDY}",
    )

    assert response.status_code == 200
    assert json.loads(response.content)["00081190"]["Value"] == [
        f"{BASE}studies/{CT_STUDY}"
    ]
    assert Study.objects.get().study_instance_uid == CT_STUDY


def test_it_rejects_a_study_uid_that_does_not_match_the_url(client):
    before = _archive()

    response = _post(
        client,
        files_body([sample("CT_small.dcm")]),
        url=f"/dicomweb/studies/{MR_STUDY}",
    )

    assert response.status_code == 409
    payload = json.loads(response.content)
    assert _failed(payload) == [(CT_SOP, DOES_NOT_MATCH)]
    assert payload["00081190"] == {"vr": "UR", "Value": [f"{BASE}studies/{MR_STUDY}"]}
    assert "does not match the target study" in response["Warning"]
    assert _archive() == before


def test_it_answers_202_when_some_parts_are_stored_and_some_fail(client):
    data = body(
        [
            sample("CT_small.dcm").read_bytes(),
            b"not a dicom file at all",
            sample("MR_small.dcm").read_bytes(),
        ]
    )

    response = _post(client, data)

    assert response.status_code == 202
    payload = json.loads(response.content)
    assert [sop for _, sop, _ in _referenced(payload)] == [
        CT_SOP,
        pydicom.dcmread(sample("MR_small.dcm")).SOPInstanceUID,
    ]
    assert _failed(payload) == [(None, CANNOT_UNDERSTAND)]
    # Two studies stored: no single study to point to.
    assert payload["00081190"] == {"vr": "UR"}
    assert response["Warning"].startswith('299 pacsweb "part 2: ')
    assert Instance.objects.count() == 2


@pytest.mark.parametrize("name", sorted(REJECTED_SAMPLES))
def test_it_refuses_every_broken_sample_with_its_failure_reason(client, name: str):
    before = _archive()

    response = _post(client, files_body([sample(name)]))

    assert response.status_code == 409
    assert [reason for _, reason in _failed(json.loads(response.content))] == [
        CANNOT_UNDERSTAND
    ]
    assert REJECTED_SAMPLES[name] in response["Warning"]
    assert _archive() == before


def test_it_refuses_a_uid_with_a_path_in_it_and_stores_nothing(client):
    data = body([_with_uids("CT_small.dcm", SOPInstanceUID="../../../etc/passwd")])
    before = _archive()

    response = _post(client, data)

    assert response.status_code == 409
    assert _failed(json.loads(response.content)) == [(None, CANNOT_UNDERSTAND)]
    assert "SOPInstanceUID is not a valid UID" in response["Warning"]
    assert _archive() == before


def test_it_refuses_an_empty_part_and_stores_the_others(client):
    response = _post(client, body([b"", sample("CT_small.dcm").read_bytes()]))

    assert response.status_code == 202
    payload = json.loads(response.content)
    assert _failed(payload) == [(None, CANNOT_UNDERSTAND)]
    assert [sop for _, sop, _ in _referenced(payload)] == [CT_SOP]
    assert "part 1: the part is empty" in response["Warning"]


def test_it_refuses_a_part_of_another_media_type(client):
    data = body([sample("CT_small.dcm").read_bytes()], part_type="text/plain")

    response = _post(client, data)

    assert response.status_code == 409
    assert "the part is text/plain, not application/dicom" in response["Warning"]
    assert Instance.objects.count() == 0


def test_it_refuses_a_truncated_file_part(client):
    data = sample("CT_small.dcm").read_bytes()[:-1000]

    response = _post(client, body([data]))

    assert response.status_code == 409
    assert _failed(json.loads(response.content)) == [(None, CANNOT_UNDERSTAND)]
    assert "pixel data is truncated" in response["Warning"]
    assert Instance.objects.count() == 0


def test_it_keeps_a_duplicate_and_lists_it_as_stored_without_warning(client):
    _post(client, files_body([sample("CT_small.dcm")]))

    response = _post(client, files_body([sample("CT_small.dcm")]))

    assert response.status_code == 200
    payload = json.loads(response.content)
    assert [sop for _, sop, _ in _referenced(payload)] == [CT_SOP]
    assert "00081196" not in payload["00081199"]["Value"][0]
    assert Instance.objects.count() == 1
    assert len(list(storage.all_stored())) == 1


def test_it_fails_a_duplicate_under_the_reject_policy(client, settings):
    settings.PACSWEB_DUPLICATE_POLICY = "reject"
    _post(client, files_body([sample("CT_small.dcm")]))
    before = _archive()

    response = _post(client, files_body([sample("CT_small.dcm")]))

    assert response.status_code == 409
    assert _failed(json.loads(response.content)) == [(CT_SOP, DUPLICATE)]
    assert _archive() == before


def test_it_refuses_a_body_with_a_wrong_boundary_and_stores_nothing(client):
    data = files_body([sample("CT_small.dcm")], boundary="another-boundary")
    before = _archive()

    response = _post(client, data)

    assert response.status_code == 400
    assert "no part delimited by the boundary" in json.loads(response.content)["reason"]
    assert _archive() == before


def test_it_refuses_a_body_without_closing_boundary_and_stores_no_part_of_it(client):
    data = files_body([sample("CT_small.dcm"), sample("MR_small.dcm")])
    before = _archive()

    response = _post(client, data[: -len(f"\r\n--{BOUNDARY}--\r\n") - 10])

    assert response.status_code == 400
    assert "malformed multipart body" in json.loads(response.content)["reason"]
    assert _archive() == before


def test_it_refuses_a_body_with_no_parts(client):
    response = _post(client, f"--{BOUNDARY}--\r\n".encode())

    assert response.status_code == 400
    assert json.loads(response.content)["reason"] == "the multipart body has no parts"


@pytest.mark.parametrize(
    "content_type",
    [
        "application/dicom",
        'multipart/related; type="application/dicom+json"; boundary=x',
        'multipart/related; type="application/dicom+xml"; boundary=x',
        "multipart/form-data; boundary=x",
        "application/json",
        "not a media type",
    ],
)
def test_it_answers_415_for_an_unsupported_media_type(client, content_type: str):
    response = _post(
        client, files_body([sample("CT_small.dcm")]), content_type=content_type
    )

    assert response.status_code == 415
    assert response["Content-Type"] == "application/json"
    assert Instance.objects.count() == 0


def test_it_accepts_an_unquoted_boundary_and_no_type_parameter(client):
    data = files_body([sample("CT_small.dcm")], boundary="plain")

    response = _post(client, data, content_type="multipart/related; boundary=plain")

    assert response.status_code == 200
    assert Instance.objects.get().sop_instance_uid == CT_SOP


def test_it_answers_400_without_a_boundary_parameter(client):
    response = _post(
        client, b"--x--", content_type='multipart/related; type="application/dicom"'
    )

    assert response.status_code == 400
    assert (
        json.loads(response.content)["reason"]
        == "Content-Type has no boundary parameter"
    )


def test_it_answers_406_when_the_response_cannot_be_json(client):
    response = _post(
        client,
        files_body([sample("CT_small.dcm")]),
        HTTP_ACCEPT="application/dicom+xml",
    )

    assert response.status_code == 406
    assert Instance.objects.count() == 0


def test_it_answers_413_above_the_byte_limit_before_reading(client, settings):
    settings.PACSWEB_STOW_MAX_BYTES = 1000

    response = _post(client, files_body([sample("CT_small.dcm")]))

    assert response.status_code == 413
    assert "limit of 1000 bytes" in json.loads(response.content)["reason"]
    assert _archive() == ([], [], [])


def test_it_answers_413_above_the_part_limit_and_stores_nothing(client, settings):
    settings.PACSWEB_STOW_MAX_PARTS = 2
    data = files_body(
        [sample("CT_small.dcm"), sample("MR_small.dcm"), sample("rtplan.dcm")]
    )

    response = _post(client, data)

    assert response.status_code == 413
    assert "limit of 2 parts" in json.loads(response.content)["reason"]
    assert _archive() == ([], [], [])


def test_it_answers_411_for_a_chunked_body_the_server_did_not_de_chunk(client):
    response = _post(
        client, files_body([sample("CT_small.dcm")]), HTTP_TRANSFER_ENCODING="chunked"
    )

    assert response.status_code == 411
    assert Instance.objects.count() == 0


def test_it_answers_400_for_a_malformed_study_uid_in_the_url(client):
    response = _post(
        client, files_body([sample("CT_small.dcm")]), url="/dicomweb/studies/1.2..3"
    )

    assert response.status_code == 400
    assert (
        json.loads(response.content)["reason"]
        == "study in the URL is not a valid UID: '1.2..3'"
    )


def test_a_restricted_caller_stores_into_the_collections_it_may_read():
    mine = Collection.objects.create(name="mine")
    Collection.objects.create(name="other")
    request = RequestFactory().post(
        "/dicomweb/studies",
        data=files_body([sample("CT_small.dcm")]),
        content_type=STOW_CONTENT_TYPE,
    )
    request.allowed_collections = [mine.pk]

    response = store.store(request)

    assert response.status_code == 200
    assert list(Study.objects.get().collections.values_list("name", flat=True)) == [
        "mine"
    ]


def test_an_unrestricted_caller_stores_without_collections(client):
    _post(client, files_body([sample("CT_small.dcm")]))

    assert Study.objects.get().collections.count() == 0


def test_it_cleans_up_every_temporary_file(client, storage_dir: Path):
    _post(client, body([b"", b"junk", sample("CT_small.dcm").read_bytes()]))

    assert list(storage.tmp_dir().iterdir()) == []
