"""Query/Retrieve C-FIND SCP, Patient Root and Study Root (PS3.4 C.4.1).

The identifier becomes an apps.archive Query, the same object QIDO-RS
builds from its parameters, so both protocols match alike (one engine,
apps/archive/matching.py); results are rendered by the same code and sent
as one pending response each.
"""

import logging
from collections.abc import Iterator

from django.conf import settings
from django.db import close_old_connections
from pydicom.dataset import Dataset

from apps.accounts import audit, dimse_audit
from apps.archive.matching import QueryError, search
from apps.archive.query import Query
from apps.archive.results import Renderer
from apps.archive.status import QueryRetrieveStatus
from apps.dimse import access
from apps.dimse.service import failure_status, pending_responses

logger = logging.getLogger(__name__)

PATIENT_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.1.1"
RETRIEVE_AE_TITLE = 0x00080054


def handle_find(event) -> Iterator[tuple[int | Dataset, Dataset | None]]:
    calling = event.assoc.requestor.ae_title
    identifier = event.identifier
    root = "PATIENT" if event.context.abstract_syntax == PATIENT_ROOT_FIND else "STUDY"
    try:
        if not access.permitted(calling, "query"):
            dimse_audit.record_request(
                event,
                audit.QUERY,
                outcome=audit.DENIED,
                status=QueryRetrieveStatus.NOT_AUTHORIZED,
            )
            yield (
                failure_status(
                    QueryRetrieveStatus.NOT_AUTHORIZED, f"{calling} may not query"
                ),
                None,
            )
            return
        level = str(identifier.get("QueryRetrieveLevel", "")).strip()
        query = Query.from_identifier(
            identifier, level, root, collections=access.collections(calling)
        )
        rows = search(query).rows
        renderer = Renderer(query)
        matches = [_response(renderer.render(row), identifier) for row in rows]
        dimse_audit.record_request(
            event,
            audit.QUERY,
            outcome=audit.SUCCESS,
            status=0,
            detail=f"{len(matches)} match(es)",
        )
    except QueryError as exc:
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


def _response(rendered: dict, identifier: Dataset) -> Dataset:
    # Bulk data is never a return key of a query; drop any reference.
    plain = {
        tag: value for tag, value in rendered.items() if "BulkDataURI" not in value
    }
    ds = Dataset.from_json(plain)
    ds.QueryRetrieveLevel = identifier.QueryRetrieveLevel
    if RETRIEVE_AE_TITLE in identifier:
        ds.RetrieveAETitle = settings.PACSWEB_AE_TITLE
    # Values are Unicode from the stored JSON; say so when it matters.
    if any(not str(elem.value).isascii() for elem in ds if elem.VR in _TEXT_VRS):
        ds.SpecificCharacterSet = "ISO_IR 192"
    return ds


_TEXT_VRS = {"PN", "LO", "SH", "LT", "ST", "UT", "UC"}
