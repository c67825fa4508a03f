"""Celery tasks of the DICOMweb app: thin wrappers around plain functions."""

from typing import Any

from celery import shared_task

from apps.dicomweb import thumbnails


@shared_task(ignore_result=True)
def make_series_thumbnail(series_id: int) -> None:
    thumbnails.make_series_thumbnail(series_id)


def enqueue_series_thumbnail(sender: Any, series_id: int, **kwargs: Any) -> None:
    """Receiver of apps.archive.signals.instance_stored."""
    make_series_thumbnail.delay(series_id)
