"""Placeholder module: replaced by its implementation before this lands."""

from django.http import HttpRequest, HttpResponse

from apps.dicomweb.errors import error_response


def study(request: HttpRequest, **kwargs: str) -> HttpResponse:
    return error_response(501, "not available yet")


def study_metadata(request: HttpRequest, **kwargs: str) -> HttpResponse:
    return error_response(501, "not available yet")


def series(request: HttpRequest, **kwargs: str) -> HttpResponse:
    return error_response(501, "not available yet")


def series_metadata(request: HttpRequest, **kwargs: str) -> HttpResponse:
    return error_response(501, "not available yet")


def instance(request: HttpRequest, **kwargs: str) -> HttpResponse:
    return error_response(501, "not available yet")


def instance_metadata(request: HttpRequest, **kwargs: str) -> HttpResponse:
    return error_response(501, "not available yet")


def bulkdata(request: HttpRequest, **kwargs: str) -> HttpResponse:
    return error_response(501, "not available yet")
