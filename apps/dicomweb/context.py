"""What every DICOMweb view reads from its request besides the body."""

from django.http import HttpRequest

from apps.archive.ingest import is_valid_uid
from apps.dicomweb.errors import BadRequest


def base_url(request: HttpRequest) -> str:
    """The absolute URL of /dicomweb/ as the client reached it."""
    # request.path minus path_info is the script prefix of a deployment
    # under a sub-path; the host is the one the client used.
    prefix = request.path[: len(request.path) - len(request.path_info)]
    return request.build_absolute_uri(prefix.rstrip("/") + "/dicomweb/")


# PS3.18 8.3.3.1: the media types a client that cannot set the header (a
# link, an <img>, OHIF's thumbnails) names in the URL.
ACCEPT_PARAMETER = "accept"


def accept(request: HttpRequest) -> str | None:
    """The acceptable media types: the `accept` query parameter when given
    (PS3.18 8.3.3.1 gives it precedence), otherwise the Accept header."""
    values = request.GET.getlist(ACCEPT_PARAMETER)
    if values:
        return ",".join(values)
    return request.headers.get("Accept")


def allowed_collections(request: HttpRequest) -> list[int] | None:
    """Collections the caller may read; None is unrestricted (apps/accounts)."""
    return getattr(request, "allowed_collections", None)


def check_uid(name: str, value: str) -> str:
    if not is_valid_uid(value):
        raise BadRequest(f"{name} in the URL is not a valid UID: {value[:80]!r}")
    return value
