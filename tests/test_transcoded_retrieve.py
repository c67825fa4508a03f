"""WADO-RS instance, series and study retrieve in Explicit VR Little Endian."""

import io

import pydicom
import pytest
from pydicom.uid import generate_uid

from apps.archive.ingest import ingest_file
from tests.pixel_samples import full_dataset, sample_path
from tests.test_pixel_views import parts

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(archive_client):
    # Past the security guard (tests/test_auth_*.py covers the guard).
    return archive_client


ASK_ELE = (
    'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.1'
)
PART_ELE = "application/dicom; transfer-syntax=1.2.840.10008.1.2.1"


def instance_url(name: str) -> str:
    identity = ingest_file(sample_path(name)).identity
    return (
        f"/dicomweb/studies/{identity.study_uid}/series/{identity.series_uid}"
        f"/instances/{identity.sop_uid}"
    )


@pytest.mark.parametrize(
    ("name", "twin", "accept"),
    [
        ("rtdose_rle.dcm", "rtdose.dcm", ASK_ELE),
        ("MR_small_jp2klossless.dcm", "MR_small.dcm", ASK_ELE),
        ("MR_small_jpeg_ls_lossless.dcm", "MR_small.dcm", ASK_ELE),
        # Explicit VR LE is the default of application/dicom (PS3.18 8.7.3.5.2).
        ("MR_small_implicit.dcm", "MR_small.dcm", None),
        (
            "MR_small_bigendian.dcm",
            "MR_small.dcm",
            'multipart/related; type="application/dicom"',
        ),
    ],
)
def test_it_transcodes_an_instance_to_explicit_le(client, name, twin, accept):
    headers = {"HTTP_ACCEPT": accept} if accept else {}

    response = client.get(instance_url(name), **headers)

    ((content_type, body),) = parts(response)
    result = pydicom.dcmread(io.BytesIO(body))
    assert content_type == PART_ELE
    assert result.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
    assert result.PixelData == full_dataset(twin).PixelData
    assert result.SOPInstanceUID == full_dataset(name).SOPInstanceUID


def test_it_still_sends_the_stored_file_for_any_transfer_syntax(client):
    url = instance_url("rtdose_rle.dcm")

    response = client.get(
        url,
        HTTP_ACCEPT='multipart/related; type="application/dicom"; transfer-syntax=*',
    )

    assert parts(response) == [
        (
            "application/dicom; transfer-syntax=1.2.840.10008.1.2.5",
            sample_path("rtdose_rle.dcm").read_bytes(),
        )
    ]


def test_it_answers_406_when_the_decoders_refuse_the_pixel_data(client):
    response = client.get(instance_url("JPEG-lossy.dcm"), HTTP_ACCEPT=ASK_ELE)

    assert response.status_code == 406
    assert "could not be decoded" in response.json()["reason"]


def test_it_transcodes_only_the_instances_that_need_it_in_a_series(client, tmp_path):
    url = instance_url("MR_small_RLE.dcm")
    ds = full_dataset("MR_small.dcm")
    ds.SOPInstanceUID = generate_uid()
    ds.InstanceNumber = 99
    copy = tmp_path / "native.dcm"
    ds.save_as(copy)
    ingest_file(copy)
    series_url = url.split("/instances/")[0]

    response = client.get(series_url, HTTP_ACCEPT=ASK_ELE)

    got = parts(response)
    assert [content_type for content_type, _ in got] == [PART_ELE, PART_ELE]
    assert sum(body == copy.read_bytes() for _, body in got) == 1
    decoded = [pydicom.dcmread(io.BytesIO(body)) for _, body in got]
    assert all(d.PixelData == ds.PixelData for d in decoded)


def _ask(syntax: str) -> str:
    return f'multipart/related; type="application/dicom"; transfer-syntax={syntax}'


@pytest.mark.parametrize(
    ("name", "target"),
    [
        ("CT_small.dcm", "1.2.840.10008.1.2.5"),  # 16-bit signed -> RLE Lossless
        ("MR_small_jpeg_ls_lossless.dcm", "1.2.840.10008.1.2.5"),
        ("SC_rgb_rle_2frame.dcm", "1.2.840.10008.1.2.4.90"),  # RGB, 2 frames
        ("SC_rgb_small_odd.dcm", "1.2.840.10008.1.2.5"),
        ("CT_small.dcm", "1.2.840.10008.1.2.4.90"),  # JPEG 2000 Lossless
        ("MR_small_RLE.dcm", "1.2.840.10008.1.2.4.90"),
        ("MR_small_bigendian.dcm", "1.2.840.10008.1.2.4.90"),
        ("CT_small.dcm", "1.2.840.10008.1.2"),  # Implicit VR Little Endian
        ("JPEG2000.dcm", "1.2.840.10008.1.2"),
    ],
)
def test_it_reencodes_an_instance_losslessly_in_the_syntax_asked_for(
    client, name, target
):
    original = full_dataset(name)

    response = client.get(instance_url(name), HTTP_ACCEPT=_ask(target))

    ((content_type, body),) = parts(response)
    result = pydicom.dcmread(io.BytesIO(body))
    assert content_type == f"application/dicom; transfer-syntax={target}"
    assert result.file_meta.TransferSyntaxUID == target
    assert result.SOPInstanceUID == original.SOPInstanceUID
    assert result.PatientName == original.PatientName
    # Lossless: the decoded values are the stored ones, to the last bit.
    assert (result.pixel_array == original.pixel_array).all()


def test_it_prefers_the_first_syntax_it_can_produce(client):
    url = instance_url("CT_small.dcm")
    accept = ", ".join(
        [
            _ask("1.2.840.10008.1.2.4.50") + "; q=1",  # lossy: never produced
            _ask("1.2.840.10008.1.2.5") + "; q=0.8",
            _ask("1.2.840.10008.1.2.1") + "; q=0.5",
        ]
    )

    response = client.get(url, HTTP_ACCEPT=accept)

    ((content_type, _),) = parts(response)
    assert content_type == "application/dicom; transfer-syntax=1.2.840.10008.1.2.5"


def test_it_answers_406_with_the_reason_when_the_encoder_cannot_take_the_image(
    client,
):
    # pydicom's RLE encoder takes at most 16 bits allocated; rtdose has 32.
    response = client.get(
        instance_url("rtdose.dcm"), HTTP_ACCEPT=_ask("1.2.840.10008.1.2.5")
    )

    assert response.status_code == 406
    detail = (
        response.json()["detail"]
        if "detail" in response.json()
        else str(response.json())
    )
    assert "RLE Lossless" in detail
    assert "Bits Allocated: 32" in detail


def test_a_tiny_image_asked_for_as_jpeg_2000_is_406_with_the_size(client):
    # The encoder's 6 resolution levels need 32 pixels a side; this CR is 16.
    response = client.get(
        instance_url("MONOCHROME1"), HTTP_ACCEPT=_ask("1.2.840.10008.1.2.4.90")
    )

    assert response.status_code == 406
    assert "at least 32x32 pixels; this one is 16x16" in response.json()["reason"]
