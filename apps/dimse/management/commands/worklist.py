"""Load worklist items from DICOM files, or query a remote worklist."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from apps.dimse import cli, identifiers, scu
from apps.worklist.loader import WorklistFileError, load_file


class Command(BaseCommand):
    help = "worklist add FILE… | worklist query PEER -k KEY=VALUE…"

    def add_arguments(self, parser) -> None:
        commands = parser.add_subparsers(dest="operation", required=True)
        add = commands.add_parser("add", help="load dcmtk-style worklist files")
        add.add_argument("files", nargs="+", type=Path)
        query = commands.add_parser(
            "query", help="Modality Worklist C-FIND against a peer"
        )
        cli.add_peer_argument(query)
        cli.add_key_argument(query)

    def handle(self, *args, **options) -> None:
        if options["operation"] == "add":
            self._add(options["files"])
        else:
            self._query(options)

    def _add(self, files: list[Path]) -> None:
        failed = 0
        for path in files:
            try:
                procedure = load_file(path)
            except WorklistFileError as exc:
                failed += 1
                self.stderr.write(str(exc))
                continue
            steps = ", ".join(
                s.scheduled_procedure_step_id or str(s.pk)
                for s in procedure.steps.all()
            )
            self.stdout.write(
                f"{path}: {procedure.accession_number or procedure.study_instance_uid} steps {steps}"
            )
        if failed:
            raise CommandError(f"{failed} of {len(files)} files were not loaded")

    def _query(self, options) -> None:
        peer = cli.peer(options["peer"])
        try:
            identifier = identifiers.build(identifiers.parse_pairs(options["keys"]))
            matches = scu.find(peer, identifier, "worklist")
        except (
            scu.PeerUnavailable,
            scu.DimseFailure,
            identifiers.IdentifierError,
        ) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(cli.dumps([identifiers.to_json(m) for m in matches]))
        self.stderr.write(f"{len(matches)} worklist items")
