"""SIGKILL the listener in the middle of a stream of C-STOREs, restart it.

What was acknowledged must be there, intact; nothing half-written may be
referenced; the restart's sweep must leave no temporary or orphan file.
"""

import hashlib
import signal
import sqlite3
import sys
import threading
import time
from pathlib import Path

import pydicom
import pytest
from pydicom.uid import generate_uid
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage  # type: ignore[attr-defined]

from tests.conftest import sample
from tests.process_support import (
    environment,
    migrated_template,
    new_var_dir,
    start,
    stop,
    wait_for_line,
)

LISTENING = r"listening on 127\.0\.0\.1:(\d+)"
STREAMS = 2
PER_STREAM = 400
KILL_AFTER_ACKS = 40


@pytest.fixture(scope="session")
def database_template(tmp_path_factory, django_db_setup, django_db_blocker) -> Path:
    return migrated_template(tmp_path_factory.mktemp("template"), django_db_blocker)


def _stream(
    port: int, acknowledged: list[str], lock: threading.Lock, enough: threading.Event
) -> None:
    """Send new CT instances until the association dies; record successes."""
    template = pydicom.dcmread(sample("CT_small.dcm"))
    study_uid = generate_uid()
    ae = AE("CRASHSCU")
    # The listener is killed under this peer: notice it promptly.
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 2
    ae.add_requested_context(CTImageStorage, template.file_meta.TransferSyntaxUID)
    assoc = ae.associate("127.0.0.1", port, ae_title="PACSWEB")
    try:
        for _ in range(PER_STREAM):
            if not assoc.is_established:
                return
            template.StudyInstanceUID = study_uid
            template.SOPInstanceUID = generate_uid()
            template.file_meta.MediaStorageSOPInstanceUID = template.SOPInstanceUID
            status = assoc.send_c_store(template)
            if status.get("Status") == 0x0000:
                with lock:
                    acknowledged.append(str(template.SOPInstanceUID))
                    if len(acknowledged) >= KILL_AFTER_ACKS:
                        enough.set()
    finally:
        assoc.abort()
        ae.shutdown()


def _rows(var_dir: Path) -> dict[str, tuple[str, int, str]]:
    with sqlite3.connect(var_dir / "pacsweb.sqlite3") as db:
        rows = db.execute(
            "SELECT sop_instance_uid, storage_path, file_size, file_sha256 FROM archive_instance"
        ).fetchall()
    return {uid: (path, size, sha) for uid, path, size, sha in rows}


def _files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def test_acknowledged_instances_survive_a_sigkill_and_the_restart_cleans_up(
    tmp_path, database_template
):
    var_dir = new_var_dir(database_template, tmp_path / "var")
    env = environment(var_dir, PACSWEB_SWEEP_GRACE_SECONDS="0")
    command = [sys.executable, "manage.py", "dicom_listener", "--port", "0"]
    log = tmp_path / "listener.log"
    listener = start(command, env, log)
    port = int(wait_for_line(listener, log, LISTENING).group(1))

    acknowledged: list[str] = []
    lock, enough = threading.Lock(), threading.Event()
    streams = [
        threading.Thread(target=_stream, args=(port, acknowledged, lock, enough))
        for _ in range(STREAMS)
    ]
    for thread in streams:
        thread.start()
    # Generous: on a loaded machine 40 acknowledgements can take a while.
    enough.wait(timeout=180)
    listener.send_signal(signal.SIGKILL)
    listener.wait()
    for thread in streams:
        thread.join(timeout=30)
    with lock:
        acked = list(acknowledged)

    offset = log.stat().st_size
    restarted = start(command, env, log)
    try:
        wait_for_line(restarted, log, LISTENING, after=offset)
        rows = _rows(var_dir)
        storage_dir = var_dir / "storage"

        assert len(acked) >= KILL_AFTER_ACKS
        assert len(acked) < STREAMS * PER_STREAM, "the kill came after the stream ended"
        assert set(acked) <= set(rows)
        for uid, (relative, size, sha) in rows.items():
            data = (storage_dir / relative).read_bytes()
            assert len(data) == size, uid
            assert hashlib.sha256(data).hexdigest() == sha, uid
        assert _files(storage_dir / "tmp") == set()
        assert _files(storage_dir) == {relative for relative, _, _ in rows.values()}
    finally:
        assert stop(restarted) == 0


def test_the_running_listener_sweeps_what_an_aborted_receive_leaves(
    tmp_path, database_template
):
    var_dir = new_var_dir(database_template, tmp_path / "var")
    env = environment(var_dir, PACSWEB_SWEEP_GRACE_SECONDS="0")
    command = [
        sys.executable,
        "manage.py",
        "dicom_listener",
        "--port",
        "0",
        "--sweep-interval",
        "1",
    ]
    log = tmp_path / "listener.log"
    listener = start(command, env, log)
    try:
        wait_for_line(listener, log, LISTENING)
        leftover = var_dir / "storage" / "tmp" / "dimse-aborted.dcm"
        leftover.write_bytes(b"half a data set")

        deadline = time.monotonic() + 10
        while leftover.exists() and time.monotonic() < deadline:
            time.sleep(0.1)

        assert not leftover.exists()
    finally:
        assert stop(listener) == 0
