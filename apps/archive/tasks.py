from celery import shared_task

from apps.archive.maintenance import sweep


@shared_task(name="archive.sweep_storage")
def sweep_storage() -> str:
    """The storage sweep, scheduled by Celery beat where a broker runs."""
    return sweep().summary()
