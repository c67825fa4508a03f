"""Failed sign-in counting and temporary lockout.

Failures are counted per user name and per client address over a window
(PACSWEB_SIGNIN_WINDOW_SECONDS). Reaching PACSWEB_SIGNIN_MAX_FAILURES for one
user name, or PACSWEB_SIGNIN_MAX_FAILURES_PER_ADDRESS from one address, locks
that key for PACSWEB_SIGNIN_LOCKOUT_SECONDS; while locked, even the right
password is refused. The address limit is the larger one because a whole
hospital often reaches the server through one NAT or proxy address: a few
mistyped passwords there must not lock every colleague out, while one
address spraying guesses over many names still is stopped. Failures during a lockout do not extend it, so an
attacker cannot keep an account locked for longer than one period per
burst. A successful sign-in clears the user's counter.

Chosen over django-axes: two signal handlers and one table cover what
pacsweb needs, without another dependency and its middleware.
"""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.accounts.models import SignInThrottle


def keys_for(username: str | None, address: str | None) -> list[str]:
    keys = []
    if username:
        keys.append(f"user:{username.lower()[:150]}")
    if address:
        keys.append(f"addr:{address}")
    return keys


def is_locked(keys: list[str]) -> bool:
    now = timezone.now()
    return SignInThrottle.objects.filter(key__in=keys, locked_until__gt=now).exists()


def _limit(key: str) -> int:
    if key.startswith("addr:"):
        return settings.PACSWEB_SIGNIN_MAX_FAILURES_PER_ADDRESS
    return settings.PACSWEB_SIGNIN_MAX_FAILURES


def note_failure(keys: list[str]) -> None:
    now = timezone.now()
    window = timedelta(seconds=settings.PACSWEB_SIGNIN_WINDOW_SECONDS)
    for key in keys:
        with transaction.atomic():
            row, _ = SignInThrottle.objects.select_for_update().get_or_create(key=key)
            if row.locked_until and row.locked_until > now:
                continue
            if now - row.window_started_at > window:
                row.failures = 0
                row.window_started_at = now
            row.failures = F("failures") + 1
            row.save(update_fields=["failures", "window_started_at"])
            row.refresh_from_db(fields=["failures"])
            if row.failures >= _limit(key):
                row.locked_until = now + timedelta(
                    seconds=settings.PACSWEB_SIGNIN_LOCKOUT_SECONDS
                )
                row.failures = 0
                row.window_started_at = now
                row.save(
                    update_fields=["locked_until", "failures", "window_started_at"]
                )


def clear(username: str) -> None:
    SignInThrottle.objects.filter(key__in=keys_for(username, None)).delete()
