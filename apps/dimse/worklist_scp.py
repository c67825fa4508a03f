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
from apps.worklist import mpps, mwl

logger = logging.getLogger(__name__)


def find_worklist(event) -> Iterator[tuple[int | Dataset, Dataset | None]]:
    calling = event.assoc.requestor.ae_title
    try:
        if not access.permitted(calling, "worklist"):
            yield (
                _failure(
                    QueryRetrieveStatus.NOT_AUTHORIZED,
                    f"{calling} may not query the worklist",
                ),
                None,
            )
            return
        matches = list(mwl.responses(event.identifier))
    except mwl.WorklistQueryError as exc:
        yield (
            _failure(QueryRetrieveStatus.IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS, str(exc)),
            None,
        )
        return
    finally:
        close_old_connections()

    for match in matches:
        if event.is_cancelled:
            yield QueryRetrieveStatus.CANCEL, None
            return
        yield QueryRetrieveStatus.PENDING, match


def mpps_create(event) -> tuple[Dataset, Dataset | None]:
    calling = event.assoc.requestor.ae_title
    uid = event.request.AffectedSOPInstanceUID
    try:
        if not access.permitted(calling, "mpps"):
            return _failure(
                ProcedureStepStatus.NOT_AUTHORIZED, f"{calling} may not send MPPS"
            ), None
        step = mpps.create(str(uid or ""), event.attribute_list, calling)
    except mpps.ProcedureStepError as exc:
        return _failure(exc.status, exc.reason, exc.error_id), None
    finally:
        close_old_connections()
    return _success(), mpps.as_dataset(step)


def mpps_set(event) -> tuple[Dataset, Dataset | None]:
    calling = event.assoc.requestor.ae_title
    uid = str(event.request.RequestedSOPInstanceUID or "")
    try:
        if not access.permitted(calling, "mpps"):
            return _failure(
                ProcedureStepStatus.NOT_AUTHORIZED, f"{calling} may not send MPPS"
            ), None
        step = mpps.update(uid, event.modification_list)
    except mpps.ProcedureStepError as exc:
        return _failure(exc.status, exc.reason, exc.error_id), None
    finally:
        close_old_connections()
    return _success(), mpps.as_dataset(step)


def _success() -> Dataset:
    status = Dataset()
    status.Status = ProcedureStepStatus.SUCCESS
    return status


def _failure(code: int, reason: str, error_id: int | None = None) -> Dataset:
    status = Dataset()
    status.Status = int(code)
    # PS3.7 C.4: Error Comment is at most 64 characters.
    status.ErrorComment = reason[:64]
    if error_id is not None:
        status.ErrorID = error_id
    return status
