from django.apps import AppConfig


class DimseConfig(AppConfig):
    name = "apps.dimse"
    label = "dimse"

    def ready(self) -> None:
        from apps.archive.signals import instance_stored
        from apps.dimse import (
            checks,  # noqa: F401  (registers the checks)
            forwarding,
        )

        instance_stored.connect(
            forwarding.on_instance_stored, dispatch_uid="dimse-forwarding"
        )
