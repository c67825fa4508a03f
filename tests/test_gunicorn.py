"""STOW-RS and WADO-RS through a real gunicorn process: chunked and large bodies."""

import hashlib
import io
import json
import logging
import os
import re
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pydicom
import pytest
import requests

from tests.conftest import sample
from tests.multipart_bodies import (
    BOUNDARY,
    STOW_CONTENT_TYPE,
    files_body,
    split_response,
)

BASE_DIR = Path(__file__).resolve().parent.parent
ANY_DICOM = 'multipart/related; type="application/dicom"; transfer-syntax=*'
MIB = 1024 * 1024

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Server:
    url: str
    worker_pid: int
    var_dir: Path
    # Carries an administrator's bearer token (the security guard's 401
    # is tested in tests/test_auth_*.py).
    session: requests.Session


@pytest.fixture(scope="module")
def gunicorn(tmp_path_factory) -> Iterator[Server]:
    var_dir = tmp_path_factory.mktemp("gunicorn-var")
    # Its own SQLite database and store, whatever the suite itself runs on.
    env = {
        **os.environ,
        "PACSWEB_VAR_DIR": str(var_dir),
        "DATABASE_URL": f"sqlite:///{var_dir / 'pacsweb.sqlite3'}",
    }
    env.pop("PACSWEB_STORAGE_DIR", None)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=BASE_DIR,
        env=env,
        check=True,
        capture_output=True,
    )
    session = _admin_session(env)
    log_path = var_dir / "gunicorn.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "pacsweb.wsgi:application",
                "--bind",
                "127.0.0.1:0",
                "--workers",
                "1",
                "--timeout",
                "600",
            ],
            cwd=BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        url, worker_pid = _wait_until_listening(log_path, process)
        yield Server(url, worker_pid, var_dir, session)
    finally:
        process.terminate()
        process.wait(timeout=30)


def _admin_session(env: dict[str, str]) -> requests.Session:
    admin_env = {**env, "PACSWEB_ADMIN_PASSWORD": "gunicorn-test-admin-passphrase"}
    for command in (["ensure_admin"], ["issue_token", "admin"]):
        done = subprocess.run(
            [sys.executable, "manage.py", *command],
            cwd=BASE_DIR,
            env=admin_env,
            check=True,
            capture_output=True,
            text=True,
        )
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {done.stdout.strip()}"
    return session


def _wait_until_listening(log_path: Path, process: subprocess.Popen) -> tuple[str, int]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        text = log_path.read_text(errors="replace")
        listening = re.search(r"Listening at: (http://127\.0\.0\.1:\d+)", text)
        worker = re.search(r"Booting worker with pid: (\d+)", text)
        if listening and worker:
            return listening.group(1), int(worker.group(1))
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited:\n{text}")
        time.sleep(0.1)
    raise RuntimeError(f"gunicorn did not start:\n{log_path.read_text()}")


def _peak_rss(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) * 1024


