"""QIDO-RS keyset paging: the `Link: rel="next"` cursor (apps/archive/keyset.py)."""

import json
import re
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pydicom
import pytest
from django.core import signing
from django.db import connection
from django.test import RequestFactory

from apps.archive import keyset, matching
from apps.archive.ingest import ingest_file
from apps.archive.models import Collection, Study
from apps.dicomweb import search as search_views
from tests.archive_fixtures import derived, uid
from tests.personas import GUARD_QUERIES

pytestmark = pytest.mark.django_db

MORE = '299 pacsweb "There are additional results that can be requested"'


@pytest.fixture
def client(archive_client):
    # Past the security guard (tests/test_auth_*.py covers the guard).
    return archive_client


def store_study(folder: Path, n: int, date: str, time: str = "120000") -> str:
    study = uid(10, n)
    ingest_file(
        derived(
            folder,
            "CT_small.dcm",
            StudyInstanceUID=study,
            SeriesInstanceUID=uid(11, n),
            SOPInstanceUID=uid(12, n),
            StudyDate=date,
            StudyTime=time,
            PatientID=f"KEYSET{n % 3}",
            PatientName=f"Keyset^Patient{n % 3}",
        )
    )
    return study


@pytest.fixture
def studies(tmp_path: Path) -> list[str]:
    """Eleven studies; several share a date and time, so only the primary
    key tells them apart. Their UIDs in the default order."""
    dates = ["20200105", "20200105", "20200105", "20200104", "20200104"]
    dates += ["20200103", "20200102", "20200102", "20200102", "20200101", "20200101"]
    stored = [store_study(tmp_path / "in", n, date) for n, date in enumerate(dates)]
    # Newest date first; equal dates and times: the later insert first.
    by_date: dict[str, list[str]] = {}
    for study, date in zip(stored, dates, strict=True):
        by_date.setdefault(date, []).insert(0, study)
    return [s for date in sorted(by_date, reverse=True) for s in by_date[date]]


def _uids(response, tag: str = "0020000D") -> list[str]:
    return [item[tag]["Value"][0] for item in response.json()]


def _next(response) -> str | None:
    link = response.get("Link")
    if link is None:
        return None
    match = re.fullmatch(r'<([^>]+)>; rel="next"', link)
    assert match, link
    return match[1]


def _follow(client, url: str, params: dict | None = None) -> list:
    """Every page from `url` on, by the Link headers."""
    pages = [client.get(url, params)]
    while (link := _next(pages[-1])) is not None:
        parts = urlsplit(link)
        assert parts.scheme == "http" and parts.netloc == "testserver"
        pages.append(client.get(parts.path, dict(parse_qsl(parts.query))))
        assert len(pages) < 50
    return pages


def _cursor(response) -> str:
    link = _next(response)
    assert link is not None
    return dict(parse_qsl(urlsplit(link).query))["cursor"]


def test_following_next_links_lists_every_study_once_in_order(client, studies):
    pages = _follow(client, "/dicomweb/studies", {"limit": 3})

    assert [_uids(p) for p in pages] == [
        studies[0:3],
        studies[3:6],
        studies[6:9],
        studies[9:11],
    ]
    assert all(p["Warning"] == MORE for p in pages[:-1])
    assert "Warning" not in pages[-1] and "Link" not in pages[-1]
    assert _uids(client.get("/dicomweb/studies")) == studies


def test_the_next_link_keeps_the_search_and_drops_the_offset(client, studies):
    first = client.get(
        "/dicomweb/studies",
        {"PatientID": "KEYSET1", "limit": 1, "offset": 1, "includefield": "00081030"},
    )

    link = urlsplit(_next(first))
    params = parse_qsl(link.query)
    assert link.path == "/dicomweb/studies"
    assert [name for name, _ in params] == [
        "PatientID",
        "limit",
        "includefield",
        "cursor",
    ]
    matching_ids = [s for n, s in enumerate(studies) if int(s.split(".")[-1]) % 3 == 1]
    rest = _follow(client, link.path, dict(params))
    assert _uids(first) + [u for p in rest for u in _uids(p)] == matching_ids[1:]


