"""While the database is unreachable, ingest answers a clear, retryable error."""

import time

import pytest
from django.db import OperationalError

from apps.archive import ingest, storage
from apps.archive.ingest import ArchiveUnavailable, ingest_file
from apps.archive.models import Instance
from apps.archive.status import Status
from tests.conftest import sample
from tests.multipart_bodies import STOW_CONTENT_TYPE, files_body

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(archive_client):
    # Past the security guard (tests/test_auth_*.py covers the guard).
    return archive_client


CT_SOP = "1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322"


@pytest.fixture
def database_down(monkeypatch):
    def refuse(*args, **kwargs):
        raise OperationalError("connection to server at 127.0.0.1 refused")

    monkeypatch.setattr(ingest, "_write_rows", refuse)


def test_ingest_reports_out_of_resources_and_keeps_no_file(database_down):
    with pytest.raises(ArchiveUnavailable) as caught:
        ingest_file(sample("CT_small.dcm"))

    assert caught.value.status is Status.OUT_OF_RESOURCES
    assert caught.value.unavailable is True
    assert caught.value.sop_instance_uid == CT_SOP
    assert list(storage.all_stored()) == []


def test_stow_rs_answers_503_with_retry_after(client, database_down):
    response = client.post(
        "/dicomweb/studies",
        data=files_body([sample("CT_small.dcm")]),
        content_type=STOW_CONTENT_TYPE,
    )

    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert response.json()["reason"] == (
        "the archive database is unavailable; try again later"
    )
    assert Instance.objects.count() == 0
    assert list(storage.tmp_dir().iterdir()) == []


def test_qido_rs_answers_503_when_the_query_cannot_run(client, monkeypatch):
    from apps.dicomweb import search

    def refuse(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(search, "search", refuse)

    response = client.get("/dicomweb/studies", HTTP_ACCEPT="application/dicom+json")

    assert response.status_code == 503
    assert response["Retry-After"] == "30"


def test_c_store_answers_out_of_resources_promptly(dicom_listener, database_down):
    from tests.dimse_support import send_raw

    started = time.monotonic()
    answers = send_raw(dicom_listener, [sample("CT_small.dcm")])

    assert answers == [
        (
            Status.OUT_OF_RESOURCES,
            "the archive database is unavailable; try again later",
        )
    ]
    assert time.monotonic() - started < 30
    assert list(storage.all_stored()) == []


def test_the_guard_answers_503_when_it_cannot_read_credentials(monkeypatch):
    from django.test import Client

    from apps.accounts import access

    def refuse(*args, **kwargs):
        raise OperationalError("connection to server at 127.0.0.1 refused")

    monkeypatch.setattr(access, "_token_caller", refuse)

    response = Client(HTTP_AUTHORIZATION="Bearer anything").get("/dicomweb/studies")

    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert response.json()["reason"] == (
        "the archive database is unavailable; try again later"
    )