def _chunks(data: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def test_it_stores_a_chunked_request_body(gunicorn: Server):
    data = files_body([sample("CT_small.dcm"), sample("chrH31.dcm")])

    # A generator body makes requests send Transfer-Encoding: chunked.
    response = gunicorn.session.post(
        f"{gunicorn.url}/dicomweb/studies",
        data=_chunks(data),
        headers={"Content-Type": STOW_CONTENT_TYPE},
        timeout=60,
    )

    assert response.request.headers["Transfer-Encoding"] == "chunked"
    assert "Content-Length" not in response.request.headers
    assert response.status_code == 200
    referenced = response.json()["00081199"]["Value"]
    urls = [item["00081190"]["Value"][0] for item in referenced]
    assert [url.rsplit("/", 1)[1] for url in urls] == [
        pydicom.dcmread(sample(name)).SOPInstanceUID
        for name in ("CT_small.dcm", "chrH31.dcm")
    ]
    assert urls[0].startswith(f"{gunicorn.url}/dicomweb/studies/")
    retrieved = gunicorn.session.get(urls[0], headers={"Accept": ANY_DICOM}, timeout=60)
    [(_, body)] = split_response(retrieved.content, retrieved.headers["Content-Type"])
    assert body == sample("CT_small.dcm").read_bytes()


def test_it_refuses_a_chunked_body_with_a_wrong_boundary(gunicorn: Server):
    data = files_body([sample("MR_small.dcm")], boundary="not-" + BOUNDARY)

    response = gunicorn.session.post(
        f"{gunicorn.url}/dicomweb/studies",
        data=_chunks(data),
        headers={"Content-Type": STOW_CONTENT_TYPE},
        timeout=60,
    )

    assert response.status_code == 400
    assert "no part delimited by the boundary" in response.json()["reason"]
    sop = pydicom.dcmread(sample("MR_small.dcm")).SOPInstanceUID
    study = pydicom.dcmread(sample("MR_small.dcm")).StudyInstanceUID
    missing = gunicorn.session.get(
        f"{gunicorn.url}/dicomweb/studies/{study}/metadata", timeout=60
    )
    assert missing.status_code == 404
    assert (
        gunicorn.session.get(
            f"{gunicorn.url}/dicomweb/studies/{study}/series/x", timeout=60
        ).status_code
        == 400
    )
    assert sop not in json.dumps(missing.json())


def _large_instance_header(pixel_bytes: int) -> bytes:
    """CT_small's header declaring `pixel_bytes` of pixel data, without them."""
    ds = pydicom.dcmread(sample("CT_small.dcm"))
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = (
        "1.2.826.0.1.3680043.10.1.300"
    )
    ds.SeriesInstanceUID = "1.2.826.0.1.3680043.10.2.300"
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.10.3.300"
    ds.Rows, ds.Columns = 10240, pixel_bytes // (10240 * 2)
    ds.PixelData = b"\0\0\0\0"
    ds["PixelData"].VR = "OW"
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    encoded = out.getvalue()
    # Explicit VR OW: tag, VR, 2 reserved bytes, 4-byte length, value.
    return encoded[:-8] + struct.pack("<I", pixel_bytes)


@pytest.mark.slow
def test_a_300_mb_body_streams_through_a_worker_without_holding_it(gunicorn: Server):
    pixel_bytes = 300 * MIB
    header = _large_instance_header(pixel_bytes)
    block = bytes(range(256)) * 4096
    sent = hashlib.sha256(header)

    def body() -> Iterator[bytes]:
        yield (
            f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode() + header
        )
        for _ in range(pixel_bytes // len(block)):
            sent.update(block)
            yield block
        yield f"\r\n--{BOUNDARY}--\r\n".encode()

    # The worker loads Django on its first request: warm it up so that the
    # baseline is a worker that has served, not a bare process.
    assert (
        gunicorn.session.get(f"{gunicorn.url}/healthz", timeout=60).status_code == 200
    )
    baseline = _peak_rss(gunicorn.worker_pid)
    started = time.monotonic()
    stored = gunicorn.session.post(
        f"{gunicorn.url}/dicomweb/studies",
        data=body(),
        headers={"Content-Type": STOW_CONTENT_TYPE},
        timeout=600,
    )
    store_seconds = time.monotonic() - started
    url = stored.json()["00081199"]["Value"][0]["00081190"]["Value"][0]
    started = time.monotonic()
    with gunicorn.session.get(
        url, headers={"Accept": ANY_DICOM}, stream=True, timeout=600
    ) as response:
        received = _single_part_digest(response)
    retrieve_seconds = time.monotonic() - started
    peak = _peak_rss(gunicorn.worker_pid)

    logger.info(
        "300 MiB STOW-RS (chunked) %.1f s, WADO-RS %.1f s, worker peak RSS %d MiB before, %d MiB after",
        store_seconds,
        retrieve_seconds,
        baseline // MIB,
        peak // MIB,
    )
    assert stored.status_code == 200
    assert stored.request.headers["Transfer-Encoding"] == "chunked"
    assert received == sent.hexdigest()
    assert peak < 200 * MIB
    assert list((gunicorn.var_dir / "storage" / "tmp").iterdir()) == []


def _single_part_digest(response: requests.Response) -> str:
    """SHA-256 of the one part of a streamed multipart response."""
    boundary = response.headers["Content-Type"].rsplit("boundary=", 1)[1].strip('"')
    trailer = len(f"\r\n--{boundary}--\r\n")
    digest = hashlib.sha256()
    pending = b""
    in_body = False
    for chunk in response.iter_content(MIB):
        pending += chunk
        if not in_body:
            end = pending.find(b"\r\n\r\n")
            if end < 0:
                continue
            pending, in_body = pending[end + 4 :], True
        # Hold back what may be the closing delimiter.
        digest.update(pending[:-trailer])
        pending = pending[-trailer:]
    return digest.hexdigest()
