"""Audit events as DICOM Audit Messages (PS3.15 A.5), the XML IHE ATNA wants.

An audit repository classifies events by the coded values of this XML, not
by pacsweb's action names, so each action maps to its DICOM audit event ID
(CID 400), an event action code and, where the standard defines one, an
event type code (CID 401/403). The requester and pacsweb are the two
active participants; patients, studies and queries are the participant
objects. The XML is built from the stored AuditEvent row alone, so the row
and the message never disagree.
"""

import base64
import os
import re
import socket
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING, NamedTuple

from django.conf import settings
from pydicom.uid import UID

if TYPE_CHECKING:
    from apps.accounts.models import AuditEvent


class Code(NamedTuple):
    code: str
    meaning: str
    system: str = "DCM"


class EventKind(NamedTuple):
    event_id: Code
    # PS3.15 A.5.1 EventActionCode: Create, Read, Update, Delete, Execute.
    action_code: str
    event_type: Code | None = None


USER_AUTHENTICATION = Code("110114", "User Authentication")
SECURITY_ALERT = Code("110113", "Security Alert")
QUERY = Code("110112", "Query")
ACCESSED = Code("110103", "DICOM Instances Accessed")
TRANSFERRED = Code("110104", "DICOM Instances Transferred")
STUDY_DELETED = Code("110105", "DICOM Study Deleted")
APPLICATION_ACTIVITY = Code("110100", "Application Activity")

EVENTS = {
    "sign-in": EventKind(USER_AUTHENTICATION, "E", Code("110122", "Login")),
    "sign-in-failed": EventKind(USER_AUTHENTICATION, "E", Code("110122", "Login")),
    "sign-out": EventKind(USER_AUTHENTICATION, "E", Code("110123", "Logout")),
    "query": EventKind(QUERY, "E"),
    "worklist": EventKind(QUERY, "E"),
    "retrieve": EventKind(ACCESSED, "R"),
    "view": EventKind(ACCESSED, "R"),
    "share-open": EventKind(ACCESSED, "R"),
    "store": EventKind(TRANSFERRED, "C"),
    "delete": EventKind(STUDY_DELETED, "D"),
    "admin-change": EventKind(
        SECURITY_ALERT, "E", Code("110129", "Security Configuration")
    ),
    "share-create": EventKind(
        SECURITY_ALERT, "E", Code("110135", "Object Security Attributes Changed")
    ),
    "share-revoke": EventKind(
        SECURITY_ALERT, "E", Code("110135", "Object Security Attributes Changed")
    ),
}
# A refused association or request on a route with no more specific action.
ACCESS_DENIED = EventKind(
    SECURITY_ALERT, "E", Code("110132", "Use of Restricted Function")
)
OTHER = EventKind(APPLICATION_ACTIVITY, "E")

# EventOutcomeIndicator: 0 success, 4 minor failure, 8 serious failure.
OUTCOMES = {"success": "0", "denied": "4", "failure": "8"}

SOURCE_ROLE = Code("110153", "Source Role ID")
DESTINATION_ROLE = Code("110152", "Destination Role ID")
PATIENT_NUMBER = Code("2", "Patient Number", "RFC-3881")
STUDY_UID = Code("110180", "Study Instance UID")
SOP_CLASS_UID = Code("110181", "SOP Class UID")
URI = Code("12", "URI", "RFC-3881")
APPLICATION_SERVER = Code("4", "Application Server Process")


def event_kind(event: "AuditEvent") -> EventKind:
    if event.action in EVENTS:
        return EVENTS[event.action]
    if event.outcome == "denied":
        return ACCESS_DENIED
    return OTHER


