"""The two servers under test, each started fresh in its own temporary folder
on free loopback ports and stopped by PID.
"""

import json
import logging
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests
from celery import Celery
from pynetdicom import AE
from redis.exceptions import RedisError

from bench.client import SCU_AE_TITLE, Target
from bench.procs import (
    LOOPBACK,
    Child,
    StartError,
    environ,
    free_port,
    run_checked,
    wait_until,
)
from bench.viewer import ViewerAccess

logger = logging.getLogger(__name__)

ORTHANC_BINARY = Path("/usr/sbin/Orthanc")
ORTHANC_DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
# Debian's orthanc-postgresql; only the index plugin is used (files stay on
# disk, as pacsweb's do).
ORTHANC_POSTGRESQL_INDEX = Path(
    "/usr/share/orthanc/plugins/libOrthancPostgreSQLIndex.so"
)
ORTHANC_AE_TITLE = "ORTHANC"
PACSWEB_AE_TITLE = "PACSWEB"
ADMIN_USERNAME = "admin"  # what `manage.py ensure_admin` creates
VERIFICATION = "1.2.840.10008.1.1"
REPO = Path(__file__).resolve().parent.parent


@dataclass
class Running:
    target: Target
    versions: dict[str, str] = field(default_factory=dict)
    # Fills the store without DICOMweb or DIMSE, so that searches and
    # retrieves can still be measured when the ingest services are missing.
    direct_fill: Callable[[list[Path]], None] | None = None
    notes: list[str] = field(default_factory=list)
    # Signs in to the browser viewer; None where there is no viewer to open.
    viewer: ViewerAccess | None = None


def echo(host: str, port: int, ae_title: str) -> bool:
    ae = AE(ae_title=SCU_AE_TITLE)
    ae.add_requested_context(VERIFICATION)
    ae.acse_timeout = ae.network_timeout = 5
    assoc = ae.associate(host, port, ae_title=ae_title)
    if not assoc.is_established:
        return False
    status = assoc.send_c_echo()
    assoc.release()
    return bool(status) and status.Status == 0


def _http_ok(url: str) -> bool:
    try:
        return requests.get(url, timeout=5).status_code == 200
    except requests.RequestException:
        return False


@dataclass(frozen=True)
class OrthancIndex:
    """Orthanc's index in PostgreSQL (the orthanc-postgresql plugin)."""

    url: str  # postgres://user@host:port/database
    connections: int  # the plugin's IndexConnectionsCount


@contextmanager
def orthanc(work: Path, index: OrthancIndex | None = None) -> Iterator[Running]:
    if not ORTHANC_BINARY.exists() or not ORTHANC_DICOMWEB_PLUGIN.exists():
        raise StartError(
            f"Orthanc needs {ORTHANC_BINARY} and {ORTHANC_DICOMWEB_PLUGIN} "
            "(Debian packages orthanc and orthanc-dicomweb)"
        )
    if index is not None and not ORTHANC_POSTGRESQL_INDEX.exists():
        raise StartError(
            f"Orthanc's PostgreSQL index needs {ORTHANC_POSTGRESQL_INDEX} "
            "(Debian package orthanc-postgresql)"
        )
    work.mkdir(parents=True, exist_ok=True)
    http_port, dicom_port = free_port(), free_port()
    # Orthanc's defaults otherwise (SQLite index, fsync on write, no
    # compression), as a fresh Debian install runs it. It cannot bind to
    # one address, so it refuses remote HTTP and accepts C-STORE only
    # from our SCU on loopback.
    config = {
        "Name": "bench",
        "StorageDirectory": str(work / "storage"),
        "IndexDirectory": str(work / "index"),
        "HttpPort": http_port,
        "DicomPort": dicom_port,
        "DicomAet": ORTHANC_AE_TITLE,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "DicomAlwaysAllowEcho": False,
        "DicomAlwaysAllowStore": False,
        "DicomCheckModalityHost": True,
        # The port is never called (no C-MOVE here) but must be valid.
        "DicomModalities": {"bench": [SCU_AE_TITLE, LOOPBACK, 104]},
        "SaveJobs": False,
        "Plugins": [str(ORTHANC_DICOMWEB_PLUGIN)],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": False},
    }
    if index is not None:
        config.update(orthanc_index_config(index))
    # TCP_NODELAY=1: Orthanc's DICOM side is dcmtk, which otherwise leaves
    # Nagle's algorithm on and stalls each C-STORE response by ~40 ms.
    config_path = work / "orthanc.json"
    config_path.write_text(json.dumps(config, indent=2))
    child = Child(
        "Orthanc",
        [str(ORTHANC_BINARY), str(config_path)],
        work / "orthanc.log",
        env=environ(TCP_NODELAY="1"),
    )
    try:
        base = f"http://{LOOPBACK}:{http_port}"
        wait_until(child, lambda: _http_ok(base + "/system"), "HTTP")
        wait_until(
            child, lambda: echo(LOOPBACK, dicom_port, ORTHANC_AE_TITLE), "C-ECHO"
        )
        system = requests.get(base + "/system", timeout=5).json()
        plugin = requests.get(base + "/plugins/dicom-web", timeout=5).json()
        target = Target(
            "Orthanc", base + "/dicom-web", LOOPBACK, dicom_port, ORTHANC_AE_TITLE
        )
        versions = {
            "Orthanc": system.get("Version", "?"),
            "Orthanc DICOMweb plugin": plugin.get("Version", "?"),
        }
        if index is not None:
            versions["Orthanc PostgreSQL index plugin"] = _orthanc_index_version(
                base, system
            )
        yield Running(
            target,
            versions=versions,
            direct_fill=lambda paths: _orthanc_rest_fill(base, paths),
        )
    finally:
        child.stop()


