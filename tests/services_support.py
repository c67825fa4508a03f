"""PostgreSQL, Redis and gunicorn that a test starts itself, on free ports.

The fault tests stop and restart these, so they must never be the
machine's own services: each runs from a temporary directory on a port
the OS hands out, and is stopped by its own PID (pg_ctl signals the
postmaster named in its pid file).
"""

import contextlib
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.s3_support import free_port

BASE_DIR = Path(__file__).resolve().parent.parent


def postgres_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else None


def available() -> str:
    """Why these services cannot run here, or "" when they can."""
    if not postgres_bin("initdb") or not postgres_bin("pg_ctl"):
        return (
            "PostgreSQL server binaries (/usr/lib/postgresql/*/bin) are not installed"
        )
    if not shutil.which("redis-server"):
        return "redis-server is not installed"
    return ""


def _as_postgres(command: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root.
    return (
        ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command
    )


@dataclass
class Postgres:
    data_dir: Path
    port: int

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def _ctl(self, *args: str) -> None:
        subprocess.run(
            _as_postgres(
                [postgres_bin("pg_ctl") or "pg_ctl", "-D", str(self.data_dir), *args]
            ),
            check=True,
            capture_output=True,
            timeout=60,
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.data_dir} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c full_page_writes=off"
        )
        self._ctl("-o", options, "-l", str(self.data_dir / "server.log"), "-w", "start")

    def stop(self) -> None:
        self._ctl("-m", "fast", "-w", "stop")

    def create_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')


@contextmanager
def own_postgres() -> Iterator[Postgres]:
    base = Path(tempfile.mkdtemp(prefix="pacsweb-pg-"))
    data_dir = base / "data"
    data_dir.mkdir()
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        shutil.chown(data_dir, "postgres")
    subprocess.run(
        _as_postgres([postgres_bin("initdb") or "initdb", "-D", str(data_dir),
                      "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"]),
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    server = Postgres(data_dir, free_port())
    server.start()
    try:
        yield server
    finally:
        # The test may have stopped it already (pg_ctl then fails).
        with contextlib.suppress(subprocess.CalledProcessError):
            server.stop()
        shutil.rmtree(base, ignore_errors=True)


@dataclass
class Redis:
    data_dir: Path
    port: int
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        # Append-only with fsync on every write, as production should run
        # it: queued tasks survive a restart.
        self.process = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port),
             "--dir", str(self.data_dir), "--appendonly", "yes",
             "--appendfsync", "always", "--save", ""],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while not self._answers():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.1)

    def _answers(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_timeout=1).ping())
        except redis.exceptions.ConnectionError:
            return False

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        self.process.wait(timeout=30)


@contextmanager
def own_redis() -> Iterator[Redis]:
    with tempfile.TemporaryDirectory(prefix="pacsweb-redis-") as directory:
        server = Redis(Path(directory), free_port())
        server.start()
        try:
            yield server
        finally:
            server.stop()


@dataclass
class Web:
    url: str
    process: subprocess.Popen


@contextmanager
def gunicorn(env: dict[str, str], log_path: Path, workers: int = 1) -> Iterator[Web]:
    """gunicorn with pacsweb's production config on a free port."""
    command = [
        sys.executable, "-m", "gunicorn", "pacsweb.wsgi:application",
        "--bind", "127.0.0.1:0", "--workers", str(workers),
    ]  # fmt: skip
    config = BASE_DIR / "pacsweb" / "gunicorn.conf.py"
    if config.exists():
        command += ["--config", str(config)]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            text = log_path.read_text(errors="replace")
            match = re.search(r"Listening at: (http://127\.0\.0\.1:\d+)", text)
            if match and "Booting worker" in text:
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not start:\n{text}")
            time.sleep(0.1)
        yield Web(match.group(1), process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def migrate(env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=BASE_DIR, env=env, check=True, capture_output=True, timeout=300,
    )  # fmt: skip


def admin_token(env: dict[str, str]) -> str:
    """A bearer token of the `admin` superuser of the database in `env`."""
    admin_env = {**env, "PACSWEB_ADMIN_PASSWORD": "fault-test-admin-passphrase"}
    for command in (["ensure_admin"], ["issue_token", "admin"]):
        done = subprocess.run(
            [sys.executable, "manage.py", *command],
            cwd=BASE_DIR, env=admin_env, check=True, capture_output=True,
            text=True, timeout=120,
        )  # fmt: skip
    return done.stdout.strip()
