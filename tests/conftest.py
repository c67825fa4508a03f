import os
import shutil
from pathlib import Path

import pydicom.data
import pytest
from django.conf import settings as django_settings

# Fixtures of the browser tests (chromium, page), shared by their modules.
# Browser fixtures; personas, tokens and clients for access-control tests.
pytest_plugins = ["tests.browser_support", "tests.personas"]

PYDICOM_DATA = Path(pydicom.data.__file__).parent
TEST_FILES = PYDICOM_DATA / "test_files"
CHARSET_FILES = PYDICOM_DATA / "charset_files"


def sample(name: str) -> Path:
    """A real DICOM file shipped with pydicom or pydicom-data, by file name."""
    for folder in (TEST_FILES, CHARSET_FILES):
        path = folder / name
        if path.exists():
            return path
    # pydicom-data (requirements-dev.txt) holds the larger samples, found
    # through pydicom's external sources; never downloaded here.
    found = pydicom.data.get_testdata_file(name, download=False)
    if isinstance(found, str):
        return Path(found)
    raise FileNotFoundError(name)


def all_samples() -> list[Path]:
    return sorted(TEST_FILES.glob("*.dcm")) + sorted(CHARSET_FILES.glob("*.dcm"))


# Files pydicom ships that are not storable instances, with why. Everything
# else in all_samples() must be stored and come back byte-identical.
REJECTED_SAMPLES = {
    "ExplVR_BigEndNoMeta.dcm": "not a DICOM PS3.10 file",
    "ExplVR_LitEndNoMeta.dcm": "not a DICOM PS3.10 file",
    "no_meta.dcm": "not a DICOM PS3.10 file",
    "rtstruct.dcm": "not a DICOM PS3.10 file",
    "meta_missing_tsyntax.dcm": "not a DICOM PS3.10 file",
    "MR_truncated.dcm": "pixel data is truncated",
    "rtplan_truncated.dcm": "truncated",
    "chrSQEncoding.dcm": "StudyInstanceUID is missing",
    "chrSQEncoding1.dcm": "StudyInstanceUID is missing",
    "JPEGLSNearLossless_08.dcm": "StudyInstanceUID is missing",
    "JPEGLSNearLossless_16.dcm": "StudyInstanceUID is missing",
    "SC_rgb_jls_lossy_line.dcm": "StudyInstanceUID is missing",
    "SC_rgb_jls_lossy_sample.dcm": "StudyInstanceUID is missing",
    "UN_sequence.dcm": "StudyInstanceUID is missing",
    "empty_charset_LEI.dcm": "StudyInstanceUID is missing",
    "nested_priv_SQ.dcm": "StudyInstanceUID is missing",
    "priv_SQ.dcm": "StudyInstanceUID is missing",
    "no_meta_group_length.dcm": "StudyInstanceUID is missing",
}


def storable_samples() -> list[Path]:
    return [p for p in all_samples() if p.name not in REJECTED_SAMPLES]


# Tasks of this test process go to Redis keys of its own: the suite runs
# on several xdist workers, each with its own test database, so a worker
# started for one must never take the tasks of another.
if django_settings.BROKER_CONFIGURED:
    django_settings.CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"] = (
        f"pacsweb-test-{os.getpid()}:"
    )


@pytest.fixture(autouse=True)
def storage_dir(tmp_path: Path, settings) -> Path:
    """Every test gets its own empty store."""
    path = tmp_path / "storage"
    settings.PACSWEB_STORAGE_DIR = path
    return path


@pytest.fixture
def copy_sample(tmp_path: Path):
    def copy(name: str) -> Path:
        target = tmp_path / "in" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(sample(name), target)
        return target

    return copy


@pytest.fixture
def dicom_listener(transactional_db):
    """The DICOM listener, in this process on a free loopback port; its port.

    Handlers run in the listener's threads with their own database
    connections, hence the committed (transactional) test database.
    """
    from apps.dimse.listener import Listener

    listener = Listener(host="127.0.0.1", port=0)
    _, port = listener.start()
    yield port
    listener.stop(grace_seconds=5)


@pytest.fixture
def task_worker(transactional_db, settings, storage_dir: Path, tmp_path: Path):
    """Where tasks run: a real `celery worker` when a broker is configured.

    With a broker configured (CELERY_BROKER_URL), a worker process is started on the test
    database and this test's store (the database is transactional, so the
    worker sees committed rows) and stopped by PID afterwards; the fixture
    gives it. Without a broker, tasks run in the test process and the
    fixture gives None.
    """
    # Committed rows either way (transactional_db, named in the signature so
    # that it wins over a module's plain django_db mark): ingest sends its
    # signals, and so enqueues tasks, from transaction.on_commit.
    if not settings.BROKER_CONFIGURED:
        yield None
        return
    from tests.celery_support import celery_worker, purge_queues

    purge_queues()
    with celery_worker(storage_dir, tmp_path) as worker:
        yield worker
