"""`make run`: the storage sweep, then the web server and the DICOM listener.

Each runs as a child process. Ctrl-C or SIGTERM is passed on to all of
them; if one dies, the others are stopped too, so a half-running PACS
never looks healthy.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
STOP_TIMEOUT_SECONDS = 30


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pacsweb.settings")
    import django

    django.setup()
    from django.conf import settings

    from apps.archive.maintenance import sweep

    # `make run` starts every process that writes to this store, so nothing
    # can be mid-ingest now: what a crash left behind goes at once.
    print(sweep(grace_seconds=0).summary(), flush=True)
    # whitenoise serves from the finders until collectstatic has filled
    # STATIC_ROOT, but warns on every start if the folder is missing.
    Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)
    children = _start(_commands(settings))
    _announce(settings)

    stopping = False

    def request_stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    died = None
    while not stopping and died is None:
        time.sleep(0.2)
        died = next(
            (name for name, child in children.items() if child.poll() is not None), None
        )

    if died is not None:
        code = children[died].returncode
        print(
            f"pacsweb: the {died} process exited with code {code}; stopping the others",
            flush=True,
        )
    _stop(children)
    return 0 if died is None else 1


def _commands(settings) -> dict[str, list[str]]:
    python = sys.executable
    commands = {
        "web server": [
            python,
            "-m",
            "gunicorn",
            "--config",
            str(BASE_DIR / "pacsweb" / "gunicorn.conf.py"),
        ],
        # The sweep above already ran; a second one would race with nothing
        # but costs a walk of the store.
        "DICOM listener": [
            python,
            str(BASE_DIR / "manage.py"),
            "dicom_listener",
            "--no-sweep",
        ],
    }
    if settings.BROKER_CONFIGURED:
        # With no broker, tasks run inside the web and listener processes.
        commands["task worker"] = [
            python,
            "-m",
            "celery",
            "-A",
            "pacsweb",
            "worker",
            "--loglevel",
            "INFO",
        ]
    return commands


def _start(commands: dict[str, list[str]]) -> dict[str, subprocess.Popen]:
    # Own sessions: a terminal's Ctrl-C reaches only this process, which
    # then stops the children once each, in order.
    return {
        name: subprocess.Popen(command, cwd=BASE_DIR, start_new_session=True)
        for name, command in commands.items()
    }


def _announce(settings) -> None:
    web = f"http://{_url_host(settings.PACSWEB_HTTP_HOST)}:{settings.PACSWEB_HTTP_PORT}"
    tls = settings.PACSWEB_DICOM_TLS_PORT
    print(
        f"pacsweb is starting:\n"
        f"  web          {web}/\n"
        f"  DICOMweb     {web}/dicomweb/\n"
        f"  admin        {web}/admin/\n"
        f"  DICOM        AE {settings.PACSWEB_AE_TITLE} at "
        f"{settings.PACSWEB_DICOM_HOST}:{settings.PACSWEB_DICOM_PORT}\n"
        + (f"  DICOM TLS    port {tls}\n" if tls else "")
        + "Ctrl-C stops it all.",
        flush=True,
    )


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _stop(children: dict[str, subprocess.Popen]) -> None:
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    for name, child in children.items():
        try:
            child.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"pacsweb: the {name} did not stop in time; killing it", flush=True)
            child.kill()
            child.wait()


if __name__ == "__main__":
    sys.exit(main())