def orthanc_index_config(index: OrthancIndex) -> dict[str, object]:
    return {
        "Plugins": [str(ORTHANC_DICOMWEB_PLUGIN), str(ORTHANC_POSTGRESQL_INDEX)],
        "PostgreSQL": {
            "EnableIndex": True,
            "EnableStorage": False,
            "ConnectionUri": index.url,
            "IndexConnectionsCount": index.connections,
            # One Orthanc per database here; the lock would only guard
            # against a second one.
            "Lock": True,
        },
    }


def _orthanc_index_version(base: str, system: dict) -> str:
    # /system names the index back-end's schema; the plugin its version.
    try:
        plugin = requests.get(base + "/plugins/postgresql-index", timeout=5).json()
    except (requests.RequestException, ValueError):
        plugin = {}
    schema = system.get("DatabaseVersion", "?")
    return f"{plugin.get('Version', '?')} (index schema {schema})"


@dataclass(frozen=True)
class Production:
    """The production-like topology of docs/deployment.md: PostgreSQL, a
    Redis broker with a `celery worker`, gunicorn with its config file and
    several workers, PACSWEB_PRODUCTION=1."""

    database_url: str
    broker_url: str
    celery_concurrency: int


@contextmanager
def pacsweb(
    work: Path,
    workers: int,
    threads: int,
    database_url: str = "",
    checkout: Path = REPO,
    production: Production | None = None,
) -> Iterator[Running]:
    """Start pacsweb as `make run` does: migrate, then gunicorn on
    pacsweb.wsgi and `manage.py dicom_listener`, sharing one PACSWEB_VAR_DIR.
    With `production`, as docs/deployment.md runs it instead (and a
    `celery worker` beside them)."""
    work.mkdir(parents=True, exist_ok=True)
    http_port, dicom_port = free_port(), free_port()
    env = environ(
        PACSWEB_VAR_DIR=str(work / "var"),
        PACSWEB_HTTP_HOST=LOOPBACK,
        PACSWEB_HTTP_PORT=str(http_port),
        PACSWEB_DICOM_HOST=LOOPBACK,
        PACSWEB_DICOM_PORT=str(dicom_port),
        PACSWEB_AE_TITLE=PACSWEB_AE_TITLE,
        PACSWEB_LOG_LEVEL="warning",
        DJANGO_SETTINGS_MODULE="pacsweb.settings",
    )
    # The embedded set-up unless a database is named for this run: a
    # DATABASE_URL or broker left in the caller's shell must not leak in.
    env.pop("CELERY_BROKER_URL", None)
    env.pop("DATABASE_URL", None)
    if database_url:
        env["DATABASE_URL"] = database_url
    if production is not None:
        env.update(production_environment(production, workers, threads))

    python = sys.executable
    run_checked(
        [python, "manage.py", "migrate", "--noinput"],
        work / "migrate.log",
        env,
        checkout,
    )
    if production is not None:
        # Production refuses unknown calling AEs; the benchmark's SCU is
        # registered as Orthanc's configuration lists it. Static files are
        # collected as docs/deployment.md does before starting gunicorn.
        run_checked(
            [python, "manage.py", "remote_ae", "add", SCU_AE_TITLE, LOOPBACK,
             "104", "--ops", "store", "--no-move-destination"],
            work / "remote_ae.log", env, checkout,
        )  # fmt: skip
        run_checked(
            [python, "manage.py", "collectstatic", "--noinput"],
            work / "collectstatic.log", env, checkout,
        )  # fmt: skip
    # Kept for the viewer pages, which sign in with a session, not a token.
    admin_password = secrets.token_urlsafe(18)
    authorization = _bearer_token(env, work, checkout, admin_password)
    if production is None:
        web_argv = [
            python, "-m", "gunicorn", "pacsweb.wsgi:application",
            "--bind", f"{LOOPBACK}:{http_port}",
            "--workers", str(workers), "--threads", str(threads),
            "--timeout", "600",
        ]  # fmt: skip
    else:
        # The config file of the production image; it reads the address
        # and the worker counts from the environment set above.
        web_argv = [python, "-m", "gunicorn", "--config", "pacsweb/gunicorn.conf.py"]
    web = Child("pacsweb gunicorn", web_argv, work / "gunicorn.log", env, checkout)
    listener: Child | None = None
    worker: Child | None = None
    try:
        base = f"http://{LOOPBACK}:{http_port}"
        wait_until(web, lambda: _http_ok(base + "/healthz"), "/healthz")
        if production is not None:
            worker = _celery_worker(work, env, checkout, production)
        listener = Child(
            "pacsweb dicom_listener",
            [python, "manage.py", "dicom_listener"],
            work / "listener.log",
            env=env,
            cwd=checkout,
        )
        unavailable = ""
        try:
            wait_until(
                listener, lambda: echo(LOOPBACK, dicom_port, PACSWEB_AE_TITLE), "C-ECHO"
            )
        except StartError as exc:
            unavailable = (
                "`manage.py dicom_listener` did not answer C-ECHO: "
                + _last_line(str(exc))
            )
        target = Target(
            "pacsweb",
            base + "/dicomweb",
            LOOPBACK,
            None if unavailable else dicom_port,
            PACSWEB_AE_TITLE,
            dicom_unavailable=unavailable,
            authorization=authorization,
        )
        yield Running(
            target,
            versions={"pacsweb": _git_describe(checkout)},
            direct_fill=lambda paths: _pacsweb_direct_fill(env, work, checkout, paths),
            notes=[unavailable] if unavailable else [],
            viewer=(
                ViewerAccess(base, ADMIN_USERNAME, admin_password)
                if authorization
                else None
            ),
        )
    finally:
        if listener is not None:
            listener.stop()
        if worker is not None:
            worker.stop()
        web.stop()


