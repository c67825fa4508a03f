"""pacsweb as a DICOM SCU: plain functions, one per service.

Each function opens its own association, does one operation and releases.
They raise PeerUnavailable for network trouble (worth a retry) and
DimseFailure when the peer answered with a failure (not worth one); the
job layer (apps/dimse/jobs.py) turns both into Job state.
"""

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import close_old_connections
from pydicom.dataset import Dataset
from pydicom.uid import UID
from pynetdicom import AE, _config, build_context, build_role, evt
from pynetdicom.association import Association
from pynetdicom.presentation import StoragePresentationContexts

from apps.archive import storage
from apps.archive.ingest import IngestError, ingest_file
from apps.archive.models import Instance
from apps.archive.status import ProcedureStepStatus, QueryRetrieveStatus, Status
from apps.dimse import receive, tls, uids

logger = logging.getLogger(__name__)

# Sending a file path streams the stored bytes after the file meta as they
# are, without decoding and re-encoding: instances leave as they were stored.
_config.STORE_SEND_CHUNKED_DATASET = True

FIND_MODELS = {
    "patient": uids.PATIENT_ROOT_FIND,
    "study": uids.STUDY_ROOT_FIND,
}
MOVE_MODELS = {
    "patient": uids.PATIENT_ROOT_MOVE,
    "study": uids.STUDY_ROOT_MOVE,
}
GET_MODELS = {
    "patient": uids.PATIENT_ROOT_GET,
    "study": uids.STUDY_ROOT_GET,
}
# PS3.8 9.3.2.2: at most 128 presentation contexts in one association.
MAX_CONTEXTS = 128

# Transfer syntaxes offered for instances a C-GET brings back; a peer picks
# one per SOP class, so uncompressed comes first (every SCP has it).
_GET_TRANSFER_SYNTAXES = [
    "1.2.840.10008.1.2.1",  # Explicit VR Little Endian
    "1.2.840.10008.1.2",  # Implicit VR Little Endian
    "1.2.840.10008.1.2.1.99",  # Deflated Explicit VR Little Endian
    "1.2.840.10008.1.2.4.50",  # JPEG Baseline
    "1.2.840.10008.1.2.4.70",  # JPEG Lossless SV1
    "1.2.840.10008.1.2.4.80",  # JPEG-LS Lossless
    "1.2.840.10008.1.2.4.90",  # JPEG 2000 Lossless
    "1.2.840.10008.1.2.4.91",  # JPEG 2000
    "1.2.840.10008.1.2.5",  # RLE Lossless
]

Cancelled = Callable[[], bool]
Progress = Callable[["SubOperations"], None]


class PeerUnavailable(ConnectionError):
    """No association could be made, or it broke: try again later."""


