"""STOW-RS requests of several parts: rows committed in groups, one savepoint
per part (apps/archive/ingest.py, ingest_files).

A part that fails, before the database step or inside it, fails alone; the
others are stored with the counters they would have had one by one; a crash
between placing the files and the commit leaves no row, and the sweep
removes the files.
"""

import io
import json
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pydicom
import pytest
from django.db import OperationalError
from pydicom.uid import generate_uid

from apps.archive import ingest, rows, signals, storage
from apps.archive.ingest import IngestError, IngestResult, Outcome, ingest_files
from apps.archive.models import Instance, Patient, Series, Study
from apps.dimse import forwarding
from apps.dimse.models import ForwardRule, PendingForward, RemoteAE
from tests.conftest import sample
from tests.multipart_bodies import STOW_CONTENT_TYPE, body
from tests.process_support import BASE_DIR, environment, migrated_template

pytestmark = pytest.mark.django_db

CT_CLASS = "1.2.840.10008.5.1.4.1.1.2"
CANNOT_UNDERSTAND = 0xC000
DOES_NOT_MATCH = 0xA900
DUPLICATE = 0x0111


def _ct(study: str, series: str, number: int, sop: str | None = None) -> bytes:
    """CT_small under new identities, as a PS3.10 file."""
    ds = pydicom.dcmread(sample("CT_small.dcm"))
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
    ds.SOPInstanceUID = sop or generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.InstanceNumber = number
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def _sop(data: bytes) -> str:
    return str(pydicom.dcmread(io.BytesIO(data)).SOPInstanceUID)


def _post(client, parts: list[bytes]):
    return client.post(
        "/dicomweb/studies", data=body(parts), content_type=STOW_CONTENT_TYPE
    )


def _referenced(payload: dict) -> list[str]:
    return [
        item["00081155"]["Value"][0]
        for item in payload.get("00081199", {}).get("Value", [])
    ]


def _failed(payload: dict) -> list[tuple[str | None, int]]:
    return [
        (item["00081155"].get("Value", [None])[0], item["00081197"]["Value"][0])
        for item in payload.get("00081198", {}).get("Value", [])
    ]


def _series_elsewhere() -> tuple[bytes, str]:
    """A part for a new study whose series already belongs to another study;
    it fails inside the database step, after its study row was created."""
    held_study, held_series = generate_uid(), generate_uid()
    ingest_files([_spool(_ct(held_study, held_series, 1))], owned=True)
    new_study = generate_uid()
    return _ct(new_study, held_series, 2), new_study


def _spool(data: bytes) -> Path:
    return storage.spool([data])


@pytest.mark.parametrize("bad", ["unreadable", "series of another study"])
def test_a_bad_third_part_of_five_fails_alone(archive_client, bad: str):
    study, series = generate_uid(), generate_uid()
    good = [_ct(study, series, n) for n in (1, 2, 4, 5)]
    if bad == "unreadable":
        third, third_sop, status, refused_study = b"not DICOM", None, 0xC000, None
    else:
        third, refused_study = _series_elsewhere()
        third_sop, status = _sop(third), DOES_NOT_MATCH
    files_before = len(list(storage.all_stored()))

    response = _post(archive_client, [good[0], good[1], third, good[2], good[3]])

    assert response.status_code == 202
    payload = json.loads(response.content)
    assert _referenced(payload) == [_sop(part) for part in good]
    assert _failed(payload) == [(third_sop, status)]
    assert response["Warning"].startswith('299 pacsweb "part 3: ')
    stored = Study.objects.get(study_instance_uid=study)
    assert (stored.number_of_instances, stored.number_of_series) == (4, 1)
    assert Series.objects.get(series_instance_uid=series).number_of_instances == 4
    assert not Study.objects.filter(study_instance_uid=refused_study).exists()
    assert len(list(storage.all_stored())) == files_before + 4
    assert list(storage.tmp_dir().iterdir()) == []