CELERY_QUEUES = "celery,ingest,dimse,thumbnails"  # docs/deployment.md


def production_environment(
    production: Production, workers: int, threads: int
) -> dict[str, str]:
    return {
        "DATABASE_URL": production.database_url,
        "CELERY_BROKER_URL": production.broker_url,
        # Keep connections between requests, as a deployment would.
        "DATABASE_CONN_MAX_AGE": "60",
        "PACSWEB_PRODUCTION": "1",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "PACSWEB_HTTP_WORKERS": str(workers),
        "PACSWEB_HTTP_THREADS": str(threads),
    }


def _celery_worker(
    work: Path, env: dict[str, str], checkout: Path, production: Production
) -> Child:
    hostname = f"bench-{secrets.token_hex(3)}@{LOOPBACK}"
    worker = Child(
        "pacsweb celery worker",
        [sys.executable, "-m", "celery", "-A", "pacsweb", "worker",
         "--queues", CELERY_QUEUES, "--hostname", hostname,
         "--concurrency", str(production.celery_concurrency),
         "--without-gossip", "--without-mingle", "--loglevel", "WARNING"],
        work / "celery.log", env, checkout, group=True,
    )  # fmt: skip
    app = Celery(broker=production.broker_url)

    def answers() -> bool:
        try:
            return bool(app.control.ping([hostname], timeout=1.0))
        except RedisError:
            return False

    try:
        wait_until(worker, answers, "ping")
    except BaseException:
        worker.stop()
        raise
    finally:
        app.close()
    return worker


def _bearer_token(
    env: dict[str, str], work: Path, checkout: Path, admin_password: str
) -> str:
    """Once pacsweb has access control (apps.accounts' issue_token), the
    benchmark acts as the administrator through a bearer token, as a
    script would; before that, DICOMweb is open and no header is sent."""
    python = sys.executable
    listing = subprocess.run(
        [python, "manage.py", "help", "--commands"],
        capture_output=True, text=True, env=env, cwd=checkout,
    )  # fmt: skip
    if "issue_token" not in listing.stdout.split():
        return ""
    admin_env = {**env, "PACSWEB_ADMIN_PASSWORD": admin_password}
    run_checked(
        [python, "manage.py", "ensure_admin"], work / "token.log", admin_env, checkout
    )
    issued = subprocess.run(
        [python, "manage.py", "issue_token", ADMIN_USERNAME, "--expires-in", "86400"],
        capture_output=True, text=True, env=env, cwd=checkout,
    )  # fmt: skip
    lines = issued.stdout.strip().splitlines()
    if issued.returncode != 0 or not lines:
        raise StartError(f"issue_token failed: {issued.stderr.strip()[-300:]}")
    return "Bearer " + lines[-1].strip()


def _orthanc_rest_fill(base: str, paths: list[Path]) -> None:
    # Orthanc's own REST upload, one file per request.
    with requests.Session() as http:
        for path in paths:
            response = http.post(
                base + "/instances", data=path.read_bytes(), timeout=60
            )
            response.raise_for_status()


def _pacsweb_direct_fill(
    env: dict[str, str], work: Path, checkout: Path, paths: list[Path]
) -> None:
    # Calls the archive's ingest_file in a child process with the server's
    # settings, as the import command would.
    listing = work / "fill-list.txt"
    listing.write_text("\n".join(map(str, paths)))
    argv = [sys.executable, "-m", "bench.direct_ingest", str(listing)]
    # The archive code comes from the checkout under test, bench from here.
    run_checked(argv, work / "fill.log", {**env, "PYTHONPATH": str(REPO)}, checkout)


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1].strip() if lines else text


def _git_describe(checkout: Path) -> str:
    result = subprocess.run(
        ["git", "log", "-1", "--format=%h %cs"],
        capture_output=True,
        text=True,
        cwd=checkout,
    )
    return result.stdout.strip() or "unknown"