def test_pages_neither_repeat_nor_skip_when_studies_arrive_between_them(
    client, studies, tmp_path
):
    first = client.get("/dicomweb/studies", {"limit": 4})
    # One study sorts before the page just read, one after it.
    newest = store_study(tmp_path / "late", 50, "20991231")
    oldest = store_study(tmp_path / "late", 51, "19000101")

    rest = _follow(client, "/dicomweb/studies", {"limit": 4, "cursor": _cursor(first)})
    by_offset = client.get("/dicomweb/studies", {"limit": 4, "offset": 4})

    seen = _uids(first) + [u for p in rest for u in _uids(p)]
    assert seen == studies + [oldest]
    assert newest not in seen
    # What OFFSET would have done: shifted by the new study, it repeats one.
    assert _uids(by_offset)[0] == studies[3]


def test_series_and_instances_page_by_cursor_with_missing_numbers(client, tmp_path):
    # Numbers missing on some series and instances (NULL, sorted last) and
    # repeated on others: the primary key still orders them totally.
    study = uid(20, 1)
    for n in range(7):
        path = derived(
            tmp_path / "in",
            "MR_small.dcm",
            StudyInstanceUID=study,
            SeriesInstanceUID=uid(21, n % 3),
            SOPInstanceUID=uid(22, n),
            SeriesNumber=None if n % 3 == 2 else 5,
            InstanceNumber=None if n in (1, 4) else 9 - n // 2,
        )
        ds = pydicom.dcmread(path)
        for keyword in ("SeriesNumber", "InstanceNumber"):
            if ds.get(keyword) is None:
                del ds[keyword]
        ds.save_as(path)
        ingest_file(path)
    instances_url = f"/dicomweb/studies/{study}/instances"
    all_instances = _uids(client.get(instances_url), "00080018")
    all_series = _uids(client.get(f"/dicomweb/studies/{study}/series"), "0020000E")

    instance_pages = _follow(client, instances_url, {"limit": 2})
    series_pages = _follow(client, f"/dicomweb/studies/{study}/series", {"limit": 1})

    assert len(all_instances) == 7 and len(set(all_instances)) == 7
    assert all_series == [uid(21, 0), uid(21, 1), uid(21, 2)]
    assert [u for p in instance_pages for u in _uids(p, "00080018")] == all_instances
    assert [u for p in series_pages for u in _uids(p, "0020000E")] == all_series
    assert len(instance_pages) == 4


@pytest.mark.parametrize(
    "orderby", ["PatientName", "-PatientID,StudyDate", "StudyDate,-StudyTime"]
)
def test_a_cursor_follows_any_orderby(client, studies, orderby):
    whole = _uids(client.get("/dicomweb/studies", {"orderby": orderby}))

    pages = _follow(client, "/dicomweb/studies", {"orderby": orderby, "limit": 2})

    assert sorted(whole) == sorted(studies)
    assert [u for p in pages for u in _uids(p)] == whole


def test_offset_counts_from_the_cursor(client, studies):
    first = client.get("/dicomweb/studies", {"limit": 2})

    skipped = client.get(
        "/dicomweb/studies", {"limit": 2, "offset": 3, "cursor": _cursor(first)}
    )

    assert _uids(skipped) == studies[5:7]


def test_deep_offsets_cut_by_a_deferred_join_give_the_same_rows(
    client, studies, monkeypatch
):
    monkeypatch.setattr(matching, "DEFERRED_JOIN_OFFSET", 2)

    pages = [
        client.get("/dicomweb/studies", {"limit": 3, "offset": o}) for o in (2, 5, 9)
    ]

    assert [_uids(p) for p in pages] == [studies[2:5], studies[5:8], studies[9:]]
    assert pages[0]["Warning"] == MORE and "Warning" not in pages[2]


def _signed(payload: dict, key: str | None = None) -> str:
    return signing.dumps(payload, key=key, salt="pacsweb.archive.keyset")


@pytest.mark.parametrize(
    ("cursor", "reason"),
    [
        ("garbage", "cursor: was not issued by this server or was altered"),
        ("", "cursor: must be given once, as the Link header gave it"),
        (
            _signed({"v": 1, "s": "x", "k": ["20200101", "120000", 1]}, key="x" * 50),
            "cursor: was not issued by this server or was altered",
        ),
    ],
)
def test_a_cursor_not_issued_by_the_server_is_a_400(client, studies, cursor, reason):
    response = client.get("/dicomweb/studies", {"cursor": cursor})

    assert response.status_code == 400
    assert response.json() == {"status": 400, "reason": reason}


