"""Exercise the DICOM services against any peer: echo, send, find, move, get."""

from django.core.management.base import BaseCommand, CommandError

from apps.archive.models import Instance
from apps.dimse import cli, identifiers, scu


class Command(BaseCommand):
    help = "C-ECHO, C-STORE, C-FIND, C-MOVE and C-GET against a peer"

    def add_arguments(self, parser) -> None:
        commands = parser.add_subparsers(dest="operation", required=True)

        echo = commands.add_parser("echo", help="C-ECHO")
        cli.add_peer_argument(echo)

        send = commands.add_parser("send", help="C-STORE stored instances, as stored")
        cli.add_peer_argument(send)
        send.add_argument(
            "--study", action="append", default=[], help="StudyInstanceUID"
        )
        send.add_argument(
            "--series", action="append", default=[], help="SeriesInstanceUID"
        )
        send.add_argument(
            "--instance", action="append", default=[], help="SOPInstanceUID"
        )

        for name, text in (
            ("find", "C-FIND"),
            ("move", "C-MOVE"),
            ("get", "C-GET, storing what arrives"),
        ):
            sub = commands.add_parser(name, help=text)
            cli.add_peer_argument(sub)
            sub.add_argument(
                "--level",
                default="STUDY",
                choices=["PATIENT", "STUDY", "SERIES", "IMAGE"],
            )
            sub.add_argument("--model", default="study", choices=["patient", "study"])
            cli.add_key_argument(sub)
            if name == "move":
                sub.add_argument(
                    "--dest", required=True, help="the move destination AE title"
                )

    def handle(self, *args, **options) -> None:
        peer = cli.peer(options["peer"])
        try:
            getattr(self, f"_{options['operation']}")(peer, options)
        except scu.PeerUnavailable as exc:
            raise CommandError(str(exc)) from None
        except scu.DimseFailure as exc:
            raise CommandError(str(exc)) from None
        except identifiers.IdentifierError as exc:
            raise CommandError(str(exc)) from None

    def _echo(self, peer: scu.Peer, options) -> None:
        scu.echo(peer)
        self.stdout.write(f"C-ECHO to {peer}: success")

    def _send(self, peer: scu.Peer, options) -> None:
        instances = Instance.objects.none()
        for uids, field in (
            (options["study"], "series__study__study_instance_uid__in"),
            (options["series"], "series__series_instance_uid__in"),
            (options["instance"], "sop_instance_uid__in"),
        ):
            if uids:
                instances |= Instance.objects.filter(**{field: uids})
        selected = list(instances.order_by("series_id", "instance_number", "id"))
        if not selected:
            raise CommandError("nothing stored matches --study/--series/--instance")
        result = scu.store(peer, selected)
        self._summary("C-STORE", peer, result)

    def _find(self, peer: scu.Peer, options) -> None:
        identifier = identifiers.build(
            identifiers.parse_pairs(options["keys"]), options["level"]
        )
        matches = scu.find(peer, identifier, options["model"])
        self.stdout.write(cli.dumps([identifiers.to_json(m) for m in matches]))
        self.stderr.write(f"{len(matches)} matches")

    def _move(self, peer: scu.Peer, options) -> None:
        identifier = identifiers.build(
            identifiers.parse_pairs(options["keys"]), options["level"]
        )
        self._summary(
            "C-MOVE",
            peer,
            scu.move(peer, identifier, options["dest"], options["model"]),
        )

    def _get(self, peer: scu.Peer, options) -> None:
        identifier = identifiers.build(
            identifiers.parse_pairs(options["keys"]), options["level"]
        )
        self._summary("C-GET", peer, scu.get(peer, identifier, options["model"]))

    def _summary(self, what: str, peer: scu.Peer, result: scu.SubOperations) -> None:
        self.stdout.write(
            f"{what} with {peer}: {result.completed} completed, {result.failed} failed, "
            f"{result.warning} warning (status 0x{result.status:04X})"
        )
        for uid in result.failed_uids:
            self.stdout.write(f"failed: {uid}")
        if result.failed or result.status == scu.QueryRetrieveStatus.CANCEL:
            raise CommandError(f"{result.failed} sub-operations failed")
