"""Audit events as RFC 5424 syslog messages, the IHE ATNA way.

One datagram per event, sent over UDP (RFC 5426) to the address in
PACSWEB_AUDIT_SYSLOG ("udp://host:port"). The message body is the DICOM
Audit Message XML (PS3.15 A.5, built in atna.py) that an audit repository
parses; a structured data element repeats the essentials for plain syslog
servers and grep. docs/security.md has the full format. Sending never raises into the request: a lost datagram is
logged, the database row is the record of truth.
"""

import logging
import os
import socket
from functools import cache
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from apps.accounts import atna

if TYPE_CHECKING:
    from apps.accounts.models import AuditEvent

logger = logging.getLogger(__name__)

FACILITY_AUTH = 10  # authpriv (RFC 5424 6.2.1)
SEVERITY_NOTICE = 5
SEVERITY_WARNING = 4
SD_ID = "pacsweb@32473"  # 32473: the example enterprise number of RFC 5612
APP_NAME = "pacsweb"
# IHE ITI TF-2 3.20.7.1: the MSGID that marks an audit message body.
MSGID = "IHE+RFC-3881"
# RFC 5424 6.4: a UTF-8 MSG starts with the byte order mark.
BOM = "\ufeff"


def parse_target(value: str) -> tuple[str, int]:
    parts = urlsplit(value)
    if parts.scheme != "udp" or not parts.hostname or not parts.port:
        raise ImproperlyConfigured(
            f"PACSWEB_AUDIT_SYSLOG must look like udp://host:port, got {value!r}"
        )
    return parts.hostname, parts.port


@cache
def _socket(family: int) -> socket.socket:
    return socket.socket(family, socket.SOCK_DGRAM)


def format_message(event: "AuditEvent") -> bytes:
    severity = SEVERITY_NOTICE if event.outcome == "success" else SEVERITY_WARNING
    pri = FACILITY_AUTH * 8 + severity
    timestamp = event.created_at.isoformat(timespec="microseconds").replace(
        "+00:00", "Z"
    )
    params = {
        "eventID": "^".join(atna.event_kind(event).event_id[:2]),
        "action": event.action,
        "outcome": event.outcome,
        "status": "" if event.status_code is None else str(event.status_code),
        "user": event.username,
        "application": event.application,
        "aeTitle": event.ae_title,
        "address": event.address or "",
        "studyUIDs": event.study_uids,
        "patientID": event.patient_id,
        "query": event.query,
        "resource": event.resource,
    }
    sd = " ".join(
        f'{key}="{_sd_escape(value)}"' for key, value in params.items() if value
    )
    hostname = _header_token(socket.gethostname())
    header = f"<{pri}>1 {timestamp} {hostname} {APP_NAME} {os.getpid()} {MSGID}"
    return f"{header} [{SD_ID} {sd}] {BOM}".encode() + atna.audit_message(event)


def forward(event: "AuditEvent") -> None:
    host, port = parse_target(settings.PACSWEB_AUDIT_SYSLOG)
    try:
        family, _, _, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_DGRAM
        )[0]
        _socket(family).sendto(format_message(event), address)
    except OSError:
        logger.exception("could not forward audit event %s to syslog", event.pk)


def _sd_escape(value: str) -> str:
    # RFC 5424 6.3.3: '"', '\' and ']' are escaped inside PARAM-VALUE.
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def _header_token(value: str) -> str:
    cleaned = "".join(ch for ch in value if 33 <= ord(ch) <= 126)
    return cleaned[:255] or "-"
