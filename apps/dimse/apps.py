from django.apps import AppConfig


class DimseConfig(AppConfig):
    name = "apps.dimse"
    label = "dimse"
