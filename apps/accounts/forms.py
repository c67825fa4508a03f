"""The sign-in form: Django's, telling a locked-out user why they are refused."""

from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from apps.accounts import audit, throttle


class SignInForm(AuthenticationForm):
    # The lockout backend refuses even the right password while a name or
    # address is locked; Django's form would then say the password is wrong
    # and the user would keep retyping it. The lock is kept per name whether
    # or not the account exists, so saying so reveals no account.
    error_messages = {
        **AuthenticationForm.error_messages,
        "locked": (
            "Too many failed sign-ins: signing in is paused for a while. "
            "Try again later, or ask an administrator to unlock the account."
        ),
    }

    def clean(self):
        try:
            return super().clean()
        except ValidationError:
            username = self.cleaned_data.get("username")
            address = audit.client_address(self.request) if self.request else None
            if throttle.is_locked(throttle.keys_for(username, address)):
                raise ValidationError(
                    self.error_messages["locked"], code="locked"
                ) from None
            raise