class DimseFailure(Exception):
    """The peer refused the association or answered with a failure status."""

    def __init__(
        self, message: str, status: int | None = None, error_id: int | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_id = error_id


@dataclass(frozen=True)
class Peer:
    ae_title: str
    host: str
    port: int
    use_tls: bool = False

    def __str__(self) -> str:
        return (
            f"{self.ae_title}@{self.host}:{self.port}{' (TLS)' if self.use_tls else ''}"
        )

    @classmethod
    def of(cls, remote) -> "Peer":
        return cls(remote.ae_title, remote.host, remote.port, remote.use_tls)


def association_args(peer: Peer) -> dict[str, Any]:
    """AE.associate keywords for `peer`: its AE title, and TLS if it uses it.

    Every association pacsweb requests goes through here (the SCU
    functions below, and C-MOVE's sub-associations in retrieve_scp.py), so
    TLS is configured in one place (apps/dimse/tls.py).
    """
    args: dict[str, Any] = {"ae_title": peer.ae_title}
    if peer.use_tls:
        args["tls_args"] = tls.client_args(peer.host)
    return args


@dataclass
class SubOperations:
    """Counts of a retrieve or send, as the pending responses report them."""

    remaining: int = 0
    completed: int = 0
    failed: int = 0
    warning: int = 0
    failed_uids: list[str] = field(default_factory=list)
    status: int = QueryRetrieveStatus.PENDING
    errors: list[dict[str, str]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.remaining + self.completed + self.failed + self.warning


def _ae() -> AE:
    ae = AE(ae_title=settings.PACSWEB_AE_TITLE)
    timeout = settings.PACSWEB_DIMSE_TIMEOUT
    ae.acse_timeout = timeout
    ae.dimse_timeout = timeout
    ae.network_timeout = timeout
    ae.connection_timeout = timeout
    return ae


@contextmanager
def associate(peer: Peer, contexts: list, **kwargs) -> Iterator[Association]:
    args = association_args(peer)
    ae = _ae()
    ae.requested_contexts = contexts
    assoc = ae.associate(peer.host, peer.port, **args, **kwargs)
    if assoc.is_rejected:
        raise DimseFailure(f"{peer} rejected the association")
    if not assoc.is_established:
        raise PeerUnavailable(f"could not associate with {peer}")
    try:
        yield assoc
    finally:
        if assoc.is_established:
            assoc.release()
        ae.shutdown()


def _check_established(assoc: Association, peer: Peer) -> None:
    # A response of None means the association was aborted or timed out.
    if not assoc.is_established:
        raise PeerUnavailable(f"the association with {peer} was lost")


def _context_id(assoc: Association, abstract_syntax: str) -> int:
    for context in assoc.accepted_contexts:
        if context.abstract_syntax == abstract_syntax:
            return int(context.context_id or 0)
    raise DimseFailure(f"the peer did not accept {UID(abstract_syntax).name}")


def echo(peer: Peer) -> int:
    with associate(peer, [build_context(uids.VERIFICATION)]) as assoc:
        response = assoc.send_c_echo()
        _check_established(assoc, peer)
        status = int(response.Status) if "Status" in response else None
    if status != Status.SUCCESS:
        raise DimseFailure(f"C-ECHO to {peer} answered {status}", status)
    return Status.SUCCESS


def find(peer: Peer, identifier: Dataset, model: str = "study") -> list[Dataset]:
    """C-FIND against a Q/R ("patient", "study") or worklist ("worklist") SCP."""
    sop_class = (
        uids.MODALITY_WORKLIST_FIND if model == "worklist" else FIND_MODELS[model]
    )
    matches: list[Dataset] = []
    with associate(peer, [build_context(sop_class)]) as assoc:
        for status, match in assoc.send_c_find(identifier, sop_class):
            if not status:
                _check_established(assoc, peer)
                raise PeerUnavailable(f"no C-FIND response from {peer}")
            code = int(status.Status)
            if code in (
                QueryRetrieveStatus.PENDING,
                QueryRetrieveStatus.PENDING_WARNING,
            ):
                if match is not None:
                    matches.append(match)
            elif code != QueryRetrieveStatus.SUCCESS:
                raise DimseFailure(
                    f"C-FIND to {peer} failed with status 0x{code:04X}", code
                )
    return matches


def move(
    peer: Peer,
    identifier: Dataset,
    destination: str,
    model: str = "study",
    progress: Progress | None = None,
    cancelled: Cancelled | None = None,
) -> SubOperations:
    """Ask `peer` to C-MOVE what `identifier` selects to `destination`."""
    sop_class = MOVE_MODELS[model]
    with associate(peer, [build_context(sop_class)]) as assoc:
        responses = assoc.send_c_move(identifier, destination, sop_class, msg_id=1)
        return _follow(assoc, peer, responses, sop_class, progress, cancelled)


def get(
    peer: Peer,
    identifier: Dataset,
    model: str = "study",
    progress: Progress | None = None,
    cancelled: Cancelled | None = None,
    source_ae_title: str | None = None,
) -> SubOperations:
    """C-GET what `identifier` selects; each instance goes through ingest."""
    sop_class = GET_MODELS[model]
    storage_classes = [str(cx.abstract_syntax) for cx in StoragePresentationContexts]
    storage_classes = storage_classes[: MAX_CONTEXTS - 1]
    contexts = [build_context(sop_class)] + [
        build_context(uid, _GET_TRANSFER_SYNTAXES) for uid in storage_classes
    ]
    roles = [build_role(uid, scp_role=True) for uid in storage_classes]
    received_errors: list[dict[str, str]] = []

    def on_store(event) -> int:
        return _ingest_received(
            event, source_ae_title or peer.ae_title, received_errors
        )

    with associate(
        peer, contexts, ext_neg=roles, evt_handlers=[(evt.EVT_C_STORE, on_store)]
    ) as assoc:
        responses = assoc.send_c_get(identifier, sop_class, msg_id=1)
        result = _follow(assoc, peer, responses, sop_class, progress, cancelled)
    result.errors.extend(received_errors)
    return result


def _ingest_received(event, source_ae_title: str, errors: list[dict[str, str]]) -> int:
    """A C-STORE sub-operation of our C-GET: spool, then the one ingest path."""
    try:
        path = receive.write_part10(event, source_ae_title)
        ingest_file(path, owned=True, source_ae_title=source_ae_title)
    except IngestError as exc:
        errors.append({"sop_instance_uid": exc.sop_instance_uid, "reason": exc.reason})
        return int(exc.status)
    except Exception:
        logger.exception("could not ingest an instance received by C-GET")
        return int(Status.PROCESSING_FAILURE)
    finally:
        close_old_connections()
    return int(Status.SUCCESS)


def _follow(assoc, peer, responses, sop_class, progress, cancelled) -> SubOperations:
    """Read C-MOVE/C-GET responses, reporting progress and passing a cancel on."""
    result = SubOperations()
    cancel_sent = False
    for status, identifier in responses:
        if not status:
            _check_established(assoc, peer)
            raise PeerUnavailable(f"no response from {peer}")
        code = int(status.Status)
        result.status = code
        result.remaining = int(status.get("NumberOfRemainingSuboperations", 0) or 0)
        result.completed = int(status.get("NumberOfCompletedSuboperations", 0) or 0)
        result.failed = int(status.get("NumberOfFailedSuboperations", 0) or 0)
        result.warning = int(status.get("NumberOfWarningSuboperations", 0) or 0)
        if identifier is not None and "FailedSOPInstanceUIDList" in identifier:
            failed = identifier.FailedSOPInstanceUIDList
            result.failed_uids = [failed] if isinstance(failed, str) else list(failed)
        if progress:
            progress(result)
        if code != QueryRetrieveStatus.PENDING:
            break
        if cancelled and not cancel_sent and cancelled():
            # PS3.7 9.3.2.3: the peer answers the cancel with a final
            # response (status CANCEL), which ends this loop.
            assoc.send_c_cancel(1, _context_id(assoc, sop_class))
            cancel_sent = True

    if result.status not in (
        QueryRetrieveStatus.SUCCESS,
        QueryRetrieveStatus.SUB_OPERATIONS_WITH_FAILURES,
        QueryRetrieveStatus.CANCEL,
    ):
        raise DimseFailure(f"{peer} answered 0x{result.status:04X}", result.status)
    return result


def store(
    peer: Peer,
    instances: list[Instance],
    progress: Progress | None = None,
    cancelled: Cancelled | None = None,
) -> SubOperations:
    """C-STORE stored instances to `peer`, each in its stored transfer syntax."""
    result = SubOperations(remaining=len(instances))
    for batch in _context_batches(instances):
        contexts = [
            build_context(sop, [ts])
            for sop, ts in sorted(
                {(i.sop_class_uid, i.transfer_syntax_uid) for i in batch}
            )
        ]
        with associate(peer, contexts) as assoc:
            for instance in batch:
                if cancelled and cancelled():
                    result.status = QueryRetrieveStatus.CANCEL
                    return result
                _store_one(assoc, peer, instance, result)
                if progress:
                    progress(result)
    result.status = (
        QueryRetrieveStatus.SUB_OPERATIONS_WITH_FAILURES
        if result.failed
        else QueryRetrieveStatus.SUCCESS
    )
    return result


def _context_batches(instances: list[Instance]) -> Iterator[list[Instance]]:
    batch: list[Instance] = []
    pairs: set[tuple[str, str]] = set()
    for instance in instances:
        pair = (instance.sop_class_uid, instance.transfer_syntax_uid)
        if pair not in pairs and len(pairs) == MAX_CONTEXTS:
            yield batch
            batch, pairs = [], set()
        pairs.add(pair)
        batch.append(instance)
    if batch:
        yield batch


def _store_one(
    assoc: Association, peer: Peer, instance: Instance, result: SubOperations
) -> None:
    result.remaining -= 1
    try:
        response = assoc.send_c_store(storage.absolute(instance.storage_path))
    except ValueError as exc:
        # No accepted context: the peer does not take this SOP class in its
        # stored transfer syntax, and instances are not transcoded.
        _failed(result, instance.sop_instance_uid, str(exc))
        return
    _check_established(assoc, peer)
    code = int(response.Status) if "Status" in response else None
    if code == Status.SUCCESS:
        result.completed += 1
    elif code is not None and (code & 0xF000) == 0xB000:
        result.warning += 1
    else:
        _failed(result, instance.sop_instance_uid, f"C-STORE status {code}")


def _failed(result: SubOperations, uid: str, reason: str) -> None:
    result.failed += 1
    result.failed_uids.append(uid)
    result.errors.append({"sop_instance_uid": uid, "reason": reason})


def mpps_create(
    peer: Peer, sop_instance_uid: str, attributes: Dataset
) -> Dataset | None:
    """N-CREATE a Modality Performed Procedure Step (PS3.4 F.7.2.1)."""
    return _n_request(peer, "create", sop_instance_uid, attributes)


def mpps_set(
    peer: Peer, sop_instance_uid: str, modifications: Dataset
) -> Dataset | None:
    """N-SET an existing Modality Performed Procedure Step (PS3.4 F.7.2.2)."""
    return _n_request(peer, "set", sop_instance_uid, modifications)


def _n_request(peer: Peer, kind: str, uid: str, ds: Dataset) -> Dataset | None:
    with associate(
        peer, [build_context(uids.MODALITY_PERFORMED_PROCEDURE_STEP)]
    ) as assoc:
        if kind == "create":
            status, attributes = assoc.send_n_create(
                ds, uids.MODALITY_PERFORMED_PROCEDURE_STEP, uid
            )
        else:
            status, attributes = assoc.send_n_set(
                ds, uids.MODALITY_PERFORMED_PROCEDURE_STEP, uid
            )
        _check_established(assoc, peer)
    code = int(status.Status) if status and "Status" in status else None
    if code != ProcedureStepStatus.SUCCESS:
        comment = str(status.get("ErrorComment", "")) if status else ""
        error_id = status.get("ErrorID") if status else None
        raise DimseFailure(
            f"N-{kind.upper()} to {peer} failed with status {_hex(code)} {comment}".rstrip(),
            code,
            int(error_id) if error_id is not None else None,
        )
    return attributes


def _hex(code: int | None) -> str:
    return "none" if code is None else f"0x{code:04X}"
