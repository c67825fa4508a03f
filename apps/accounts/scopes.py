"""OAuth scopes and the user permissions they stand for.

A scope on a token and a permission on a user mean the same thing: the
token may do what its scopes say, but never more than the user behind it
(or, for a client-credentials token, the application's owner) may do now.
"""

from typing import Any

from oauth2_provider.models import AbstractApplication
from oauth2_provider.scopes import BaseScopes

READ = "read"
STORE = "store"
DELETE = "delete"
WORKLIST = "worklist"
ADMIN = "admin"

SCOPES = {
    READ: "Search and retrieve studies (QIDO-RS, WADO-RS, viewer)",
    STORE: "Store studies (STOW-RS, upload)",
    DELETE: "Delete studies, series and instances",
    WORKLIST: "Manage the modality worklist and MPPS",
    ADMIN: "Administer DIMSE services and remote AEs",
}

PERMISSION_OF_SCOPE = {
    READ: "accounts.read_studies",
    STORE: "accounts.store_studies",
    DELETE: "accounts.delete_studies",
    WORKLIST: "accounts.manage_worklist",
    ADMIN: "accounts.administer_dimse",
}

SHARE_PERMISSION = "accounts.share_studies"


def scopes_of_user(user: Any) -> list[str]:
    if user is None or not user.is_active:
        return []
    return [scope for scope, perm in PERMISSION_OF_SCOPE.items() if user.has_perm(perm)]


def parse(text: str) -> list[str]:
    """Scopes from a space-separated string, unknown names rejected."""
    scopes = text.split()
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        raise ValueError(
            f"unknown scope(s): {', '.join(unknown)}; known: {', '.join(SCOPES)}"
        )
    return scopes


class PermissionScopes(BaseScopes):
    """What an application may ask for.

    A client-credentials application acts as itself, so its owner's
    permissions cap its scopes. Other grants act for the signed-in user,
    whose permissions are applied when the token is used (access.py).
    """

    def get_all_scopes(self) -> dict[str, str]:
        return SCOPES

    def get_available_scopes(
        self, application=None, request=None, *args, **kwargs
    ) -> list[str]:
        if application is None:
            return []
        if (
            application.authorization_grant_type
            == AbstractApplication.GRANT_CLIENT_CREDENTIALS
        ):
            return scopes_of_user(application.user)
        return list(SCOPES)

    def get_default_scopes(
        self, application=None, request=None, *args, **kwargs
    ) -> list[str]:
        return self.get_available_scopes(application, request)
