"""Which calling AEs may associate, from where, and what each may ask for.

With PACSWEB_REQUIRE_KNOWN_AE on, only AE titles held as RemoteAE may
associate, and only from their RemoteAE's host (apps/dimse/hosts.py) and,
when the RemoteAE names a certificate, only over TLS with that verified
client certificate: an AE title is easy to claim, a private key is not;
anyone else gets A-ASSOCIATE-RJ (PS3.8 9.3.4: rejected-permanent,
service-user, "calling-AE-title-not-recognized"; a known title from the
wrong address is not recognized as that AE). Each may use only the
operations its RemoteAE allows, on the studies of its collections. With the
setting off (the embedded demo) anyone may do anything.
"""

import logging
import ssl
import threading
from typing import Any

from django.conf import settings
from django.db import close_old_connections
from pynetdicom import AE
from pynetdicom.association import Association

from apps.dimse import hosts
from apps.dimse.models import RemoteAE

logger = logging.getLogger(__name__)

# Set on an association the allow-list refused, for the rejection log.
_REFUSAL = "_pacsweb_refusal"


def remote_of(calling_ae_title: str) -> RemoteAE | None:
    return RemoteAE.objects.filter(ae_title=calling_ae_title.strip()).first()


def permitted(calling_ae_title: str, operation: str) -> bool:
    if not settings.PACSWEB_REQUIRE_KNOWN_AE:
        return True
    remote = remote_of(calling_ae_title)
    return remote is not None and remote.allows(operation)


def collections(calling_ae_title: str) -> list[int] | None:
    """The collections the calling AE reaches; None: every study.

    With known AEs not required, an AE title nobody entered reaches
    everything (the embedded demo); a RemoteAE's restriction holds either way.
    """
    remote = remote_of(calling_ae_title)
    if remote is None:
        return [] if settings.PACSWEB_REQUIRE_KNOWN_AE else None
    return remote.reach()


def refusal(
    remote: RemoteAE | None, peer_address: str, certificate_names: list[str] | None
) -> str | None:
    """Why an association from `remote` at `peer_address` is refused, if it is.

    `certificate_names`: the names of the peer's verified TLS client
    certificate; None when it came without one (plain port, or no CA set).
    """
    if remote is None:
        return "calling AE title not recognized"
    try:
        if not hosts.is_host(peer_address, remote.host):
            return f"calling AE title known, but expected from {remote.host}"
    except hosts.UnresolvableHost as exc:
        return f"expected host of {remote.ae_title} unknown ({exc})"
    if remote.certificate_name:
        if certificate_names is None:
            return (
                f"{remote.ae_title} must associate over TLS with the client "
                f"certificate {remote.certificate_name!r}"
            )
        if remote.certificate_name not in certificate_names:
            shown = ", ".join(certificate_names) or "no name"
            return (
                f"{remote.ae_title} must show the client certificate "
                f"{remote.certificate_name!r}, not {shown}"
            )
    return None


def certificate_names(assoc: Association) -> list[str] | None:
    """Common names and DNS/URI alternative names of the peer's verified
    client certificate; None without TLS or without a verified certificate."""
    sock = getattr(assoc.dul.socket, "socket", None)
    if not isinstance(sock, ssl.SSLSocket):
        return None
    certificate: dict[str, Any] | None = sock.getpeercert()  # type: ignore[assignment]
    if not certificate:
        # Empty when no CA is set: the certificate, if any, was not checked.
        return None
    names = [
        value
        for rdn in certificate.get("subject", ())
        for key, value in rdn
        if key == "commonName"
    ]
    names += [
        value
        for kind, value in certificate.get("subjectAltName", ())
        if kind in ("DNS", "URI")
    ]
    return names


class KnownCallingAETitles:
    """Stands in for pynetdicom's `require_calling_aet` list.

    pynetdicom reads the list in the association's own thread, after it
    has set the requestor's AE title and address, and rejects the calling
    AE when the title is not in it. So the list is computed there, per
    association, from the database: it holds the calling title when that
    RemoteAE exists and the peer is at its host, and nothing that matches
    otherwise. A RemoteAE added in admin is accepted without a restart.
    """

    # Matches no real calling AE title (which has at least one character);
    # an empty list would switch pynetdicom's check off.
    _NOBODY = ""

    def __bool__(self) -> bool:
        return bool(settings.PACSWEB_REQUIRE_KNOWN_AE)

    def __iter__(self):
        # pynetdicom iterates before it asks __bool__: spare the lookups
        # (and a DNS query) when the check is off.
        if not settings.PACSWEB_REQUIRE_KNOWN_AE:
            return iter([])
        assoc = threading.current_thread()
        if not isinstance(assoc, Association):
            # Read outside negotiation: there is no peer to admit.
            return iter([self._NOBODY])
        title = assoc.requestor.ae_title
        try:
            reason = refusal(
                remote_of(title), assoc.requestor.address, certificate_names(assoc)
            )
        finally:
            close_old_connections()
        if reason is not None:
            setattr(assoc, _REFUSAL, reason)
            return iter([self._NOBODY])
        return iter([title])


def install(ae: AE) -> None:
    """Make `ae` check calling AEs against the RemoteAE table."""
    # pynetdicom 3.0 reads the list through this attribute when it
    # negotiates (acse._negotiate_as_acceptor); its setter would copy the
    # titles once, which is not what a live table needs.
    ae._require_calling_aet = KnownCallingAETitles()  # type: ignore[assignment]


def rejection_reason(assoc: Association) -> str:
    """Why an association was rejected, for the log and the audit trail."""
    return getattr(
        assoc,
        _REFUSAL,
        "refused during negotiation (called AE title or association limit)",
    )
