"""Share-link pages and API: open a link, create, list and revoke links."""

import json
from http import HTTPStatus

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_GET

from apps.accounts import audit, scopes, share
from apps.accounts.access import SHARE_SESSION_KEY, Caller, require
from apps.accounts.models import ShareLink


@require_GET
def open_link(request: HttpRequest, token: str) -> HttpResponse:
    link = share.find(token)
    if link is None:
        audit.record(
            audit.SHARE_OPEN,
            outcome=audit.DENIED,
            request=request,
            status_code=404,
            detail="unknown, expired or revoked link",
        )
        # Same page for unknown, expired and revoked: a guessed token learns nothing.
        return render(
            request, "accounts/share_unavailable.html", status=HTTPStatus.NOT_FOUND
        )
    request.session[SHARE_SESSION_KEY] = link.pk
    audit.record(
        audit.SHARE_OPEN,
        request=request,
        study_uids=[link.study_instance_uid],
        share_link_id=link.pk,
        status_code=302,
    )
    try:
        target = reverse("viewer:viewer", args=[link.study_instance_uid])
    except NoReverseMatch:
        target = reverse("share-study", args=[link.study_instance_uid])
    return redirect(target)


@require(scopes.READ, audit.VIEW, page=True)
def shared_study(request: HttpRequest, study_uid: str) -> HttpResponse:
    """Where a link lands when the viewer app is not installed."""
    return render(request, "accounts/shared_study.html", {"study_uid": study_uid})


@require(scopes.READ, audit.SHARE_CREATE)
def links(request: HttpRequest) -> HttpResponse:
    caller: Caller = request.audit_caller  # type: ignore[attr-defined]
    user = caller.user
    if user is None or not user.has_perm(scopes.SHARE_PERMISSION):  # type: ignore[attr-defined]
        return _error(HTTPStatus.FORBIDDEN, "the share permission is required")
    if request.method == "GET":
        rows = ShareLink.objects.filter(created_by=user).order_by("-created_at")[:200]
        return JsonResponse({"links": [_describe(link) for link in rows]})
    if request.method != "POST":
        return _error(HTTPStatus.METHOD_NOT_ALLOWED, "use GET or POST")

    try:
        body = json.loads(request.body or b"{}")
        study_uid = str(body["study_uid"])
        hours = float(body.get("hours", 72))
    except (ValueError, KeyError, TypeError):
        return _error(
            HTTPStatus.BAD_REQUEST,
            "send JSON with study_uid and optional hours and note",
        )
    try:
        link, token = share.create(
            user,
            study_uid,
            hours=hours,
            collections=request.allowed_collections,  # type: ignore[attr-defined]
            note=str(body.get("note", "")),
        )
    except share.ShareError as exc:
        return _error(HTTPStatus.BAD_REQUEST, str(exc))
    except LookupError:
        return _error(HTTPStatus.NOT_FOUND, "no such study")
    request.audit_study_uids = [study_uid]  # type: ignore[attr-defined]
    request.audit_detail = f"share link {link.pk} until {link.expires_at.isoformat()}"  # type: ignore[attr-defined]
    url = request.build_absolute_uri(reverse("share-open", args=[token]))
    return JsonResponse({**_describe(link), "url": url}, status=HTTPStatus.CREATED)


@require(scopes.READ, audit.SHARE_REVOKE)
def link_detail(request: HttpRequest, link_id: int) -> HttpResponse:
    caller: Caller = request.audit_caller  # type: ignore[attr-defined]
    user = caller.user
    if user is None or not user.has_perm(scopes.SHARE_PERMISSION):  # type: ignore[attr-defined]
        return _error(HTTPStatus.FORBIDDEN, "the share permission is required")
    if request.method != "DELETE":
        return _error(HTTPStatus.METHOD_NOT_ALLOWED, "use DELETE to revoke")
    links = ShareLink.objects.filter(pk=link_id)
    if not user.is_superuser:  # type: ignore[attr-defined]
        links = links.filter(created_by=user)
    link = links.first()
    if link is None:
        raise Http404
    share.revoke(link)
    request.audit_study_uids = [link.study_instance_uid]  # type: ignore[attr-defined]
    request.audit_detail = f"share link {link.pk} revoked"  # type: ignore[attr-defined]
    return HttpResponse(status=HTTPStatus.NO_CONTENT)


def _describe(link: ShareLink) -> dict:
    return {
        "id": link.pk,
        "study_uid": link.study_instance_uid,
        "note": link.note,
        "created_at": link.created_at.isoformat(),
        "expires_at": link.expires_at.isoformat(),
        "revoked": link.revoked_at is not None,
        "active": link.is_active(),
    }


def _error(status: int, reason: str) -> JsonResponse:
    return JsonResponse({"status": int(status), "reason": reason}, status=status)
