"""Celery tasks of the accounts app (scheduled by beat, pacsweb/settings.py)."""

from celery import shared_task

from apps.accounts import housekeeping as _housekeeping


@shared_task(name="accounts.housekeeping")
def housekeeping() -> str:
    return _housekeeping.run().summary()
