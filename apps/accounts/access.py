"""The one guard in front of every protected view.

`require(scope, action)` wraps a view at the URL level. It finds out who is
calling (bearer token, Django session, share link, or the anonymous demo
reader), refuses with 401 or 403 before the view runs, so a refusal never
depends on whether a study exists, then sets the access contract on the
request for the view to pass to the archive:

    request.allowed_collections: list[int] | None  (None = every study)
    request.allowed_study_uids:  list[str] | None  (None = no UID pin)

and writes one audit event when the view has answered.
"""

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.middleware.csrf import CsrfViewMiddleware
from django.urls import URLPattern, URLResolver
from oauth2_provider.oauth2_backends import get_oauthlib_core

from apps.accounts import audit, reach, scopes
from apps.accounts.models import ShareLink

logger = logging.getLogger(__name__)

REALM = "pacsweb"
SHARE_SESSION_KEY = "pacsweb_share_link"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


@dataclass
class Caller:
    via: str  # "token", "session", "share" or "anonymous"
    scopes: set[str]
    user: Any = None
    application_label: str = ""
    share_link_id: int | None = None
    allowed_collections: list[int] | None = field(default_factory=list)
    allowed_study_uids: list[str] | None = None


class Refusal(Exception):
    def __init__(self, status: int, reason: str, error: str = "") -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.error = error


def require(
    scope: str, action: str = audit.ACCESS, *, page: bool = False
) -> Callable[[Callable[..., HttpResponseBase]], Callable[..., HttpResponseBase]]:
    """Guard a view with a scope; `page=True` for HTML pages (sign-in redirect)."""
    if scope not in scopes.SCOPES:
        raise ValueError(f"unknown scope {scope!r}")

    def decorate(
        view: Callable[..., HttpResponseBase],
    ) -> Callable[..., HttpResponseBase]:
        @functools.wraps(view)
        def guarded(
            request: HttpRequest, *args: object, **kwargs: object
        ) -> HttpResponseBase:
            try:
                caller = identify(request)
                if caller is None:
                    if page:
                        return redirect_to_login(request.get_full_path())
                    raise Refusal(HTTPStatus.UNAUTHORIZED, "authentication required")
                request.audit_caller = caller  # type: ignore[attr-defined]
                _authorize(request, caller, scope, kwargs)
            except Refusal as refusal:
                return _refuse(request, refusal, scope, action, kwargs)
            except (OperationalError, InterfaceError):
                # Credentials live in the database: while it is down no
                # caller can be identified, which is the server's trouble,
                # not the caller's (a retryable 503, not a 401 or a 500).
                logger.warning(
                    "database unavailable; %s %s refused with 503",
                    request.method,
                    request.path,
                )
                return _unavailable()

            request.allowed_collections = caller.allowed_collections  # type: ignore[attr-defined]
            request.allowed_study_uids = caller.allowed_study_uids  # type: ignore[attr-defined]
            response = view(request, *args, **kwargs)
            _audit(request, action, response.status_code, kwargs)
            return response

        # Bearer-token clients send no CSRF token; session callers are
        # checked here instead (see _authorize).
        guarded.csrf_exempt = True  # type: ignore[attr-defined]
        return guarded

    return decorate


