"""Sign-in and sign-out into the audit trail (admin changes: middleware.py)."""

from django.contrib.auth.signals import (
    user_logged_in,
    user_logged_out,
    user_login_failed,
)
from django.dispatch import receiver

from apps.accounts import audit, throttle
from apps.archive.signals import study_expired


@receiver(user_logged_in)
def on_signed_in(sender, request, user, **kwargs) -> None:
    throttle.clear(user.get_username())
    audit.record(audit.SIGN_IN, request=request, user=user)


@receiver(user_logged_out)
def on_signed_out(sender, request, user, **kwargs) -> None:
    if user is not None:
        audit.record(audit.SIGN_OUT, request=request, user=user)


@receiver(user_login_failed)
def on_sign_in_failed(sender, credentials, request=None, **kwargs) -> None:
    # Django replaces the password in `credentials` with asterisks.
    username = str(credentials.get("username", ""))[:150]
    address = audit.client_address(request) if request is not None else None
    locked = throttle.is_locked(throttle.keys_for(username, address))
    if not locked:
        throttle.note_failure(throttle.keys_for(username, address))
    audit.record(
        audit.SIGN_IN_FAILED,
        outcome=audit.DENIED,
        request=request,
        username=username,
        detail="account or address locked" if locked else "wrong user name or password",
    )


@receiver(study_expired)
def on_study_expired(
    sender, study_uid, patient_id, instances, retention_days, **kwargs
) -> None:
    audit.record(
        audit.DELETE,
        username="retention",
        study_uids=[study_uid],
        patient_id=patient_id,
        resource="retention policy",
        detail=f"{instances} instance(s) deleted after {retention_days} days",
    )
