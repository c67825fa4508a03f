"""QIDO-RS endpoints (apps/dicomweb/search.py), PS3.18 10.6."""

import json
from pathlib import Path

import pytest
from django.test import RequestFactory

from apps.archive.models import Collection, Study
from apps.dicomweb import search as search_views
from tests.archive_fixtures import (
    CT_SERIES,
    CT_SOP,
    CT_STUDY,
    H31_STUDY,
    H32_STUDY,
    JAPMULTI_STUDY,
    MR_STUDY,
    RTDOSE_STUDY,
    RTPLAN_STUDY,
    store_multiseries_studies,
    store_samples,
)
from tests.personas import GUARD_QUERIES

pytestmark = pytest.mark.django_db

BASE = "http://testserver/dicomweb/"


@pytest.fixture
def client(archive_client):
    # Past the security guard (tests/test_auth_*.py covers the guard).
    return archive_client


@pytest.fixture
def stored():
    store_samples()


@pytest.fixture
def few():
    store_samples(("CT_small.dcm", "MR_small.dcm"))


def _uids(response, tag: str = "0020000D") -> list[str]:
    return [item[tag]["Value"][0] for item in response.json()]


def test_it_returns_a_study_in_the_dicom_json_model(client, stored):
    response = client.get("/dicomweb/studies", {"StudyInstanceUID": CT_STUDY})

    assert response.status_code == 200
    assert response["Content-Type"] == "application/dicom+json; charset=utf-8"
    (study,) = response.json()
    assert study["00100010"] == {
        "vr": "PN",
        "Value": [{"Alphabetic": "CompressedSamples^CT1"}],
    }
    assert study["00100020"] == {"vr": "LO", "Value": ["1CT1"]}
    assert study["00080020"] == {"vr": "DA", "Value": ["20040119"]}
    assert study["00080061"] == {"vr": "CS", "Value": ["CT"]}
    assert study["00201206"] == {"vr": "IS", "Value": [1]}
    assert study["00201208"] == {"vr": "IS", "Value": [1]}
    assert study["00080056"] == {"vr": "CS", "Value": ["ONLINE"]}
    assert study["00081190"] == {"vr": "UR", "Value": [BASE + f"studies/{CT_STUDY}"]}
    assert study["00080050"] == {"vr": "SH"}
    assert list(study) == sorted(study)


def test_it_returns_japanese_names_in_all_three_groups(client, stored):
    response = client.get("/dicomweb/studies", {"PatientName": "やまだ^たろう"})

    names = {
        item["0020000D"]["Value"][0]: item["00100010"]["Value"][0]
        for item in response.json()
    }
    assert set(names) == {H31_STUDY, H32_STUDY, JAPMULTI_STUDY}
    assert names[H31_STUDY] == {
        "Alphabetic": "Yamada^Tarou",
        "Ideographic": "山田^太郎",
        "Phonetic": "やまだ^たろう",
    }


def test_keys_may_be_given_by_tag_or_keyword(client, stored):
    by_keyword = client.get("/dicomweb/studies", {"PatientName": "YAMADA^TAROU"})
    by_tag = client.get("/dicomweb/studies", {"00100010": "YAMADA^TAROU"})

    assert _uids(by_keyword) == _uids(by_tag) == [H31_STUDY]


def test_fuzzymatching_matches_a_name_component(client, stored):
    response = client.get(
        "/dicomweb/studies", {"PatientName": "TAROU", "fuzzymatching": "true"}
    )

    assert _uids(response) == [H31_STUDY]


