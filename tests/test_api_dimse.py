"""REST API for remote AEs, jobs and the worklist, and its OpenAPI schema."""

import pytest
from django.contrib.auth.models import User

from apps.dimse.models import Job, RemoteAE
from apps.worklist.loader import load_dataset
from apps.worklist.models import RequestedProcedure, ScheduledProcedureStep
from tests.worklist_data import worklist_dataset

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(
        User.objects.create_superuser("root", "root@example.org", "pw-not-used")
    )
    return client


def test_an_admin_adds_and_lists_remote_aes(admin_client):
    created = admin_client.post(
        "/api/remote-aes/",
        {
            "ae_title": "CT01",
            "host": "10.1.2.3",
            "port": 104,
            "allow_query": False,
            "is_move_destination": False,
        },
        content_type="application/json",
    )
    listed = admin_client.get("/api/remote-aes/")

    assert created.status_code == 201
    assert (
        created.json()["allow_store"] is True and created.json()["allow_query"] is False
    )
    assert [r["ae_title"] for r in listed.json()] == ["CT01"]
    assert RemoteAE.objects.get().operations == [
        "store",
        "retrieve",
        "worklist",
        "mpps",
    ]


def test_a_remote_ae_with_a_bad_title_or_port_is_refused(admin_client):
    response = admin_client.post(
        "/api/remote-aes/",
        {"ae_title": "A" * 17, "host": "h", "port": 0},
        content_type="application/json",
    )

    assert response.status_code == 400
    assert set(response.json()) == {"ae_title", "port"}


def test_anonymous_and_non_staff_users_are_refused(client):
    anonymous = client.get("/api/remote-aes/")
    client.force_login(User.objects.create_user("nurse", password="pw-not-used"))
    member = client.get("/api/jobs/")

    # No credentials: 401 from the security guard; signed in without the
    # permission: 403.
    assert anonymous.status_code == 401
    assert member.status_code == 403


def test_a_job_is_created_validated_and_cancelled(
    admin_client, django_capture_on_commit_callbacks
):
    RemoteAE.objects.create(ae_title="PACS2", host="127.0.0.1", port=1)
    bad = admin_client.post(
        "/api/jobs/",
        {"kind": "find", "remote_ae": "PACS2", "parameters": {"level": "FLOOR"}},
        content_type="application/json",
    )
    # Enqueueing is deferred to the commit; the callback is not run here so
    # that the job stays pending and can be cancelled.
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        created = admin_client.post(
            "/api/jobs/",
            {"kind": "echo", "remote_ae": "PACS2"},
            content_type="application/json",
        )
    job_id = created.json()["id"]
    cancelled = admin_client.post(f"/api/jobs/{job_id}/cancel/")

    assert (
        bad.status_code == 400 and "level must be one of" in bad.json()["parameters"][0]
    )
    assert created.status_code == 201 and created.json()["requested_by"] == "root"
    assert len(callbacks) == 1
    assert cancelled.status_code == 202 and cancelled.json()["state"] == "cancelled"
    assert Job.objects.get().cancel_requested is True


def test_worklist_items_are_edited_through_the_api(admin_client):
    load_dataset(worklist_dataset())
    step = ScheduledProcedureStep.objects.get()

    listed = admin_client.get("/api/worklist/requested-procedures/")
    patched = admin_client.patch(
        f"/api/worklist/scheduled-steps/{step.pk}/",
        {"scheduled_station_ae_title": "CT02"},
        content_type="application/json",
    )
    renamed = admin_client.patch(
        f"/api/worklist/requested-procedures/{step.requested_procedure_id}/",
        {"patient_name": "ÉVA^Kiss"},
        content_type="application/json",
    )

    assert listed.json()[0]["accession_number"] == "ACC-001"
    assert listed.json()[0]["steps"][0]["scheduled_procedure_step_id"] == "SPS-001"
    assert patched.status_code == 200
    step.refresh_from_db()
    assert step.scheduled_station_ae_title == "CT02"
    assert renamed.status_code == 200
    assert RequestedProcedure.objects.get().patient_name_norm == "éva^kiss"


def test_the_openapi_schema_describes_every_resource(admin_client):
    response = admin_client.get("/api/schema/")

    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in (
        "/api/remote-aes/",
        "/api/jobs/",
        "/api/jobs/{id}/cancel/",
        "/api/worklist/requested-procedures/",
        "/api/worklist/scheduled-steps/",
        "/api/worklist/performed-steps/{sop_instance_uid}/",
    ):
        assert path in paths


def test_admin_lists_remote_aes_jobs_and_worklist(admin_client):
    remote = RemoteAE.objects.create(ae_title="PACS2", host="127.0.0.1", port=11113)
    Job.objects.create(
        kind=Job.Kind.MOVE, remote_ae=remote, progress_done=3, progress_total=7
    )
    load_dataset(worklist_dataset())

    pages = {
        url: admin_client.get(url)
        for url in (
            "/admin/dimse/remoteae/",
            "/admin/dimse/job/",
            "/admin/worklist/requestedprocedure/",
            "/admin/worklist/scheduledprocedurestep/",
            "/admin/worklist/performedprocedurestep/",
        )
    }

    assert all(r.status_code == 200 for r in pages.values())
    assert "PACS2" in pages["/admin/dimse/remoteae/"].content.decode()
    assert "3/7" in pages["/admin/dimse/job/"].content.decode()
    assert "ACC-001" in pages["/admin/worklist/requestedprocedure/"].content.decode()
