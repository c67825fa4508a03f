"""Routes of the DICOMweb services (PS3.18 10.4-10.6), under /dicomweb/.

Some resources take several methods from different transactions (GET
/studies searches, POST /studies stores); `by_method` sends each method to
its view and answers 405 for the rest. Every view is wrapped here by the
security guard (apps/accounts/access.py) with the scope it needs and the
audit action it is: the guard authenticates, checks the scope, sets
request.allowed_collections and writes one audit event.
"""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponseNotAllowed
from django.http.response import HttpResponseBase
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from apps.accounts import audit, scopes
from apps.accounts.access import require
from apps.dicomweb import delete, rendered, retrieve, retrieve_frames, search, store

S = "studies/<str:study>"
SE = S + "/series/<str:series>"
IN = SE + "/instances/<str:instance>"
FR = IN + "/frames/<str:frame_list>"

query = require(scopes.READ, audit.QUERY)
read = require(scopes.READ, audit.RETRIEVE)
stores = require(scopes.STORE, audit.STORE)
deletes = require(scopes.DELETE, audit.DELETE)


def by_method(
    **views: Callable[..., HttpResponseBase],
) -> Callable[..., HttpResponseBase]:
    @csrf_exempt
    def dispatch(
        request: HttpRequest, *args: object, **kwargs: object
    ) -> HttpResponseBase:
        view = views.get(request.method.lower() if request.method else "")
        if view is None:
            return HttpResponseNotAllowed([m.upper() for m in views])
        return view(request, *args, **kwargs)

    return dispatch


urlpatterns = [
    # QIDO-RS (PS3.18 10.6) and STOW-RS (10.5)
    path("studies", by_method(get=query(search.studies), post=stores(store.store))),
    path("series", by_method(get=query(search.series))),
    path("instances", by_method(get=query(search.instances))),
    path(S + "/series", by_method(get=query(search.series))),
    path(S + "/instances", by_method(get=query(search.instances))),
    path(SE + "/instances", by_method(get=query(search.instances))),
    # WADO-RS (10.4), STOW-RS to a study, and DELETE of a resource
    # (apps/dicomweb/delete.py)
    path(
        S,
        by_method(
            get=read(retrieve.study),
            post=stores(store.store),
            delete=deletes(delete.resource),
        ),
    ),
    path(S + "/metadata", by_method(get=read(retrieve.study_metadata))),
    path(SE, by_method(get=read(retrieve.series), delete=deletes(delete.resource))),
    path(SE + "/metadata", by_method(get=read(retrieve.series_metadata))),
    path(IN, by_method(get=read(retrieve.instance), delete=deletes(delete.resource))),
    path(IN + "/metadata", by_method(get=read(retrieve.instance_metadata))),
    path(IN + "/bulkdata/<path:tag_path>", by_method(get=read(retrieve.bulkdata))),
    path(FR, by_method(get=read(retrieve_frames.frames_view))),
    # Rendered and thumbnail resources (10.4.1.1.3, 10.4.1.1.4)
    path(S + "/rendered", by_method(get=read(rendered.study_rendered))),
    path(SE + "/rendered", by_method(get=read(rendered.series_rendered))),
    path(IN + "/rendered", by_method(get=read(rendered.instance_rendered))),
    path(FR + "/rendered", by_method(get=read(rendered.frames_rendered))),
    path(S + "/thumbnail", by_method(get=read(rendered.study_thumbnail))),
    path(SE + "/thumbnail", by_method(get=read(rendered.series_thumbnail))),
    path(IN + "/thumbnail", by_method(get=read(rendered.instance_thumbnail))),
    path(FR + "/thumbnail", by_method(get=read(rendered.frames_thumbnail))),
]
