"""Verification SCP (PS3.4 A): C-ECHO answers Success."""

from pynetdicom import evt
from pynetdicom.events import Event
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

from apps.archive.status import Status
from apps.dimse.service import Context, Service, guarded
from apps.dimse.syntaxes import UNCOMPRESSED


@guarded(Status.PROCESSING_FAILURE)
def handle_echo(event: Event) -> Status:
    return Status.SUCCESS


SERVICE = Service(
    name="verification",
    contexts=[Context(Verification, UNCOMPRESSED)],
    handlers=[(evt.EVT_C_ECHO, handle_echo)],
)