def test_groups_of_a_long_request_keep_every_counter(archive_client, monkeypatch):
    monkeypatch.setattr(ingest, "GROUP_SIZE", 2)
    study, first, second = generate_uid(), generate_uid(), generate_uid()
    parts = [_ct(study, first, n) for n in (1, 2, 3)]
    parts += [_ct(study, second, n) for n in (1, 2)]

    response = _post(archive_client, parts)

    assert response.status_code == 200
    assert _referenced(json.loads(response.content)) == [_sop(p) for p in parts]
    stored = Study.objects.get(study_instance_uid=study)
    assert (stored.number_of_instances, stored.number_of_series) == (5, 2)
    assert stored.modalities_in_study == "CT"
    assert Patient.objects.get(pk=stored.patient_id).number_of_studies == 1
    assert {
        s.series_instance_uid: s.number_of_instances for s in Series.objects.all()
    } == {first: 3, second: 2}
    assert len(list(storage.all_stored())) == 5


def test_the_same_instance_twice_in_one_request_is_stored_once(archive_client):
    part = _ct(generate_uid(), generate_uid(), 1)

    response = _post(archive_client, [part, part])

    assert response.status_code == 200
    assert _referenced(json.loads(response.content)) == [_sop(part)] * 2
    assert Instance.objects.count() == 1
    assert Series.objects.get().number_of_instances == 1
    assert len(list(storage.all_stored())) == 1


def test_the_same_instance_twice_fails_the_second_under_reject(
    archive_client, settings
):
    settings.PACSWEB_DUPLICATE_POLICY = "reject"
    part = _ct(generate_uid(), generate_uid(), 1)

    response = _post(archive_client, [part, part])

    assert response.status_code == 202
    payload = json.loads(response.content)
    assert _referenced(payload) == [_sop(part)]
    assert _failed(payload) == [(_sop(part), DUPLICATE)]
    assert Study.objects.get().number_of_instances == 1
    assert len(list(storage.all_stored())) == 1


def test_an_overwrite_in_a_group_replaces_the_stored_copy(archive_client, settings):
    settings.PACSWEB_DUPLICATE_POLICY = "overwrite"
    study, series = generate_uid(), generate_uid()
    held = _ct(study, series, 1)
    _post(archive_client, [held])
    old_path = Instance.objects.get().storage_path

    response = _post(archive_client, [_ct(study, series, 2), held])

    assert response.status_code == 200
    assert Instance.objects.count() == 2
    assert Instance.objects.get(sop_instance_uid=_sop(held)).storage_path != old_path
    assert old_path not in set(storage.all_stored())
    assert len(list(storage.all_stored())) == 2
    stored = Study.objects.get()
    assert (stored.number_of_instances, stored.number_of_series) == (2, 1)
    assert Series.objects.get().number_of_instances == 2


def test_a_group_that_fails_whole_is_committed_one_by_one(monkeypatch):
    calls = []
    apply = rows.Counts.apply

    def fail_once(self):
        calls.append(self)
        if len(calls) == 1:
            raise OperationalError("deadlock detected")
        apply(self)

    monkeypatch.setattr(rows.Counts, "apply", fail_once)
    study, series = generate_uid(), generate_uid()
    parts = [_ct(study, series, n) for n in (1, 2, 3)]

    results = ingest_files([_spool(p) for p in parts], owned=True)

    assert [r.outcome for r in results if isinstance(r, IngestResult)] == [
        Outcome.STORED
    ] * 3
    assert len(calls) == 4  # the failed group, then one per instance
    stored = Study.objects.get()
    assert (stored.number_of_instances, stored.number_of_series) == (3, 1)
    assert Series.objects.get().number_of_instances == 3
    assert len(list(storage.all_stored())) == 3


