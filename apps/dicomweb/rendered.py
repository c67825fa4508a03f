"""Rendered and thumbnail resources (PS3.18 10.4.1.1.3, 10.4.1.1.4).

An instance, a frame or a thumbnail is one image; a study, a series or a
list of frames is multipart/related with one rendered image per instance
(its first frame) or per frame. The media type comes from Accept, or from
the `accept` query parameter (context.accept): JPEG unless PNG or GIF is
preferred. Query parameters are those of PS3.18 8.3.5.1 (window,
viewport, quality); thumbnails fit the configured size unless a viewport
is given.
"""

from collections.abc import Iterable, Iterator

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase

from apps.archive.models import Instance, Series
from apps.dicomweb import media, render, thumbnails
from apps.dicomweb.errors import BadRequest, NotAcceptable, NotFound, handle_errors
from apps.dicomweb.multipart import Headers, new_boundary, write_parts
from apps.dicomweb.retrieve_frames import (
    INSTANCE_FIELDS,
    check_frames,
    find_instance,
    instances,
    parse_accept,
    parse_frame_list,
)
from apps.dicomweb.transcode import TranscodeError

# --- Rendered ------------------------------------------------------------------


@handle_errors
def study_rendered(request: HttpRequest, study: str) -> HttpResponseBase:
    options = _options(request)
    rows = _all(instances(request, study))
    return _multipart(((row, 0) for row in rows), options)


@handle_errors
def series_rendered(request: HttpRequest, study: str, series: str) -> HttpResponseBase:
    options = _options(request)
    rows = _all(instances(request, study, series))
    return _multipart(((row, 0) for row in rows), options)


@handle_errors
def instance_rendered(
    request: HttpRequest, study: str, series: str, instance: str
) -> HttpResponseBase:
    options = _options(request)
    row = find_instance(request, study, series, instance)
    return _image(_render(row, 0, options), options)


@handle_errors
def frames_rendered(
    request: HttpRequest, study: str, series: str, instance: str, frame_list: str
) -> HttpResponseBase:
    numbers = parse_frame_list(frame_list)
    options = _options(request)
    row = find_instance(request, study, series, instance)
    check_frames(row, numbers)
    if len(numbers) == 1:
        return _image(_render(row, numbers[0] - 1, options), options)
    return _multipart(((row, number - 1) for number in numbers), options)


# --- Thumbnails ----------------------------------------------------------------


@handle_errors
def study_thumbnail(request: HttpRequest, study: str) -> HttpResponseBase:
    first = instances(request, study).values_list("series_id", flat=True).first()
    if first is None:
        raise NotFound("no such study with pixel data")
    return _series_thumbnail(request, first)


@handle_errors
def series_thumbnail(request: HttpRequest, study: str, series: str) -> HttpResponseBase:
    first = (
        instances(request, study, series).values_list("series_id", flat=True).first()
    )
    if first is None:
        raise NotFound("no such series with pixel data")
    return _series_thumbnail(request, first)


@handle_errors
def instance_thumbnail(
    request: HttpRequest, study: str, series: str, instance: str
) -> HttpResponseBase:
    options = _options(request, thumbnails.default_viewport())
    row = find_instance(request, study, series, instance)
    return _image(_render(row, 0, options), options)


@handle_errors
def frames_thumbnail(
    request: HttpRequest, study: str, series: str, instance: str, frame_list: str
) -> HttpResponseBase:
    numbers = parse_frame_list(frame_list)
    options = _options(request, thumbnails.default_viewport())
    row = find_instance(request, study, series, instance)
    check_frames(row, numbers)
    return _image(_render(row, numbers[0] - 1, options), options)


def _series_thumbnail(request: HttpRequest, series_id: int) -> HttpResponseBase:
    options = _options(request, thumbnails.default_viewport())
    if options == render.RenderOptions(viewport=thumbnails.default_viewport()):
        series_uid = Series.objects.values_list("series_instance_uid", flat=True).get(
            pk=series_id
        )
        data = thumbnails.series_thumbnail(series_id, series_uid)
        if data is None:
            raise NotAcceptable("the series' pixel data cannot be rendered here")
        return _image(data, options)
    row = thumbnails.representative(series_id)
    if row is None:
        raise NotFound("no such series with pixel data")
    return _image(_render(row, 0, options), options)


# --- Shared --------------------------------------------------------------------


def _options(
    request: HttpRequest, default_viewport: render.Viewport | None = None
) -> render.RenderOptions:
    media_type = _media_type(parse_accept(request))
    query = {
        name: request.GET.get(name, "") for name in ("window", "viewport", "quality")
    }
    try:
        return render.parse_options(query, media_type, default_viewport)
    except render.RenderParameterError as exc:
        raise BadRequest(str(exc)) from None


def _media_type(accept: list[media.MediaType]) -> str:
    for media_range in accept:
        if media_range.essence == media.MULTIPART_RELATED:
            asked = media_range.params.get("type", render.JPEG).lower()
            if asked in render.MEDIA_TYPES:
                return asked
            continue
        for media_type in render.MEDIA_TYPES:
            if media_range.covers(media_type):
                return media_type
    raise NotAcceptable(
        "rendered resources are available as image/jpeg, image/png or image/gif"
    )


def _all(queryset: QuerySet[Instance]) -> list[Instance]:
    rows = list(queryset.only(*INSTANCE_FIELDS))
    if not rows:
        raise NotFound("no such study or series with pixel data")
    return rows


def _render(row: Instance, index: int, options: render.RenderOptions) -> bytes:
    try:
        return thumbnails.render_instance(row, index, options)
    except TranscodeError as exc:
        raise NotAcceptable(f"the pixel data cannot be rendered here: {exc}") from None
    except render.RenderParameterError as exc:
        raise BadRequest(str(exc)) from None


def _image(data: bytes, options: render.RenderOptions) -> HttpResponseBase:
    return HttpResponse(data, content_type=options.media_type)


def _multipart(
    targets: Iterable[tuple[Instance, int]], options: render.RenderOptions
) -> HttpResponseBase:
    boundary = new_boundary()
    return StreamingHttpResponse(
        write_parts(_rendered_parts(targets, options), boundary),
        content_type=f'{media.MULTIPART_RELATED}; type="{options.media_type}"; '
        f"boundary={boundary}",
    )


def _rendered_parts(
    targets: Iterable[tuple[Instance, int]], options: render.RenderOptions
) -> Iterator[tuple[Headers, list[bytes]]]:
    for row, index in targets:
        try:
            data = thumbnails.render_instance(row, index, options)
        except TranscodeError:
            # The response has started; an instance whose pixel data
            # cannot be decoded here is left out rather than cutting the
            # other instances' images short.
            continue
        yield (
            {"Content-Type": options.media_type, "Content-Length": str(len(data))},
            [data],
        )
