from django.apps import AppConfig


class DicomwebConfig(AppConfig):
    name = "apps.dicomweb"
    label = "dicomweb"

    def ready(self) -> None:
        from apps.archive.signals import instance_stored
        from apps.dicomweb import tasks

        instance_stored.connect(
            tasks.enqueue_series_thumbnail, dispatch_uid="dicomweb-series-thumbnail"
        )
