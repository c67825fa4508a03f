import json

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import RequestFactory
from oauth2_provider.models import Application

from apps.accounts import reach
from apps.accounts.access import identify
from apps.accounts.models import CollectionGrant
from apps.archive.ingest import ingest_file
from apps.archive.models import Collection, CollectionRule, Study
from tests.archive_fixtures import RTDOSE_STUDY, RTPLAN_STUDY
from tests.conftest import sample
from tests.personas import bearer, make_token, make_user
from tests.security_samples import CT_STUDY, MR_STUDY, variant

pytestmark = pytest.mark.django_db


def _collections_of(study_uid: str) -> list[str]:
    return sorted(
        Study.objects.get(study_instance_uid=study_uid).collections.values_list(
            "name", flat=True
        )
    )


# Assignment at ingest


def test_a_rule_on_the_sending_ae_title_assigns_the_collection(collections):
    CollectionRule.objects.create(
        collection=collections["cardiology"], source_ae_title="CARDIO_CT"
    )

    ingest_file(sample("CT_small.dcm"), source_ae_title="CARDIO_CT")
    ingest_file(sample("MR_small.dcm"), source_ae_title="OTHER")

    assert _collections_of(CT_STUDY) == ["cardiology"]
    assert _collections_of(MR_STUDY) == []


def test_a_rule_on_the_institution_ignores_case(collections):
    # CT_small.dcm: InstitutionName "JFK IMAGING CENTER"
    CollectionRule.objects.create(
        collection=collections["oncology"], institution_name="jfk imaging center"
    )

    ingest_file(sample("CT_small.dcm"))

    assert _collections_of(CT_STUDY) == ["oncology"]


def test_a_rule_on_the_issuer_of_patient_id(collections, tmp_path):
    CollectionRule.objects.create(
        collection=collections["cardiology"], issuer_of_patient_id="HOSP-A"
    )
    path = variant(
        tmp_path,
        "MR_small.dcm",
        sop_uid="1.2.826.0.1.3680043.8.498.2001",
        IssuerOfPatientID="HOSP-A",
    )

    ingest_file(path)

    assert _collections_of(MR_STUDY) == ["cardiology"]


def test_a_rule_with_two_criteria_needs_both(collections):
    CollectionRule.objects.create(
        collection=collections["cardiology"],
        source_ae_title="CARDIO_CT",
        institution_name="Elsewhere",
    )

    ingest_file(sample("CT_small.dcm"), source_ae_title="CARDIO_CT")

    assert _collections_of(CT_STUDY) == []


def test_rules_and_entry_point_collections_add_up(collections):
    CollectionRule.objects.create(
        collection=collections["cardiology"], source_ae_title="CARDIO_CT"
    )

    ingest_file(
        sample("CT_small.dcm"),
        source_ae_title="CARDIO_CT",
        collection_ids=[collections["oncology"].pk],
    )

    assert _collections_of(CT_STUDY) == ["cardiology", "oncology"]


# Reach of principals


def test_a_user_reaches_the_collections_granted_to_them_and_their_groups(collections):
    radiology = Collection.objects.create(name="radiology")
    group = Group.objects.create(name="night-shift")
    CollectionGrant.objects.create(group=group, collection=radiology)
    user = make_user("una", collections=(collections["cardiology"],))
    user.groups.add(group)

    assert reach.collections_of_user(user) == sorted(
        [collections["cardiology"].pk, radiology.pk]
    )


def test_archive_admins_and_superusers_reach_everything(collections):
    admin = make_user("ada", "archive-admin")
    root = make_user("root")
    root.is_superuser = True

    assert reach.collections_of_user(admin) is None
    assert reach.collections_of_user(root) is None


def test_a_user_without_grants_reaches_nothing():
    assert reach.collections_of_user(make_user("otto")) == []


