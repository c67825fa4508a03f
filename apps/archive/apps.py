from django.apps import AppConfig


class ArchiveConfig(AppConfig):
    name = "apps.archive"
    label = "archive"
    verbose_name = "Archive"

    def ready(self) -> None:
        import pydicom.config

        # Files from the field carry invalid values (DS "1.5.2", IS "abc").
        # They are archived as received and converted leniently
        # (apps/archive/dicomjson.py); pydicom must neither raise nor warn
        # per element while reading them.
        pydicom.config.settings.reading_validation_mode = pydicom.config.IGNORE
