"""HTTP errors of the DICOMweb services, rendered in one place.

Views raise DicomWebError (or a subclass) with a status and a reason that
names what was wrong; `handle_errors` turns it into a response. The reason
goes in a small JSON body and in a Warning header (PS3.18 8.4.2), so that
clients that only look at headers see it too. Nothing else escapes a view:
an unexpected exception is logged once and answered 500 without a trace.
"""

import functools
import logging
import re
from collections.abc import Callable
from http import HTTPStatus

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase

from apps.archive.ingest import ArchiveUnavailable

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 30


class DicomWebError(Exception):
    status = HTTPStatus.BAD_REQUEST

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        if status is not None:
            self.status = HTTPStatus(status)


class BadRequest(DicomWebError):
    status = HTTPStatus.BAD_REQUEST


class NotFound(DicomWebError):
    status = HTTPStatus.NOT_FOUND


class NotAcceptable(DicomWebError):
    status = HTTPStatus.NOT_ACCEPTABLE


class UnsupportedMediaType(DicomWebError):
    status = HTTPStatus.UNSUPPORTED_MEDIA_TYPE


class PayloadTooLarge(DicomWebError):
    status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE


class LengthRequired(DicomWebError):
    status = HTTPStatus.LENGTH_REQUIRED


class RequestTimeout(DicomWebError):
    status = HTTPStatus.REQUEST_TIMEOUT


# Control characters that str.split() does not take for white space; a
# reason may quote them from the request, and gunicorn refuses a header
# that holds one (the client would get its bare 500 instead of the reason).
_CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f]")


def warning_text(text: str) -> str:
    """`text` as the quoted text of a Warning header value (PS3.18 8.4.2)."""
    # Header values must be latin-1 on one line; the JSON body carries the
    # full text (decoder messages, for one, span several lines).
    one_line = _CONTROL_RE.sub("?", " ".join(text.split()))
    return one_line.encode("latin-1", "replace").decode("latin-1").replace('"', "'")


def error_response(status: int, reason: str) -> HttpResponse:
    response = JsonResponse(
        {"status": int(status), "reason": reason}, status=int(status)
    )
    response["Warning"] = f'299 pacsweb "{warning_text(reason)[:200]}"'
    return response


def handle_errors(
    view: Callable[..., HttpResponseBase],
) -> Callable[..., HttpResponseBase]:
    @functools.wraps(view)
    def wrapper(
        request: HttpRequest, *args: object, **kwargs: object
    ) -> HttpResponseBase:
        try:
            return view(request, *args, **kwargs)
        except DicomWebError as exc:
            return error_response(exc.status, exc.reason)
        except (OperationalError, InterfaceError, ArchiveUnavailable):
            # The database is down or restarting: a clear, retryable 503
            # (PS3.18 8.6.1.2 "Service Unavailable"), not a 500 or a hang.
            logger.warning(
                "%s %s: archive database unavailable", request.method, request.path
            )
            response = error_response(
                HTTPStatus.SERVICE_UNAVAILABLE,
                "the archive database is unavailable; try again later",
            )
            response["Retry-After"] = str(RETRY_AFTER_SECONDS)
            return response
        except Exception:
            logger.exception("%s %s failed", request.method, request.path)
            return error_response(
                HTTPStatus.INTERNAL_SERVER_ERROR, "internal error; see the server log"
            )

    return wrapper