def test_an_application_reaches_its_own_grants(collections):
    app = Application.objects.create(
        name="ehr",
        client_type="confidential",
        authorization_grant_type="client-credentials",
    )
    CollectionGrant.objects.create(application=app, collection=collections["oncology"])

    assert reach.collections_of_application(app) == [collections["oncology"].pk]


def test_the_guard_sets_the_callers_collections_on_the_request(collections, clinician):
    request = RequestFactory().get(
        "/dicomweb/studies", **bearer(make_token(clinician, "read"))
    )

    caller = identify(request)

    assert caller is not None
    assert caller.via == "token"
    assert caller.scopes == {"read"}
    assert caller.allowed_collections == [collections["cardiology"].pk]
    assert caller.allowed_study_uids is None


def test_a_grant_needs_exactly_one_principal_and_one_target(collections):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        CollectionGrant.objects.create(collection=collections["cardiology"])
    with pytest.raises(IntegrityError), transaction.atomic():
        CollectionGrant.objects.create(
            user=make_user("x"),
            collection=collections["cardiology"],
            all_collections=True,
        )


# Through QIDO-RS


@pytest.fixture
def four_studies(collections):
    cardiology = [collections["cardiology"].pk]
    ingest_file(sample("CT_small.dcm"), collection_ids=cardiology)
    ingest_file(sample("rtdose.dcm"), collection_ids=cardiology)
    ingest_file(sample("MR_small.dcm"), collection_ids=[collections["oncology"].pk])
    ingest_file(sample("rtplan.dcm"))
    return {
        "cardiology": {CT_STUDY, RTDOSE_STUDY},
        "all": {CT_STUDY, RTDOSE_STUDY, MR_STUDY, RTPLAN_STUDY},
    }


def _study_uids(response) -> set[str]:
    assert response.status_code == 200, response.content
    return {item["0020000D"]["Value"][0] for item in response.json()}


def test_a_user_granted_one_collection_finds_only_its_studies(
    client, four_studies, clinician, archive_admin
):
    mine = bearer(make_token(clinician, "read"))
    everything = bearer(make_token(archive_admin, "read"))

    assert (
        _study_uids(client.get("/dicomweb/studies", **mine))
        == four_studies["cardiology"]
    )
    assert (
        _study_uids(client.get("/dicomweb/studies", **everything))
        == four_studies["all"]
    )
    assert (
        _study_uids(client.get("/dicomweb/series", **mine))
        == four_studies["cardiology"]
    )
    assert (
        _study_uids(client.get("/dicomweb/instances", **mine))
        == four_studies["cardiology"]
    )
    # Another collection's study answers like a study that does not exist.
    hidden = client.get(f"/dicomweb/studies/{MR_STUDY}/series", **mine)
    absent = client.get("/dicomweb/studies/1.2.840.99.404/series", **mine)
    assert (hidden.status_code, hidden.content) == (absent.status_code, absent.content)


def test_pages_are_counted_after_the_collection_filter(client, four_studies, clinician):
    mine = bearer(make_token(clinician, "read"))

    first = client.get("/dicomweb/studies", {"limit": "1"}, **mine)
    second = client.get("/dicomweb/studies", {"limit": "1", "offset": "1"}, **mine)
    third = client.get("/dicomweb/studies", {"limit": "1", "offset": "2"}, **mine)

    assert len(first.json()) == len(second.json()) == 1
    assert "additional results" in first["Warning"]
    assert "Warning" not in second
    assert third.json() == []
    assert _study_uids(first) | _study_uids(second) == four_studies["cardiology"]


def test_an_outsider_without_grants_finds_nothing(client, four_studies, outsider):
    outsider.user_permissions.add(Permission.objects.get(codename="read_studies"))

    response = client.get("/dicomweb/studies", **bearer(make_token(outsider, "read")))

    assert response.status_code == 200
    assert response.json() == []