def test_each_search_resource_returns_its_level(client, stored):
    series_of_study = client.get(f"/dicomweb/studies/{CT_STUDY}/series")
    instances_of_series = client.get(
        f"/dicomweb/studies/{CT_STUDY}/series/{CT_SERIES}/instances"
    )
    instances_of_study = client.get(f"/dicomweb/studies/{CT_STUDY}/instances")
    all_series = client.get("/dicomweb/series", {"Modality": "RT*"})
    all_instances = client.get("/dicomweb/instances", {"SOPInstanceUID": CT_SOP})

    assert _uids(series_of_study, "0020000E") == [CT_SERIES]
    assert series_of_study.json()[0]["00081190"]["Value"] == [
        BASE + f"studies/{CT_STUDY}/series/{CT_SERIES}"
    ]
    assert "00100010" not in series_of_study.json()[0]
    (instance,) = instances_of_series.json()
    assert instance["00080018"]["Value"] == [CT_SOP]
    assert instance["00080016"]["Value"] == ["1.2.840.10008.5.1.4.1.1.2"]
    assert (instance["00280010"]["Value"], instance["00280011"]["Value"]) == (
        [128],
        [128],
    )
    assert instance["00081190"]["Value"] == [
        BASE + f"studies/{CT_STUDY}/series/{CT_SERIES}/instances/{CT_SOP}"
    ]
    assert "0020000E" not in instance
    assert _uids(instances_of_study, "00080018") == [CT_SOP]
    assert instances_of_study.json()[0]["0020000E"]["Value"] == [CT_SERIES]
    assert {i["0020000D"]["Value"][0] for i in all_series.json()} == {
        RTPLAN_STUDY,
        RTDOSE_STUDY,
    }
    assert all_instances.json()[0]["00100010"]["Value"] == [
        {"Alphabetic": "CompressedSamples^CT1"}
    ]


def test_includefield_repeated_comma_separated_and_all(client, few):
    listed = client.get(
        f"/dicomweb/studies?StudyInstanceUID={CT_STUDY}&includefield=PatientAge,00180015&includefield=PatientWeight,InstitutionName"
    )
    everything = client.get(
        f"/dicomweb/studies/{CT_STUDY}/series/{CT_SERIES}/instances",
        {"includefield": "all"},
    )

    study = listed.json()[0]
    assert study["00101010"] == {"vr": "AS", "Value": ["000Y"]}
    assert study["00101030"] == {"vr": "DS", "Value": [0]}
    # A series attribute asked of a study has no single value to give.
    assert study["00080080"] == {"vr": "LO"}
    assert study["00180015"] == {"vr": "CS"}
    instance = everything.json()[0]
    assert instance["00280030"]["Value"] == [0.661468, 0.661468]
    assert instance["7FE00010"]["BulkDataURI"] == (
        BASE
        + f"studies/{CT_STUDY}/series/{CT_SERIES}/instances/{CT_SOP}/bulkdata/7FE00010"
    )


def test_no_match_is_200_with_an_empty_array(client, few):
    response = client.get("/dicomweb/studies", {"PatientID": "nobody"})

    assert response.status_code == 200
    assert response.json() == []
    assert "Warning" not in response


def test_limit_and_offset_page_in_the_default_order(client, tmp_path: Path):
    expected = store_multiseries_studies(tmp_path)

    pages = [
        client.get(
            "/dicomweb/studies", {"ModalitiesInStudy": "MR", "limit": 2, "offset": o}
        )
        for o in (0, 2, 4)
    ]

    assert [_uids(p) for p in pages] == [expected[0:2], expected[2:4], expected[4:]]
    assert (
        pages[0]["Warning"]
        == '299 pacsweb "There are additional results that can be requested"'
    )
    assert "Warning" not in pages[2]
    assert pages[0].json()[0]["00080061"]["Value"] == ["CT", "MR", "SR"]
    assert pages[0].json()[0]["00201206"]["Value"] == [3]


def test_limit_is_bounded_by_the_configured_maximum(client, stored, settings):
    settings.PACSWEB_QIDO_MAX_LIMIT = 3
    settings.PACSWEB_QIDO_DEFAULT_LIMIT = 2

    bounded = client.get("/dicomweb/studies", {"limit": 50})
    default = client.get("/dicomweb/studies")

    assert len(bounded.json()) == 3
    assert "additional results" in bounded["Warning"]
    assert len(default.json()) == 2


