import signal
import threading

from django.core.management.base import BaseCommand, CommandParser

from apps.archive.maintenance import sweep
from apps.dimse.listener import Listener


class Command(BaseCommand):
    help = "Run the DICOM listener (C-ECHO, Storage SCP) until SIGTERM or Ctrl-C."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--host", help="address to bind (default: PACSWEB_DICOM_HOST)"
        )
        parser.add_argument(
            "--port",
            type=int,
            help="port to bind, 0 for any free one (default: PACSWEB_DICOM_PORT)",
        )
        parser.add_argument(
            "--no-sweep", action="store_true", help="skip the storage sweep at start-up"
        )

    def handle(
        self, *args, host: str | None, port: int | None, no_sweep: bool, **options
    ) -> None:
        if not no_sweep:
            # Before listening, so leftovers of a crash go before new work comes.
            self.stdout.write(sweep().summary())

        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        listener = Listener(host=host, port=port)
        bound_host, bound_port = listener.start()
        self.stdout.write(f"listening on {bound_host}:{bound_port}", ending="\n")
        self.stdout.flush()

        # A timed wait, so the signal handler gets to run promptly.
        while not stop.wait(0.5):
            pass
        self.stdout.write("stopping the DICOM listener")
        listener.stop()
