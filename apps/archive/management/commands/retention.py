from django.core.management.base import BaseCommand, CommandParser

from apps.archive import retention


class Command(BaseCommand):
    help = (
        "List the studies past their retention period (Collection.retention_days, "
        "PACSWEB_RETENTION_DAYS); with --apply, delete them."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--apply", action="store_true", help="delete them (default: only list)"
        )
        parser.add_argument(
            "--limit",
            type=int,
            default=None,
            help="at most this many studies (default: PACSWEB_RETENTION_BATCH)",
        )

    def handle(self, *args, apply: bool, limit: int | None, **options) -> None:
        found = retention.expire(apply=apply, limit=limit)
        for study_uid, patient_id, instances in found.studies:
            self.stdout.write(
                f"  {study_uid}  patient {patient_id}  {instances} instances"
            )
        self.stdout.write(found.summary())
