"""QIDO-RS: search for studies, series and instances (PS3.18 10.6).

Parsing, matching, ordering and paging live in the archive's matching
engine (apps/archive/query.py, matching.py, results.py), shared with
C-FIND; this module is the HTTP edge: parameters in, negotiation, status
and headers out. Each search is one SQL statement.

- No match: 200 with an empty array (PS3.18 10.6.3.1; 204 was retired).
- More matches than returned: a Warning header (PS3.18 8.3.4.4), whether
  the page was bounded by `limit` or by PACSWEB_QIDO_MAX_LIMIT, and a
  `Link: <...>; rel="next"` header (RFC 8288): the same search with a
  `cursor` token that starts the next page after this page's last row
  (keyset paging, apps/archive/keyset.py). A cursor that this server did
  not issue for this search is a 400.
- A key that is a DICOM attribute but has no column to match on is
  ignored for matching, returned, and named in a Warning header
  (PS3.18 8.3.4.1); an unknown or malformed parameter is a 400.
"""

import re
from http import HTTPStatus
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from apps.archive import dicomjson
from apps.archive.matching import Level, Query, QueryError, search
from apps.archive.results import Renderer, needs_instance_metadata
from apps.dicomweb import context
from apps.dicomweb.errors import BadRequest, NotAcceptable, handle_errors

DICOM_JSON = "application/dicom+json"
JSON = "application/json"
MORE_RESULTS = "There are additional results that can be requested"
_BASE_RE = re.compile(r"^(.*?/)(?:studies|series|instances)(?:/|$)")


@handle_errors
def studies(request: HttpRequest) -> HttpResponse:
    return _search(request, Level.STUDY)


@handle_errors
def series(request: HttpRequest, study: str | None = None) -> HttpResponse:
    return _search(request, Level.SERIES, study_uid=study)


@handle_errors
def instances(
    request: HttpRequest, study: str | None = None, series: str | None = None
) -> HttpResponse:
    return _search(request, Level.INSTANCE, study_uid=study, series_uid=series)


def _search(
    request: HttpRequest,
    level: Level,
    *,
    study_uid: str | None = None,
    series_uid: str | None = None,
) -> HttpResponse:
    media_type = negotiate(context.accept(request) or "")
    # UIDs in the path are checked as WADO-RS checks them: a bad one is a
    # 400 (and never reaches PostgreSQL, which refuses a NUL in text).
    if study_uid is not None:
        context.check_uid("study", study_uid)
    if series_uid is not None:
        context.check_uid("series", series_uid)
    # `accept` chooses the media type, it does not match attributes.
    params = [
        (name, value)
        for name, values in request.GET.lists()
        if name != context.ACCEPT_PARAMETER
        for value in values
    ]
    try:
        query = Query.from_params(
            level,
            params,
            study_uid=study_uid,
            series_uid=series_uid,
            collections=getattr(request, "allowed_collections", None),
            default_limit=settings.PACSWEB_QIDO_DEFAULT_LIMIT,
            max_limit=settings.PACSWEB_QIDO_MAX_LIMIT,
        )
        result = search(
            query, defer=() if needs_instance_metadata(query) else _deferred(level)
        )
    except QueryError as exc:
        raise BadRequest(exc.reason) from None

    base_url = _base_url(request)
    renderer = Renderer(query, base_url)
    body = dicomjson.dumps([renderer.render(row) for row in result.rows])
    body = body.replace(dicomjson.BULK_MARKER_JSON, '"' + base_url)

    response = HttpResponse(
        body, status=HTTPStatus.OK, content_type=f"{media_type}; charset=utf-8"
    )
    warnings = []
    if query.ignored:
        names = ", ".join(query.ignored)
        warnings.append(
            f'299 pacsweb "The following attributes are not supported for matching and were ignored: {names}"'
        )
    if result.more:
        warnings.append(f'299 pacsweb "{MORE_RESULTS}"')
    if warnings:
        response["Warning"] = ", ".join(warnings)
    if result.next_cursor:
        response["Link"] = (
            f'<{_next_url(request, params, result.next_cursor)}>; rel="next"'
        )
    return response


def _next_url(request: HttpRequest, params: list[tuple[str, str]], cursor: str) -> str:
    """This search again, starting after the last row of this page."""
    kept = [(name, value) for name, value in params if name not in ("offset", "cursor")]
    query = urlencode([*kept, ("cursor", cursor)])
    return request.build_absolute_uri(request.path) + "?" + query


def _deferred(level: Level) -> tuple[str, ...]:
    return ("metadata_json",) if level == Level.INSTANCE else ()


def _base_url(request: HttpRequest) -> str:
    """The absolute URL of the DICOMweb root the client used, ending in "/"."""
    match = _BASE_RE.match(request.path)
    prefix = match.group(1) if match else "/"
    return request.build_absolute_uri(prefix)


def negotiate(accept: str) -> str:
    """The media type to answer with, from an Accept header (PS3.18 8.7.5).

    A minimal parser kept private to this module: apps/dicomweb/media.py is
    being written separately and will replace it.
    """
    if not accept.strip():
        return DICOM_JSON
    best: tuple[float, str] | None = None
    for item in accept.split(","):
        media_range, *params = [part.strip() for part in item.split(";")]
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value.strip().strip('"'))
                except ValueError:
                    quality = 0.0
        chosen = _offer(media_range.lower())
        if chosen and quality > 0 and (best is None or quality > best[0]):
            best = (quality, chosen)
    if best is None:
        raise NotAcceptable(
            f"cannot answer with any of {accept!r}; search results are {DICOM_JSON} or {JSON}"
        )
    return best[1]


def _offer(media_range: str) -> str | None:
    if media_range in (DICOM_JSON, "*/*", "application/*"):
        return DICOM_JSON
    if media_range == JSON:
        return JSON
    return None
