import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.django_db


def test_it_reports_a_reachable_database_and_writable_storage(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert json.loads(response.content) == {
        "status": "ok",
        "checks": {"database": True, "storage": True},
    }


def test_it_answers_503_when_storage_cannot_be_written(
    client, settings, tmp_path: Path
):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    settings.PACSWEB_STORAGE_DIR = blocker / "storage"

    response = client.get("/healthz")

    assert response.status_code == 503
    assert json.loads(response.content) == {
        "status": "unavailable",
        "checks": {"database": True, "storage": False},
    }
