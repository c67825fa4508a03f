import os
import time
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apps.archive import storage
from apps.archive.ingest import ingest_file
from apps.archive.maintenance import sweep
from apps.archive.models import Instance
from tests.conftest import sample

pytestmark = pytest.mark.django_db

HOUR = 3600


def _age(path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def _orphan(name: str = "ab/cd/orphan.dcm"):
    path = storage.root() / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"left by a crash")
    return path


def test_it_removes_old_temporary_and_orphan_files_and_keeps_stored_ones():
    ingest_file(sample("CT_small.dcm"))
    stored = storage.absolute(Instance.objects.get().storage_path)
    _age(stored, 2 * HOUR)
    handle, temp = storage.new_temp_file()
    handle.close()
    _age(temp, 2 * HOUR)
    orphan = _orphan()
    _age(orphan, 2 * HOUR)

    report = sweep(HOUR)

    assert report.temp_removed == [temp]
    assert report.orphans_removed == ["ab/cd/orphan.dcm"]
    assert report.damaged == []
    assert not temp.exists() and not orphan.exists()
    assert stored.read_bytes() == sample("CT_small.dcm").read_bytes()


def test_it_leaves_young_files_that_may_belong_to_an_ingest_in_flight():
    handle, temp = storage.new_temp_file()
    handle.close()
    orphan = _orphan()

    report = sweep(HOUR)

    assert (report.temp_removed, report.orphans_removed) == ([], [])
    assert temp.exists() and orphan.exists()


def test_it_reports_rows_whose_file_is_missing_or_has_the_wrong_size():
    ingest_file(sample("CT_small.dcm"))
    ingest_file(sample("MR_small.dcm"))
    ct, mr = Instance.objects.order_by("sop_instance_uid")
    storage.absolute(ct.storage_path).unlink()
    with open(storage.absolute(mr.storage_path), "r+b") as handle:
        handle.truncate(100)

    report = sweep(HOUR)

    assert [(d.sop_instance_uid, d.problem) for d in report.damaged] == [
        (ct.sop_instance_uid, "is missing"),
        (mr.sop_instance_uid, f"has 100 bytes, {mr.file_size} recorded"),
    ]
    assert Instance.objects.count() == 2


def test_the_command_prints_a_summary_and_fails_on_damaged_rows():
    ingest_file(sample("CT_small.dcm"))
    storage.absolute(Instance.objects.get().storage_path).unlink()
    out = StringIO()

    with pytest.raises(CommandError, match="missing or damaged"):
        call_command("sweep_storage", "--grace", "0", stdout=out)

    assert (
        "0 temporary and 0 orphan files removed, 1 instances with a missing or damaged file"
        in out.getvalue()
    )


def test_the_periodic_task_runs_the_sweep_and_returns_its_summary():
    from apps.archive.tasks import sweep_storage

    orphan = _orphan()
    _age(orphan, 2 * HOUR)

    summary = sweep_storage()

    assert (
        summary
        == "storage sweep: 0 temporary and 1 orphan files removed, 0 instances with a missing or damaged file"
    )
    assert not orphan.exists()
