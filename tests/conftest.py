import shutil
from pathlib import Path

import pydicom.data
import pytest

# Fixtures of the browser tests (chromium, page), shared by their modules.
# Browser fixtures; personas, tokens and clients for access-control tests.
pytest_plugins = ["tests.browser_support", "tests.personas"]

PYDICOM_DATA = Path(pydicom.data.__file__).parent
TEST_FILES = PYDICOM_DATA / "test_files"
CHARSET_FILES = PYDICOM_DATA / "charset_files"


def sample(name: str) -> Path:
    """A real DICOM file shipped with pydicom, by file name."""
    for folder in (TEST_FILES, CHARSET_FILES):
        path = folder / name
        if path.exists():
            return path
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