def identify(request: HttpRequest) -> Caller | None:
    """The caller, or None when there are no credentials at all."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header[:7].lower() == "bearer ":
        return _token_caller(request)
    if header:
        raise Refusal(
            HTTPStatus.UNAUTHORIZED,
            "only Bearer authorization is accepted",
            "invalid_request",
        )
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return Caller(
            via="session",
            scopes=set(scopes.scopes_of_user(user)),
            user=user,
            allowed_collections=reach.collections_of_user(user),
        )
    share = _share_caller(request)
    if share is not None:
        return share
    if settings.PACSWEB_ANONYMOUS_READ:
        return Caller(via="anonymous", scopes={scopes.READ}, allowed_collections=None)
    return None


def _token_caller(request: HttpRequest) -> Caller:
    valid, oauth_request = get_oauthlib_core().verify_request(request, scopes=[])
    if not valid:
        raise Refusal(
            HTTPStatus.UNAUTHORIZED,
            "the access token is invalid or expired",
            "invalid_token",
        )
    token = oauth_request.access_token
    application = token.application
    granted = set(token.scope.split())
    if token.user is not None:
        # The token acts for its user: their permissions and grants today,
        # not when the token was issued, bound what it reaches.
        owner = token.user
        allowed = reach.collections_of_user(owner)
    else:
        # Client credentials: the application is the principal; its owner's
        # permissions cap it and its own grants say what it reaches.
        owner = application.user if application is not None else None
        allowed = reach.collections_of_application(application) if application else []
    effective = granted & set(scopes.scopes_of_user(owner))
    label = f"{application.name} ({application.client_id})" if application else ""
    request.user = token.user or request.user  # type: ignore[assignment]
    return Caller(
        via="token",
        scopes=effective,
        user=token.user,
        application_label=label,
        allowed_collections=allowed,
    )


def _share_caller(request: HttpRequest) -> Caller | None:
    session = getattr(request, "session", None)
    link_id = session.get(SHARE_SESSION_KEY) if session is not None else None
    if link_id is None:
        return None
    # Looked up on every request so that revocation and expiry take effect
    # at once, not when the session ends.
    link = ShareLink.objects.filter(pk=link_id).first()
    if link is None or not link.is_active():
        session.pop(  # type: ignore[union-attr]
            SHARE_SESSION_KEY, None
        )
        return None
    return Caller(
        via="share",
        scopes={scopes.READ},
        share_link_id=link.pk,
        application_label="share link",
        allowed_collections=None,
        allowed_study_uids=[link.study_instance_uid],
    )


def _authorize(request: HttpRequest, caller: Caller, scope: str, kwargs: dict) -> None:
    if scope not in caller.scopes:
        raise Refusal(
            HTTPStatus.FORBIDDEN,
            f"the '{scope}' permission is required",
            "insufficient_scope",
        )
    if caller.allowed_study_uids is not None and not _pinned_request_allowed(
        request, caller.allowed_study_uids, kwargs
    ):
        raise Refusal(
            HTTPStatus.FORBIDDEN,
            "this link grants access to one study only",
            "insufficient_scope",
        )
    if caller.via == "session" and request.method not in SAFE_METHODS:
        reason = _csrf_failure(request)
        if reason:
            raise Refusal(HTTPStatus.FORBIDDEN, f"CSRF check failed: {reason}")


def _pinned_request_allowed(
    request: HttpRequest, study_uids: list[str], kwargs: dict
) -> bool:
    """A share-link caller may only name its own study, in the path or query.

    Checked here rather than trusted to every view, so a view that does not
    know about `allowed_study_uids` still cannot leak another study.
    """
    named = kwargs.get("study") or kwargs.get("study_uid")
    if named is not None:
        return named in study_uids
    # Searches (/studies, /series, /instances) must pin the study exactly.
    values = request.GET.getlist("StudyInstanceUID") + request.GET.getlist("0020000D")
    return len(values) == 1 and values[0] in study_uids


class _CsrfCheck(CsrfViewMiddleware):
    # Django's own CSRF check, answering with the reason instead of a page.
    def _reject(self, request: HttpRequest, reason: str) -> str:  # type: ignore[override]
        return reason


def _csrf_failure(request: HttpRequest) -> str | None:
    check = _CsrfCheck(lambda r: HttpResponse())
    check.process_request(request)
    return check.process_view(request, lambda r: HttpResponse(), (), {})  # type: ignore[return-value]


def _refuse(
    request: HttpRequest, refusal: Refusal, scope: str, action: str, kwargs: dict
) -> HttpResponse:
    response = JsonResponse(
        {"status": refusal.status, "reason": refusal.reason}, status=refusal.status
    )
    if (
        refusal.status == HTTPStatus.UNAUTHORIZED
        or refusal.error == "insufficient_scope"
    ):
        challenge = f'Bearer realm="{REALM}"'
        if refusal.error:
            challenge += f', error="{refusal.error}"'
        if refusal.error == "insufficient_scope":
            challenge += f', scope="{scope}"'
        response["WWW-Authenticate"] = challenge
    # A refusal with no credentials at all is not audited: it names nobody,
    # and a scanner would fill the table. Every refusal of a known caller is.
    if (
        getattr(request, "audit_caller", None) is not None
        or refusal.error == "invalid_token"
    ):
        _audit(request, action, refusal.status, kwargs, detail=refusal.reason)
    return response


def _audit(
    request: HttpRequest, action: str, status_code: int, kwargs: dict, detail: str = ""
) -> None:
    # Views may name what they touched (e.g. STOW-RS the studies it stored).
    uids = list(getattr(request, "audit_study_uids", ()) or ())
    if not uids and kwargs.get("study"):
        uids = [str(kwargs["study"])]
    query = request.META.get("QUERY_STRING", "") if action == audit.QUERY else ""
    try:
        audit.record(
            action,
            outcome=audit.outcome_of_status(status_code),
            request=request,
            status_code=status_code,
            study_uids=uids,
            query=query,
            patient_id=str(getattr(request, "audit_patient_id", "") or ""),
            detail=detail or str(getattr(request, "audit_detail", "") or ""),
        )
    except Exception:
        # The response is already made; losing its audit row is logged
        # loudly rather than turning a delivered retrieve into an error.
        logger.exception(
            "could not write the audit event for %s %s", request.method, request.path
        )


ScopeFor = Callable[[str], tuple[str, str]]


def guard_patterns(
    patterns: list, scope: str | ScopeFor, action: str = audit.ACCESS, prefix: str = ""
) -> list:
    """URL patterns with every view wrapped by `require(scope, action)`.

    For included URL confs whose views are not written with the guard in
    mind (the DRF API): `include(guard_patterns(module.urlpatterns, ...))`.
    `scope` may be a function of the route (e.g. "^worklist/...") that
    returns (scope, action), for a router that mixes several areas.
    """
    guarded: list = []
    for entry in patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            guarded.append(
                URLResolver(
                    entry.pattern,
                    guard_patterns(entry.url_patterns, scope, action, route),
                    entry.default_kwargs,
                    entry.app_name,
                    entry.namespace,
                )
            )
            continue
        needed, act = scope(route) if callable(scope) else (scope, action)
        guarded.append(
            URLPattern(
                entry.pattern,
                require(needed, act)(entry.callback),
                entry.default_args,
                entry.name,
            )
        )
    return guarded


def _unavailable() -> HttpResponse:
    response = JsonResponse(
        {
            "status": 503,
            "reason": "the archive database is unavailable; try again later",
        },
        status=503,
    )
    response["Retry-After"] = "30"
    return response
