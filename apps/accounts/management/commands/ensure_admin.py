"""Create the `admin` superuser on first start, so a new install can sign in.

The password comes from PACSWEB_ADMIN_PASSWORD, or is generated and printed
once. When any superuser exists already the command does nothing.
"""

import os
import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

USERNAME = "admin"


class Command(BaseCommand):
    help = "Create the admin superuser if there is no superuser yet."

    def handle(self, *args, **options) -> None:
        users = get_user_model()
        if users.objects.filter(is_superuser=True).exists():
            return
        password = os.environ.get("PACSWEB_ADMIN_PASSWORD", "")
        generated = not password
        if generated:
            password = secrets.token_urlsafe(15)
        user = users(username=USERNAME, is_staff=True, is_superuser=True)
        try:
            validate_password(password, user)
        except ValidationError as exc:
            raise CommandError(
                "PACSWEB_ADMIN_PASSWORD is too weak: " + " ".join(exc.messages)
            ) from None
        user.set_password(password)
        user.save()
        if generated:
            self.stdout.write(
                f"Created the administrator '{USERNAME}' with password: {password}\n"
                "It is shown only this once; change it after signing in."
            )
        else:
            self.stdout.write(
                f"Created the administrator '{USERNAME}' with the password from PACSWEB_ADMIN_PASSWORD."
            )
