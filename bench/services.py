"""The shared services of the production-like run: a scratch database on the
machine's PostgreSQL for each server, and a Redis broker of our own.

The PostgreSQL server is shared with other work, so the benchmark only
creates its own databases (named pacsweb_bench_*) and drops them when it
ends; it never changes the server's settings. Redis is a redis-server it
starts itself on a free port and stops by PID.
"""

import logging
import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import redis

from bench.procs import LOOPBACK, Child, StartError, free_port, wait_until

logger = logging.getLogger(__name__)

DEFAULT_ADMIN_URL = f"postgres://postgres@{LOOPBACK}:5432/postgres"
DATABASE_PREFIX = "pacsweb_bench_"
# Lower-case letters, digits and underscores only: the name goes into
# CREATE/DROP DATABASE, which take no parameters.
SAFE_NAME = re.compile(r"^pacsweb_bench_[a-z0-9_]{1,40}$")


def database_name(role: str, run_id: str | None = None) -> str:
    """pacsweb_bench_<run>_<role>: one run's databases share the run part,
    so leftovers of a crashed run are easy to recognise and drop."""
    run_id = run_id or f"{os.getpid()}_{secrets.token_hex(2)}"
    name = f"{DATABASE_PREFIX}{run_id}_{role}".lower()
    if not SAFE_NAME.match(name):
        raise ValueError(f"unsafe database name {name!r}")
    return name


def with_database(url: str, name: str) -> str:
    """The same server and credentials, another database."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, ""))


@dataclass(frozen=True)
class ScratchDatabase:
    name: str
    url: str  # postgres://…/name, for pacsweb's DATABASE_URL
    version: str  # the server's, for the report


@contextmanager
def scratch_database(admin_url: str, name: str) -> Iterator[ScratchDatabase]:
    """CREATE DATABASE on entry, DROP DATABASE … WITH (FORCE) on exit, even
    if a server under test still holds connections to it."""
    if not SAFE_NAME.match(name):
        raise ValueError(f"unsafe database name {name!r}")
    try:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
            version = str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
            conn.execute(
                f"CREATE DATABASE \"{name}\" ENCODING 'UTF8' TEMPLATE template0"
            )
    except psycopg.Error as exc:
        raise StartError(f"PostgreSQL at {_redacted(admin_url)}: {exc}") from exc
    try:
        yield ScratchDatabase(name, with_database(admin_url, name), version)
    finally:
        drop_database(admin_url, name)


def drop_database(admin_url: str, name: str) -> None:
    if not SAFE_NAME.match(name):
        raise ValueError(f"unsafe database name {name!r}")
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def database_exists(admin_url: str, name: str) -> bool:
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
        row = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
        ).fetchone()
    return row is not None


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.username or ''}@{host}{port}{parts.path}"


@dataclass(frozen=True)
class Broker:
    url: str
    version: str


@contextmanager
def own_redis(work: Path) -> Iterator[Broker]:
    """redis-server on a free loopback port, configured as docs/deployment.md
    asks of production (append-only file, fsync every second)."""
    work.mkdir(parents=True, exist_ok=True)
    port = free_port()
    child = Child(
        "redis-server",
        ["redis-server", "--bind", LOOPBACK, "--port", str(port),
         "--dir", str(work), "--appendonly", "yes", "--appendfsync", "everysec",
         "--save", ""],
        work / "redis.log",
    )  # fmt: skip
    try:
        client = redis.Redis(host=LOOPBACK, port=port, socket_timeout=2)
        wait_until(child, lambda: _pings(client), "PING")
        version = str(client.info("server").get("redis_version", "?"))
        client.close()
        yield Broker(f"redis://{LOOPBACK}:{port}/0", version)
    except redis.RedisError as exc:
        raise StartError(f"redis-server: {exc}") from exc
    finally:
        child.stop()


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False
