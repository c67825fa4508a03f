"""A C-STORE cut off in the middle of its data set leaves no partial file
in the receiving area.

pynetdicom writes the incoming data set to a file it creates with
delete=False and forgets when the association ends mid-message; every
aborted transfer used to keep its bytes in storage/tmp until a sweep
after the grace period (an hour by default).
"""

import subprocess
import time

import pydicom
import pytest
from pydicom.uid import generate_uid

from apps.archive import storage
from apps.archive.models import Instance
from tests.conftest import sample
from tests.qr_peers import HOST, listener

pytestmark = pytest.mark.django_db(transaction=True)

# Large enough that storescu is still sending when it is killed.
BULK_BYTES = 64 * 1024 * 1024
WAIT_SECONDS = 20


def _receiving_files() -> list[str]:
    return sorted(p.name for p in storage.tmp_dir().glob("dimse-*"))


def _wait_for(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.002)
    return bool(condition())


def test_a_sender_killed_mid_data_set_leaves_no_partial_file(tmp_path):
    ds = pydicom.dcmread(sample("CT_small.dcm"))
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.add_new(0x00091010, "LO", "PACSWEB TEST")
    ds.add_new(0x00091011, "OB", bytes(BULK_BYTES))
    source = tmp_path / "big.dcm"
    ds.save_as(source)

    with listener() as port:
        sender = subprocess.Popen(
            ["storescu", "-aec", "PACSWEB", HOST, str(port), str(source)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            started = _wait_for(_receiving_files, WAIT_SECONDS)
        finally:
            sender.kill()
            sender.wait(WAIT_SECONDS)
        cleaned = _wait_for(lambda: not _receiving_files(), WAIT_SECONDS)

    assert started
    assert cleaned, _receiving_files()
    assert not Instance.objects.filter(sop_instance_uid=ds.SOPInstanceUID).exists()
