"""Start-up checks for the DICOM listener's configuration (PS3.5 6.2, AE)."""

from django.conf import settings
from django.core.checks import CheckMessage, Error, register

AE_TITLE_MAX = 16


@register()
def check_ae_title(app_configs, **kwargs) -> list[CheckMessage]:
    title = settings.PACSWEB_AE_TITLE
    # AE: 16 characters at most, default character repertoire without
    # backslash or control characters, not only spaces.
    if not title.strip() or len(title) > AE_TITLE_MAX:
        return [
            Error(
                f"PACSWEB_AE_TITLE must be 1 to {AE_TITLE_MAX} characters, got {title!r}",
                id="dimse.E001",
            )
        ]
    if not title.isascii() or "\\" in title or any(not c.isprintable() for c in title):
        return [
            Error(
                f"PACSWEB_AE_TITLE may hold printable ASCII without backslash, got {title!r}",
                id="dimse.E002",
            )
        ]
    return []
