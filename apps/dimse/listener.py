"""The DICOM listener: one pynetdicom AE serving every registered service.

It serves on the plain port and, when PACSWEB_DICOM_TLS_PORT is set, on a
DICOM TLS port too (apps/dimse/tls.py): two pynetdicom servers of the one
AE, with the same contexts, handlers and association limit.

To add a DIMSE service, write a module that exposes a `SERVICE`
(apps/dimse/service.py: its presentation contexts and its handlers wrapped
in `guarded`) and add it to SERVICES below.
"""

import logging
import threading
import time
from typing import Any, cast

from django.conf import settings
from django.db import close_old_connections
from pynetdicom import AE, evt
from pynetdicom.events import Event
from pynetdicom.transport import ThreadedAssociationServer

from apps.accounts import audit, dimse_audit
from apps.dimse import access, echo, query_retrieve, receive, store, tls
from apps.dimse.service import Service

logger = logging.getLogger(__name__)

# query_retrieve comes after store: it re-declares the storage contexts
# with the roles C-GET needs.
SERVICES: tuple[Service, ...] = (echo.SERVICE, store.SERVICE, query_retrieve.SERVICE)

# On shutdown, associations in progress get this long to finish before they
# are aborted. Aborting is safe (an unacknowledged instance is either fully
# stored or not at all); waiting spares peers a needless resend.
SHUTDOWN_GRACE_SECONDS = 10.0


def _log_accepted(event: Event) -> None:
    peer = event.assoc.requestor
    logger.info(
        "association accepted from %s at %s:%s (called %s)",
        peer.ae_title,
        peer.address,
        peer.port,
        event.assoc.acceptor.ae_title,
    )


def _log_rejected(event: Event) -> None:
    peer = event.assoc.requestor
    reason = access.rejection_reason(event.assoc)
    logger.warning(
        "association rejected from %s at %s:%s: %s",
        peer.ae_title,
        peer.address,
        peer.port,
        reason,
    )
    try:
        audit.record(
            audit.ACCESS,
            outcome=audit.DENIED,
            ae_title=peer.ae_title,
            address=peer.address,
            resource=f"A-ASSOCIATE-RQ to {event.assoc.acceptor.ae_title}",
            detail=f"association rejected: {reason}",
        )
    except Exception:
        # The rejection stands whether or not its record could be written.
        logger.exception("could not audit the rejection of %s", peer.ae_title)
    finally:
        close_old_connections()


ASSOCIATION_HANDLERS = [
    (evt.EVT_ACCEPTED, _log_accepted),
    (evt.EVT_REJECTED, _log_rejected),
    (evt.EVT_CONN_CLOSE, receive.discard_partial_receive),
    # One audit event per association that stored (apps/accounts).
    *dimse_audit.HANDLERS,
]


class Listener:
    def __init__(
        self,
        host: str | None = None,
        port: int | None = None,
        ae_title: str | None = None,
        services: tuple[Service, ...] = SERVICES,
        tls_port: int | None = None,
    ) -> None:
        self.host = settings.PACSWEB_DICOM_HOST if host is None else host
        self.port = settings.PACSWEB_DICOM_PORT if port is None else port
        # None here and in settings: no TLS port; 0: any free one.
        self.tls_port = (
            settings.PACSWEB_DICOM_TLS_PORT if tls_port is None else tls_port
        )
        self.tls_address: tuple[str, int] | None = None
        self.ae = AE(ae_title or settings.PACSWEB_AE_TITLE)
        self.ae.maximum_associations = settings.PACSWEB_DICOM_MAX_ASSOCIATIONS
        self.services = services
        self.servers: list[ThreadedAssociationServer] = []
        access.install(self.ae)

        for service in services:
            for cx in service.contexts:
                self.ae.add_supported_context(
                    cx.abstract_syntax,
                    list(cx.transfer_syntaxes),
                    scu_role=cx.scu_role,
                    scp_role=cx.scp_role,
                )

    def start(self) -> tuple[str, int]:
        """Start serving in background threads; return the plain port's address.

        The TLS port's address, when there is one, is in `tls_address`.
        """
        receive.enable_chunked_receive()
        handlers: list[Any] = list(ASSOCIATION_HANDLERS)
        handlers += [h for service in self.services for h in service.handlers]
        # The TLS context is built first: a bad certificate stops the
        # start before any port is open.
        ssl_context = tls.server_context() if self.tls_port is not None else None

        # Non-blocking, start_server returns the running server.
        plain = cast(
            ThreadedAssociationServer,
            self.ae.start_server(
                (self.host, self.port), block=False, evt_handlers=handlers
            ),
        )
        self.servers.append(plain)
        if ssl_context is not None:
            self.tls_address = self._start_tls(ssl_context, handlers)

        host, port = plain.server_address[:2]
        logger.info(
            "DICOM listener %s on %s:%s%s (%s)",
            self.ae.ae_title,
            host,
            port,
            f", TLS on port {self.tls_address[1]}" if self.tls_address else "",
            ", ".join(service.name for service in self.services),
        )
        return str(host), int(port)

    def _start_tls(self, ssl_context, handlers: list[Any]) -> tuple[str, int]:
        server = cast(
            tls.TLSAssociationServer,
            self.ae.make_server(
                (self.host, cast(int, self.tls_port)),
                ssl_context=ssl_context,
                evt_handlers=handlers,
                server_class=tls.TLSAssociationServer,
            ),
        )
        server.handshake_timeout = float(settings.PACSWEB_DIMSE_TIMEOUT)
        server.remember_crl()
        threading.Thread(
            target=server.serve_forever, name="DICOM TLS acceptor", daemon=True
        ).start()
        # As start_server does: the AE tracks its servers, and a server's
        # shutdown() removes itself from that list.
        self.ae._servers.append(server)
        self.servers.append(server)
        host, port = server.server_address[:2]
        return str(host), int(port)

    def stop(self, grace_seconds: float = SHUTDOWN_GRACE_SECONDS) -> None:
        """Stop accepting, let associations finish for a while, abort the rest."""
        if not self.servers:
            return
        for server in self.servers:
            server.shutdown()
        self.servers = []

        deadline = time.monotonic() + grace_seconds
        while self.ae.active_associations and time.monotonic() < deadline:
            time.sleep(0.1)
        remaining = self.ae.active_associations
        if remaining:
            logger.warning(
                "aborting %s association(s) still open at shutdown", len(remaining)
            )
        self.ae.shutdown()
        for assoc in remaining:
            assoc.join(timeout=grace_seconds)
