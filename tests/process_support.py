"""pacsweb processes for tests: their own var folder, database and ports."""

import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
START_TIMEOUT = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def migrated_template(folder: Path, django_db_blocker) -> Path:
    """A migrated SQLite database file under `folder`.

    A copy of the SQLite test database when there is one (migrating anew
    takes seconds), made with SQLite's backup API so the copy is consistent.
    """
    from django.db import connection

    folder.mkdir(parents=True, exist_ok=True)
    database = folder / "pacsweb.sqlite3"
    name = connection.settings_dict["NAME"]
    is_test_database = connection.vendor == "sqlite" and (
        name == connection.creation._get_test_db_name()
    )
    if is_test_database and _is_migrated(name):
        with django_db_blocker.unblock():
            source = sqlite3.connect(connection.settings_dict["NAME"])
            target = sqlite3.connect(database)
            with source, target:
                source.backup(target)
            source.close()
            target.close()
    else:
        # PostgreSQL, or a session whose connection still names the
        # embedded database (a module run alone, without django_db tests):
        # never copy the user's own archive into a test.
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
            cwd=BASE_DIR,
            env=environment(folder),
            check=True,
            timeout=START_TIMEOUT,
        )
    return database


def _is_migrated(path: str) -> bool:
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            found = db.execute(
                "SELECT 1 FROM sqlite_master WHERE name = 'django_migrations'"
            ).fetchone()
    except sqlite3.Error:
        return False
    return found is not None


def new_var_dir(template: Path, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, folder / "pacsweb.sqlite3")
    return folder


def environment(var_dir: Path, **extra: str) -> dict[str, str]:
    # The embedded set-up whatever the outer run uses (PostgreSQL, Redis):
    # these tests read the database file directly.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PACSWEB_", "CELERY_", "DATABASE_"))
    }
    env.update(
        PACSWEB_VAR_DIR=str(var_dir),
        DATABASE_URL=f"sqlite:///{var_dir / 'pacsweb.sqlite3'}",
        DJANGO_SETTINGS_MODULE="pacsweb.settings",
        PYTHONUNBUFFERED="1",
        **extra,
    )
    return env


def start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(
            command, cwd=BASE_DIR, env=env, stdout=out, stderr=subprocess.STDOUT
        )


def wait_for_line(
    process: subprocess.Popen, log: Path, pattern: str, after: int = 0
) -> re.Match:
    """Wait until the log (from byte `after`) has a line matching pattern."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        match = re.search(pattern, log.read_text(errors="replace")[after:])
        if match:
            return match
        if process.poll() is not None:
            raise RuntimeError(
                f"process exited with {process.returncode}:\n{log.read_text()}"
            )
        time.sleep(0.05)
    raise TimeoutError(f"no {pattern!r} in:\n{log.read_text()}")


def stop(process: subprocess.Popen, timeout: float = 30) -> int:
    if process.poll() is None:
        process.terminate()
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise
