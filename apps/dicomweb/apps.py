from django.apps import AppConfig


class DicomwebConfig(AppConfig):
    name = "apps.dicomweb"
    label = "dicomweb"

    def ready(self) -> None:
        from apps.archive.signals import instance_stored, instances_deleted
        from apps.dicomweb import tasks, thumbnails

        instance_stored.connect(
            tasks.enqueue_series_thumbnail, dispatch_uid="dicomweb-series-thumbnail"
        )
        instances_deleted.connect(
            thumbnails.forget_series, dispatch_uid="dicomweb-forget-thumbnails"
        )
