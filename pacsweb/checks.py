"""Deployment checks with stable IDs (`manage.py check`, run at every start).

pacsweb.E001  DEBUG on in production
pacsweb.E002  no DJANGO_SECRET_KEY in production
pacsweb.E003  anonymous read on in production
pacsweb.E004  audit syslog target or its TLS files unusable
pacsweb.W002  storage directory not writable
(The AE title is checked by the DIMSE app: dimse.E001, dimse.E002.)
In production (PACSWEB_PRODUCTION=1) the W ids are reported as errors,
keeping their ids, so a bad deployment does not start.
"""

import os
import tempfile

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register


def _problem(id_: str, msg: str, hint: str) -> CheckMessage:
    level = Error if settings.PRODUCTION or id_.startswith("pacsweb.E") else Warning
    return level(msg, hint=hint, id=id_)


@register(Tags.security, deploy=False)
def check_production_settings(app_configs, **kwargs) -> list[CheckMessage]:
    if not settings.PRODUCTION:
        return []
    problems = []
    if settings.DEBUG:
        problems.append(
            _problem(
                "pacsweb.E001", "DEBUG is on in production.", "Unset DJANGO_DEBUG."
            )
        )
    if not settings.SECRET_KEY_FROM_ENV:
        problems.append(
            _problem(
                "pacsweb.E002",
                "The secret key is the generated embedded default.",
                "Set DJANGO_SECRET_KEY to a long random value kept outside the data directory.",
            )
        )
    if settings.PACSWEB_ANONYMOUS_READ:
        problems.append(
            _problem(
                "pacsweb.E003",
                "Anonymous read is on in production.",
                "Unset PACSWEB_ANONYMOUS_READ.",
            )
        )
    return problems


@register(deploy=False)
def check_storage_writable(app_configs, **kwargs) -> list[CheckMessage]:
    root = settings.PACSWEB_STORAGE_DIR
    try:
        root.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=root, prefix=".check-")
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        return [
            _problem(
                "pacsweb.W002",
                f"The storage directory {root} is not writable: {exc.strerror}.",
                "Fix PACSWEB_STORAGE_DIR or its permissions.",
            )
        ]
    return []


@register(deploy=False)
def check_audit_syslog(app_configs, **kwargs) -> list[CheckMessage]:
    """A wrong syslog target would otherwise surface at the first audit event."""
    from django.core.exceptions import ImproperlyConfigured

    from apps.accounts import syslog

    if not settings.PACSWEB_AUDIT_SYSLOG:
        return []
    try:
        target = syslog.parse_target(settings.PACSWEB_AUDIT_SYSLOG)
        if target.scheme == "tls":
            syslog.tls_context()
    except (ImproperlyConfigured, OSError) as exc:
        return [
            _problem(
                "pacsweb.E004",
                f"Audit syslog is not usable: {exc}",
                "Fix PACSWEB_AUDIT_SYSLOG (udp://host:port or tls://host:port) "
                "and, for TLS, PACSWEB_AUDIT_SYSLOG_CA/_CERT/_KEY.",
            )
        ]
    return []
