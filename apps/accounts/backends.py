"""The authentication backend: Django's model backend behind the lockout."""

from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied

from apps.accounts import audit, throttle


class LockoutModelBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        address = audit.client_address(request) if request is not None else None
        if throttle.is_locked(throttle.keys_for(username, address)):
            # PermissionDenied stops authenticate() at once and fires
            # user_login_failed, which the audit handler records.
            raise PermissionDenied("too many failed sign-ins; try again later")
        return super().authenticate(
            request, username=username, password=password, **kwargs
        )
