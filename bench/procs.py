"""Child processes of the benchmark: started with logs to files, stopped by PID."""

import contextlib
import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

logger = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
STOP_GRACE_SECONDS = 20


class StartError(Exception):
    """A server did not come up; the message quotes the end of its log."""


def free_port() -> int:
    # The OS hands out a free loopback port; it is released at once and
    # bound again by the server a moment later, a race we accept here.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


class Child:
    def __init__(
        self,
        name: str,
        argv: list[str],
        log: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        group: bool = False,
    ) -> None:
        self.name = name
        self.log = log
        # group: the child leads a process group of its own, and stop()
        # signals that group, so that pool processes it forked (Celery's
        # prefork workers) go with it even if it has to be killed.
        self.group = group
        self._log_file = log.open("ab")
        self.proc = subprocess.Popen(
            argv,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=group,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        # SIGTERM to our own child only; gunicorn and Orthanc shut their
        # workers down on it. SIGKILL if it ignores us.
        if self.alive():
            self._signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                logger.warning(
                    "%s (pid %s) ignored SIGTERM; killing it", self.name, self.pid
                )
                self._signal(signal.SIGKILL)
                self.proc.wait()
        if self.group:
            # Whatever of the group outlived its leader (its own children).
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)
        self._log_file.close()

    def _signal(self, number: int) -> None:
        if self.group:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, number)
        else:
            self.proc.send_signal(number)

    def tail(self, lines: int = 15) -> str:
        text = self.log.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


def run_checked(argv: list[str], log: Path, env: dict[str, str], cwd: Path) -> None:
    with log.open("ab") as out:
        result = subprocess.run(
            argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd
        )
    if result.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise StartError(f"{' '.join(argv)} failed ({result.returncode}):\n{tail}")


def wait_until(
    child: Child, ready: Callable[[], bool], what: str, timeout: float = 60.0
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not child.alive():
            raise StartError(
                f"{child.name} exited ({child.proc.returncode}):\n{child.tail()}"
            )
        try:
            if ready():
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise StartError(
        f"{child.name}: {what} not ready after {timeout:.0f} s:\n{child.tail()}"
    )


def environ(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra)
    return env
