"""WADO-RS: instances, metadata and bulk data (PS3.18 10.4).

Instances are streamed from the stored files as they are; metadata is the
DICOM JSON prepared at ingest, joined and made absolute without parsing any
file. Each resource costs one database query whatever its size, and the
caller's collections (apps/accounts) filter it inside that query, so an
instance outside them is as unknown as one that does not exist.
"""

import logging
from collections.abc import Iterable, Iterator

from django.db.models import QuerySet
from django.http import HttpRequest, StreamingHttpResponse
from django.http.response import HttpResponseBase

from apps.archive import dicomjson, storage
from apps.archive.models import Instance, Study
from apps.dicomweb import bulk, context, media, transcode
from apps.dicomweb.errors import BadRequest, NotAcceptable, NotFound, handle_errors
from apps.dicomweb.multipart import Headers, new_boundary, write_parts

logger = logging.getLogger(__name__)

# Instances per database round trip while metadata streams.
METADATA_BATCH = 500
# Metadata is sent in pieces of about this size rather than per instance.
METADATA_PIECE = 64 * 1024


@handle_errors
def study(request: HttpRequest, study: str) -> HttpResponseBase:
    return _instances_response(request, _instances(request, study))


@handle_errors
def series(request: HttpRequest, study: str, series: str) -> HttpResponseBase:
    return _instances_response(request, _instances(request, study, series))


@handle_errors
def instance(
    request: HttpRequest, study: str, series: str, instance: str
) -> HttpResponseBase:
    return _instances_response(request, _instances(request, study, series, instance))


@handle_errors
def study_metadata(request: HttpRequest, study: str) -> HttpResponseBase:
    return _metadata_response(request, _instances(request, study))


@handle_errors
def series_metadata(request: HttpRequest, study: str, series: str) -> HttpResponseBase:
    return _metadata_response(request, _instances(request, study, series))


@handle_errors
def instance_metadata(
    request: HttpRequest, study: str, series: str, instance: str
) -> HttpResponseBase:
    return _metadata_response(request, _instances(request, study, series, instance))


def _instances(
    request: HttpRequest,
    study: str,
    series: str | None = None,
    instance: str | None = None,
) -> QuerySet[Instance]:
    queryset = Instance.objects.filter(
        series__study__study_instance_uid=context.check_uid("study", study)
    )
    if series is not None:
        queryset = queryset.filter(
            series__series_instance_uid=context.check_uid("series", series)
        )
    if instance is not None:
        queryset = queryset.filter(
            sop_instance_uid=context.check_uid("instance", instance)
        )
    collections = context.allowed_collections(request)
    if collections is not None:
        # A subquery, not a join: a study in two of the caller's
        # collections must not list its instances twice.
        queryset = queryset.filter(
            series__study__in=Study.objects.filter(collections__in=collections)
        )
    return queryset.order_by(
        "series__series_number", "series_id", "instance_number", "id"
    )


def _accept(request: HttpRequest) -> list[media.MediaType]:
    try:
        return media.parse_accept(context.accept(request))
    except media.MediaTypeError as exc:
        raise BadRequest(f"Accept: {exc}") from None


# --- Instances ---------------------------------------------------------------


def _instances_response(
    request: HttpRequest, queryset: QuerySet[Instance]
) -> HttpResponseBase:
    accept = _accept(request)
    rows = list(
        queryset.values_list("storage_path", "transfer_syntax_uid", "file_size")
    )
    if not rows:
        raise NotFound("no such study, series or instance")

    chosen: dict[str, str] = {}
    for stored in {ts for _, ts, _ in rows}:
        syntax = media.choose_transfer_syntax(
            accept, media.DICOM, stored, transcode=True
        )
        if syntax is None:
            raise NotAcceptable(
                f"an instance is stored in transfer syntax {stored}, which the Accept "
                "header does not allow; ask for transfer-syntax=* or that syntax"
            )
        chosen[stored] = syntax

    if len(rows) == 1 and chosen[rows[0][1]] != rows[0][1]:
        # One instance: transcode before the response starts, so pixel
        # data the decoders refuse is a 406 rather than a cut stream.
        path, ts, _ = rows[0]
        data = _transcoded_or_406(path, chosen[ts])
        headers = {
            "Content-Type": f"{media.DICOM}; transfer-syntax={chosen[ts]}",
            "Content-Length": str(len(data)),
        }
        return _multipart([(headers, [data])], media.DICOM)
    parts = (_instance_part(path, ts, chosen[ts], size) for path, ts, size in rows)
    return _multipart((part for part in parts if part is not None), media.DICOM)


def _instance_part(
    path: str, stored: str, syntax: str, size: int
) -> tuple[Headers, Iterable[bytes]] | None:
    content_type = f"{media.DICOM}; transfer-syntax={syntax}"
    if syntax == stored:
        return {"Content-Type": content_type, "Content-Length": str(size)}, (
            storage.iter_stored(path)
        )
    try:
        with storage.open_stored(path) as handle:
            data = transcode.instance_as(handle, syntax)
    except transcode.TranscodeError as exc:
        # The response has started: an instance the decoders refuse is
        # left out rather than cutting the others short.
        logger.warning("not sent: %s could not be transcoded: %s", path, exc)
        return None
    return {"Content-Type": content_type, "Content-Length": str(len(data))}, [data]


