"""`make run` (python -m pacsweb.run): start, serve, stop, and fail together."""

import json
import os
import signal
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.dimse_support import echoscu
from tests.process_support import (
    environment,
    free_port,
    migrated_template,
    new_var_dir,
    start,
    stop,
    wait_for_line,
)


@pytest.fixture
def pacsweb(tmp_path, django_db_setup, django_db_blocker):
    var_dir = new_var_dir(
        migrated_template(tmp_path / "template", django_db_blocker), tmp_path / "var"
    )
    http_port, dicom_port = free_port(), free_port()
    env = environment(
        var_dir, PACSWEB_HTTP_PORT=str(http_port), PACSWEB_DICOM_PORT=str(dicom_port)
    )
    log = tmp_path / "run.log"
    process = start([sys.executable, "-m", "pacsweb.run"], env, log)
    wait_for_line(process, log, r"listening on 127\.0\.0\.1")
    wait_for_line(process, log, r"Booting worker")
    yield process, log, http_port, dicom_port
    if process.poll() is None:
        stop(process)


def _children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(child) for child in text.split()]


def _cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")


def _health(port: int) -> dict:
    with urllib.request.urlopen(
        f"http://127.0.0.1:{port}/healthz", timeout=10
    ) as response:
        return json.loads(response.read())


def test_it_serves_web_and_dicom_and_stops_cleanly_on_sigint(pacsweb):
    process, log, http_port, dicom_port = pacsweb

    health = _health(http_port)
    echo = echoscu(dicom_port)
    process.send_signal(signal.SIGINT)
    code = process.wait(timeout=60)

    assert health == {"status": "ok", "checks": {"database": True, "storage": True}}
    assert echo.returncode == 0, echo.stderr
    assert code == 0
    output = log.read_text()
    assert f"web          http://127.0.0.1:{http_port}/" in output
    assert f"DICOM        AE PACSWEB at 127.0.0.1:{dicom_port}" in output
    assert "stopping the DICOM listener" in output
    assert "0 temporary and 0 orphan files removed" in output


def test_it_stops_the_others_when_one_child_dies(pacsweb):
    process, log, http_port, _ = pacsweb
    listener = next(
        pid for pid in _children(process.pid) if "dicom_listener" in _cmdline(pid)
    )

    os.kill(listener, signal.SIGKILL)
    code = process.wait(timeout=60)

    assert code == 1
    assert (
        "the DICOM listener process exited with code -9; stopping the others"
        in log.read_text()
    )
    with pytest.raises(OSError):
        _health(http_port)