def test_results_keep_the_order_of_the_files(monkeypatch):
    monkeypatch.setattr(ingest, "GROUP_SIZE", 2)
    study, series = generate_uid(), generate_uid()
    parts = [_ct(study, series, 1), b"junk", _ct(study, series, 2)]

    results = ingest_files([_spool(p) for p in parts], owned=True)

    assert isinstance(results[1], IngestError)
    assert results[1].status == CANNOT_UNDERSTAND
    assert [r.identity.sop_uid for r in results if isinstance(r, IngestResult)] == [
        _sop(parts[0]),
        _sop(parts[2]),
    ]


@pytest.mark.django_db(transaction=True)
def test_a_group_announces_each_series_once_with_all_its_instances():
    announced: list[tuple[int, list[int]]] = []

    def receiver(sender, series_id: int, instance_ids: list[int], **kwargs) -> None:
        announced.append((series_id, sorted(instance_ids)))

    signals.instance_stored.connect(receiver)
    study, first, second = generate_uid(), generate_uid(), generate_uid()
    parts = [_ct(study, first, n) for n in (1, 2, 3)]
    parts += [_ct(study, second, n) for n in (1, 2)]
    try:
        ingest_files([_spool(p) for p in parts], owned=True)
    finally:
        signals.instance_stored.disconnect(receiver)

    expected = {
        series.pk: sorted(series.instances.values_list("pk", flat=True))
        for series in Series.objects.all()
    }
    assert sorted(announced) == sorted(expected.items())


@pytest.mark.django_db(transaction=True)
def test_every_instance_of_a_group_is_due_for_forwarding():
    forwarding.forget_rules()
    destination = RemoteAE.objects.create(
        ae_title="READING", host="127.0.0.1", port=11119
    )
    ForwardRule.objects.create(name="CT", destination=destination, modality="CT")
    study, series = generate_uid(), generate_uid()
    parts = [_ct(study, series, n) for n in (1, 2, 3)]
    try:
        ingest_files([_spool(p) for p in parts], owned=True)
    finally:
        forwarding.forget_rules()

    assert sorted(
        PendingForward.objects.values_list("sop_instance_uid", flat=True)
    ) == sorted(_sop(p) for p in parts)


CRASHING_INGEST = """
import os, signal, sys
from pathlib import Path
import django
django.setup()
from apps.archive import ingest

def crash(placed, outcomes):
    # Every file of the group is durable at its final path; no row is.
    print(len(placed), "placed", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)

ingest._commit_group = crash
ingest.ingest_files([Path(p) for p in sys.argv[1:]])
"""


def test_a_crash_before_the_group_commits_leaves_no_row_and_the_sweep_cleans_up(
    tmp_path, django_db_blocker
):
    var_dir = tmp_path / "var"
    migrated_template(var_dir, django_db_blocker)
    env = environment(var_dir, PACSWEB_SWEEP_GRACE_SECONDS="0")
    study, series = generate_uid(), generate_uid()
    inputs = []
    for number in (1, 2, 3):
        path = tmp_path / f"{number}.dcm"
        path.write_bytes(_ct(study, series, number))
        inputs.append(str(path))

    crashed = subprocess.run(
        [sys.executable, "-c", CRASHING_INGEST, *inputs],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    with sqlite3.connect(var_dir / "pacsweb.sqlite3") as db:
        rows = db.execute("SELECT count(*) FROM archive_instance").fetchone()[0]
    stored = var_dir / "storage"
    orphans = [
        p for p in stored.rglob("*.dcm") if p.relative_to(stored).parts[0] != "tmp"
    ]

    assert crashed.returncode == -signal.SIGKILL, crashed.stderr[-2000:]
    assert crashed.stdout.strip() == "3 placed"
    assert rows == 0
    assert len(orphans) == 3

    swept = subprocess.run(
        [sys.executable, "manage.py", "sweep_storage", "--grace", "0"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert swept.returncode == 0, swept.stderr[-2000:]
    assert "3 orphan files removed" in swept.stdout
    assert [p for p in stored.rglob("*") if p.is_file()] == []
