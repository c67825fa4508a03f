import base64
import socket
import time
import xml.etree.ElementTree as ET
from datetime import datetime

import pytest
from django.contrib.auth import authenticate
from django.test import RequestFactory

from apps.accounts import audit
from apps.accounts.atna import audit_message
from apps.accounts.models import AuditEvent
from apps.accounts.syslog import format_message
from apps.archive.ingest import ingest_file
from tests.conftest import sample
from tests.personas import PASSWORD, bearer, make_token, session_client
from tests.security_samples import CT_STUDY

pytestmark = pytest.mark.django_db


def _sign_in_request(address="192.0.2.10"):
    return RequestFactory().post("/accounts/login/", REMOTE_ADDR=address)


def test_a_sign_in_is_recorded_field_by_field(clinician):
    from django.contrib.auth import login
    from django.contrib.sessions.backends.db import SessionStore

    request = _sign_in_request()
    request.session = SessionStore()
    user = authenticate(request, username="clara", password=PASSWORD)
    login(request, user)

    event = AuditEvent.objects.get()
    assert event.action == "sign-in"
    assert event.outcome == "success"
    assert event.user == clinician
    assert event.username == "clara"
    assert event.address == "192.0.2.10"
    assert event.resource == "POST /accounts/login/"
    assert (event.application, event.ae_title, event.study_uid, event.query) == (
        "",
        "",
        "",
        "",
    )


def test_a_failed_sign_in_is_recorded_without_the_password(clinician):
    authenticate(
        _sign_in_request("198.51.100.7"),
        username="clara",
        password="wrong-password-123",
    )

    event = AuditEvent.objects.get()
    assert (event.action, event.outcome) == ("sign-in-failed", "denied")
    assert event.user is None
    assert event.username == "clara"
    assert event.address == "198.51.100.7"
    assert event.detail == "wrong user name or password"
    assert "wrong-password" not in " ".join(str(v) for v in event.__dict__.values())


def test_a_query_is_recorded_with_its_query_text(client, clinician):
    token = make_token(clinician, "read")

    client.get(
        "/dicomweb/studies",
        {"PatientName": "Smith*", "limit": "5"},
        REMOTE_ADDR="203.0.113.5",
        **bearer(token),
    )

    event = AuditEvent.objects.get()
    assert event.action == "query"
    assert event.username == "clara"
    assert event.application == f"tests:clara ({event.application.split('(')[1][:-1]})"
    assert event.address == "203.0.113.5"
    assert event.query == "PatientName=Smith%2A&limit=5"
    assert event.resource == "GET /dicomweb/studies?PatientName=Smith%2A&limit=5"
    assert event.study_uid == ""


def test_a_retrieve_names_the_study_and_a_refusal_is_recorded_as_denied(
    client, clinician, outsider, collections
):
    ingest_file(sample("CT_small.dcm"), collection_ids=[collections["cardiology"].pk])
    allowed_response = client.get(
        f"/dicomweb/studies/{CT_STUDY}/metadata",
        **bearer(make_token(clinician, "read")),
    )
    b"".join(allowed_response.streaming_content)
    client.get(
        f"/dicomweb/studies/{CT_STUDY}/metadata", **bearer(make_token(outsider, "read"))
    )

    allowed, denied = AuditEvent.objects.order_by("id")
    assert (allowed.action, allowed.username, allowed.study_uid) == (
        "retrieve",
        "clara",
        CT_STUDY,
    )
    assert (allowed.outcome, allowed.status_code) == ("success", 200)
    assert (
        denied.action,
        denied.username,
        denied.study_uid,
        denied.outcome,
        denied.status_code,
    ) == (
        "retrieve",
        "otto",
        CT_STUDY,
        "denied",
        403,
    )
    assert denied.detail == "the 'read' permission is required"


def test_a_store_is_recorded(client, technologist):
    client.post(
        "/dicomweb/studies",
        b"",
        content_type='multipart/related; type="application/dicom"; boundary=x',
        **bearer(make_token(technologist, "store")),
    )

    event = AuditEvent.objects.get()
    assert (event.action, event.username, event.resource) == (
        "store",
        "theo",
        "POST /dicomweb/studies",
    )


