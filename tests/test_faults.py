"""Jobs survive a killed worker, a Redis restart and a database outage.

Everything runs on a PostgreSQL and a Redis that this test starts itself
on free ports (tests/services_support.py), with a real `celery worker`
and a gunicorn web process, as a deployment runs them. The work is a
stream of import_file tasks for one study, so the study's counters show
whether any instance was counted twice.
"""

import os
import signal
import time
from pathlib import Path

import psycopg
import pydicom
import pytest
import requests
from celery import Celery
from pydicom.uid import generate_uid

from tests.celery_support import celery_worker, wait_until
from tests.conftest import sample
from tests.multipart_bodies import STOW_CONTENT_TYPE, files_body
from tests.services_support import (
    admin_token,
    available,
    gunicorn,
    migrate,
    own_postgres,
    own_redis,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(bool(available()), reason=available() or "available"),
]

FILES = 30
STUDY_UID = generate_uid()
SERIES_UID = generate_uid()


def _instances(folder: Path) -> list[Path]:
    """FILES copies of a real CT image, one study and series, new SOP UIDs."""
    folder.mkdir()
    paths = []
    for number in range(1, FILES + 1):
        ds = pydicom.dcmread(sample("CT_small.dcm"))
        ds.StudyInstanceUID, ds.SeriesInstanceUID = STUDY_UID, SERIES_UID
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.InstanceNumber = number
        path = folder / f"{number:03}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def _query(url: str, sql: str) -> list[tuple]:
    with psycopg.connect(url, connect_timeout=5) as conn:
        return conn.execute(sql).fetchall()


def _count(url: str) -> int:
    try:
        return _query(url, "SELECT count(*) FROM archive_instance")[0][0]
    except psycopg.OperationalError:
        return -1  # the database is down for a moment


def test_jobs_finish_once_after_a_killed_worker_a_redis_restart_and_a_db_outage(
    tmp_path: Path,
):
    paths = _instances(tmp_path / "in")
    storage_dir = tmp_path / "storage"
    with own_postgres() as pg, own_redis() as redis:
        pg.create_database("pacsweb_fault")
        db = pg.url("pacsweb_fault")
        env = {
            **os.environ,
            "DATABASE_URL": db,
            "CELERY_BROKER_URL": redis.url,
            "PACSWEB_VAR_DIR": str(tmp_path / "var"),
            "PACSWEB_STORAGE_DIR": str(storage_dir),
            # Unacknowledged tasks of a dead worker come back after this.
            "CELERY_VISIBILITY_TIMEOUT": "5",
            "PACSWEB_TASK_RETRY_BACKOFF": "1",
            "DATABASE_CONNECT_TIMEOUT": "2",
        }
        migrate(env)
        auth = {"Authorization": f"Bearer {admin_token(env)}"}
        sender = Celery(broker=redis.url)
        for path in paths:
            sender.send_task(
                "apps.archive.tasks.import_file", args=[str(path)], queue="ingest"
            )
        worker_env = {k: env[k] for k in env if k.startswith(("CELERY_", "PACSWEB_"))}

        # 1. A worker killed (SIGKILL) in the middle of the stream.
        with celery_worker(
            storage_dir, tmp_path, database=db, broker_url=redis.url, env=worker_env
        ) as first:
            wait_until(lambda: _count(db) >= FILES // 4, timeout=120, step=0.05)
            os.kill(first.pid, signal.SIGKILL)
            first.process.wait()
        killed_at = _count(db)

        # 2. Redis restarted while tasks are still queued.
        redis.stop()
        redis.start()

        with (
            celery_worker(
                storage_dir, tmp_path, database=db, broker_url=redis.url, env=worker_env
            ) as second,
            gunicorn(env, tmp_path / "gunicorn.log") as web,
        ):
            wait_until(lambda: _count(db) >= FILES // 2, timeout=120, step=0.05)

            # 3. PostgreSQL down for a few seconds: ingest answers 503
            # promptly, tasks retry with backoff.
            pg.stop()
            started = time.monotonic()
            during = requests.post(
                f"{web.url}/dicomweb/studies",
                data=files_body([sample("MR_small.dcm")]),
                headers={"Content-Type": STOW_CONTENT_TYPE, **auth},
                timeout=60,
            )
            answered_in = time.monotonic() - started
            time.sleep(3)
            pg.start()

            wait_until(lambda: _count(db) >= FILES, timeout=180, step=0.2)
            after = requests.post(
                f"{web.url}/dicomweb/studies",
                data=files_body([sample("MR_small.dcm")]),
                headers={"Content-Type": STOW_CONTENT_TYPE, **auth},
                timeout=60,
            )
            second_log = second.log()

        rows = _query(
            db,
            "SELECT i.sop_instance_uid, i.storage_path, i.file_size FROM archive_instance i"
            " JOIN archive_series s ON s.id = i.series_id"
            f" WHERE s.series_instance_uid = '{SERIES_UID}'",
        )
        all_paths = {
            path for (path,) in _query(db, "SELECT storage_path FROM archive_instance")
        }
        counters = _query(
            db,
            "SELECT number_of_series, number_of_instances FROM archive_study"
            f" WHERE study_instance_uid = '{STUDY_UID}'",
        )

    expected = {
        pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID for p in paths
    }
    stored = {
        p.relative_to(storage_dir).as_posix()
        for p in storage_dir.rglob("*.dcm")
        if p.relative_to(storage_dir).parts[0] != "tmp"
    }
    assert 0 < killed_at < FILES
    assert during.status_code == 503 and during.headers["Retry-After"] == "30"
    assert answered_in < 20
    assert after.status_code == 200
    assert {uid for uid, _, _ in rows} == expected and len(rows) == FILES
    assert counters == [(1, FILES)]  # nothing counted twice
    for _, path, size in rows:
        assert (storage_dir / path).stat().st_size == size
    # A task killed between placing its file and committing its row leaves
    # at most that one file behind, for the storage sweep to remove.
    assert len(all_paths) == FILES + 1  # and the MR stored after recovery
    assert all_paths <= stored
    assert len(stored - all_paths) <= 1
    assert "import_file" in second_log  # the second worker did part of it
