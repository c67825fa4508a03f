"""WADO-RS frames (PS3.18 10.4.1.1.5): /instances/{i}/frames/{list}.

Frames go out as multipart/related, one part per requested frame in the
order asked. Native frames are application/octet-stream, little endian;
encapsulated frames keep their compressed bytes and are labelled with the
media type of their transfer syntax (PS3.18 8.7.3.5), unless the client
asks for Explicit VR Little Endian, in which case they are decoded.
"""

from collections.abc import Iterator

from django.db.models import QuerySet
from django.http import HttpRequest, StreamingHttpResponse
from django.http.response import HttpResponseBase

from apps.archive import storage
from apps.archive.models import Instance
from apps.dicomweb import context, frames, media, retrieve, transcode
from apps.dicomweb.errors import BadRequest, NotAcceptable, NotFound, handle_errors
from apps.dicomweb.multipart import Headers, new_boundary, write_parts

# PS3.18 Table 8.7.3-5: media types of compressed frames, each with its
# default transfer syntax and the syntaxes it may carry.
COMPRESSED_MEDIA_TYPES: dict[str, tuple[str, frozenset[str]]] = {
    "image/jpeg": (
        "1.2.840.10008.1.2.4.50",
        frozenset(
            {
                "1.2.840.10008.1.2.4.50",
                "1.2.840.10008.1.2.4.51",
                "1.2.840.10008.1.2.4.57",
                "1.2.840.10008.1.2.4.70",
            }
        ),
    ),
    "image/jls": (
        "1.2.840.10008.1.2.4.80",
        frozenset({"1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81"}),
    ),
    "image/jp2": (
        "1.2.840.10008.1.2.4.90",
        frozenset({"1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91"}),
    ),
    "image/jpx": (
        "1.2.840.10008.1.2.4.92",
        frozenset({"1.2.840.10008.1.2.4.92", "1.2.840.10008.1.2.4.93"}),
    ),
    "image/jphc": (
        "1.2.840.10008.1.2.4.201",
        frozenset(
            {
                "1.2.840.10008.1.2.4.201",
                "1.2.840.10008.1.2.4.202",
                "1.2.840.10008.1.2.4.203",
            }
        ),
    ),
    "image/dicom-rle": ("1.2.840.10008.1.2.5", frozenset({"1.2.840.10008.1.2.5"})),
}
SYNTAX_MEDIA_TYPE = {
    syntax: media_type
    for media_type, (_, syntaxes) in COMPRESSED_MEDIA_TYPES.items()
    for syntax in syntaxes
}
INSTANCE_FIELDS = (
    "pk",
    "storage_path",
    "transfer_syntax_uid",
    "number_of_frames",
    "rows",
    "columns",
    "bits_allocated",
    "samples_per_pixel",
    "photometric_interpretation",
    "pixel_data_offset",
    "pixel_data_length",
)


@handle_errors
def frames_view(
    request: HttpRequest, study: str, series: str, instance: str, frame_list: str
) -> HttpResponseBase:
    numbers = parse_frame_list(frame_list)
    accept = parse_accept(request)
    row = find_instance(request, study, series, instance)
    check_frames(row, numbers)

    syntax = negotiate(accept, row)
    first = None
    if syntax != as_stored(row):
        # Decode the first frame before the response starts, so that data
        # the decoders refuse is a 406, not a stream cut short.
        first = _decoded(row, numbers[0])
    part_type = content_type_for(syntax)
    parts = _parts(row, numbers, part_type, first)
    boundary = new_boundary()
    multipart_type = part_type.split(";", 1)[0]
    return StreamingHttpResponse(
        write_parts(parts, boundary),
        content_type=f'{media.MULTIPART_RELATED}; type="{multipart_type}"; '
        f"boundary={boundary}",
    )


def parse_frame_list(text: str) -> list[int]:
    try:
        return frames.parse_frame_list(text)
    except frames.BadFrameList as exc:
        raise BadRequest(str(exc)) from None


