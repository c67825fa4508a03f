"""Regressions found by trying pacsweb in a browser as a clinician.

- A user whose account was locked by failed sign-ins was told their
  password was wrong, so they kept retyping the right one.
- A patient name typed with the DICOM wildcard ("Smith*") found nothing,
  although the search is a prefix search and "Smith" finds the study.
"""

import pytest
from django.contrib.auth.models import User

from apps.archive.ingest import ingest_file
from tests.conftest import sample
from tests.personas import PASSWORD, grant_everything

pytestmark = pytest.mark.django_db

CT_STUDY = "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322"
WRONG_PASSWORD_TEXT = "Please enter a correct username and password"
LOCKED_TEXT = "Too many failed sign-ins"


def _sign_in(client, password: str):
    return client.post(
        "/accounts/login/",
        {"username": "clara", "password": password},
        REMOTE_ADDR="192.0.2.31",
    )


def test_a_locked_out_user_is_told_the_account_is_locked(clinician, client, settings):
    settings.PACSWEB_SIGNIN_MAX_FAILURES = 3
    for attempt in range(2):
        wrong = _sign_in(client, f"guess-{attempt}")
        assert WRONG_PASSWORD_TEXT in wrong.content.decode()
    # The failure that reaches the limit already says so.
    assert LOCKED_TEXT in _sign_in(client, "guess-2").content.decode()

    locked = _sign_in(client, PASSWORD)

    html = locked.content.decode()
    assert locked.status_code == 200
    assert LOCKED_TEXT in html
    assert WRONG_PASSWORD_TEXT not in html
    assert "_auth_user_id" not in client.session


def test_a_sign_in_that_is_not_locked_still_succeeds(clinician, client):
    response = _sign_in(client, PASSWORD)

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert int(client.session["_auth_user_id"]) == clinician.pk


@pytest.mark.parametrize("typed", ["CompressedSamples*", "compressedsamples**"])
def test_a_trailing_wildcard_in_the_patient_search_finds_the_prefix(client, typed):
    ingest_file(sample("CT_small.dcm"))
    client.force_login(
        grant_everything(User.objects.create_user("reader", password=PASSWORD))
    )

    html = client.get("/", {"patient": typed}).content.decode()

    assert f'href="/studies/{CT_STUDY}/"' in html
    assert "CompressedSamples, CT1" in html
    assert "1 study" in html
