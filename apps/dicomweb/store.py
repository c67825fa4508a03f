"""STOW-RS: POST /studies and /studies/{study} (PS3.18 10.5).

The body is read as a stream and every part is spooled to its own file in
the store's receiving area before anything is ingested. A malformed body
(wrong boundary, no closing boundary, too big) is therefore refused whole
and leaves the archive as it was; once the body is known to be complete,
the parts go through the one ingest path together (their rows committed
in groups, each part in a savepoint of its own), and a bad part becomes
one entry of the FailedSOPSequence, never an error for the others.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus

from django.conf import settings
from django.http import HttpRequest, HttpResponse, UnreadablePostError

from apps.archive import dicomjson, storage
from apps.archive.ingest import IngestError, IngestResult, ingest_files
from apps.archive.status import Status
from apps.dicomweb import context, media
from apps.dicomweb.errors import (
    BadRequest,
    LengthRequired,
    NotAcceptable,
    PayloadTooLarge,
    RequestTimeout,
    UnsupportedMediaType,
    handle_errors,
    warning_text,
)
from apps.dicomweb.multipart import MultipartError, Part, iter_parts

logger = logging.getLogger(__name__)

# Store Instances Response Module (PS3.18 Annex I, Table I.1-1).
RETRIEVE_URL = "00081190"
FAILED_SOP_SEQUENCE = "00081198"
REFERENCED_SOP_SEQUENCE = "00081199"
REFERENCED_SOP_CLASS_UID = "00081150"
REFERENCED_SOP_INSTANCE_UID = "00081155"
FAILURE_REASON = "00081197"
WARNING_HEADER_MAX = 4000


@dataclass(frozen=True)
class PartOutcome:
    index: int
    sop_class_uid: str
    sop_instance_uid: str
    study_uid: str = ""
    series_uid: str = ""
    # Set when the part was not stored (PS3.18 I.2.2).
    failure: Status | None = None
    reason: str = ""


@handle_errors
def store(request: HttpRequest, study: str | None = None) -> HttpResponse:
    if study is not None:
        context.check_uid("study", study)
    boundary = _boundary(request.headers.get("Content-Type"))
    response_type = _response_type(context.accept(request))
    read = _body_reader(request)

    parts = _receive(read, boundary)
    # A restricted caller's studies join the collections it may read, so
    # that it can retrieve what it stored; storing itself is not filtered.
    reach = context.allowed_collections(request)
    collection_ids = list(reach or [])
    try:
        outcomes = _store_parts(parts, study, collection_ids, reach)
    finally:
        # ingest_files removes the files it was given; these are the rest
        # (parts refused before ingest, or left by an unexpected error).
        for part in parts:
            part.path.unlink(missing_ok=True)

    # Named in the audit event the security guard writes for this request.
    request.audit_study_uids = [o.study_uid for o in outcomes if o.study_uid]  # type: ignore[attr-defined]
    return _response(request, outcomes, study, response_type)


def _boundary(content_type: str | None) -> str:
    if not content_type:
        raise UnsupportedMediaType(
            'Content-Type is missing; STOW-RS takes multipart/related; type="application/dicom"'
        )
    try:
        parsed = media.parse_media_type(content_type)
    except media.MediaTypeError as exc:
        raise UnsupportedMediaType(f"Content-Type: {exc}") from None
    part_type = parsed.params.get("type", media.DICOM).lower()
    # PS3.18 10.5.1.2: only instances are accepted here; the JSON and XML
    # metadata + bulk data forms are not supported by this server.
    if parsed.essence != media.MULTIPART_RELATED or part_type != media.DICOM:
        raise UnsupportedMediaType(
            f"unsupported media type {parsed.essence} (type={part_type}); "
            'STOW-RS takes multipart/related; type="application/dicom"'
        )
    boundary = parsed.params.get("boundary", "")
    if not boundary:
        raise BadRequest("Content-Type has no boundary parameter")
    return boundary


def _response_type(accept: str | None) -> str:
    try:
        chosen = media.choose_json_type(media.parse_accept(accept))
    except media.MediaTypeError as exc:
        raise BadRequest(f"Accept: {exc}") from None
    if chosen is None:
        raise NotAcceptable(
            "the Store Instances Response is only available as application/dicom+json"
        )
    return chosen


def _body_reader(request: HttpRequest) -> Callable[[int], bytes]:
    limit = settings.PACSWEB_STOW_MAX_BYTES
    if "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
        # Django sees no Content-Length and so reads nothing from its own
        # stream; a server that de-chunks (gunicorn) says so with
        # wsgi.input_terminated, and then the raw input ends where the body does.
        if not request.META.get("wsgi.input_terminated"):
            raise LengthRequired(
                "this server cannot read a chunked request body; send Content-Length"
            )
        source = request.META["wsgi.input"].read
    else:
        length = request.META.get("CONTENT_LENGTH") or "0"
        if not length.isdigit():
            raise BadRequest("Content-Length must be a non-negative integer")
        if int(length) > limit:
            raise PayloadTooLarge(f"the body is larger than the limit of {limit} bytes")
        source = request.read

    # A client that stops sending mid-body would hold a server thread for
    # as long as it keeps the connection open; under gunicorn the socket
    # is at hand, and a read that waits longer than this ends the request.
    sock = request.META.get("gunicorn.socket")
    if sock is not None:
        sock.settimeout(settings.PACSWEB_BODY_READ_TIMEOUT)
    received = 0

    def read(size: int) -> bytes:
        nonlocal received
        try:
            chunk = source(size)
        except (TimeoutError, UnreadablePostError) as exc:
            # Django wraps socket errors of its own stream in UnreadablePostError.
            if isinstance(exc, TimeoutError) or isinstance(exc.__cause__, TimeoutError):
                raise RequestTimeout(
                    f"no body data for {settings.PACSWEB_BODY_READ_TIMEOUT} s; request abandoned"
                ) from None
            raise BadRequest(f"the request body could not be read: {exc}") from None
        received += len(chunk)
        if received > limit:
            raise PayloadTooLarge(f"the body is larger than the limit of {limit} bytes")
        return chunk

    return read


def _receive(read: Callable[[int], bytes], boundary: str) -> list[Part]:
    limit = settings.PACSWEB_STOW_MAX_PARTS
    parts: list[Part] = []
    try:
        for part in iter_parts(read, boundary, storage.new_temp_file):
            parts.append(part)
            if len(parts) > limit:
                raise PayloadTooLarge(
                    f"the body has more than the limit of {limit} parts"
                )
    except BaseException as exc:
        for part in parts:
            part.path.unlink(missing_ok=True)
        if isinstance(exc, MultipartError):
            raise BadRequest(f"malformed multipart body: {exc}") from None
        raise
    if not parts:
        raise BadRequest("the multipart body has no parts")
    return parts


def _store_parts(
    parts: list[Part],
    study: str | None,
    collection_ids: list[int],
    reach: list[int] | None,
) -> list[PartOutcome]:
    outcomes: dict[int, PartOutcome] = {}
    accepted: list[tuple[int, Part]] = []
    for index, part in enumerate(parts, start=1):
        refused = _refuse_before_ingest(part)
        if refused:
            outcomes[index] = PartOutcome(
                index, "", "", failure=Status.CANNOT_UNDERSTAND, reason=refused
            )
        else:
            accepted.append((index, part))

    # The parts' rows are committed in groups, each part in a savepoint of
    # its own: a bad part is one failure, never the others' (ingest_files).
    # ArchiveUnavailable is not caught: the archive, not a part, is the
    # problem, and the whole request is answered 503 (apps/dicomweb/errors.py).
    results = ingest_files(
        [part.path for _, part in accepted],
        owned=True,
        expected_study_uid=study,
        collection_ids=collection_ids,
        # A study outside the caller's collections is not theirs to add
        # to (0x0124, apps/archive/ingest.py).
        reach=reach,
    )
    for (index, _), result in zip(accepted, results, strict=True):
        outcomes[index] = _part_outcome(index, result)
    return [outcomes[index] for index in sorted(outcomes)]


def _part_outcome(index: int, result: IngestResult | IngestError) -> PartOutcome:
    if isinstance(result, IngestError):
        return PartOutcome(
            index,
            result.sop_class_uid,
            result.sop_instance_uid,
            failure=result.status,
            reason=result.reason,
        )
    identity = result.identity
    # A duplicate kept under the "keep" policy is listed as stored: the
    # instance is held and retrievable. PS3.18 I.2.1 defines no Warning
    # Reason for it, so none is given (docs/dicomweb-store-retrieve.md).
    return PartOutcome(
        index,
        identity.sop_class_uid,
        identity.sop_uid,
        identity.study_uid,
        identity.series_uid,
    )


def _refuse_before_ingest(part: Part) -> str:
    if part.size == 0:
        return "the part is empty"
    if part.content_type:
        try:
            essence = media.parse_media_type(part.content_type).essence
        except media.MediaTypeError:
            essence = part.content_type[:80]
        if essence != media.DICOM:
            return f"the part is {essence}, not application/dicom"
    return ""


def _response(
    request: HttpRequest,
    outcomes: list[PartOutcome],
    study: str | None,
    content_type: str,
) -> HttpResponse:
    base = context.base_url(request)
    stored = [o for o in outcomes if o.failure is None]
    failed = [o for o in outcomes if o.failure is not None]

    studies = {o.study_uid for o in stored}
    target = study or (next(iter(studies)) if len(studies) == 1 else None)
    payload: dict = {RETRIEVE_URL: _ur(f"{base}studies/{target}" if target else None)}
    if failed:
        payload[FAILED_SOP_SEQUENCE] = {
            "vr": "SQ",
            "Value": [_failed_item(o) for o in failed],
        }
    if stored:
        payload[REFERENCED_SOP_SEQUENCE] = {
            "vr": "SQ",
            "Value": [_referenced_item(o, base) for o in stored],
        }

    # PS3.18 10.5.3 Table 10.5.3-1: 200 all stored, 202 some, 409 none.
    if not failed:
        status = HTTPStatus.OK
    elif stored:
        status = HTTPStatus.ACCEPTED
    else:
        status = HTTPStatus.CONFLICT
    response = HttpResponse(
        dicomjson.dumps(payload), status=status, content_type=content_type
    )
    if failed:
        response["Warning"] = _warning(failed)
    return response


def _ur(url: str | None) -> dict:
    return {"vr": "UR", "Value": [url]} if url else {"vr": "UR"}


def _ui(uid: str) -> dict:
    return {"vr": "UI", "Value": [uid]} if uid else {"vr": "UI"}


def _failed_item(outcome: PartOutcome) -> dict:
    return {
        REFERENCED_SOP_CLASS_UID: _ui(outcome.sop_class_uid),
        REFERENCED_SOP_INSTANCE_UID: _ui(outcome.sop_instance_uid),
        FAILURE_REASON: {"vr": "US", "Value": [int(outcome.failure or 0)]},
    }


def _referenced_item(outcome: PartOutcome, base: str) -> dict:
    url = (
        f"{base}studies/{outcome.study_uid}/series/{outcome.series_uid}"
        f"/instances/{outcome.sop_instance_uid}"
    )
    return {
        REFERENCED_SOP_CLASS_UID: _ui(outcome.sop_class_uid),
        REFERENCED_SOP_INSTANCE_UID: _ui(outcome.sop_instance_uid),
        RETRIEVE_URL: _ur(url),
    }


def _warning(failed: list[PartOutcome]) -> str:
    """One Warning value per failed part (PS3.18 8.4.2), readable by people."""
    values = []
    for outcome in failed:
        text = warning_text(f"part {outcome.index}: {outcome.reason}")
        values.append(f'299 pacsweb "{text[:300]}"')
    return ", ".join(values)[:WARNING_HEADER_MAX]