@pytest.mark.parametrize(
    "value",
    [
        "x' OR '1'='1",
        "%",
        "_",
        "*' UNION SELECT patient_id FROM archive_patient --",
        "1CT1'; DROP TABLE archive_study; --",
    ],
)
def test_sql_like_query_values_match_literally(
    client, four_studies, archive_admin, value
):
    token = bearer(make_token(archive_admin, "read"))

    by_id = client.get("/dicomweb/studies", {"PatientID": value}, **token)

    assert by_id.status_code == 200
    assert by_id.json() == []
    assert Study.objects.count() == 4


def test_an_administrator_assigns_a_study_to_collections_in_the_admin(
    archive_admin, collections
):
    from django.test import Client

    ingest_file(sample("CT_small.dcm"))
    study = Study.objects.get()
    archive_admin.is_staff = True
    archive_admin.save()
    client = Client()
    client.force_login(archive_admin)

    response = client.post(
        f"/admin/archive/study/{study.pk}/change/",
        {"collections": [collections["oncology"].pk, collections["cardiology"].pk]},
    )

    assert response.status_code == 302
    assert _collections_of(CT_STUDY) == ["cardiology", "oncology"]
    assert Study.objects.get().study_description == study.study_description


def test_storing_into_a_study_outside_the_senders_reach_is_refused(
    collections, tmp_path
):
    from apps.archive.ingest import IngestError
    from apps.archive.status import Status

    ingest_file(sample("CT_small.dcm"), collection_ids=[collections["oncology"].pk])
    intruder = variant(
        tmp_path, "CT_small.dcm", sop_uid="1.2.826.0.1.3680043.8.498.3001"
    )

    with pytest.raises(IngestError) as refused:
        ingest_file(
            intruder,
            collection_ids=[collections["cardiology"].pk],
            reach=[collections["cardiology"].pk],
        )
    allowed = ingest_file(
        intruder,
        collection_ids=[collections["oncology"].pk],
        reach=[collections["oncology"].pk],
    )

    assert refused.value.status is Status.NOT_AUTHORIZED
    assert (
        refused.value.reason
        == "the study exists and is outside the sender's collections"
    )
    assert _collections_of(CT_STUDY) == ["oncology"]
    assert allowed.identity.sop_uid == "1.2.826.0.1.3680043.8.498.3001"
    assert Study.objects.get().number_of_instances == 2


def test_a_sender_may_create_new_studies_in_its_reach(collections):
    ingest_file(
        sample("MR_small.dcm"),
        collection_ids=[collections["cardiology"].pk],
        reach=[collections["cardiology"].pk],
    )

    assert _collections_of(MR_STUDY) == ["cardiology"]


def test_a_user_granted_one_collection_retrieves_only_its_studies(
    client, four_studies, clinician
):
    mine = bearer(make_token(clinician, "read"))

    own = client.get(f"/dicomweb/studies/{CT_STUDY}/metadata", **mine)
    other = client.get(f"/dicomweb/studies/{MR_STUDY}/metadata", **mine)
    other_frames = client.get(
        f"/dicomweb/studies/{MR_STUDY}",
        HTTP_ACCEPT='multipart/related; type="application/dicom"; transfer-syntax=*',
        **mine,
    )
    absent = client.get("/dicomweb/studies/1.2.840.99.404/metadata", **mine)

    assert own.status_code == 200
    assert json.loads(b"".join(own.streaming_content))[0]["00100020"]["Value"] == [
        "1CT1"
    ]
    assert other.status_code == other_frames.status_code == absent.status_code == 404
    assert other.content == absent.content


@pytest.mark.parametrize("uid", ["..", "1.2.3%2F..%2F..", "1.2.3;DROP", "%00"])
def test_hostile_uids_in_retrieve_paths_are_rejected(
    client, four_studies, archive_admin, uid
):
    response = client.get(
        f"/dicomweb/studies/{uid}/metadata", **bearer(make_token(archive_admin, "read"))
    )

    assert response.status_code in (400, 404)
    assert b"CompressedSamples" not in response.content