def test_recording_costs_one_insert(django_assert_num_queries, clinician):
    request = RequestFactory().get("/dicomweb/studies/1.2.3", REMOTE_ADDR="127.0.0.1")
    request.user = clinician

    with django_assert_num_queries(1):
        audit.record(
            audit.RETRIEVE, request=request, study_uids=["1.2.3"], status_code=200
        )


def test_a_dimse_entry_point_records_the_calling_ae():
    event = audit.record(
        audit.QUERY,
        ae_title="MODALITY_1",
        address="10.0.0.9",
        query="PatientID=123",
        status_code=0,
    )

    event.refresh_from_db()
    assert (event.ae_title, event.address, event.query, event.username, event.user) == (
        "MODALITY_1",
        "10.0.0.9",
        "PatientID=123",
        "",
        None,
    )


def test_an_admin_change_is_recorded(archive_admin, collections):
    archive_admin.is_staff = True
    archive_admin.save()
    client = session_client(archive_admin)
    client.handler.enforce_csrf_checks = False

    response = client.post(
        f"/admin/archive/collection/{collections['oncology'].pk}/change/",
        {"name": "oncology-2", "description": ""},
    )

    assert response.status_code == 302
    event = AuditEvent.objects.get(action="admin-change")
    assert (event.username, event.outcome, event.status_code) == ("ada", "success", 302)
    assert (
        event.resource
        == f"POST /admin/archive/collection/{collections['oncology'].pk}/change/"
    )


def test_the_audit_trail_is_read_only_in_admin(archive_admin):
    archive_admin.is_staff = True
    archive_admin.is_superuser = True
    archive_admin.save()
    event = audit.record(audit.QUERY, username="someone")
    client = session_client(archive_admin)

    page = client.get(f"/admin/accounts/auditevent/{event.pk}/change/")
    add = client.get("/admin/accounts/auditevent/add/")

    assert page.status_code == 200
    assert b"someone" in page.content
    assert b'name="_save"' not in page.content
    assert add.status_code == 403


def test_the_admin_finds_events_by_patient_id(archive_admin):
    archive_admin.is_staff = archive_admin.is_superuser = True
    archive_admin.save()
    ingest_file(sample("CT_small.dcm"))
    audit.record(audit.RETRIEVE, username="clara", study_uids=[CT_STUDY])
    audit.record(audit.RETRIEVE, username="clara", study_uids=["1.2.3.4"])
    client = session_client(archive_admin)

    page = client.get("/admin/accounts/auditevent/", {"q": "1CT1"})

    assert page.status_code == 200
    assert page.context["cl"].result_count == 1
    assert page.context["cl"].result_list[0].study_uid == CT_STUDY


def test_events_are_forwarded_as_rfc5424_syslog_with_a_dicom_audit_message(settings):
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(5)
    settings.PACSWEB_AUDIT_SYSLOG = f"udp://127.0.0.1:{receiver.getsockname()[1]}"
    try:
        event = audit.record(
            audit.RETRIEVE,
            username="clara",
            address="192.0.2.1",
            study_uids=[CT_STUDY],
            patient_id="1CT1",
            status_code=200,
            query='a"b]c',
        )
        datagram = receiver.recv(65535)
    finally:
        receiver.close()

    assert datagram == format_message(event)
    head, body = datagram.split("\ufeff".encode(), 1)
    header, structured = head.decode().split(" [", 1)
    pri_version, timestamp, _host, app, _pid, msgid = header.split(" ")
    assert pri_version == "<85>1"  # authpriv.notice
    assert datetime.fromisoformat(timestamp.replace("Z", "+00:00")) == event.created_at
    assert (app, msgid) == ("pacsweb", "IHE+RFC-3881")
    assert structured.startswith(
        'pacsweb@32473 eventID="110103^DICOM Instances Accessed" action="retrieve" outcome="success" status="200" user="clara" address="192.0.2.1"'
    )
    assert f'studyUIDs="{CT_STUDY}"' in structured
    assert 'query="a\\"b\\]c"' in structured
    message = ET.fromstring(body)
    identification = message.find("EventIdentification")
    assert identification.attrib == {
        "EventActionCode": "R",
        "EventDateTime": event.created_at.isoformat(),
        "EventOutcomeIndicator": "0",
    }
    assert identification.find("EventID").attrib == {
        "csd-code": "110103",
        "codeSystemName": "DCM",
        "originalText": "DICOM Instances Accessed",
    }
    requester, archive = message.findall("ActiveParticipant")
    assert (requester.get("UserID"), requester.get("UserIsRequestor")) == (
        "clara",
        "true",
    )
    assert requester.get("NetworkAccessPointID") == "192.0.2.1"
    assert requester.find("RoleIDCode").get("csd-code") == "110152"  # destination
    assert (archive.get("UserID"), archive.get("UserIsRequestor")) == (
        "PACSWEB",
        "false",
    )
    assert archive.find("RoleIDCode").get("csd-code") == "110153"  # source
    objects = {
        o.find("ParticipantObjectIDTypeCode").get("originalText"): o.get(
            "ParticipantObjectID"
        )
        for o in message.findall("ParticipantObjectIdentification")
    }
    assert objects == {"Patient Number": "1CT1", "Study Instance UID": CT_STUDY}


