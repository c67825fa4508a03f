"""Modality Worklist C-FIND and MPPS N-CREATE/N-SET SCP handlers.

The worklist and the procedure step state machine live in apps/worklist;
these functions only translate between DIMSE events and that code.
"""

import logging
from collections.abc import Iterator

from django.db import close_old_connections
from pydicom.dataset import Dataset

from apps.archive.status import ProcedureStepStatus, QueryRetrieveStatus
from apps.dimse import access
from apps.dimse.service import failure_status, pending_responses
from apps.worklist import mpps, mwl

logger = logging.getLogger(__name__)


def find_worklist(event) -> Iterator[tuple[int | Dataset, Dataset | None]]:
    calling = event.assoc.requestor.ae_title
    try:
        if not access.permitted(calling, "worklist"):
            yield (
                failure_status(
                    QueryRetrieveStatus.NOT_AUTHORIZED,
                    f"{calling} may not query the worklist",
                ),
                None,
            )
            return
        matches = list(mwl.responses(event.identifier))
    except mwl.WorklistQueryError as exc:
        yield (
            failure_status(
                QueryRetrieveStatus.IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS, str(exc)
            ),
            None,
        )
        return
    finally:
        close_old_connections()

    yield from pending_responses(
        event, matches, QueryRetrieveStatus.PENDING, QueryRetrieveStatus.CANCEL
    )


def mpps_create(event) -> tuple[Dataset, Dataset | None]:
    calling = event.assoc.requestor.ae_title
    uid = event.request.AffectedSOPInstanceUID
    try:
        if not access.permitted(calling, "mpps"):
            return failure_status(
                ProcedureStepStatus.NOT_AUTHORIZED, f"{calling} may not send MPPS"
            ), None
        step = mpps.create(str(uid or ""), event.attribute_list, calling)
    except mpps.ProcedureStepError as exc:
        return failure_status(exc.status, exc.reason, exc.error_id), None
    finally:
        close_old_connections()
    return _success(), mpps.as_dataset(step)


def mpps_set(event) -> tuple[Dataset, Dataset | None]:
    calling = event.assoc.requestor.ae_title
    uid = str(event.request.RequestedSOPInstanceUID or "")
    try:
        if not access.permitted(calling, "mpps"):
            return failure_status(
                ProcedureStepStatus.NOT_AUTHORIZED, f"{calling} may not send MPPS"
            ), None
        step = mpps.update(uid, event.modification_list)
    except mpps.ProcedureStepError as exc:
        return failure_status(exc.status, exc.reason, exc.error_id), None
    finally:
        close_old_connections()
    return _success(), mpps.as_dataset(step)


def _success() -> Dataset:
    status = Dataset()
    status.Status = ProcedureStepStatus.SUCCESS
    return status
