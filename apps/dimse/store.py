"""Storage SCP (PS3.4 B): every storage SOP class, stored through ingest.

C-STORE statuses (PS3.4 B.2.3, PS3.7 C), per outcome:

- stored: Success.
- SOP Instance UID already held, by PACSWEB_DUPLICATE_POLICY:
  "keep" (default) answers Success and keeps the copy already stored, the
  received one is discarded; "overwrite" answers Success and replaces it;
  "reject" answers Duplicate SOP Instance (0111). Success for "keep" is
  deliberate: the instance the peer wants archived is there, and a failure
  or warning would make modalities resend or flag the study.
- unreadable data set, missing or malformed UIDs: Cannot Understand (C000).
- no disk space: Out of Resources (A700).
- database or file system failure, or any unexpected error: Processing
  Failure (0110).
A failure carries the reason in Error Comment (0000,0902).
"""

import errno
import logging
from typing import cast

from pydicom.dataset import Dataset
from pynetdicom import AllStoragePresentationContexts, evt
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.events import Event

from apps.accounts import dimse_audit
from apps.archive.ingest import IngestError, ingest_file
from apps.archive.status import Status
from apps.dimse import access, receive
from apps.dimse.service import Context, Service, failure_status, guarded
from apps.dimse.syntaxes import STORAGE

logger = logging.getLogger(__name__)

NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
LOGGED_BY_INGEST = (Status.OUT_OF_RESOURCES, Status.PROCESSING_FAILURE)


@guarded(Status.PROCESSING_FAILURE)
def handle_store(event: Event) -> Status | Dataset:
    calling_ae = event.assoc.requestor.ae_title
    request = cast(C_STORE, event.request)
    if not access.permitted(calling_ae, "store"):
        return failure_status(Status.NOT_AUTHORIZED, f"{calling_ae} may not store")
    try:
        path = receive.write_part10(event, calling_ae)
    except OSError as exc:
        if exc.errno not in NO_SPACE:
            raise
        logger.error("no space to receive an instance from %s: %s", calling_ae, exc)
        return failure_status(
            Status.OUT_OF_RESOURCES, "no space left to store the instance"
        )

    # A restricted AE's studies go into its collections (docs/security.md).
    reach = access.collections(calling_ae)
    try:
        result = ingest_file(
            path,
            owned=True,
            source_ae_title=calling_ae,
            collection_ids=reach or (),
            reach=reach,
        )
    except IngestError as exc:
        dimse_audit.note_store(event.assoc, "", stored=False)
        # Refused data is logged because the sender usually shows the
        # operator nothing; ingest has already logged its own failures.
        if exc.status not in LOGGED_BY_INGEST:
            logger.warning(
                "C-STORE from %s refused (%s): %s %s",
                calling_ae,
                exc.status.name,
                exc.sop_instance_uid or request.AffectedSOPInstanceUID,
                exc.reason,
            )
        return failure_status(exc.status, exc.reason)
    finally:
        # ingest_file consumes the file; this only matters if it never ran.
        path.unlink(missing_ok=True)
    dimse_audit.note_store(event.assoc, result.identity.study_uid, stored=True)
    return Status.SUCCESS


SERVICE = Service(
    name="storage",
    contexts=[
        Context(str(cx.abstract_syntax), STORAGE)
        for cx in AllStoragePresentationContexts
    ],
    handlers=[(evt.EVT_C_STORE, handle_store)],
)
