"""Placeholder module: replaced by its implementation before this lands."""

from django.http import HttpRequest, HttpResponse

from apps.dicomweb.errors import error_response


def store(request: HttpRequest, **kwargs: str) -> HttpResponse:
    return error_response(501, "not available yet")