@pytest.mark.parametrize(
    ("action", "outcome", "event_id", "event_type", "indicator"),
    [
        (audit.SIGN_IN_FAILED, audit.DENIED, "110114", "110122", "4"),
        (audit.SIGN_OUT, audit.SUCCESS, "110114", "110123", "0"),
        (audit.ADMIN_CHANGE, audit.SUCCESS, "110113", "110129", "0"),
        (audit.SHARE_CREATE, audit.SUCCESS, "110113", "110135", "0"),
        (audit.ACCESS, audit.DENIED, "110113", "110132", "4"),
        (audit.DELETE, audit.FAILURE, "110105", None, "8"),
    ],
)
def test_each_action_carries_its_dicom_audit_codes(
    action, outcome, event_id, event_type, indicator
):
    event = audit.record(action, outcome=outcome, ae_title="MODALITY_7")

    identification = ET.fromstring(audit_message(event)).find("EventIdentification")

    assert identification.find("EventID").get("csd-code") == event_id
    type_code = identification.find("EventTypeCode")
    assert (None if type_code is None else type_code.get("csd-code")) == event_type
    assert identification.get("EventOutcomeIndicator") == indicator


def test_a_read_names_the_patient_of_its_studies_in_the_audit_message():
    # The guard records reads without the patient; PS3.15 wants it named.
    ingest_file(sample("CT_small.dcm"))
    event = audit.record(audit.RETRIEVE, username="clara", study_uids=[CT_STUDY])

    message = ET.fromstring(audit_message(event))

    assert event.patient_id == ""
    patients = [
        o.get("ParticipantObjectID")
        for o in message.findall("ParticipantObjectIdentification")
        if o.get("ParticipantObjectTypeCodeRole") == "1"
    ]
    assert patients == ["1CT1"]


def test_a_stored_study_names_the_sender_as_source_and_pacsweb_as_destination():
    event = audit.record(
        audit.STORE, ae_title="MODALITY_7", address="192.0.2.7", study_uids=[CT_STUDY]
    )

    message = ET.fromstring(audit_message(event))

    assert message.find("EventIdentification").get("EventActionCode") == "C"
    sender, archive = message.findall("ActiveParticipant")
    assert sender.get("UserID") == "MODALITY_7"
    assert sender.find("RoleIDCode").get("csd-code") == "110153"
    assert archive.find("RoleIDCode").get("csd-code") == "110152"


def test_retrieving_a_study_of_many_instances_writes_one_row(
    client, archive_admin, tmp_path
):
    from tests.security_samples import variant

    ingest_file(sample("CT_small.dcm"))
    for n in range(1, 6):
        ingest_file(
            variant(
                tmp_path, "CT_small.dcm", sop_uid=f"1.2.826.0.1.3680043.8.498.4000.{n}"
            )
        )

    response = client.get(
        f"/dicomweb/studies/{CT_STUDY}",
        HTTP_ACCEPT='multipart/related; type="application/dicom"; transfer-syntax=*',
        **bearer(make_token(archive_admin, "read")),
    )
    body = b"".join(response.streaming_content)

    assert response.status_code == 200
    # Each UID appears twice per file: in the meta header and the data set.
    assert body.count(b"1.2.826.0.1.3680043.8.498.4000.") == 2 * 5
    event = AuditEvent.objects.get()
    assert (event.action, event.study_uids, event.status_code) == (
        "retrieve",
        CT_STUDY,
        200,
    )