def test_an_attribute_without_matching_support_is_ignored_and_named(client, few):
    response = client.get(
        "/dicomweb/studies", {"PatientAge": "099Y", "StudyInstanceUID": CT_STUDY}
    )

    assert _uids(response) == [CT_STUDY]
    assert response.json()[0]["00101010"]["Value"] == ["000Y"]
    assert response["Warning"] == (
        '299 pacsweb "The following attributes are not supported for matching and were ignored: PatientAge"'
    )


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("Colour=red", "Colour: unknown query parameter (not a DICOM keyword or tag)"),
        ("limit=-1", "limit: must be a positive integer, got '-1'"),
        ("limit=0", "limit: must be a positive integer, got '0'"),
        ("offset=x", "offset: must be a non-negative integer, got 'x'"),
        ("fuzzymatching=yes", "fuzzymatching: must be true or false, got 'yes'"),
        ("includefield=Colour", "includefield: 'Colour' is not a DICOM keyword or tag"),
        (
            "StudyDate=2004-13-01",
            "StudyDate: '2004-13-01' is not a valid date or date range",
        ),
        (
            "StudyInstanceUID=1.2.03",
            "StudyInstanceUID: '1.2.03' is not a valid UID (wildcards are not allowed in UIDs)",
        ),
        ("PatientID=a&PatientID=b", "PatientID: is given more than once"),
        ("orderby=Colour", "orderby: cannot order study results by 'Colour'"),
    ],
)
def test_a_bad_parameter_is_a_400_that_names_it(client, query, reason):
    response = client.get("/dicomweb/studies?" + query)

    assert response.status_code == 400
    assert response.json() == {"status": 400, "reason": reason}
    assert response["Warning"].startswith('299 pacsweb "')


@pytest.mark.parametrize(
    ("accept", "content_type"),
    [
        ("application/dicom+json", "application/dicom+json"),
        ("application/json", "application/json"),
        ("*/*", "application/dicom+json"),
        (
            'application/dicom+json; q="0.5", application/json; q=0.9',
            "application/json",
        ),
        ("text/html, application/*;q=0.1", "application/dicom+json"),
    ],
)
def test_accept_negotiates_json(client, few, accept, content_type):
    response = client.get(
        "/dicomweb/studies", {"StudyInstanceUID": CT_STUDY}, HTTP_ACCEPT=accept
    )

    assert response.status_code == 200
    assert response["Content-Type"] == f"{content_type}; charset=utf-8"
    assert _uids(response) == [CT_STUDY]


@pytest.mark.parametrize(
    "accept", ["text/html", "application/dicom+xml", "application/dicom+json;q=0"]
)
def test_an_unsupported_accept_is_406(client, accept):
    response = client.get("/dicomweb/studies", HTTP_ACCEPT=accept)

    assert response.status_code == 406
    assert (
        "search results are application/dicom+json or application/json"
        in response.json()["reason"]
    )


@pytest.mark.parametrize(
    "url",
    [
        "/dicomweb/studies?ModalitiesInStudy=CT&includefield=all",
        "/dicomweb/series?PatientName=*&Modality=MR",
        f"/dicomweb/studies/{CT_STUDY}/series",
        "/dicomweb/instances?includefield=PatientAge",
        f"/dicomweb/studies/{MR_STUDY}/instances",
        f"/dicomweb/studies/{CT_STUDY}/series/{CT_SERIES}/instances?includefield=all",
    ],
)
def test_each_search_is_one_sql_statement(client, few, url, django_assert_num_queries):
    # Plus the security guard's constant cost (token, permissions, grants, audit).
    with django_assert_num_queries(1 + GUARD_QUERIES):
        response = client.get(url)

    assert response.status_code == 200
    assert len(response.json()) >= 1


def test_searches_see_only_the_allowed_collections(few):
    allowed = Collection.objects.create(name="allowed")
    Study.objects.get(study_instance_uid=MR_STUDY).collections.add(allowed)
    factory = RequestFactory()

    def get(view, url, allowed_collections, **kwargs):
        request = factory.get(url)
        request.allowed_collections = allowed_collections
        return json.loads(view(request, **kwargs).content)

    assert [
        s["0020000D"]["Value"][0]
        for s in get(search_views.studies, "/dicomweb/studies", [allowed.pk])
    ] == [MR_STUDY]
    assert get(search_views.studies, "/dicomweb/studies", []) == []
    assert (
        get(
            search_views.instances,
            f"/dicomweb/studies/{CT_STUDY}/instances",
            [allowed.pk],
            study=CT_STUDY,
        )
        == []
    )
    assert (
        len(get(search_views.studies, "/dicomweb/studies", None))
        == Study.objects.count()
    )
