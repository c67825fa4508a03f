import re
from urllib.parse import parse_qs, urlparse

import pytest
from django.contrib.auth.models import User
from django.test import RequestFactory

from apps.archive.ingest import ingest_file
from apps.archive.models import Collection
from apps.viewer import views
from apps.viewer.search import PAGE_SIZE
from tests.conftest import sample
from tests.personas import SESSION_GUARD_QUERIES, grant_everything
from tests.viewer_fixtures import ingest_renamed, make_study

pytestmark = pytest.mark.django_db

CT_STUDY = "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322"


@pytest.fixture
def user():
    # Past the security guard: every permission and collection.
    return grant_everything(
        User.objects.create_user("clinician", password="a-long-passphrase-42")
    )


@pytest.fixture
def signed_in(client, user):
    client.force_login(user)
    return client


def _study_uids(html: str) -> list[str]:
    return re.findall(r'href="/studies/([0-9.]+)/"', html)


def _link(html: str, rel: str) -> str:
    match = re.search(rf'rel="{rel}" href="([^"]+)"', html)
    return match.group(1).replace("&amp;", "&") if match else ""


def test_it_sends_a_visitor_who_is_not_signed_in_to_the_sign_in_page(client):
    response = client.get("/?patient=doe")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/%3Fpatient%3Ddoe"


def test_it_lists_an_ingested_study_with_its_patient_and_links(signed_in):
    ingest_file(sample("CT_small.dcm"))

    response = signed_in.get("/")

    html = response.content.decode()
    assert response.status_code == 200
    assert _study_uids(html) == [CT_STUDY]
    assert "CompressedSamples, CT1" in html
    assert "2004-01-19" in html
    assert f'href="/viewer/{CT_STUDY}/"' in html
    assert "1 study" in html


def test_it_renders_a_hostile_patient_name_as_text(signed_in, tmp_path):
    ingest_renamed(tmp_path, "CT_small.dcm", "<script>alert('x')</script>^<b>Bold</b>")

    html = signed_in.get("/").content.decode()

    assert "<script>alert" not in html
    assert "<b>Bold" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    assert "&lt;b&gt;Bold&lt;/b&gt;" in html


def test_it_finds_patients_by_name_case_insensitively_including_accents(signed_in):
    jerome = make_study(name="Buc^Jérôme", patient_id="FR1")
    make_study(name="Doe^Jane", patient_id="US1")

    html = signed_in.get("/", {"patient": "BUC^JÉR"}).content.decode()

    assert _study_uids(html) == [jerome.study_instance_uid]


def test_it_finds_a_patient_by_exact_id(signed_in):
    make_study(name="Doe^Jane", patient_id="ID-7")
    wanted = make_study(name="Roe^Rick", patient_id="ID-77")

    html = signed_in.get("/", {"patient": "ID-77"}).content.decode()

    assert _study_uids(html) == [wanted.study_instance_uid]


def test_it_filters_by_accession_date_range_and_modality(signed_in):
    make_study(date="20230101", accession="A1", modalities=("CT",))
    in_range_mr = make_study(date="20230615", accession="A2", modalities=("MR", "SR"))
    make_study(date="20231231", accession="A3", modalities=("CT",))

    by_accession = signed_in.get("/", {"accession": "A2"}).content.decode()
    by_dates = signed_in.get(
        "/", {"date_from": "2023-06-01", "date_to": "2023-12-31"}
    ).content.decode()
    by_modality = signed_in.get("/", {"modality": "mr"}).content.decode()

    assert _study_uids(by_accession) == [in_range_mr.study_instance_uid]
    assert len(_study_uids(by_dates)) == 2
    assert in_range_mr.study_instance_uid in _study_uids(by_dates)
    assert _study_uids(by_modality) == [in_range_mr.study_instance_uid]


def test_it_rejects_an_inverted_date_range_naming_the_field(signed_in):
    response = signed_in.get("/", {"date_from": "2024-02-01", "date_to": "2024-01-01"})

    assert response.status_code == 400
    assert "the end date must not be before the start date" in response.content.decode()


def test_it_rejects_a_modality_that_is_not_a_code(signed_in):
    response = signed_in.get("/", {"modality": "C'T;--"})

    assert response.status_code == 400
    assert "modality must be a DICOM modality code" in response.content.decode()


def test_it_rejects_a_forged_page_cursor(signed_in):
    response = signed_in.get("/", {"after": "bm90LWEtY3Vyc29y"})

    assert response.status_code == 400
    assert "page cursor" in response.content.decode()


