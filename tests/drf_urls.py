"""A URL conf with one DRF view, guarded and unguarded, for tests/test_auth_api.py."""

from django.urls import include, path
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts import audit, scopes
from apps.accounts.access import guard_patterns


class Echo(APIView):
    def get(self, request):
        return Response(
            {
                "user": request.user.get_username(),
                "collections": getattr(
                    request._request, "allowed_collections", "unset"
                ),
            }
        )

    def post(self, request):
        return Response({"posted": request.data}, status=201)


api_patterns = [path("echo", Echo.as_view())]
mixed_patterns = [
    path("worklist/echo", Echo.as_view()),
    path("remote-aes/echo", Echo.as_view()),
]


def scope_of_route(route: str) -> tuple[str, str]:
    if route.lstrip("^").startswith("worklist/"):
        return scopes.WORKLIST, audit.WORKLIST
    return scopes.ADMIN, audit.DIMSE_ADMIN


urlpatterns = [
    path(
        "api/", include(guard_patterns(api_patterns, scopes.ADMIN, audit.DIMSE_ADMIN))
    ),
    path("unguarded/", include(api_patterns)),
    path("mixed/", include(guard_patterns(mixed_patterns, scope_of_route))),
]
