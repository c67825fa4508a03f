"""C-MOVE and C-GET SCP (PS3.4 C.4.2, C.4.3).

A retrieve identifier names what to send by unique keys only (PS3.4
C.4.2.2.1, hierarchical retrieve): the UID (list) of its level and the
UIDs of the levels above. Instances are read from the store without
decoding their values and sent in their stored transfer syntax.
"""

import logging
from collections.abc import Iterator

from django.db import close_old_connections
from pydicom import dcmread
from pydicom.dataset import Dataset
from pynetdicom import build_context
from pynetdicom.presentation import PresentationContext
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

from apps.accounts import audit, dimse_audit
from apps.archive import storage
from apps.archive.models import Instance
from apps.archive.status import QueryRetrieveStatus
from apps.dimse import access, scu
from apps.dimse.models import RemoteAE
from apps.dimse.service import log_cancel

logger = logging.getLogger(__name__)

PATIENT_ROOT = {"1.2.840.10008.5.1.4.1.2.1.2", "1.2.840.10008.5.1.4.1.2.1.3"}

_LEVEL_KEYS = {
    # level: (keyword, instance lookup)
    "PATIENT": ("PatientID", "series__study__patient__patient_id__in"),
    "STUDY": ("StudyInstanceUID", "series__study__study_instance_uid__in"),
    "SERIES": ("SeriesInstanceUID", "series__series_instance_uid__in"),
    "IMAGE": ("SOPInstanceUID", "sop_instance_uid__in"),
}
_ORDER = ["PATIENT", "STUDY", "SERIES", "IMAGE"]
_VERIFICATION = build_context(Verification)


class RetrieveError(Exception):
    def __init__(self, status: QueryRetrieveStatus, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def select(
    identifier: Dataset, patient_root: bool, collections: list[int] | None = None
) -> list[Instance]:
    level = str(identifier.get("QueryRetrieveLevel", "")).strip().upper()
    if level not in _ORDER or (level == "PATIENT" and not patient_root):
        raise RetrieveError(
            QueryRetrieveStatus.IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS,
            f"QueryRetrieveLevel {level!r} is not valid here",
        )
    top = 0 if patient_root else 1
    instances = Instance.objects.all()
    for current in _ORDER[top : _ORDER.index(level) + 1]:
        keyword, lookup = _LEVEL_KEYS[current]
        values = _values(identifier, keyword)
        if not values:
            if current == level:
                raise RetrieveError(
                    QueryRetrieveStatus.IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS,
                    f"{keyword} is required at {level} level",
                )
            continue
        instances = instances.filter(**{lookup: values})
    if collections is not None:
        instances = instances.filter(
            series__study__collections__in=collections
        ).distinct()
    return list(
        instances.order_by("series__study_id", "series_id", "instance_number", "id")
    )


def _values(identifier: Dataset, keyword: str) -> list[str]:
    value = identifier.get(keyword)
    if value is None:
        return []
    items = [value] if isinstance(value, str) else list(value)
    return [str(v).strip() for v in items if str(v).strip()]


def _load(instance: Instance) -> Dataset:
    """The stored dataset, its values left undecoded so they go out as stored."""
    try:
        return dcmread(storage.absolute(instance.storage_path))
    except Exception:
        logger.exception(
            "stored file of %s could not be read", instance.sop_instance_uid
        )
        # A dataset pynetdicom cannot send (no SOP Class UID): the
        # sub-operation counts as failed and its UID is listed in the
        # Failed SOP Instance UID List (PS3.4 C.4.2.3.1).
        placeholder = Dataset()
        placeholder.SOPInstanceUID = instance.sop_instance_uid
        return placeholder


def _sub_operations(
    event, instances: list[Instance]
) -> Iterator[tuple[int, Dataset | None]]:
    for sent, instance in enumerate(instances):
        if event.is_cancelled:
            log_cancel(event, sent, len(instances), "sub-operations")
            yield QueryRetrieveStatus.CANCEL, None
            return
        yield QueryRetrieveStatus.PENDING, _load(instance)


def _selected(event, calling: str) -> list[Instance] | RetrieveError:
    try:
        return select(
            event.identifier,
            event.context.abstract_syntax in PATIENT_ROOT,
            access.collections(calling),
        )
    except RetrieveError as exc:
        return exc
    finally:
        close_old_connections()


def handle_move(event) -> Iterator:
    calling = event.assoc.requestor.ae_title
    destination = RemoteAE.objects.filter(
        ae_title=event.move_destination.strip(), is_move_destination=True
    ).first()
    if destination is None:
        logger.warning(
            "C-MOVE from %s to unknown destination %s", calling, event.move_destination
        )
        yield None, None  # pynetdicom answers MOVE_DESTINATION_UNKNOWN (0xA801)
        return

    selected = _authorized_selection(event, calling)
    if isinstance(selected, RetrieveError):
        # pynetdicom sends a status only after it has associated with the
        # destination, and refuses to associate with no presentation
        # context: without one the peer got 0xC515 instead of this status.
        yield destination.host, destination.port, {"contexts": [_VERIFICATION]}
        yield 1
        yield selected.status, None
        return
    # The sub-association is ours to request: TLS if the destination uses it.
    args = scu.association_args(scu.Peer.of(destination))
    yield (
        destination.host,
        destination.port,
        {**args, "contexts": move_contexts(selected)},
    )
    yield len(selected)
    yield from _sub_operations(event, selected)


def _authorized_selection(event, calling: str) -> list[Instance] | RetrieveError:
    if not access.permitted(calling, "retrieve"):
        selected: list[Instance] | RetrieveError = RetrieveError(
            QueryRetrieveStatus.NOT_AUTHORIZED, f"{calling} may not retrieve"
        )
    else:
        selected = _selected(event, calling)
    # One audit event per request, not per instance sent (apps/accounts).
    if isinstance(selected, RetrieveError):
        outcome = (
            audit.DENIED
            if selected.status == QueryRetrieveStatus.NOT_AUTHORIZED
            else audit.FAILURE
        )
        dimse_audit.record_request(
            event,
            audit.RETRIEVE,
            outcome=outcome,
            status=selected.status,
            detail=str(selected),
        )
    else:
        destination = getattr(event, "move_destination", None)
        to = f" to {destination.strip()}" if destination else ""
        dimse_audit.record_request(
            event,
            audit.RETRIEVE,
            outcome=audit.SUCCESS,
            status=0,
            detail=f"{len(selected)} instance(s){to}",
        )
    return selected


def move_contexts(instances: list[Instance]) -> list[PresentationContext]:
    """Contexts for the sub-association: each SOP class in its stored syntax."""
    pairs = sorted({(i.sop_class_uid, i.transfer_syntax_uid) for i in instances})
    return [build_context(sop, [ts]) for sop, ts in pairs][:128]


def handle_get(event) -> Iterator:
    # The sub-operations use the storage contexts the requestor offered
    # with the SCP role (PS3.4 C.4.3.1.2); pynetdicom picks among them.
    selected = _authorized_selection(event, event.assoc.requestor.ae_title)
    if isinstance(selected, RetrieveError):
        yield 1
        yield selected.status, None
        return
    yield len(selected)
    yield from _sub_operations(event, selected)
