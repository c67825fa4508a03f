"""Regressions found by attacking a running pacsweb with control characters.

- A NUL in a QIDO matching value, or in a UID of a search, study page or
  viewer URL, reached PostgreSQL, which refuses NUL in text: a 500. C-FIND
  values go through the same parser.
- A reason that quoted a control character from the request (an unknown
  parameter named "\\x01", a part whose Content-Type held a NUL) went into
  the Warning header as it was; gunicorn refuses such a header, so the
  client got gunicorn's bare 500 instead of the 400 or 409.
- The audit event of such a request carried the NUL of its URL, so
  PostgreSQL refused the row and the event (of an attack, likely) was lost.
- A NUL in an OAuth client_id reached PostgreSQL through
  django-oauth-toolkit: a 500 from the token endpoint.
- A control character in an audited value (a user name typed at sign-in,
  a patient ID from a file) made the DICOM Audit Message ill-formed XML
  that no audit repository can parse.
"""

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlencode

import pytest
from django.contrib.auth import authenticate
from django.db import connection
from django.test import Client, RequestFactory
from pydicom.dataset import Dataset

from apps.accounts.atna import audit_message
from apps.accounts.models import AuditEvent
from apps.archive.matching import Query, QueryError
from tests.archive_fixtures import CT_STUDY, store_samples
from tests.conftest import sample
from tests.multipart_bodies import STOW_CONTENT_TYPE, body
from tests.personas import session_client

pytestmark = pytest.mark.django_db

# What a header value may hold: visible latin-1 and spaces, no controls.
HEADER_TEXT_RE = re.compile("^[\\x20-\\x7e\\xa0-\\xff]*$")


@pytest.fixture
def client(archive_client):
    return archive_client


@contextmanager
def nul_parameters() -> Iterator[list[object]]:
    """The SQL parameters holding a NUL that were sent meanwhile."""
    sent: list[object] = []

    def watch(execute, sql, params, many, context):
        rows = params if many else [params]
        for row in rows or []:
            sent.extend(p for p in row or [] if isinstance(p, str) and "\x00" in p)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(watch):
        yield sent


@pytest.mark.parametrize(
    "query",
    [
        "PatientName=a%00b",
        "PatientID=%00x",
        "AccessionNumber=1%00*",
        "StudyDescription=*%00",
        "ModalitiesInStudy=C%00T",
    ],
)
def test_a_nul_in_a_qido_value_is_a_400_that_names_the_key(client, query):
    store_samples(("CT_small.dcm",))
    key = query.split("=")[0]

    with nul_parameters() as sent:
        response = client.get("/dicomweb/instances?" + query)

    assert response.status_code == 400
    assert response.json()["reason"] == f"{key}: must not contain a NUL character"
    assert sent == []


def test_a_nul_in_a_c_find_value_fails_the_query():
    identifier = Dataset()
    identifier.QueryRetrieveLevel = "STUDY"
    identifier.PatientName = "a\x00b"

    with pytest.raises(QueryError) as refused:
        Query.from_identifier(identifier, "STUDY")

    assert refused.value.reason == "PatientName: must not contain a NUL character"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("/dicomweb/studies/1.2%00/series", "study in the URL is not a valid UID"),
        ("/dicomweb/studies/1.2%00/instances", "study in the URL is not a valid UID"),
        ("/dicomweb/studies/../series", "study in the URL is not a valid UID"),
        (
            f"/dicomweb/studies/{CT_STUDY}/series/1.2%00/instances",
            "series in the URL is not a valid UID",
        ),
    ],
)
def test_a_bad_uid_in_a_search_url_is_a_400(client, url, reason):
    with nul_parameters() as sent:
        response = client.get(url)

    assert response.status_code == 400
    assert response.json()["reason"].startswith(reason)
    assert sent == []


@pytest.mark.parametrize("page", ["studies", "viewer"])
def test_a_nul_in_a_study_page_url_is_a_404(archive_admin, page):
    client = session_client(archive_admin)

    with nul_parameters() as sent:
        response = client.get(f"/{page}/1.2%00/")

    assert response.status_code == 404
    assert sent == []


def test_an_unknown_parameter_named_by_a_control_character_is_a_clean_400(client):
    response = client.get("/dicomweb/studies?%01=1")

    assert response.status_code == 400
    assert response.json()["reason"] == (
        "\x01: unknown query parameter (not a DICOM keyword or tag)"
    )
    assert response["Warning"] == (
        '299 pacsweb "?: unknown query parameter (not a DICOM keyword or tag)"'
    )


def test_a_part_type_with_a_nul_is_a_409_with_a_clean_warning(client, storage_dir):
    data = body(
        [sample("CT_small.dcm").read_bytes()], part_type="application/dicom\x00; x=1"
    )

    response = client.post(
        "/dicomweb/studies", data=data, content_type=STOW_CONTENT_TYPE
    )

    assert response.status_code == 409
    assert HEADER_TEXT_RE.match(response["Warning"])
    assert "part 1: the part is application/dicom?; x=1" in response["Warning"]


def test_a_control_character_in_a_sign_in_name_keeps_the_audit_xml_well_formed():
    request = RequestFactory().post("/accounts/login/", REMOTE_ADDR="192.0.2.9")
    authenticate(request, username="eve\x01\x1b[2J", password="wrong-password-1")
    event = AuditEvent.objects.get(action="sign-in-failed")
    assert event.username == "eve\x01\x1b[2J"

    message = ET.fromstring(audit_message(event))

    requester = message.find("ActiveParticipant")
    assert requester is not None
    assert requester.attrib["UserID"] == "eve\ufffd\ufffd[2J"


def test_the_audit_event_of_a_request_with_a_nul_in_its_url_is_kept(client):
    response = client.get("/dicomweb/studies/1.2%00/series")

    assert response.status_code == 400
    event = AuditEvent.objects.get(action="query")
    assert event.status_code == 400
    assert event.study_uids == "1.2\ufffd"
    assert event.resource == "GET /dicomweb/studies/1.2%00/series"


@pytest.mark.parametrize("url", ["/o/token/", "/o/introspect/", "/o/revoke_token/"])
def test_a_nul_in_an_oauth_parameter_is_rfc_6749_invalid_request(url):
    form = {"grant_type": "client_credentials", "client_id": "a\x00", "token": "t"}

    response = Client().post(
        url, urlencode(form), content_type="application/x-www-form-urlencoded"
    )

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_a_trailing_newline_does_not_pass_the_identifier_checks():
    # `$` also matches before a final newline: every pattern check is whole.
    from apps.archive.ingest import is_valid_uid
    from apps.dicomweb.bulk import is_tag_path

    assert is_valid_uid("1.2.3")
    assert not is_valid_uid("1.2.3\n")
    assert is_tag_path("7FE00010")
    assert not is_tag_path("7FE00010\n")
