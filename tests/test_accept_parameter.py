"""The `accept` query parameter (PS3.18 8.3.3.1) on every DICOMweb resource.

Found with the real OHIF Viewer (tests/test_ohif.py): with thumbnail
rendering it asks `.../thumbnail?accept=image%2Fjpeg` while its Accept
header still says multipart octet-stream, and pacsweb answered 406.
"""

import io
import json

import pydicom
import pytest
from PIL import Image

from apps.archive.ingest import ingest_file
from apps.archive.models import Instance
from tests.conftest import sample

pytestmark = pytest.mark.django_db

OHIF_THUMBNAIL_HEADER = 'multipart/related; type="application/octet-stream"'
AS_STORED = "multipart/related; type=application/octet-stream; transfer-syntax=*"


@pytest.fixture
def client(archive_client):
    # Past the security guard (tests/test_auth_*.py covers the guard).
    return archive_client


@pytest.fixture
def ct() -> Instance:
    result = ingest_file(sample("CT_small.dcm"))
    return Instance.objects.select_related("series__study").get(pk=result.instance_id)


def url(instance: Instance, suffix: str = "") -> str:
    series = instance.series
    return (
        f"/dicomweb/studies/{series.study.study_instance_uid}"
        f"/series/{series.series_instance_uid}"
        f"/instances/{instance.sop_instance_uid}{suffix}"
    )


def test_it_answers_ohifs_thumbnail_request_with_a_jpeg(client, ct):
    response = client.get(
        url(ct, "/thumbnail"),
        {"accept": "image/jpeg"},
        HTTP_ACCEPT=OHIF_THUMBNAIL_HEADER,
    )

    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    picture = Image.open(io.BytesIO(response.content))
    assert picture.format == "JPEG"
    assert picture.size[0] == picture.size[1] > 0  # CT_small is 128 x 128


def test_the_parameter_wins_over_the_header(client, ct):
    response = client.get(
        url(ct, "/rendered"), {"accept": "image/png"}, HTTP_ACCEPT="image/jpeg"
    )

    assert response["Content-Type"] == "image/png"
    assert Image.open(io.BytesIO(response.content)).format == "PNG"


def test_it_is_used_in_place_of_the_header_not_beside_it(client, ct):
    response = client.get(
        url(ct, "/rendered"), {"accept": "application/pdf"}, HTTP_ACCEPT="image/jpeg"
    )

    assert response.status_code == 406


def test_it_gives_frames_as_stored_when_the_parameter_asks(client, ct):
    pixels = pydicom.dcmread(sample("CT_small.dcm")).PixelData

    response = client.get(
        url(ct, "/frames/1"), {"accept": AS_STORED}, HTTP_ACCEPT="application/json"
    )

    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    assert pixels in body


def test_it_gives_metadata_when_the_parameter_asks_for_dicom_json(client, ct):
    response = client.get(
        url(ct, "/metadata"),
        {"accept": "application/dicom+json"},
        HTTP_ACCEPT="image/jpeg",
    )

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/dicom+json")
    (item,) = json.loads(b"".join(response.streaming_content))
    assert item["00080018"]["Value"] == [ct.sop_instance_uid]


def test_a_search_takes_it_as_the_media_type_not_as_a_matching_key(client, ct):
    response = client.get(
        "/dicomweb/studies", {"accept": "application/json", "PatientID": "1CT1"}
    )

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    (study,) = response.json()
    assert study["0020000D"]["Value"] == [ct.series.study.study_instance_uid]


def test_a_search_answers_406_when_the_parameter_asks_for_what_it_cannot_give(
    client, ct
):
    response = client.get("/dicomweb/studies", {"accept": "image/jpeg"})

    assert response.status_code == 406


def test_a_malformed_parameter_is_a_400_naming_accept(client, ct):
    response = client.get(url(ct, "/thumbnail"), {"accept": "image"})

    assert response.status_code == 400
    assert "Accept" in response.json()["reason"]
