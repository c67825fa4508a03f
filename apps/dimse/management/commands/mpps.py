"""Show a performed procedure step, or send MPPS N-CREATE/N-SET to a peer."""

import json
from pathlib import Path

import pydicom
from django.core.management.base import BaseCommand, CommandError
from pydicom.dataset import Dataset

from apps.dimse import cli, scu
from apps.worklist.models import PerformedProcedureStep


class Command(BaseCommand):
    help = "mpps show UID | mpps create PEER UID FILE | mpps set PEER UID FILE"

    def add_arguments(self, parser) -> None:
        commands = parser.add_subparsers(dest="operation", required=True)
        show = commands.add_parser(
            "show", help="print a performed procedure step as DICOM JSON"
        )
        show.add_argument("uid")
        for name in ("create", "set"):
            sub = commands.add_parser(
                name, help=f"N-{name.upper()} a Modality Performed Procedure Step"
            )
            cli.add_peer_argument(sub)
            sub.add_argument("uid", help="the MPPS SOP Instance UID")
            sub.add_argument(
                "file", type=Path, help="the attributes: a DICOM file or DICOM JSON"
            )

    def handle(self, *args, **options) -> None:
        if options["operation"] == "show":
            step = PerformedProcedureStep.objects.filter(
                sop_instance_uid=options["uid"]
            ).first()
            if step is None:
                raise CommandError(f"no performed procedure step {options['uid']}")
            self.stdout.write(cli.dumps(step.attributes_json))
            return

        peer = cli.peer(options["peer"])
        attributes = _read(options["file"])
        send = scu.mpps_create if options["operation"] == "create" else scu.mpps_set
        try:
            send(peer, options["uid"], attributes)
        except (scu.PeerUnavailable, scu.DimseFailure) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"N-{options['operation'].upper()} of {options['uid']} at {peer}: success"
        )


def _read(path: Path) -> Dataset:
    try:
        if path.suffix.lower() == ".json":
            return Dataset.from_json(json.loads(path.read_text()))
        return pydicom.dcmread(path, force=True)
    except Exception as exc:
        raise CommandError(f"{path}: cannot read the attributes ({exc})") from None
