"""Content-Type and Accept headers, and what WADO-RS answers for them.

Parsing follows RFC 9110 8.3 / 12.5.1: parameters may be tokens or quoted
strings, names are case-insensitive, `q` weighs a media range and q=0 rules
it out. Negotiation follows PS3.18 8.7 (acceptable media types and the
transfer-syntax parameter) and decides, per stored transfer syntax, which
syntax an instance is sent in; `None` means the server cannot give what was
asked (406). With `transcode`, Explicit VR Little Endian is also
produced from stored syntaxes pydicom can decode, and whole instances
(application/dicom) also in Implicit VR Little Endian, RLE Lossless and
JPEG 2000 Lossless.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field

from apps.dicomweb.transcode import can_decode, can_produce_instance

MULTIPART_RELATED = "multipart/related"
DICOM = "application/dicom"
DICOM_JSON = "application/dicom+json"
JSON = "application/json"
OCTET_STREAM = "application/octet-stream"

IMPLICIT_VR_LE = "1.2.840.10008.1.2"
EXPLICIT_VR_LE = "1.2.840.10008.1.2.1"
DEFLATED_EXPLICIT_VR_LE = "1.2.840.10008.1.2.1.99"
EXPLICIT_VR_BE = "1.2.840.10008.1.2.2"
# Native little-endian pixel or bulk data has the same bytes whichever of
# these the file was written in: only the element headers differ.
NATIVE_LITTLE_ENDIAN = frozenset(
    {IMPLICIT_VR_LE, EXPLICIT_VR_LE, DEFLATED_EXPLICIT_VR_LE}
)

# PS3.18 8.7.3.5.2: the transfer syntax when a media type names none.
DEFAULT_TRANSFER_SYNTAX = {DICOM: EXPLICIT_VR_LE, OCTET_STREAM: EXPLICIT_VR_LE}
ANY_TRANSFER_SYNTAX = "*"


class MediaTypeError(ValueError):
    pass


@dataclass(frozen=True)
class MediaType:
    type: str
    subtype: str
    params: dict[str, str] = field(default_factory=dict)
    q: float = 1.0

    @property
    def essence(self) -> str:
        return f"{self.type}/{self.subtype}"

    def covers(self, essence: str) -> bool:
        """Whether this (possibly wildcard) range includes `essence`."""
        kind, _, sub = essence.partition("/")
        if self.type == "*":
            return True
        return self.type == kind and self.subtype in ("*", sub)


def parse_media_type(text: str) -> MediaType:
    """One media type with parameters, e.g. a Content-Type value."""
    fields = list(_split(text, ";"))
    essence = fields[0].strip().lower() if fields else ""
    kind, slash, sub = essence.partition("/")
    if not slash or not _is_token(kind) or not _is_token(sub):
        raise MediaTypeError(f"malformed media type {text.strip()[:80]!r}")
    params: dict[str, str] = {}
    q = 1.0
    for raw in fields[1:]:
        if not raw.strip():
            continue
        name, eq, value = raw.partition("=")
        name = name.strip().lower()
        if not eq or not _is_token(name):
            raise MediaTypeError(f"malformed media type parameter {raw.strip()[:80]!r}")
        value = _unquote(value.strip())
        if name == "q":
            q = _quality(value)
        else:
            params[name] = value
    return MediaType(kind, sub, params, q)


def parse_accept(header: str | None) -> list[MediaType]:
    """Acceptable media ranges, most preferred first; no header means */*."""
    if header is None or not header.strip():
        return [MediaType("*", "*")]
    ranges = [parse_media_type(item) for item in _split(header, ",") if item.strip()]
    # sorted() is stable: equal weights keep the client's order.
    return sorted((r for r in ranges if r.q > 0), key=lambda r: -r.q)


def _split(text: str, separator: str) -> Iterator[str]:
    """Split on `separator` outside quoted strings."""
    start = 0
    quoted = escaped = False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            yield text[start:index]
            start = index + 1
    if quoted:
        raise MediaTypeError(f"unterminated quoted string in {text.strip()[:80]!r}")
    yield text[start:]


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        inner = value[1:-1]
        out = []
        escaped = False
        for char in inner:
            if escaped or char != "\\":
                out.append(char)
                escaped = False
            else:
                escaped = True
        return "".join(out)
    return value


_TOKEN_SPECIALS = set('()<>@,;:\\"/[]?={} \t')


def _is_token(text: str) -> bool:
    return bool(text) and not any(c in _TOKEN_SPECIALS or ord(c) < 33 for c in text)


def _quality(value: str) -> float:
    try:
        q = float(value)
    except ValueError:
        raise MediaTypeError(f"q must be a number from 0 to 1, got {value!r}") from None
    if not 0 <= q <= 1:
        raise MediaTypeError(f"q must be a number from 0 to 1, got {value!r}")
    return q


# --- Negotiation (PS3.18 8.7) ------------------------------------------------


def choose_transfer_syntax(
    accept: list[MediaType],
    part_type: str,
    stored: str,
    *,
    multipart_only: bool = True,
    transcode: bool = False,
) -> str | None:
    """The transfer syntax to send a stored object in, or None (406).

    `part_type` is the media type of each part (application/dicom for
    instances, application/octet-stream for bulk data); `stored` is the
    syntax of the bytes as stored. The most preferred acceptable range that
    can be served wins. With `transcode`, a range asking for Explicit VR
    Little Endian is served by decoding (apps/dicomweb/transcode.py) when
    the stored syntax can be decoded; for instances, so are the other
    syntaxes transcode.can_produce_instance allows.
    """
    for media_range in accept:
        asked = _asked_transfer_syntax(media_range, part_type, multipart_only)
        if asked is None:
            continue
        if asked == ANY_TRANSFER_SYNTAX or asked == stored:
            return stored
        if not transcode:
            continue
        if asked == EXPLICIT_VR_LE and can_decode(stored):
            return EXPLICIT_VR_LE
        if part_type == DICOM and can_produce_instance(stored, asked):
            return asked
    return None


def _asked_transfer_syntax(
    media_range: MediaType, part_type: str, multipart_only: bool
) -> str | None:
    """The syntax a range asks for when it covers `part_type`, else None."""
    default = DEFAULT_TRANSFER_SYNTAX[part_type]
    if media_range.essence == MULTIPART_RELATED:
        # A multipart range without `type` means the resource's default;
        # `type` may itself be a range ("*/*", as dicomweb-client sends).
        try:
            part_range = parse_media_type(media_range.params.get("type", part_type))
        except MediaTypeError:
            return None
        if not part_range.covers(part_type):
            return None
        return media_range.params.get("transfer-syntax", default)
    if media_range.essence == part_type and not multipart_only:
        return media_range.params.get("transfer-syntax", default)
    if media_range.type == "*" or media_range.essence == "multipart/*":
        return default
    return None


def wants_multipart(accept: list[MediaType], part_type: str) -> bool:
    """For bulk data, which may also go single-part: is multipart preferred?"""
    for media_range in accept:
        if media_range.essence == part_type:
            return False
        if _asked_transfer_syntax(media_range, part_type, True) is not None:
            return True
    return True


def choose_json_type(accept: list[MediaType]) -> str | None:
    """application/dicom+json, or application/json when only that is asked."""
    for media_range in accept:
        if media_range.covers(DICOM_JSON):
            return DICOM_JSON
        if media_range.essence == JSON:
            return JSON
    return None
