"""Provision remote AEs from scripts: add, list, remove."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from apps.dimse.models import RemoteAE


class Command(BaseCommand):
    help = "Add, list or remove the DICOM peers pacsweb knows"

    def add_arguments(self, parser) -> None:
        commands = parser.add_subparsers(dest="operation", required=True)
        add = commands.add_parser("add", help="add or update a remote AE")
        add.add_argument("ae_title")
        add.add_argument("host")
        add.add_argument("port", type=int)
        add.add_argument("--description", default="")
        add.add_argument(
            "--ops",
            default=",".join(RemoteAE.OPERATIONS),
            help=f"comma-separated operations it may ask for ({', '.join(RemoteAE.OPERATIONS)}; default all)",
        )
        add.add_argument(
            "--no-move-destination",
            action="store_true",
            help="not a valid C-MOVE destination",
        )
        add.add_argument(
            "--tls",
            action="store_true",
            help="our associations to it use DICOM TLS (PACSWEB_DICOM_TLS_CLIENT_*)",
        )
        add.add_argument(
            "--certificate-name",
            default="",
            help="it must associate over TLS with a client certificate of this name",
        )
        commands.add_parser("list", help="list remote AEs")
        remove = commands.add_parser("remove", help="remove a remote AE")
        remove.add_argument("ae_title")

    def handle(self, *args, **options) -> None:
        getattr(self, f"_{options['operation']}")(options)

    def _add(self, options) -> None:
        ops = [op.strip() for op in options["ops"].split(",") if op.strip()]
        unknown = sorted(set(ops) - set(RemoteAE.OPERATIONS))
        if unknown:
            raise CommandError(f"unknown operations: {', '.join(unknown)}")
        remote = RemoteAE.objects.filter(
            ae_title=options["ae_title"]
        ).first() or RemoteAE(ae_title=options["ae_title"])
        remote.host = options["host"]
        remote.port = options["port"]
        remote.description = options["description"]
        remote.is_move_destination = not options["no_move_destination"]
        remote.use_tls = options["tls"]
        remote.certificate_name = options["certificate_name"]
        for op in RemoteAE.OPERATIONS:
            setattr(remote, f"allow_{op}", op in ops)
        try:
            remote.full_clean()
        except ValidationError as exc:
            raise CommandError(
                "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
            ) from None
        created = remote.pk is None
        remote.save()
        self.stdout.write(f"{'added' if created else 'updated'} {remote}")

    def _list(self, options) -> None:
        for remote in RemoteAE.objects.all():
            move = (
                "move destination"
                if remote.is_move_destination
                else "not a move destination"
            )
            tls = "  TLS" if remote.use_tls else ""
            self.stdout.write(
                f"{remote.ae_title:<16} {remote.host}:{remote.port}  {','.join(remote.operations) or '-'}  {move}{tls}"
            )

    def _remove(self, options) -> None:
        deleted, _ = RemoteAE.objects.filter(ae_title=options["ae_title"]).delete()
        if not deleted:
            raise CommandError(f"no remote AE {options['ae_title']!r}")
        self.stdout.write(f"removed {options['ae_title']}")
