"""A SOP Instance UID already held in another study is not "kept".

Under the default duplicate policy `keep`, a second file with a stored
SOPInstanceUID but another study and series was reported stored (STOW-RS
200, C-STORE Success) with a RetrieveURL into a study that does not exist.
"""

import json

import pydicom
import pytest
from pydicom.uid import generate_uid

from apps.archive import storage
from apps.archive.models import Instance, Study
from apps.archive.status import Status
from tests.conftest import sample
from tests.multipart_bodies import STOW_CONTENT_TYPE, files_body

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(archive_client):
    # Past the security guard (tests/test_auth_*.py covers the guard).
    return archive_client


CT_STUDY = "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322"
CT_SOP = "1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322"


def _post(client, paths):
    return client.post(
        "/dicomweb/studies", files_body(paths), content_type=STOW_CONTENT_TYPE
    )


def test_the_same_uid_in_another_study_is_refused_as_a_duplicate(client, tmp_path):
    _post(client, [sample("CT_small.dcm")])
    moved = pydicom.dcmread(sample("CT_small.dcm"))
    moved.StudyInstanceUID = generate_uid()
    moved.SeriesInstanceUID = generate_uid()
    path = tmp_path / "moved.dcm"
    moved.save_as(path)

    response = _post(client, [path])

    assert response.status_code == 409
    failed = json.loads(response.content)["00081198"]["Value"]
    assert [
        (item["00081155"]["Value"][0], item["00081197"]["Value"][0]) for item in failed
    ] == [(CT_SOP, Status.DUPLICATE_SOP_INSTANCE)]
    assert f"already stored in study {CT_STUDY}" in response["Warning"]
    assert list(Study.objects.values_list("study_instance_uid", flat=True)) == [
        CT_STUDY
    ]
    assert Instance.objects.get().series.study.study_instance_uid == CT_STUDY
    assert len(list(storage.all_stored())) == 1


def test_the_same_uid_in_the_same_series_is_still_kept_and_listed(client):
    _post(client, [sample("CT_small.dcm")])

    response = _post(client, [sample("CT_small.dcm")])

    assert response.status_code == 200
    referenced = json.loads(response.content)["00081199"]["Value"]
    assert [item["00081155"]["Value"][0] for item in referenced] == [CT_SOP]
    assert Instance.objects.count() == 1
