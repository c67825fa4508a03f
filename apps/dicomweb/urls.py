"""Routes of the DICOMweb services (PS3.18 10.4-10.6), under /dicomweb/.

Some resources take several methods from different transactions (GET
/studies searches, POST /studies stores); `by_method` sends each method to
its view and answers 405 for the rest.
"""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponseNotAllowed
from django.http.response import HttpResponseBase
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from apps.dicomweb import rendered, retrieve, retrieve_frames, search, store

S = "studies/<str:study>"
SE = S + "/series/<str:series>"
IN = SE + "/instances/<str:instance>"
FR = IN + "/frames/<str:frame_list>"


def by_method(**views: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    @csrf_exempt
    def dispatch(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponseBase:
        view = views.get(request.method.lower() if request.method else "")
        if view is None:
            return HttpResponseNotAllowed([m.upper() for m in views])
        return view(request, *args, **kwargs)

    return dispatch


urlpatterns = [
    # QIDO-RS (PS3.18 10.6) and STOW-RS (10.5)
    path("studies", by_method(get=search.studies, post=store.store)),
    path("series", by_method(get=search.series)),
    path("instances", by_method(get=search.instances)),
    path(S + "/series", by_method(get=search.series)),
    path(S + "/instances", by_method(get=search.instances)),
    path(SE + "/instances", by_method(get=search.instances)),
    # WADO-RS (10.4)
    path(S, by_method(get=retrieve.study, post=store.store)),
    path(S + "/metadata", by_method(get=retrieve.study_metadata)),
    path(SE, by_method(get=retrieve.series)),
    path(SE + "/metadata", by_method(get=retrieve.series_metadata)),
    path(IN, by_method(get=retrieve.instance)),
    path(IN + "/metadata", by_method(get=retrieve.instance_metadata)),
    path(IN + "/bulkdata/<path:tag_path>", by_method(get=retrieve.bulkdata)),
    path(FR, by_method(get=retrieve_frames.frames_view)),
    # Rendered and thumbnail resources (10.4.1.1.3, 10.4.1.1.4)
    path(S + "/rendered", by_method(get=rendered.study_rendered)),
    path(SE + "/rendered", by_method(get=rendered.series_rendered)),
    path(IN + "/rendered", by_method(get=rendered.instance_rendered)),
    path(FR + "/rendered", by_method(get=rendered.frames_rendered)),
    path(S + "/thumbnail", by_method(get=rendered.study_thumbnail)),
    path(SE + "/thumbnail", by_method(get=rendered.series_thumbnail)),
    path(IN + "/thumbnail", by_method(get=rendered.instance_thumbnail)),
    path(FR + "/thumbnail", by_method(get=rendered.frames_thumbnail)),
]