def parse_accept(request: HttpRequest) -> list[media.MediaType]:
    try:
        return media.parse_accept(context.accept(request))
    except media.MediaTypeError as exc:
        raise BadRequest(f"Accept: {exc}") from None


def instances(
    request: HttpRequest,
    study: str,
    series: str | None = None,
    instance: str | None = None,
) -> QuerySet[Instance]:
    """Instances with pixel data under a URL, inside the caller's collections.

    The lookup is WADO-RS retrieve's own, so that UID checks and the
    collection filter live in one place.
    """
    return retrieve._instances(request, study, series, instance).filter(
        number_of_frames__gt=0
    )


def find_instance(
    request: HttpRequest, study: str, series: str, instance: str
) -> Instance:
    row = instances(request, study, series, instance).only(*INSTANCE_FIELDS).first()
    if row is None:
        raise NotFound("no such instance with pixel data")
    return row


def check_frames(row: Instance, numbers: list[int]) -> None:
    try:
        frames.check_frames(row, numbers)
    except frames.FrameError as exc:
        raise NotFound(str(exc)) from None


def as_stored(row: Instance) -> str:
    """The syntax frames are read in: native frames always come little endian."""
    if frames.is_encapsulated(row):
        return row.transfer_syntax_uid
    return media.EXPLICIT_VR_LE


def negotiate(accept: list[media.MediaType], row: Instance) -> str:
    stored = as_stored(row)
    for media_range in accept:
        syntax = _syntax_for_range(media_range, stored)
        if syntax is not None:
            return syntax
    raise NotAcceptable(
        f"the frames are stored in transfer syntax {stored}; ask for "
        "multipart/related with type=application/octet-stream and "
        f"transfer-syntax=* or {stored}"
        + (
            f" or {media.EXPLICIT_VR_LE}"
            if transcode.can_decode(row.transfer_syntax_uid)
            else ""
        )
    )


def _syntax_for_range(media_range: media.MediaType, stored: str) -> str | None:
    part_type = media_range.params.get("type", "").lower()
    compressed = COMPRESSED_MEDIA_TYPES.get(part_type)
    if media_range.essence == media.MULTIPART_RELATED and compressed is not None:
        default, syntaxes = compressed
        asked = media_range.params.get("transfer-syntax", default)
        if stored in syntaxes and asked in (media.ANY_TRANSFER_SYNTAX, stored):
            return stored
        return None
    # application/octet-stream frames: as stored, or decoded on request.
    return media.choose_transfer_syntax(
        [media_range], media.OCTET_STREAM, stored, transcode=True
    )


def content_type_for(syntax: str) -> str:
    media_type = SYNTAX_MEDIA_TYPE.get(syntax, media.OCTET_STREAM)
    return f"{media_type}; transfer-syntax={syntax}"


def _decoded(row: Instance, number: int) -> bytes:
    with storage.open_stored(row.storage_path) as handle:
        header = transcode.read_pixel_header(handle)
        try:
            return transcode.frame_as_native(handle, row, header, number - 1)
        except transcode.TranscodeError as exc:
            raise NotAcceptable(
                f"{exc}; ask for transfer-syntax={row.transfer_syntax_uid}"
            ) from None


def _parts(
    row: Instance, numbers: list[int], part_type: str, first: bytes | None
) -> Iterator[tuple[Headers, list[bytes]]]:
    headers = {"Content-Type": part_type}
    with storage.open_stored(row.storage_path) as handle:
        if first is None:
            for frame in frames.read_frames(handle, row, numbers):
                yield {**headers, "Content-Length": str(len(frame))}, [frame]
            return
        yield {**headers, "Content-Length": str(len(first))}, [first]
        header = transcode.read_pixel_header(handle)
        for number in numbers[1:]:
            frame = transcode.frame_as_native(handle, row, header, number - 1)
            yield {**headers, "Content-Length": str(len(frame))}, [frame]