def test_it_sorts_by_patient_name_both_ways(signed_in):
    for name in ("Carol", "alice", "Bob"):
        make_study(name=name, patient_id=name)

    ascending = signed_in.get("/", {"sort": "name", "dir": "asc"}).content.decode()
    descending = signed_in.get("/", {"sort": "name", "dir": "desc"}).content.decode()

    names = re.findall(r'class="study-link" href="[^"]+">([^<]+)<', ascending)
    assert names == ["alice", "Bob", "Carol"]
    assert re.findall(r'class="study-link" href="[^"]+">([^<]+)<', descending) == [
        "Carol",
        "Bob",
        "alice",
    ]


def test_it_pages_through_every_study_once_forward_and_back(signed_in):
    # Equal dates force the primary key to break ties across page edges.
    made = [
        make_study(date="20240101" if i % 2 else "20240202", patient_id=f"P{i}")
        for i in range(PAGE_SIZE * 2 + 7)
    ]

    first = signed_in.get("/").content.decode()
    second = signed_in.get("/" + _link(first, "next")).content.decode()
    third = signed_in.get("/" + _link(second, "next")).content.decode()
    back = signed_in.get("/" + _link(third, "prev")).content.decode()

    pages = [_study_uids(first), _study_uids(second), _study_uids(third)]
    assert [len(p) for p in pages] == [PAGE_SIZE, PAGE_SIZE, 7]
    seen = pages[0] + pages[1] + pages[2]
    assert sorted(seen) == sorted(s.study_instance_uid for s in made)
    assert _link(third, "next") == ""
    assert _link(first, "prev") == ""
    assert _study_uids(back) == pages[1]
    assert f"{len(made)} studies" in first


def test_it_keeps_the_search_in_page_links(signed_in):
    for i in range(PAGE_SIZE + 1):
        make_study(patient_id=f"P{i}", modalities=("MR",))

    html = signed_in.get(
        "/", {"modality": "MR", "sort": "patient_id", "dir": "asc"}
    ).content.decode()

    query = parse_qs(urlparse(_link(html, "next")).query)
    assert query["modality"] == ["MR"]
    assert query["sort"] == ["patient_id"]
    assert query["dir"] == ["asc"]
    assert "after" in query


def test_it_rejects_a_cursor_of_another_sort_order(signed_in):
    for i in range(PAGE_SIZE + 1):
        make_study(patient_id=f"P{i}")
    html = signed_in.get("/", {"sort": "patient_id", "dir": "asc"}).content.decode()
    cursor = parse_qs(urlparse(_link(html, "next")).query)["after"][0]

    same = signed_in.get("/", {"sort": "patient_id", "dir": "asc", "after": cursor})
    other_sort = signed_in.get(
        "/", {"sort": "accession", "dir": "asc", "after": cursor}
    )
    other_dir = signed_in.get(
        "/", {"sort": "patient_id", "dir": "desc", "after": cursor}
    )

    assert same.status_code == 200
    assert _study_uids(same.content.decode())
    assert [other_sort.status_code, other_dir.status_code] == [400, 400]
    assert "page cursor belongs to another search or sort order" in (
        other_sort.content.decode()
    )


def test_it_caps_the_count_instead_of_counting_everything(
    signed_in, settings, monkeypatch
):
    monkeypatch.setattr("apps.viewer.search.COUNT_CAP", 5)
    for i in range(8):
        make_study(patient_id=f"P{i}")

    html = signed_in.get("/").content.decode()

    assert "More than 5 studies" in html


def test_it_runs_a_fixed_number_of_queries_per_page(
    signed_in, django_assert_num_queries
):
    for i in range(30):
        make_study(patient_id=f"P{i}")

    # session + user, the page with its patients joined, the capped count,
    # and the security guard's constant cost
    with django_assert_num_queries(4 + SESSION_GUARD_QUERIES):
        signed_in.get("/")


def test_it_shows_only_studies_in_the_callers_collections(user):
    granted = Collection.objects.create(name="cardiology")
    visible = make_study(patient_id="V")
    visible.collections.add(granted)
    make_study(patient_id="H").collections.add(
        Collection.objects.create(name="oncology")
    )
    make_study(patient_id="N")
    request = RequestFactory().get("/")
    request.user = user
    request.allowed_collections = [granted.pk]

    html = views.study_list(request).content.decode()

    assert _study_uids(html) == [visible.study_instance_uid]
    assert "1 study" in html
