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


@register()
def check_dicom_tls(app_configs, **kwargs) -> list[CheckMessage]:
    """The TLS port's certificate, key and CA, and the SCU's, must load.

    The contexts are built as the listener and the jobs build them, so a
    certificate that does not match its key is caught here too.
    """
    from apps.dimse import tls

    errors: list[CheckMessage] = []
    if settings.PACSWEB_DICOM_TLS_PORT is not None:
        if settings.PACSWEB_DICOM_TLS_PORT == settings.PACSWEB_DICOM_PORT:
            errors.append(
                Error(
                    "PACSWEB_DICOM_TLS_PORT must differ from PACSWEB_DICOM_PORT",
                    id="dimse.E004",
                )
            )
        try:
            tls.server_context()
        except tls.TLSConfigurationError as exc:
            errors.append(Error(str(exc), id="dimse.E003"))
    client_files = (
        settings.PACSWEB_DICOM_TLS_CLIENT_CERT,
        settings.PACSWEB_DICOM_TLS_CLIENT_KEY,
        settings.PACSWEB_DICOM_TLS_CLIENT_CA,
        settings.PACSWEB_DICOM_TLS_CLIENT_CRL,
    )
    if any(client_files):
        try:
            tls.client_context()
        except tls.TLSConfigurationError as exc:
            errors.append(Error(str(exc), id="dimse.E005"))
    return errors
