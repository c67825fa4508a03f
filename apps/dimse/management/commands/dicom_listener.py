import logging
import signal
import threading
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import close_old_connections

from apps.accounts import housekeeping
from apps.archive import retention
from apps.archive.maintenance import sweep
from apps.dimse import forwarding
from apps.dimse.listener import Listener

logger = logging.getLogger(__name__)


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
        parser.add_argument(
            "--sweep-interval",
            type=int,
            help=(
                "sweep the store every this many seconds while running, 0 never "
                "(default: PACSWEB_SWEEP_INTERVAL_SECONDS, or 0 when a Celery "
                "broker is set, as beat sweeps then)"
            ),
        )

    def handle(
        self,
        *args,
        host: str | None,
        port: int | None,
        no_sweep: bool,
        sweep_interval: int | None,
        **options,
    ) -> None:
        if sweep_interval is None:
            sweep_interval = (
                0
                if settings.BROKER_CONFIGURED
                else settings.PACSWEB_SWEEP_INTERVAL_SECONDS
            )
        if sweep_interval < 0:
            raise CommandError(
                "--sweep-interval must be a non-negative number of seconds"
            )
        if not no_sweep:
            # Before listening, so leftovers of a crash go before new work comes.
            self.stdout.write(sweep().summary())

        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        listener = Listener(host=host, port=port)
        bound_host, bound_port = listener.start()
        self.stdout.write(f"listening on {bound_host}:{bound_port}")
        if listener.tls_address:
            self.stdout.write(f"DICOM TLS on {bound_host}:{listener.tls_address[1]}")
        self.stdout.flush()

        # A timed wait, so the signal handler gets to run promptly. The
        # periodic sweep also clears what aborted associations leave in the
        # receiving area, in the embedded set-up where no beat runs.
        next_sweep = time.monotonic() + sweep_interval
        forward_interval = (
            0
            if settings.BROKER_CONFIGURED
            else settings.PACSWEB_FORWARD_INTERVAL_SECONDS
        )
        next_forward = time.monotonic() + forward_interval
        while not stop.wait(0.5):
            if sweep_interval and time.monotonic() >= next_sweep:
                _sweep_while_running()
                next_sweep = time.monotonic() + sweep_interval
            if forward_interval and time.monotonic() >= next_forward:
                _forward_while_running()
                next_forward = time.monotonic() + forward_interval
        self.stdout.write("stopping the DICOM listener")
        listener.stop()


def _sweep_while_running() -> None:
    # Without a broker no beat runs: the listener does its periodic work.
    for name, work in (
        ("storage sweep", sweep),
        ("retention", lambda: retention.expire(apply=True)),
        ("housekeeping", housekeeping.run),
    ):
        try:
            work()
        except Exception:
            logger.exception("periodic %s failed; the listener keeps running", name)
        finally:
            close_old_connections()


def _forward_while_running() -> None:
    # Without a broker the jobs run here, in turn; associations go on in
    # their own threads meanwhile.
    try:
        forwarding.dispatch()
    except Exception:
        logger.exception("forwarding dispatch failed; the listener keeps running")
    finally:
        close_old_connections()