def test_an_altered_cursor_is_a_400(client, studies):
    token = _cursor(client.get("/dicomweb/studies", {"limit": 2}))
    payload, _, signature = token.rpartition(":")
    altered = payload + ":" + ("A" if signature[0] != "A" else "B") + signature[1:]

    response = client.get("/dicomweb/studies", {"cursor": altered})

    assert response.status_code == 400
    assert response.json()["reason"] == (
        "cursor: was not issued by this server or was altered"
    )


def test_a_cursor_of_another_search_is_a_400(client, studies):
    token = _cursor(client.get("/dicomweb/studies", {"limit": 2}))

    other_filter = client.get("/dicomweb/studies", {"PatientID": "X", "cursor": token})
    other_order = client.get(
        "/dicomweb/studies", {"orderby": "StudyID", "cursor": token}
    )
    other_level = client.get("/dicomweb/series", {"cursor": token})
    twice = client.get(f"/dicomweb/studies?cursor={token}&cursor={token}")

    reason = "cursor: belongs to another search or sort order"
    assert [r.status_code for r in (other_filter, other_order, other_level)] == [
        400
    ] * 3
    assert other_filter.json()["reason"] == reason
    assert other_order.json()["reason"] == reason
    assert other_level.json()["reason"] == reason
    assert twice.json() == {
        "status": 400,
        "reason": "cursor: must be given once, as the Link header gave it",
    }


def test_a_validly_signed_cursor_that_does_not_fit_the_order_is_a_400(client, studies):
    fingerprint = matching.Query.from_params(matching.Level.STUDY, []).fingerprint()
    wrong = keyset.encode(fingerprint, ["20200101", 7])

    response = client.get("/dicomweb/studies", {"cursor": wrong})

    assert response.status_code == 400
    assert response.json()["reason"] == "cursor: does not fit this search's order"


def test_a_cursor_never_widens_the_callers_collections(studies):
    allowed = Collection.objects.create(name="ward")
    visible = studies[1::2]
    for study in Study.objects.filter(study_instance_uid__in=visible):
        study.collections.add(allowed)
    factory = RequestFactory()

    def get(params, collections):
        request = factory.get("/dicomweb/studies", params)
        request.allowed_collections = collections
        return search_views.studies(request)

    # A token handed out to an unrestricted caller, used by a restricted one.
    token = _cursor(get({"limit": 2}, None))
    restricted = get({"cursor": token}, [allowed.pk])
    nothing = get({"cursor": token}, [])

    assert [s["0020000D"]["Value"][0] for s in json.loads(restricted.content)] == [
        u for u in studies[2:] if u in visible
    ]
    assert json.loads(nothing.content) == []


def test_a_cursor_page_is_one_sql_statement(client, studies, django_assert_num_queries):
    token = _cursor(client.get("/dicomweb/studies", {"limit": 2}))

    with django_assert_num_queries(1 + GUARD_QUERIES):
        response = client.get("/dicomweb/studies", {"limit": 2, "cursor": token})

    assert _uids(response) == studies[2:4]


def test_the_token_holds_no_rights_and_only_the_last_rows_sort_values(client, studies):
    token = _cursor(client.get("/dicomweb/studies", {"limit": 2}))

    payload = signing.loads(token, salt="pacsweb.archive.keyset")

    last = Study.objects.get(study_instance_uid=studies[1])
    assert payload["k"] == [last.study_date, last.study_time, last.pk]
    assert set(payload) == {"v", "s", "k"}


def test_on_sqlite_a_cursor_page_seeks_in_the_study_index(studies):
    # tests/test_postgres_plans.py checks PostgreSQL's plans at 100k rows.
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's plan; PostgreSQL's is checked at volume")
    query = matching.Query.from_params(matching.Level.STUDY, [], default_limit=3)
    token = matching.search(query).next_cursor
    page = matching.Query.from_params(
        matching.Level.STUDY, [("cursor", token)], default_limit=3
    )

    plan = matching.queryset(page)[:4].explain()

    assert "SEARCH archive_study USING INDEX study_recent_idx (" in plan
    assert "USE TEMP B-TREE FOR ORDER BY" not in plan
