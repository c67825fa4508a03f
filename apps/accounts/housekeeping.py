"""Daily clean-up of what expires in the accounts app.

Expired sessions and OAuth tokens are no use to anyone and keep credentials
around longer than needed; stale sign-in counters only grow the table.
Audit events are kept for ever unless PACSWEB_AUDIT_RETENTION_DAYS says
otherwise, and a purge is itself an audit event, so the trail shows that
(and how much of) it was cut.
"""

from dataclasses import dataclass
from datetime import timedelta
from importlib import import_module

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from oauth2_provider.models import clear_expired

from apps.accounts import audit
from apps.accounts.models import AuditEvent, SignInThrottle


@dataclass
class Cleaned:
    audit_events: int
    throttles: int

    def summary(self) -> str:
        return (
            f"housekeeping: {self.audit_events} audit events past retention, "
            f"{self.throttles} stale sign-in counters removed; expired sessions "
            "and OAuth tokens cleared"
        )


def run() -> Cleaned:
    import_module(settings.SESSION_ENGINE).SessionStore.clear_expired()
    clear_expired()
    now = timezone.now()
    window = timedelta(seconds=settings.PACSWEB_SIGNIN_WINDOW_SECONDS)
    throttles, _ = (
        SignInThrottle.objects.filter(window_started_at__lt=now - window)
        .filter(Q(locked_until__isnull=True) | Q(locked_until__lt=now))
        .delete()
    )
    purged = 0
    if settings.PACSWEB_AUDIT_RETENTION_DAYS:
        cutoff = now - timedelta(days=settings.PACSWEB_AUDIT_RETENTION_DAYS)
        purged, _ = AuditEvent.objects.filter(created_at__lt=cutoff).delete()
        if purged:
            audit.record(
                audit.ADMIN_CHANGE,
                username="housekeeping",
                resource="audit trail",
                detail=(
                    f"{purged} audit events older than "
                    f"{settings.PACSWEB_AUDIT_RETENTION_DAYS} days purged"
                ),
            )
    return Cleaned(audit_events=purged, throttles=throttles)
