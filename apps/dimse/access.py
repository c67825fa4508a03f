"""Which calling AE titles may associate, and what each may ask for.

With PACSWEB_REQUIRE_KNOWN_AE on, only AE titles held as RemoteAE may
associate (others get A-ASSOCIATE-RJ, PS3.8 9.3.4: rejected-permanent,
service-user, "calling-AE-title-not-recognized"), and each may use only the
operations its RemoteAE allows. With it off (the embedded demo) anyone may
do anything.
"""

from django.conf import settings
from django.db import close_old_connections
from pynetdicom import AE

from apps.dimse.models import RemoteAE


def permitted(calling_ae_title: str, operation: str) -> bool:
    if not settings.PACSWEB_REQUIRE_KNOWN_AE:
        return True
    remote = RemoteAE.objects.filter(ae_title=calling_ae_title.strip()).first()
    return remote is not None and remote.allows(operation)


class KnownCallingAETitles:
    """Stands in for pynetdicom's `require_calling_aet` list, read from the
    database at each association request, so a RemoteAE added in admin is
    accepted without restarting the listener."""

    # Matches no real calling AE title (which has at least one character),
    # so that an empty RemoteAE table refuses everybody instead of
    # switching the check off as an empty list would.
    _NOBODY = ""

    def __bool__(self) -> bool:
        return bool(settings.PACSWEB_REQUIRE_KNOWN_AE)

    def __iter__(self):
        try:
            titles = list(RemoteAE.objects.values_list("ae_title", flat=True))
        finally:
            close_old_connections()
        return iter(titles or [self._NOBODY])


def install(ae: AE) -> None:
    """Make `ae` check calling AE titles against the RemoteAE table."""
    # pynetdicom 3.0 reads the list through this attribute when it
    # negotiates (acse._negotiate_as_acceptor); its setter would copy the
    # titles once, which is not what a live table needs.
    ae._require_calling_aet = KnownCallingAETitles()  # type: ignore[assignment]


def rejection_reason(calling_ae_title: str) -> str:
    """Why an association from this AE was rejected, for the log."""
    if settings.PACSWEB_REQUIRE_KNOWN_AE:
        try:
            known = RemoteAE.objects.filter(ae_title=calling_ae_title.strip()).exists()
        finally:
            close_old_connections()
        if not known:
            return "calling AE title not recognized"
    return "refused during negotiation (called AE title or association limit)"
