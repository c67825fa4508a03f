"""The audit trail: `record(...)` is the one function every entry point calls.

It costs one INSERT (plus, when configured, one UDP datagram): no lookups,
no per-instance rows. A retrieve of a whole study is one row naming the
study. Forwarding as syslog follows RFC 5424 with IHE ATNA event codes
(docs/security.md, "Audit trail").
"""

import logging
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.http import HttpRequest

from apps.accounts import syslog
from apps.accounts.models import AuditEvent

logger = logging.getLogger(__name__)

# Actions
SIGN_IN = "sign-in"
SIGN_IN_FAILED = "sign-in-failed"
SIGN_OUT = "sign-out"
QUERY = "query"  # QIDO-RS, C-FIND
RETRIEVE = "retrieve"  # WADO-RS, C-MOVE, C-GET
VIEW = "view"  # the viewer opened a study
STORE = "store"  # STOW-RS, upload, C-STORE
DELETE = "delete"
WORKLIST = "worklist"
DIMSE_ADMIN = "dimse-admin"
ADMIN_CHANGE = "admin-change"
SHARE_CREATE = "share-create"
SHARE_OPEN = "share-open"
SHARE_REVOKE = "share-revoke"
ACCESS = "access"  # an endpoint with no more specific action

# Outcomes
SUCCESS = "success"
FAILURE = "failure"
DENIED = "denied"

_TEXT_LIMIT = 4000


def outcome_of_status(status_code: int) -> str:
    if status_code in (401, 403):
        return DENIED
    return SUCCESS if status_code < 400 else FAILURE


def client_address(request: HttpRequest) -> str | None:
    # Behind a reverse proxy REMOTE_ADDR is the proxy; the proxy's own
    # X-Forwarded-For entry (the last one) is the client it saw.
    if settings.PACSWEB_TRUST_X_FORWARDED_FOR:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return forwarded.split(",")[-1].strip() or None
    return request.META.get("REMOTE_ADDR") or None


def record(
    action: str,
    *,
    outcome: str = SUCCESS,
    request: HttpRequest | None = None,
    user: Any = None,
    application: str = "",
    ae_title: str = "",
    address: str | None = None,
    study_uids: Iterable[str] = (),
    patient_id: str = "",
    query: str = "",
    detail: str = "",
    status_code: int | None = None,
    resource: str = "",
    share_link_id: int | None = None,
    username: str = "",
) -> AuditEvent:
    """Write one audit event. `request` fills who/where when given.

    DIMSE entry points pass `ae_title` and `address` instead of a request.
    """
    if request is not None:
        caller = getattr(request, "audit_caller", None)
        if user is None:
            request_user = getattr(request, "user", None)
            if request_user is not None and request_user.is_authenticated:
                user = request_user
        if caller is not None:
            user = user or caller.user
            application = application or caller.application_label
            share_link_id = share_link_id or caller.share_link_id
        address = address or client_address(request)
        resource = resource or f"{request.method} {request.get_full_path()}"
    uids = [_storable(uid) for uid in dict.fromkeys(study_uids) if uid]
    if user is not None and not username:
        username = user.get_username()
    # A NUL typed into a URL would make PostgreSQL refuse the row, and the
    # event (often of an attack) would be lost; it is kept, marked instead.
    username, application, ae_title = map(_storable, (username, application, ae_title))
    resource, patient_id, query, detail = map(
        _storable, (resource, patient_id, query, detail)
    )

    event = AuditEvent.objects.create(
        action=action,
        outcome=outcome,
        status_code=status_code,
        user=user,
        username=username[:150],
        application=application[:255],
        ae_title=ae_title[:16],
        share_link_id=share_link_id,
        address=address,
        resource=resource[:500],
        study_uid=uids[0][:64] if uids else "",
        study_uids="\\".join(uids)[:_TEXT_LIMIT],
        patient_id=patient_id[:64],
        query=query[:_TEXT_LIMIT],
        detail=detail[:_TEXT_LIMIT],
    )
    if settings.PACSWEB_AUDIT_SYSLOG:
        syslog.forward(event)
    return event


def _storable(text: str) -> str:
    return text.replace("\x00", "\ufffd")
