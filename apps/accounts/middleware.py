"""Response headers for every page, and the audit of admin changes."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from apps.accounts import audit

ADMIN_PREFIX = "/admin/"

# The Cornerstone viewer compiles its codecs from WebAssembly
# ('wasm-unsafe-eval') and decodes in workers it may create from blob: URLs.
# Nothing is loaded from another origin.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self' 'wasm-unsafe-eval'",
        "worker-src 'self' blob:",
        "img-src 'self' data: blob:",
        "style-src 'self' 'unsafe-inline'",
        "connect-src 'self'",
        "font-src 'self' data:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class DenyByDefaultMiddleware:
    """Every request starts with access to no study.

    The guard (access.py) replaces these with the caller's reach; a view
    that somebody forgot to wrap therefore finds nothing, instead of reading
    the contract's "None = unrestricted" from a missing attribute.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.allowed_collections = []  # type: ignore[attr-defined]
        request.allowed_study_uids = []  # type: ignore[attr-defined]
        return self.get_response(request)


class SecurityHeadersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.setdefault("Referrer-Policy", "same-origin")
        response.setdefault(
            "Permissions-Policy", "camera=(), microphone=(), geolocation=()"
        )
        response.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        return response


class AdminAuditMiddleware:
    """One audit event per change submitted through Django admin.

    A middleware rather than LogEntry signals: bulk actions write their log
    entries with bulk_create (no signals), and only the request knows the
    address. Field values are not recorded (they include passwords).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.prefix = ADMIN_PREFIX

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            request.method == "POST"
            and request.path.startswith(self.prefix)
            and not request.path.startswith(
                (self.prefix + "login/", self.prefix + "logout/")
            )
        ):
            user = getattr(request, "user", None)
            # Admin answers a change it made with a redirect; a 200 is a form
            # shown again (errors, delete confirmation) and changed nothing.
            if (
                user is not None
                and user.is_authenticated
                and response.status_code != 200
            ):
                detail = ""
                if request.POST.get("action"):
                    selected = len(request.POST.getlist("_selected_action"))
                    detail = f"action {request.POST['action']} on {selected} selected"
                audit.record(
                    audit.ADMIN_CHANGE,
                    outcome=audit.outcome_of_status(response.status_code),
                    request=request,
                    status_code=response.status_code,
                    detail=detail,
                )
        return response
