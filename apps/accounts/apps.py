import logging

from django.apps import AppConfig
from django.conf import settings

logger = logging.getLogger(__name__)


class AccountsConfig(AppConfig):
    name = "apps.accounts"
    label = "accounts"
    verbose_name = "Accounts and audit"

    def ready(self) -> None:
        from apps.accounts import signals  # noqa: F401  (connects the handlers)
        from pacsweb import checks  # noqa: F401  (registers the system checks)

        if settings.PACSWEB_ANONYMOUS_READ:
            logger.warning(
                "PACSWEB_ANONYMOUS_READ is on: anyone who can reach this server "
                "can search and retrieve every study without signing in"
            )
