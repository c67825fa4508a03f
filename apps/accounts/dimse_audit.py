"""Audit of C-STORE: one event per association, not one per instance.

The storage handler notes each instance it stored or refused on the
association; when the association ends (released or aborted) one event
names the calling AE, its address and every study touched.
"""

import logging

from django.db import close_old_connections
from pynetdicom import evt
from pynetdicom.association import Association
from pynetdicom.events import Event

from apps.accounts import audit

logger = logging.getLogger(__name__)

_NOTES = "_pacsweb_store_notes"


def note_store(assoc: Association, study_uid: str, stored: bool) -> None:
    notes = getattr(assoc, _NOTES, None)
    if notes is None:
        notes = {"studies": {}, "stored": 0, "refused": 0}
        setattr(assoc, _NOTES, notes)
    if study_uid:
        notes["studies"][study_uid] = None
    notes["stored" if stored else "refused"] += 1


def _association_ended(event: Event) -> None:
    notes = getattr(event.assoc, _NOTES, None)
    if notes is None:
        return
    # Released and aborted can both be seen for one association.
    delattr(event.assoc, _NOTES)
    peer = event.assoc.requestor
    try:
        audit.record(
            audit.STORE,
            outcome=audit.SUCCESS if not notes["refused"] else audit.FAILURE,
            ae_title=peer.ae_title,
            address=peer.address,
            study_uids=list(notes["studies"]),
            resource=f"C-STORE to {event.assoc.acceptor.ae_title}",
            detail=f"{notes['stored']} instance(s) stored, {notes['refused']} refused",
        )
    except Exception:
        logger.exception(
            "could not write the C-STORE audit event for %s", peer.ae_title
        )
    finally:
        close_old_connections()


HANDLERS = [
    (evt.EVT_RELEASED, _association_ended),
    (evt.EVT_ABORTED, _association_ended),
]


def identifier_text(identifier) -> str:
    """The keys of a C-FIND/C-MOVE/C-GET identifier that carry a value."""
    parts = []
    for element in identifier:
        if element.VR == "SQ" or element.value in (None, "", b""):
            continue
        parts.append(f"{element.keyword or element.tag}={element.value}")
    return " ".join(parts)


def record_request(
    event: Event, action: str, *, outcome: str, status: int, detail: str = ""
) -> None:
    """One audit event for a C-FIND, C-MOVE or C-GET request."""
    peer = event.assoc.requestor
    identifier = event.identifier
    study_uids = identifier.get("StudyInstanceUID", "") or ""
    if isinstance(study_uids, str):
        study_uids = [u for u in study_uids.split("\\") if u]
    try:
        audit.record(
            action,
            outcome=outcome,
            status_code=status,
            ae_title=peer.ae_title,
            address=peer.address,
            study_uids=[str(u) for u in study_uids],
            patient_id=str(identifier.get("PatientID", "") or ""),
            query=identifier_text(identifier),
            resource=_request_resource(event),
            detail=detail,
        )
    except Exception:
        logger.exception("could not write the audit event for %s", peer.ae_title)
    finally:
        close_old_connections()


def _request_resource(event: Event) -> str:
    """'C-FIND <SOP Class UID> to <our AE>': the audit message names the class."""
    service = type(event.request).__name__.replace("_", "-")
    sop_class = event.request.AffectedSOPClassUID or ""
    return f"{service} {sop_class} to {event.assoc.acceptor.ae_title}".replace(
        "  ", " "
    )