def audit_message(event: "AuditEvent") -> bytes:
    kind = event_kind(event)
    root = ET.Element("AuditMessage")

    identification = ET.SubElement(
        root,
        "EventIdentification",
        EventActionCode=kind.action_code,
        EventDateTime=event.created_at.isoformat(),
        EventOutcomeIndicator=OUTCOMES.get(event.outcome, "8"),
    )
    _code(identification, "EventID", kind.event_id)
    if kind.event_type is not None:
        _code(identification, "EventTypeCode", kind.event_type)
    if event.detail:
        ET.SubElement(identification, "EventOutcomeDescription").text = event.detail

    # Who asked: a user (with the OAuth application acting for them) or an AE.
    requester_roles, pacsweb_roles = _roles(event.action)
    requester = {
        "UserID": event.username or event.ae_title or "anonymous",
        "UserIsRequestor": "true",
    }
    if event.username and event.ae_title:
        requester["AlternativeUserID"] = event.ae_title
    if event.application:
        requester["UserName"] = event.application
    if event.address:
        requester["NetworkAccessPointID"] = event.address
        requester["NetworkAccessPointTypeCode"] = "2"  # IP address
    participant = ET.SubElement(root, "ActiveParticipant", requester)
    for role in requester_roles:
        _code(participant, "RoleIDCode", role)

    host = socket.gethostname()
    participant = ET.SubElement(
        root,
        "ActiveParticipant",
        UserID=settings.PACSWEB_AE_TITLE,
        AlternativeUserID=str(os.getpid()),
        UserIsRequestor="false",
        NetworkAccessPointID=host,
        NetworkAccessPointTypeCode="1",  # machine name
    )
    for role in pacsweb_roles:
        _code(participant, "RoleIDCode", role)

    source = ET.SubElement(root, "AuditSourceIdentification", AuditSourceID=host)
    _code(source, "AuditSourceTypeCode", APPLICATION_SERVER)

    study_uids = [uid for uid in event.study_uids.split("\\") if uid]
    for patient_id in _patients(event, study_uids):
        _object(root, patient_id, PATIENT_NUMBER, type_code="1", role="1")
    for uid in study_uids:
        _object(root, uid, STUDY_UID, type_code="2", role="3")
    if kind.event_id == QUERY:
        # DIMSE: the SOP Class UID named in the resource; DICOMweb: the URI.
        sop_classes = [w for w in event.resource.split() if UID(w).is_valid]
        if sop_classes:
            query = _object(
                root, sop_classes[0], SOP_CLASS_UID, type_code="2", role="24"
            )
        else:
            query = _object(root, event.resource or "-", URI, type_code="2", role="24")
        ET.SubElement(query, "ParticipantObjectQuery").text = base64.b64encode(
            event.query.encode("utf-8")
        ).decode("ascii")

    # Names, IDs and reasons come from requests and stored files; XML 1.0
    # has no way to write most control characters, and ElementTree would
    # write them as they are, so that no repository could parse the message.
    for element in root.iter():
        element.attrib = {k: _xml_safe(v) for k, v in element.attrib.items()}
        if element.text:
            element.text = _xml_safe(element.text)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


# Characters outside XML 1.0's Char production (section 2.2).
_NOT_XML_RE = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_safe(text: str) -> str:
    return _NOT_XML_RE.sub("\ufffd", text)


def _patients(event: "AuditEvent", study_uids: list[str]) -> list[str]:
    """The patients the event concerns: as recorded, or of its studies.

    Reads are recorded without the patient (the guard does not look it up
    on every request); PS3.15 wants the patient named in instance-access
    messages, so the message looks it up, once, when it is sent.
    """
    if event.patient_id:
        return [event.patient_id]
    if not study_uids:
        return []
    from apps.archive.models import Study

    found = Study.objects.filter(study_instance_uid__in=study_uids).values_list(
        "patient__patient_id", flat=True
    )
    return sorted({patient_id for patient_id in found if patient_id})


def _roles(action: str) -> tuple[list[Code], list[Code]]:
    """RoleIDCodes of (requester, pacsweb) when data moves between them."""
    if action == "store":
        return [SOURCE_ROLE], [DESTINATION_ROLE]
    if action in ("retrieve", "view", "share-open"):
        return [DESTINATION_ROLE], [SOURCE_ROLE]
    return [], []


def _code(parent: ET.Element, tag: str, code: Code) -> ET.Element:
    return ET.SubElement(
        parent,
        tag,
        {
            "csd-code": code.code,
            "codeSystemName": code.system,
            "originalText": code.meaning,
        },
    )


def _object(
    parent: ET.Element, object_id: str, id_type: Code, *, type_code: str, role: str
) -> ET.Element:
    element = ET.SubElement(
        parent,
        "ParticipantObjectIdentification",
        ParticipantObjectID=object_id,
        ParticipantObjectTypeCode=type_code,
        ParticipantObjectTypeCodeRole=role,
    )
    _code(element, "ParticipantObjectIDTypeCode", id_type)
    return element