@pytest.mark.django_db(transaction=True)
def test_a_c_store_association_is_one_row_naming_the_ae_and_the_studies(
    dicom_listener, tmp_path
):
    from tests.dimse_support import storescu

    sent = storescu(
        dicom_listener,
        [sample("CT_small.dcm"), sample("MR_small.dcm"), sample("rtplan.dcm")],
        tmp_path,
        "-aet",
        "MODALITY_7",
    )

    assert sent.returncode == 0, sent.stderr
    # The listener writes the row when it sees the release, which can be
    # just after storescu has exited.
    deadline = time.monotonic() + 10
    while not AuditEvent.objects.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    event = AuditEvent.objects.get()
    assert (event.action, event.outcome, event.ae_title, event.address) == (
        "store",
        "success",
        "MODALITY_7",
        "127.0.0.1",
    )
    assert sorted(event.study_uids.split("\\")) == sorted(
        [
            CT_STUDY,
            "1.3.6.1.4.1.5962.1.2.4.20040826185059.5457",
            "1.22.333.4.555555.6.7777777777777777777777777777",
        ]
    )
    assert event.detail == "3 instance(s) stored, 0 refused"
    assert event.resource == "C-STORE to PACSWEB"


@pytest.mark.django_db(transaction=True)
def test_c_find_and_c_get_are_recorded_once_per_request(dicom_listener, tmp_path):
    from pydicom.dataset import Dataset
    from pynetdicom import AE, build_role, evt
    from pynetdicom.sop_class import (
        CTImageStorage,
        StudyRootQueryRetrieveInformationModelFind,
        StudyRootQueryRetrieveInformationModelGet,
    )

    ingest_file(sample("CT_small.dcm"))
    ae = AE(ae_title="VIEWSTATION")
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
    ae.add_requested_context(CTImageStorage)
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.PatientID = "1CT1"
    query.StudyInstanceUID = ""
    move = Dataset()
    move.QueryRetrieveLevel = "STUDY"
    move.StudyInstanceUID = CT_STUDY

    assoc = ae.associate(
        "127.0.0.1",
        dicom_listener,
        ae_title="PACSWEB",
        ext_neg=[build_role(CTImageStorage, scp_role=True)],
        evt_handlers=[(evt.EVT_C_STORE, lambda event: 0x0000)],
    )
    assert assoc.is_established
    found = [
        identifier
        for _, identifier in assoc.send_c_find(
            query, StudyRootQueryRetrieveInformationModelFind
        )
        if identifier is not None
    ]
    got = list(assoc.send_c_get(move, StudyRootQueryRetrieveInformationModelGet))
    assoc.release()

    assert [d.StudyInstanceUID for d in found] == [CT_STUDY]
    assert got[-1][0].Status == 0x0000
    find_event, get_event = AuditEvent.objects.order_by("id")
    assert (
        find_event.action,
        find_event.outcome,
        find_event.ae_title,
        find_event.address,
    ) == ("query", "success", "VIEWSTATION", "127.0.0.1")
    assert find_event.query == "QueryRetrieveLevel=STUDY PatientID=1CT1"
    assert find_event.patient_id == "1CT1"
    assert find_event.detail == "1 match(es)"
    assert (get_event.action, get_event.outcome, get_event.study_uid) == (
        "retrieve",
        "success",
        CT_STUDY,
    )
    assert get_event.detail == "1 instance(s)"
    assert (
        find_event.resource
        == f"C-FIND {StudyRootQueryRetrieveInformationModelFind} to PACSWEB"
    )
    assert (
        get_event.resource
        == f"C-GET {StudyRootQueryRetrieveInformationModelGet} to PACSWEB"
    )
    find_message = ET.fromstring(audit_message(find_event))
    query = find_message.find(
        "ParticipantObjectIdentification[@ParticipantObjectTypeCodeRole='24']"
    )
    assert (
        query.get("ParticipantObjectID") == StudyRootQueryRetrieveInformationModelFind
    )
    assert query.find("ParticipantObjectIDTypeCode").get("csd-code") == "110181"
    assert base64.b64decode(query.findtext("ParticipantObjectQuery")) == (
        b"QueryRetrieveLevel=STUDY PatientID=1CT1"
    )
