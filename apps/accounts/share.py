"""Share links: a read-only, expiring, revocable grant on one study.

The token is shown once, at creation; only its SHA-256 is stored. Opening
the link puts its id in the visitor's session; from then on the guard in
access.py lets that session read the one study (and nothing else) for as
long as the link stays active.
"""

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from apps.accounts.models import ShareLink
from apps.archive.ingest import is_valid_uid
from apps.archive.models import Study


class ShareError(Exception):
    pass


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(
    user, study_uid: str, *, hours: float, collections: list[int] | None, note: str = ""
) -> tuple[ShareLink, str]:
    """A new link and its token; the study must be within the creator's reach."""
    if not 0 < hours <= settings.PACSWEB_SHARE_MAX_HOURS:
        raise ShareError(
            f"hours must be between 0 and {settings.PACSWEB_SHARE_MAX_HOURS}"
        )
    if "\x00" in note:
        # PostgreSQL refuses a NUL in text: a 400, not a 500.
        raise ShareError("the note must not contain a NUL character")
    if not is_valid_uid(study_uid):
        raise LookupError(study_uid)
    studies = Study.objects.filter(study_instance_uid=study_uid)
    if collections is not None:
        studies = studies.filter(collections__in=collections)
    if not studies.exists():
        raise LookupError(study_uid)
    token = secrets.token_urlsafe(32)
    link = ShareLink.objects.create(
        token_sha256=token_hash(token),
        study_instance_uid=study_uid,
        created_by=user,
        note=note[:200],
        expires_at=timezone.now() + timedelta(hours=hours),
    )
    return link, token


def find(token: str) -> ShareLink | None:
    """The active link for a token, or None (unknown, expired or revoked)."""
    link = ShareLink.objects.filter(token_sha256=token_hash(token)).first()
    if link is None or not link.is_active():
        return None
    return link


def revoke(link: ShareLink) -> None:
    if link.revoked_at is None:
        link.revoked_at = timezone.now()
        link.save(update_fields=["revoked_at"])
