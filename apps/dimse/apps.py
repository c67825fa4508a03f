from django.apps import AppConfig


class DimseConfig(AppConfig):
    name = "apps.dimse"
    label = "dimse"

    def ready(self) -> None:
        from apps.dimse import checks  # noqa: F401  (registers the checks)
