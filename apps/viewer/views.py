"""The browser pages: study list, study page, upload and the viewer shell.

Pages read the archive models directly (never through /dicomweb) and always
through the caller's collections: `request.allowed_collections` is set by the
security layer, None meaning unrestricted. A study outside them is a 404,
the same answer as a study that does not exist.
"""

from http import HTTPStatus
from urllib.parse import urlencode

from django.contrib.staticfiles import finders
from django.db.models import Exists, OuterRef
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from apps.archive.ingest import is_valid_uid
from apps.archive.models import Series, Study
from apps.viewer.forms import StudySearchForm
from apps.viewer.search import SORTS, BadCursor, study_page

VIEWER_BUNDLE = "viewer/viewer.js"


def allowed_collections(request: HttpRequest) -> list[int] | None:
    return getattr(request, "allowed_collections", None)


def study_list(request: HttpRequest) -> HttpResponse:
    form = StudySearchForm(request.GET)
    if not form.is_valid():
        return render(
            request,
            "viewer/study_list.html",
            {"form": form},
            status=HTTPStatus.BAD_REQUEST,
        )

    flt = form.to_filter(allowed_collections(request))
    try:
        page = study_page(
            flt, after=form.cleaned_data["after"], before=form.cleaned_data["before"]
        )
    except BadCursor as exc:
        form.add_error(None, str(exc))
        return render(
            request,
            "viewer/study_list.html",
            {"form": form},
            status=HTTPStatus.BAD_REQUEST,
        )

    # Links keep the search and sort; only the cursor changes between pages.
    kept = {
        k: str(v) for k, v in request.GET.items() if k not in ("after", "before") and v
    }
    context = {
        "form": form,
        "page": page,
        "sort": flt.sort,
        "descending": flt.descending,
        "columns": _sort_links(kept, flt.sort, flt.descending),
        "next_url": "?" + urlencode({**kept, "after": page.next_cursor})
        if page.next_cursor
        else "",
        "previous_url": "?" + urlencode({**kept, "before": page.previous_cursor})
        if page.previous_cursor
        else "",
        "first_url": "?" + urlencode(kept) if page.previous_cursor else "",
    }
    return render(request, "viewer/study_list.html", context)


def _sort_links(
    kept: dict[str, str], sort: str, descending: bool
) -> dict[str, dict[str, str]]:
    """Per sortable column: the URL that sorts by it and its arrow."""
    links = {}
    for key in SORTS:
        # A second click on the current column flips its direction.
        flip = "asc" if descending else "desc"
        direction = flip if key == sort else "desc"
        query = {**kept, "sort": key, "dir": direction}
        arrow = ("▼" if descending else "▲") if key == sort else ""
        links[key] = {"url": "?" + urlencode(query), "arrow": arrow}
    return links


def _visible_study(request: HttpRequest, study_uid: str) -> Study:
    if not is_valid_uid(study_uid):
        # No such study can exist; PostgreSQL would refuse a NUL in the UID.
        raise Http404("no such study")
    studies = Study.objects.select_related("patient")
    collections = allowed_collections(request)
    if collections is not None:
        granted = Study.collections.through.objects.filter(
            study_id=OuterRef("pk"), collection_id__in=collections
        )
        studies = studies.filter(Exists(granted))
    try:
        return studies.get(study_instance_uid=study_uid)
    except Study.DoesNotExist:
        raise Http404("no such study") from None


def study_detail(request: HttpRequest, study_uid: str) -> HttpResponse:
    study = _visible_study(request, study_uid)
    series = Series.objects.filter(study=study).order_by("series_number", "id")
    return render(
        request, "viewer/study_detail.html", {"study": study, "series_list": series}
    )


def upload(request: HttpRequest) -> HttpResponse:
    return render(request, "viewer/upload.html")


def viewer(request: HttpRequest, study_uid: str) -> HttpResponse:
    study = _visible_study(request, study_uid)
    context = {
        "study": study,
        "series_uid": request.GET.get("series", ""),
        # Without Node the server still runs; the page then says how to build.
        "bundle_built": finders.find(VIEWER_BUNDLE) is not None,
    }
    return render(request, "viewer/viewer.html", context)