def _transcoded_or_406(path: str, syntax: str) -> bytes:
    try:
        with storage.open_stored(path) as handle:
            return transcode.instance_as(handle, syntax)
    except transcode.TranscodeError as exc:
        raise NotAcceptable(
            f"{exc}; ask for transfer-syntax=* to receive it as stored"
        ) from None


def _multipart(
    parts: Iterable[tuple[Headers, Iterable[bytes]]], part_type: str
) -> HttpResponseBase:
    boundary = new_boundary()
    return StreamingHttpResponse(
        write_parts(parts, boundary),
        content_type=f'{media.MULTIPART_RELATED}; type="{part_type}"; boundary={boundary}',
    )


# --- Metadata ----------------------------------------------------------------


def _metadata_response(
    request: HttpRequest, queryset: QuerySet[Instance]
) -> HttpResponseBase:
    content_type = media.choose_json_type(_accept(request))
    if content_type is None:
        raise NotAcceptable("metadata is available as application/dicom+json only")
    texts = queryset.values_list("metadata_json", flat=True).iterator(
        chunk_size=METADATA_BATCH
    )
    first = next(texts, None)
    if first is None:
        raise NotFound("no such study, series or instance")

    # The stored text has relative BulkDataURIs behind a marker (see
    # apps/archive/dicomjson.py); one replacement makes them absolute.
    absolute = '"' + context.base_url(request)
    return StreamingHttpResponse(
        _json_array(first, texts, absolute), content_type=content_type
    )


def _json_array(first: str, rest: Iterator[str], absolute: str) -> Iterator[bytes]:
    pieces = ["[", first.replace(dicomjson.BULK_MARKER_JSON, absolute)]
    size = len(pieces[1])
    for text in rest:
        pieces += [",", text.replace(dicomjson.BULK_MARKER_JSON, absolute)]
        size += len(text)
        if size >= METADATA_PIECE:
            yield "".join(pieces).encode()
            pieces, size = [], 0
    pieces.append("]")
    yield "".join(pieces).encode()


# --- Bulk data ---------------------------------------------------------------


@handle_errors
def bulkdata(
    request: HttpRequest, study: str, series: str, instance: str, tag_path: str
) -> HttpResponseBase:
    if not bulk.is_tag_path(tag_path):
        raise BadRequest(
            f"tag path must be TAG or TAG/ITEM/TAG..., got {tag_path[:80]!r}"
        )
    accept = _accept(request)
    row = (
        _instances(request, study, series, instance)
        .values(
            "storage_path",
            "transfer_syntax_uid",
            "pixel_data_offset",
            "pixel_data_length",
            "number_of_frames",
        )
        .first()
    )
    if row is None:
        raise NotFound("no such instance")
    path = row["storage_path"]
    stored = row["transfer_syntax_uid"]

    offset, length = row["pixel_data_offset"], row["pixel_data_length"]
    if bulk.is_top_level_pixel_data(tag_path) and offset is not None and length == -1:
        # Encapsulated: one part per frame, compressed as stored.
        syntax = _bulk_syntax(accept, stored)
        frames = bulk.encapsulated_frames(path, offset, row["number_of_frames"])
        return _multipart(
            (({"Content-Type": _octet(syntax)}, [frame]) for frame in frames),
            media.OCTET_STREAM,
        )
    syntax = _bulk_syntax(accept, _native_syntax(stored))
    if bulk.is_top_level_pixel_data(tag_path) and offset is not None:
        chunks: Iterable[bytes] = storage.iter_stored(
            row["storage_path"], offset, length
        )
    else:
        value = bulk.element_bytes(path, tag_path)
        if value is None:
            raise NotFound(f"the instance has no bulk data at {tag_path}")
        chunks = [value]

    if not media.wants_multipart(accept, media.OCTET_STREAM):
        return StreamingHttpResponse(chunks, content_type=media.OCTET_STREAM)
    return _multipart([({"Content-Type": _octet(syntax)}, chunks)], media.OCTET_STREAM)


def _native_syntax(stored: str) -> str:
    # Uncompressed values are the same bytes in every little-endian syntax;
    # only big endian differs (PS3.5 7.3).
    return media.EXPLICIT_VR_LE if stored in media.NATIVE_LITTLE_ENDIAN else stored


def _bulk_syntax(accept: list[media.MediaType], stored: str) -> str:
    syntax = media.choose_transfer_syntax(
        accept, media.OCTET_STREAM, stored, multipart_only=False
    )
    if syntax is None:
        raise NotAcceptable(
            f"this bulk data is in transfer syntax {stored}, which the Accept header "
            "does not allow; ask for transfer-syntax=* or that syntax"
        )
    return syntax


def _octet(syntax: str) -> str:
    return f"{media.OCTET_STREAM}; transfer-syntax={syntax}"
