from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.archive.maintenance import sweep


class Command(BaseCommand):
    help = (
        "Remove stale temporary files and stored files that no instance row "
        "refers to; report rows whose file is missing or has the wrong size."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--grace",
            type=int,
            default=None,
            help="leave files younger than this many seconds (default: PACSWEB_SWEEP_GRACE_SECONDS)",
        )

    def handle(self, *args, grace: int | None, **options) -> None:
        if grace is not None and grace < 0:
            raise CommandError("--grace must be a non-negative number of seconds")

        report = sweep(grace)

        self.stdout.write(report.summary())
        for item in report.damaged:
            self.stdout.write(
                f"  {item.sop_instance_uid}: {item.storage_path} {item.problem}"
            )
        if report.damaged:
            raise CommandError(
                "some instances have a missing or damaged file (listed above)"
            )
