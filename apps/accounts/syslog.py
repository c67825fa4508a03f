"""Audit events as RFC 5424 syslog messages, the IHE ATNA way.

PACSWEB_AUDIT_SYSLOG names the receiver: "udp://host:port" sends one
datagram per event (RFC 5426); "tls://host:port" keeps a TLS connection
(RFC 5425, octet-counted frames, server certificate checked, client
certificate offered when configured), fed by one background thread per
process so that a slow or absent repository never holds up a request. The message body is the DICOM
Audit Message XML (PS3.15 A.5, built in atna.py) that an audit repository
parses; a structured data element repeats the essentials for plain syslog
servers and grep. docs/security.md has the full format. Sending never raises into the request: a lost datagram is
logged, the database row is the record of truth.
"""

import logging
import os
import queue
import socket
import ssl
import threading
import time
from functools import cache
from typing import TYPE_CHECKING, NamedTuple
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


class Target(NamedTuple):
    scheme: str
    host: str
    port: int


def parse_target(value: str) -> Target:
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme not in ("udp", "tls") or not parts.hostname or not port:
        raise ImproperlyConfigured(
            "PACSWEB_AUDIT_SYSLOG must look like udp://host:port or "
            f"tls://host:port, got {value!r}"
        )
    return Target(parts.scheme, parts.hostname, port)


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
    target = parse_target(settings.PACSWEB_AUDIT_SYSLOG)
    if target.scheme == "tls":
        _tls_sender(target, os.getpid()).submit(format_message(event), event.pk)
        return
    try:
        family, _, _, _, address = socket.getaddrinfo(
            target.host, target.port, type=socket.SOCK_DGRAM
        )[0]
        _socket(family).sendto(format_message(event), address)
    except OSError:
        logger.exception("could not forward audit event %s to syslog", event.pk)


def tls_context() -> ssl.SSLContext:
    """Verify the repository against PACSWEB_AUDIT_SYSLOG_CA (or the system's
    CAs); offer PACSWEB_AUDIT_SYSLOG_CERT/KEY, as ATNA's mutual TLS asks."""
    context = ssl.create_default_context(
        cafile=settings.PACSWEB_AUDIT_SYSLOG_CA or None
    )
    if settings.PACSWEB_AUDIT_SYSLOG_CERT:
        context.load_cert_chain(
            settings.PACSWEB_AUDIT_SYSLOG_CERT,
            settings.PACSWEB_AUDIT_SYSLOG_KEY or None,
        )
    return context


@cache
def _tls_sender(target: Target, pid: int) -> "TlsSender":
    # Keyed by PID: a forked worker starts its own thread and connection.
    return TlsSender(target, tls_context())


class TlsSender:
    """Messages queue here; one daemon thread writes them to the repository.

    A message is retried until a connection takes it, so a repository that
    restarts loses nothing that was queued; when the queue is full (the
    repository has been away for long) new messages are dropped from syslog
    with a log line. The database row stays the record of truth either way.
    """

    CONNECT_TIMEOUT = 5.0
    RETRY_MAX_SECONDS = 30.0

    def __init__(self, target: Target, context: ssl.SSLContext) -> None:
        self.target = target
        self.context = context
        self.queue: queue.Queue[bytes] = queue.Queue(
            maxsize=settings.PACSWEB_AUDIT_SYSLOG_QUEUE
        )
        self.retry_seconds = 0.5
        self._connection: ssl.SSLSocket | None = None
        self._thread = threading.Thread(
            target=self._run, name="audit-syslog", daemon=True
        )
        self._thread.start()

    def submit(self, message: bytes, event_id: int | None = None) -> None:
        try:
            self.queue.put_nowait(message)
        except queue.Full:
            logger.error(
                "audit syslog queue full: event %s not sent to %s:%s",
                event_id,
                self.target.host,
                self.target.port,
            )

    def _run(self) -> None:
        while True:
            message = self.queue.get()
            # RFC 5425 4.3: MSG-LEN SP SYSLOG-MSG.
            frame = f"{len(message)} ".encode() + message
            delay = self.retry_seconds
            while not self._send(frame):
                time.sleep(delay)
                delay = min(delay * 2, self.RETRY_MAX_SECONDS)

    def _send(self, frame: bytes) -> bool:
        try:
            if self._connection is None:
                raw = socket.create_connection(
                    (self.target.host, self.target.port), self.CONNECT_TIMEOUT
                )
                self._connection = self.context.wrap_socket(
                    raw, server_hostname=self.target.host
                )
            self._connection.sendall(frame)
            return True
        except (OSError, ssl.SSLError) as exc:
            logger.warning(
                "audit syslog to %s:%s failed (%s); retrying",
                self.target.host,
                self.target.port,
                exc,
            )
            if self._connection is not None:
                self._connection.close()
                self._connection = None
            return False


def _sd_escape(value: str) -> str:
    # RFC 5424 6.3.3: '"', '\' and ']' are escaped inside PARAM-VALUE.
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def _header_token(value: str) -> str:
    cleaned = "".join(ch for ch in value if 33 <= ord(ch) <= 126)
    return cleaned[:255] or "-"
