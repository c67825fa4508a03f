"""Print a bearer token for a user, for scripts and tests.

The application "issue_token:USERNAME" is created on first use and reused
after. The token acts for the user: their permissions and collection
grants apply each time it is used.
"""

import secrets
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from oauth2_provider.models import AccessToken, Application
from oauth2_provider.settings import oauth2_settings

from apps.accounts import scopes


class Command(BaseCommand):
    help = "Print an OAuth2 bearer access token for USERNAME."

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--scope",
            default=None,
            help=f"space-separated, from: {' '.join(scopes.SCOPES)}",
        )
        parser.add_argument(
            "--expires-in",
            type=int,
            default=None,
            help="seconds (default: ACCESS_TOKEN_EXPIRE_SECONDS)",
        )

    def handle(
        self, *args, username: str, scope: str | None, expires_in: int | None, **options
    ) -> None:
        user = get_user_model().objects.filter(username=username).first()
        if user is None or not user.is_active:
            raise CommandError(f"no active user {username!r}")
        allowed = scopes.scopes_of_user(user)
        try:
            wanted = scopes.parse(scope) if scope is not None else allowed
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        beyond = [s for s in wanted if s not in allowed]
        if beyond:
            raise CommandError(f"{username} may not use scope(s): {', '.join(beyond)}")
        if not wanted:
            raise CommandError(
                f"{username} has no permissions, so no token would be of use"
            )

        application, _ = Application.objects.get_or_create(
            name=f"issue_token:{username}",
            user=user,
            defaults={
                "client_type": Application.CLIENT_CONFIDENTIAL,
                "authorization_grant_type": Application.GRANT_AUTHORIZATION_CODE,
                "redirect_uris": "",
            },
        )
        token = secrets.token_urlsafe(32)
        seconds = expires_in or oauth2_settings.ACCESS_TOKEN_EXPIRE_SECONDS
        AccessToken.objects.create(
            user=user,
            application=application,
            token=token,
            scope=" ".join(wanted),
            expires=timezone.now() + timedelta(seconds=seconds),
        )
        self.stdout.write(token)
