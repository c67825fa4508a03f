"""DICOM TLS (PS3.15 B.1): the listener's TLS port and TLS for SCU work.

Both sides take their certificates from settings (docs/security.md,
"DIMSE TLS"). The listener's server accepts TCP connections in its one
accept thread; the TLS handshake is done in the connection's own thread,
with a time limit, so that a peer that connects and stays silent cannot
hold up everybody else, and a refused handshake is logged with who tried.
"""

import logging
import os
import socket
import ssl
from typing import Any

from django.conf import settings
from pynetdicom.transport import ThreadedAssociationServer

logger = logging.getLogger(__name__)

_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}

TlsArgs = tuple[ssl.SSLContext, str]


class TLSConfigurationError(ValueError):
    """A certificate, key or CA bundle that cannot be used."""


def server_context() -> ssl.SSLContext:
    """The listener's context; with a CA set, client certificates are required."""
    if not settings.PACSWEB_DICOM_TLS_CERT or not settings.PACSWEB_DICOM_TLS_KEY:
        raise TLSConfigurationError(
            "PACSWEB_DICOM_TLS_CERT and PACSWEB_DICOM_TLS_KEY are required "
            "for the TLS port"
        )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = _VERSIONS[settings.PACSWEB_DICOM_TLS_MIN_VERSION]
    _load_chain(
        context,
        settings.PACSWEB_DICOM_TLS_CERT,
        settings.PACSWEB_DICOM_TLS_KEY,
        "PACSWEB_DICOM_TLS_CERT/KEY",
    )
    if settings.PACSWEB_DICOM_TLS_CA:
        _load_ca(context, settings.PACSWEB_DICOM_TLS_CA, "PACSWEB_DICOM_TLS_CA")
        context.verify_mode = ssl.CERT_REQUIRED
    if settings.PACSWEB_DICOM_TLS_CRL:
        _load_crl(context, settings.PACSWEB_DICOM_TLS_CRL, "PACSWEB_DICOM_TLS_CRL")
    return context


def client_context() -> ssl.SSLContext:
    """Our context as a TLS client: the peer is always verified."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = _VERSIONS[settings.PACSWEB_DICOM_TLS_MIN_VERSION]
    context.check_hostname = settings.PACSWEB_DICOM_TLS_CHECK_HOSTNAME
    if settings.PACSWEB_DICOM_TLS_CLIENT_CA:
        _load_ca(
            context, settings.PACSWEB_DICOM_TLS_CLIENT_CA, "PACSWEB_DICOM_TLS_CLIENT_CA"
        )
    else:
        context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    cert, key = (
        settings.PACSWEB_DICOM_TLS_CLIENT_CERT,
        settings.PACSWEB_DICOM_TLS_CLIENT_KEY,
    )
    if cert or key:
        _load_chain(context, cert, key, "PACSWEB_DICOM_TLS_CLIENT_CERT/KEY")
    if settings.PACSWEB_DICOM_TLS_CLIENT_CRL:
        _load_crl(
            context,
            settings.PACSWEB_DICOM_TLS_CLIENT_CRL,
            "PACSWEB_DICOM_TLS_CLIENT_CRL",
        )
    return context


def client_args(host: str) -> TlsArgs:
    """pynetdicom's `tls_args` for an association to `host`."""
    return client_context(), host


def _load_chain(context: ssl.SSLContext, cert: str, key: str, names: str) -> None:
    if not cert or not key:
        raise TLSConfigurationError(f"{names}: both a certificate and a key are needed")
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise TLSConfigurationError(
            f"{names}: cannot load {cert} / {key}: {exc}"
        ) from None


def _load_ca(context: ssl.SSLContext, path: str, name: str) -> None:
    try:
        context.load_verify_locations(cafile=path)
    except (OSError, ssl.SSLError) as exc:
        raise TLSConfigurationError(f"{name}: cannot load {path}: {exc}") from None


def _load_crl(context: ssl.SSLContext, path: str, name: str) -> None:
    # OpenSSL then wants a current CRL from the issuer of every peer
    # certificate it checks: a missing or expired CRL refuses the peer,
    # which is the safe way to fail.
    try:
        context.load_verify_locations(cafile=path)
    except (OSError, ssl.SSLError) as exc:
        raise TLSConfigurationError(f"{name}: cannot load {path}: {exc}") from None
    context.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF


def _modified(path: str) -> tuple[int, int, int] | None:
    """What tells a changed file: a publisher that renames a new file into
    place gives a new inode even within one timestamp tick."""
    try:
        found = os.stat(path) if path else None
    except OSError:
        return None
    return None if found is None else (found.st_ino, found.st_mtime_ns, found.st_size)


class TLSAssociationServer(ThreadedAssociationServer):
    """pynetdicom's threaded server, with the handshake moved off the accept loop."""

    handshake_timeout: float = 30.0
    _crl_modified: tuple[int, int, int] | None = None

    def get_request(self) -> tuple[socket.socket, Any]:
        client, address = self.socket.accept()  # type: ignore[union-attr]
        if self.ssl_context is None:
            return client, address
        self._reload_if_crl_changed()
        wrapped = self.ssl_context.wrap_socket(
            client, server_side=True, do_handshake_on_connect=False
        )
        return wrapped, address

    def remember_crl(self) -> None:
        """Note the CRL file the current context was built from."""
        self._crl_modified = _modified(settings.PACSWEB_DICOM_TLS_CRL)

    def _reload_if_crl_changed(self) -> None:
        """A CA publishes a new CRL without restarting us: read it again."""
        modified = _modified(settings.PACSWEB_DICOM_TLS_CRL)
        if modified == self._crl_modified:
            return
        self._crl_modified = modified
        try:
            self.ssl_context = server_context()
        except TLSConfigurationError as exc:
            # Keep the previous list rather than accept everybody.
            logger.error("new CRL not loaded, keeping the previous one: %s", exc)
            return
        logger.info("TLS port reloaded %s", settings.PACSWEB_DICOM_TLS_CRL)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        if isinstance(request, ssl.SSLSocket) and not self._handshake(
            request, client_address
        ):
            self.shutdown_request(request)
            return
        super().process_request_thread(request, client_address)

    def _handshake(self, sock: ssl.SSLSocket, client_address: Any) -> bool:
        previous = sock.gettimeout()
        sock.settimeout(self.handshake_timeout)
        try:
            sock.do_handshake()
        except (OSError, ValueError) as exc:
            # No association exists yet, so there is no AE title to name:
            # the address and OpenSSL's reason are what an operator has.
            logger.warning(
                "TLS handshake from %s:%s refused: %s",
                client_address[0],
                client_address[1],
                getattr(exc, "reason", None) or exc,
            )
            return False
        sock.settimeout(previous)
        return True
