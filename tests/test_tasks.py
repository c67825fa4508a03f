"""Celery the boring way: queues by task name, retries, and a real worker."""

import pytest
from django.db import OperationalError

from apps.archive import ingest, tasks
from apps.archive.models import Instance
from pacsweb.celery import app
from pacsweb.tasks import RetryingTask, TransientError
from tests.celery_support import wait_until
from tests.conftest import sample

CT_SOP = "1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322"


def _queue(task_name: str) -> str:
    return app.amqp.router.route({}, task_name)["queue"].name


def test_tasks_are_routed_to_queues_by_name():
    assert _queue("apps.archive.tasks.import_file") == "ingest"
    assert _queue("apps.dicomweb.tasks.make_series_thumbnail") == "thumbnails"
    assert _queue("apps.dimse.tasks.run_job") == "dimse"
    assert _queue("apps.worklist.tasks.anything") == "dimse"
    assert _queue("celery.backend_cleanup") == "celery"


def test_archive_tasks_retry_transient_errors_with_backoff():
    task = tasks.import_file

    assert isinstance(task, RetryingTask)
    assert TransientError in task.autoretry_for
    assert OperationalError in task.autoretry_for
    assert task.retry_backoff == 5 and task.retry_backoff_max == 600
    assert task.retry_jitter is True


@pytest.mark.django_db
def test_import_file_run_twice_stores_one_instance():
    first = tasks.import_file.run(str(sample("CT_small.dcm")))
    second = tasks.import_file.run(str(sample("CT_small.dcm")))

    assert first == {"outcome": "stored", "sop_instance_uid": CT_SOP}
    assert second == {"outcome": "duplicate", "sop_instance_uid": CT_SOP}
    assert Instance.objects.count() == 1


@pytest.mark.django_db
def test_import_file_reports_a_file_that_is_not_dicom(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("not an image")

    result = tasks.import_file.run(str(path))

    assert result["outcome"] == "failed"
    assert "DICOM" in result["reason"] or "PS3.10" in result["reason"]


@pytest.mark.django_db
def test_import_file_asks_for_a_retry_while_the_database_is_down(monkeypatch):
    def refuse(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(ingest, "_write_rows", refuse)

    with pytest.raises(TransientError):
        tasks.import_file.run(str(sample("CT_small.dcm")))


def test_the_worker_imports_files_into_the_test_database(task_worker):
    names = ["CT_small.dcm", "MR_small.dcm", "chrH31.dcm"]

    for name in names:
        tasks.import_file.delay(str(sample(name)))
    # No result backend is required: the rows are the result.
    wait_until(lambda: Instance.objects.count() >= 3, timeout=60)

    assert Instance.objects.count() == 3
    assert Instance.objects.filter(sop_instance_uid=CT_SOP).exists()
