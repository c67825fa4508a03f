"""Which collections a principal reaches: None means every study.

The answer becomes `request.allowed_collections` (the access contract in
BRIEF/docs/security.md), so every archive read filters on it.
"""

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q
from oauth2_provider.models import AbstractApplication

from apps.accounts.models import CollectionGrant


def collections_of_user(user: AbstractBaseUser) -> list[int] | None:
    if getattr(user, "is_superuser", False):
        return None
    grants = CollectionGrant.objects.filter(
        Q(user=user) | Q(group__in=user.groups.all())  # type: ignore[attr-defined]
    )
    return _collapse(grants)


def collections_of_application(application: AbstractApplication) -> list[int] | None:
    return _collapse(CollectionGrant.objects.filter(application=application))


def _collapse(grants) -> list[int] | None:
    # One query: the flag and the ids come back together.
    rows = list(grants.values_list("all_collections", "collection_id"))
    if any(all_flag for all_flag, _ in rows):
        return None
    return sorted({cid for _, cid in rows if cid is not None})
