"""The reference DICOMweb client (dicomweb-client) against a live server."""

from urllib.parse import urlsplit

import pydicom
import pytest
from dicomweb_client.api import DICOMwebClient
from requests.exceptions import HTTPError

from tests.conftest import sample
from tests.personas import make_token, make_user

pytestmark = pytest.mark.django_db(transaction=True)

CT_SOP = "1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322"
CT_STUDY = "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322"
CT_SERIES = "1.3.6.1.4.1.5962.1.3.1.1.20040119072730.12322"


@pytest.fixture
def dicomweb(live_server) -> DICOMwebClient:
    user = make_user("archivist", "archive-admin")
    token = make_token(user, "read store")
    # Django's development server cannot read chunked request bodies, which
    # the client sends above chunk_size; gunicorn can (tests/test_gunicorn.py).
    return DICOMwebClient(
        url=f"{live_server.url}/dicomweb",
        chunk_size=64 * 1024 * 1024,
        headers={"Authorization": f"Bearer {token}"},
    )


def test_it_stores_and_retrieves_instances_with_the_reference_client(dicomweb):
    datasets = [
        pydicom.dcmread(sample(name))
        for name in ("CT_small.dcm", "MR_small.dcm", "chrH31.dcm")
    ]

    response = dicomweb.store_instances(datasets)
    retrieved = dicomweb.retrieve_instance(CT_STUDY, CT_SERIES, CT_SOP)

    stored = [item.ReferencedSOPInstanceUID for item in response.ReferencedSOPSequence]
    assert stored == [ds.SOPInstanceUID for ds in datasets]
    assert "FailedSOPSequence" not in response
    assert retrieved.SOPInstanceUID == CT_SOP
    assert retrieved.PatientName == "CompressedSamples^CT1"
    assert retrieved.PixelData == datasets[0].PixelData


def test_the_reference_client_reads_metadata_and_bulk_data(dicomweb):
    original = pydicom.dcmread(sample("CT_small.dcm"))
    dicomweb.store_instances([original])

    [study_metadata] = dicomweb.retrieve_study_metadata(CT_STUDY)
    instance_metadata = dicomweb.retrieve_instance_metadata(CT_STUDY, CT_SERIES, CT_SOP)
    bulk_uri = urlsplit(instance_metadata["7FE00010"]["BulkDataURI"])
    # dicomweb-client 0.61.2 sends "Host: localhost" without the port, so the
    # absolute URI the server builds from it has no port: ask the live
    # server for the same path instead.
    [pixels] = dicomweb.retrieve_bulkdata(
        f"{dicomweb.base_url.removesuffix('/dicomweb')}{bulk_uri.path}"
    )

    assert study_metadata == instance_metadata
    assert instance_metadata["00100010"]["Value"] == [
        {"Alphabetic": "CompressedSamples^CT1"}
    ]
    assert (
        bulk_uri.path
        == f"/dicomweb/studies/{CT_STUDY}/series/{CT_SERIES}/instances/{CT_SOP}/bulkdata/7FE00010"
    )
    assert pixels == original.PixelData
    dataset = pydicom.Dataset.from_json(
        instance_metadata, bulk_data_uri_handler=lambda *_: b""
    )
    assert dataset.StudyInstanceUID == CT_STUDY


def test_the_reference_client_sees_a_study_mismatch_as_a_conflict(dicomweb):
    with pytest.raises(HTTPError) as caught:
        dicomweb.store_instances(
            [pydicom.dcmread(sample("CT_small.dcm"))], study_instance_uid="1.2.3"
        )

    assert caught.value.response.status_code == 409
    failed = pydicom.Dataset.from_json(caught.value.response.json()).FailedSOPSequence
    assert [(item.ReferencedSOPInstanceUID, item.FailureReason) for item in failed] == [
        (CT_SOP, 0xA900)
    ]


def test_the_reference_client_finds_what_it_stored(dicomweb):
    names = ("CT_small.dcm", "MR_small.dcm", "chrH31.dcm")
    dicomweb.store_instances([pydicom.dcmread(sample(name)) for name in names])

    studies = dicomweb.search_for_studies()
    ct_series = dicomweb.search_for_series(CT_STUDY)
    found = dicomweb.search_for_studies(search_filters={"PatientName": "Yamada*"})

    assert len(studies) == 3
    assert sorted(s["0020000D"]["Value"][0] for s in studies) == sorted(
        pydicom.dcmread(sample(name)).StudyInstanceUID for name in names
    )
    assert [s["0020000E"]["Value"][0] for s in ct_series] == [CT_SERIES]
    assert [s["00100010"]["Value"][0]["Ideographic"] for s in found] == ["山田^太郎"]
