"""Django REST framework views behind the URL-level guard (access.py).

The guard has already authenticated the caller, checked the scope, checked
CSRF for sessions and set the collections; DRF only takes the result. A DRF
view that no guard wrapped gets no caller and is refused: the default
permission fails closed.
"""

from django.contrib.auth.models import AnonymousUser
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission

from apps.accounts.access import REALM


class GuardedCaller(BaseAuthentication):
    def authenticate(self, request):
        caller = getattr(request._request, "audit_caller", None)
        if caller is None:
            return None
        return (caller.user or AnonymousUser(), caller)

    def authenticate_header(self, request) -> str:
        return f'Bearer realm="{REALM}"'


class PassedTheGuard(BasePermission):
    def has_permission(self, request, view) -> bool:
        return getattr(request._request, "audit_caller", None) is not None
