"""A real `celery worker` process for tests, on the test database.

Used when CELERY_BROKER_URL is set (the PostgreSQL + Redis run of
.ci/run); without a broker tasks run in the test process and no worker is
needed. The worker is told the test database (pytest-django's, not the
configured one) and the test's storage directory through the same
environment variables a deployment uses.
"""

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from celery import Celery
from django.conf import settings
from django.db import connection
from redis.exceptions import RedisError

BASE_DIR = Path(__file__).resolve().parent.parent
START_TIMEOUT = 60


@dataclass
class Worker:
    process: subprocess.Popen
    hostname: str
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def database_url(settings_dict: dict[str, Any]) -> str:
    """A DATABASE_URL naming the database this process is connected to."""
    name = settings_dict["NAME"]
    if settings_dict["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{name}"
    user = quote(settings_dict.get("USER") or "", safe="")
    password = quote(settings_dict.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = settings_dict.get("HOST") or "localhost"
    port = f":{settings_dict['PORT']}" if settings_dict.get("PORT") else ""
    return f"postgres://{auth}{host}{port}/{name}"


def wait_until(
    predicate: Callable[[], bool], timeout: float, step: float = 0.2
) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout} s")
        time.sleep(step)


def purge_queues() -> None:
    """Drop messages left by earlier tests that had no worker to run them."""
    from pacsweb.celery import app

    with app.connection_for_write() as conn:
        channel = conn.default_channel
        for queue in settings.PACSWEB_TASK_QUEUES:
            channel.queue_purge(queue)


def wait_for_ping(
    hostname: str,
    process: subprocess.Popen,
    timeout: float,
    broker_url: str,
    key_prefix: str,
) -> None:
    app = Celery(broker=broker_url)
    app.conf.broker_transport_options = {"global_keyprefix": key_prefix}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"celery worker exited with {process.returncode}")
        try:
            if app.control.ping(destination=[hostname], timeout=1.0):
                return
        except (ConnectionError, OSError, RedisError):
            time.sleep(0.5)  # a broker that has just restarted
    raise RuntimeError(f"celery worker {hostname} did not answer a ping")


@contextmanager
def celery_worker(
    storage_dir: Path,
    log_dir: Path,
    *,
    database: str | None = None,
    broker_url: str | None = None,
    env: dict[str, str] | None = None,
    queues: tuple[str, ...] | None = None,
) -> Iterator[Worker]:
    """Start `celery -A pacsweb worker`, wait for its ping, stop it by PID.

    Database and broker default to the test run's own.
    """
    broker_url = broker_url or settings.CELERY_BROKER_URL
    key_prefix = (env or {}).get(
        "CELERY_KEY_PREFIX",
        settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("global_keyprefix", ""),
    )
    hostname = f"test-{uuid.uuid4().hex[:8]}@127.0.0.1"
    log_path = log_dir / f"celery-{hostname.split('@')[0]}.log"
    worker_env = {
        **os.environ,
        "DATABASE_URL": database or database_url(connection.settings_dict),
        "PACSWEB_STORAGE_DIR": str(storage_dir),
        "CELERY_BROKER_URL": broker_url,
        "CELERY_KEY_PREFIX": key_prefix,
        **(env or {}),
    }
    command = [
        sys.executable, "-m", "celery", "-A", "pacsweb", "worker",
        "--hostname", hostname,
        "--queues", ",".join(queues or settings.PACSWEB_TASK_QUEUES),
        # One task at a time in the worker process itself: killing that PID
        # kills the task, which is what the fault tests need.
        "--pool", "solo",
        "--without-gossip", "--without-mingle",
        "--loglevel", "INFO",
    ]  # fmt: skip
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, cwd=BASE_DIR, env=worker_env, stdout=log, stderr=subprocess.STDOUT
        )
    worker = Worker(process, hostname, log_path)
    try:
        wait_for_ping(hostname, process, START_TIMEOUT, broker_url, key_prefix)
        yield worker
    finally:
        stop(worker)


def stop(worker: Worker, grace_seconds: float = 20) -> None:
    if worker.process.poll() is not None:
        return
    worker.process.terminate()  # warm shutdown: finish the task in hand
    try:
        worker.process.wait(timeout=grace_seconds)
    except subprocess.TimeoutExpired:
        worker.process.kill()
        worker.process.wait()
