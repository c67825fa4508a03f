"""Two web processes and the DICOM listener store the same studies at once.

Each process is started as a deployment starts it (gunicorn with
pacsweb/gunicorn.conf.py; `manage.py dicom_listener`) on the test
database, committed (transactional), so that every process sees the
others' rows. STOW-RS to both web processes and C-STORE to the listener
send the same instances in different orders, all at the same time.
"""

import io
import os
import random
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pydicom
import pytest
import requests
from django.db import connection
from pydicom.uid import generate_uid

from apps.archive import storage
from apps.archive.models import Instance, Patient, Series, Study
from tests.celery_support import database_url
from tests.conftest import sample
from tests.dimse_support import responses, storescu
from tests.multipart_bodies import STOW_CONTENT_TYPE, files_body, split_response
from tests.personas import make_token, make_user
from tests.process_support import start, stop, wait_for_line
from tests.services_support import gunicorn

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

STUDIES, SERIES_PER_STUDY, INSTANCES_PER_SERIES = 2, 2, 6
ANY_DICOM = 'multipart/related; type="application/dicom"; transfer-syntax=*'


def _dataset_files(folder: Path) -> dict[str, Path]:
    """One patient's studies made from a real CT image; SOP UID -> file."""
    folder.mkdir()
    files = {}
    for _ in range(STUDIES):
        study = generate_uid()
        for _ in range(SERIES_PER_STUDY):
            series = generate_uid()
            for number in range(1, INSTANCES_PER_SERIES + 1):
                ds = pydicom.dcmread(sample("CT_small.dcm"))
                ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
                ds.SOPInstanceUID = generate_uid()
                ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
                ds.InstanceNumber = number
                path = folder / f"{len(files):03}.dcm"
                ds.save_as(path, enforce_file_format=True)
                files[ds.SOPInstanceUID] = path
    return files


def _identity_and_pixels(source) -> tuple[str, str, str, bytes]:
    ds = pydicom.dcmread(source)
    return ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID, ds.PixelData


def _stow(url: str, paths: list[Path], token: str) -> set[str]:
    """Store in requests of three parts; the SOP UIDs acknowledged."""
    acknowledged = set()
    for start_at in range(0, len(paths), 3):
        response = requests.post(
            f"{url}/dicomweb/studies",
            data=files_body(paths[start_at : start_at + 3]),
            headers={
                "Content-Type": STOW_CONTENT_TYPE,
                "Accept": "application/dicom+json",
                "Authorization": f"Bearer {token}",
            },
            timeout=120,
        )
        assert response.status_code == 200, response.text[:500]
        for item in response.json()["00081199"]["Value"]:
            acknowledged.add(item["00081155"]["Value"][0])
    return acknowledged


def _c_store(port: int, paths: list[Path], workdir: Path) -> int:
    result = storescu(port, paths, workdir)
    statuses = responses(result)
    assert result.returncode == 0, result.stderr[-2000:]
    return sum(1 for status in statuses if status.startswith("Success"))


def test_two_web_processes_and_the_listener_store_each_instance_once(
    tmp_path: Path, storage_dir: Path
):
    files = _dataset_files(tmp_path / "in")
    paths = list(files.values())
    # Committed (transactional test), so the web processes see the token.
    token = make_token(make_user("archivist", "archive-admin"), "read store")
    env = {
        **os.environ,
        "DATABASE_URL": database_url(connection.settings_dict),
        "PACSWEB_STORAGE_DIR": str(storage_dir),
        "PACSWEB_VAR_DIR": str(tmp_path / "var"),
    }
    env.pop("CELERY_BROKER_URL", None)  # no task traffic to a shared broker
    listener_log = tmp_path / "listener.log"
    listener = start(
        [sys.executable, "manage.py", "dicom_listener", "--port", "0", "--no-sweep"],
        env,
        listener_log,
    )
    try:
        port = int(
            wait_for_line(listener, listener_log, r"listening on \S+:(\d+)").group(1)
        )
        with (
            gunicorn(env, tmp_path / "web1.log") as web1,
            gunicorn(env, tmp_path / "web2.log") as web2,
            ThreadPoolExecutor(max_workers=3) as pool,
        ):
            shuffled = random.Random(6).sample(paths, len(paths))
            stow1 = pool.submit(_stow, web1.url, paths, token)
            stow2 = pool.submit(_stow, web2.url, list(reversed(paths)), token)
            c_stores = pool.submit(_c_store, port, shuffled, tmp_path)
            acknowledged = stow1.result() | stow2.result()
            c_store_successes = c_stores.result()

            retrieved = {}
            for sop_uid in files:
                instance = Instance.objects.select_related("series__study").get(
                    sop_instance_uid=sop_uid
                )
                response = requests.get(
                    f"{web2.url}/dicomweb/studies/{instance.series.study.study_instance_uid}"
                    f"/series/{instance.series.series_instance_uid}/instances/{sop_uid}",
                    headers={"Accept": ANY_DICOM, "Authorization": f"Bearer {token}"},
                    timeout=60,
                )
                [(_, data)] = split_response(
                    response.content, response.headers["Content-Type"]
                )
                # Identity and pixels, not file bytes: C-STORE carries no
                # preamble and dcmtk drops trailing padding, so the copy
                # that won the race decides the exact bytes.
                retrieved[sop_uid] = _identity_and_pixels(io.BytesIO(data))
    finally:
        stop(listener)

    total = STUDIES * SERIES_PER_STUDY * INSTANCES_PER_SERIES
    assert acknowledged == set(files)
    assert c_store_successes == total
    assert (Patient.objects.count(), Study.objects.count()) == (1, STUDIES)
    assert Series.objects.count() == STUDIES * SERIES_PER_STUDY
    assert Instance.objects.count() == total
    assert Patient.objects.get().number_of_studies == STUDIES
    assert (
        sorted(Study.objects.values_list("number_of_series", "number_of_instances"))
        == [(SERIES_PER_STUDY, SERIES_PER_STUDY * INSTANCES_PER_SERIES)] * STUDIES
    )
    assert set(Series.objects.values_list("number_of_instances", flat=True)) == {
        INSTANCES_PER_SERIES
    }
    assert set(Study.objects.values_list("modalities_in_study", flat=True)) == {"CT"}
    assert retrieved == {uid: _identity_and_pixels(path) for uid, path in files.items()}
    assert set(storage.all_stored()) == set(
        Instance.objects.values_list("storage_path", flat=True)
    )
    assert [p for p in storage.tmp_dir().iterdir()] == []
