"""QIDO-RS and C-FIND SQL is served by indexes on PostgreSQL at 100k instances.

The matcher's statements (apps/archive/matching.py) are run through EXPLAIN
on a generated archive. The big tables (studies, series, instances) must
never be read whole; person-name matching must be able to use the trigram
indexes of migration 0002 for every pattern form the matcher emits. A
keyset page (the QIDO-RS cursor) deep in a listing must seek in an index
and read about one page of rows, with no sort of the whole result.
"""

import json
import re

import pytest
from django.db import connection

from apps.archive.matching import Level, Query, queryset, search
from tests.pg_volume import fill

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

INSTANCES = 100_000
BIG_TABLES = (
    "archive_study",
    "archive_series",
    "archive_instance",
    "archive_studymodality",
)

SEARCHES = [
    (Level.STUDY, []),
    (Level.STUDY, [("PatientID", "P1234")]),
    (Level.STUDY, [("AccessionNumber", "A1234")]),
    (Level.STUDY, [("StudyDate", "20150101-20150110")]),
    (Level.STUDY, [("ModalitiesInStudy", "CT")]),
    (Level.STUDY, [("StudyInstanceUID", "1.2.826.0.1.3680043.9.7.1.77")]),
    (Level.STUDY, [("PatientName", "yamada*")]),
    (Level.STUDY, [("ReferringPhysicianName", "dr^ref12*")]),
    (Level.SERIES, [("Modality", "CT")]),
    (Level.SERIES, [("StudyInstanceUID", "1.2.826.0.1.3680043.9.7.1.77")]),
    (Level.INSTANCE, [("SOPInstanceUID", "1.2.826.0.1.3680043.9.7.1.77.1.1")]),
    (Level.STUDY, [("offset", "5000")]),
]

NAME_SEARCHES = [
    [("PatientName", "*cohen*")],
    [("PatientName", "garcia^coheni")],
    [("PatientName", "coheni"), ("fuzzymatching", "true")],
    [("PatientName", "*=yamada*")],
]


def _plan(level: Level, params: list[tuple[str, str]]) -> str:
    query = Query.from_params(level, params, default_limit=100)
    return queryset(query)[query.offset : query.offset + 101].explain()


def _set(cursor, setting: str, value: str) -> None:
    cursor.execute(f"SET LOCAL {setting} = {value}")


def test_searches_use_indexes_on_a_100k_instance_archive():
    # One test, one fill (inside the test transaction, rolled back after):
    # filling takes seconds, and the suite runs on several xdist workers.
    if connection.vendor != "postgresql":
        pytest.skip("query plans are checked on PostgreSQL")
    with connection.cursor() as cursor:
        fill(cursor, INSTANCES)
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE indexdef LIKE %s ORDER BY 1",
            ["%gin_trgm_ops%"],
        )
        trigram_indexes = [row[0] for row in cursor.fetchall()]

    whole_reads = {}
    for level, params in SEARCHES:
        plan = _plan(level, params)
        scanned = re.findall(r"Seq Scan on (\w+)", plan)
        whole_reads[str(params)] = [t for t in scanned if t in BIG_TABLES]

    # Forbid the alternatives, so the plan shows whether the name indexes
    # can answer every arm of the matcher's OR on their own.
    with connection.cursor() as cursor:
        _set(cursor, "enable_seqscan", "off")
        _set(cursor, "enable_indexscan", "off")
    name_plans = {str(params): _plan(Level.STUDY, params) for params in NAME_SEARCHES}

    assert trigram_indexes == ["patient_name_trgm_idx", "study_referring_trgm_idx"]
    assert whole_reads == {str(params): [] for _, params in SEARCHES}
    for params, plan in name_plans.items():
        assert "Seq Scan on archive_patient" not in plan, (params, plan)
        assert "patient_name_trgm_idx" in plan, (params, plan)


# A page deep in each listing, reached by the Link header's cursor.
KEYSET_SEARCHES = [
    (Level.STUDY, [], {}),
    (Level.STUDY, [("ModalitiesInStudy", "CT")], {}),
    (Level.STUDY, [], {"collections": "all"}),
    (Level.SERIES, [], {}),
    (Level.INSTANCE, [], {}),
]
DEPTH = 20_000
PAGE = 100


def _nodes(node: dict) -> list[dict]:
    return [node] + [n for child in node.get("Plans", []) for n in _nodes(child)]


def test_keyset_pages_seek_in_an_index_at_any_depth():
    if connection.vendor != "postgresql":
        pytest.skip("query plans are checked on PostgreSQL")
    with connection.cursor() as cursor:
        fill(cursor, INSTANCES)
        # Every study in one collection: the restricted search must seek too.
        cursor.execute(
            "INSERT INTO archive_collection (name, description) VALUES ('all', '')"
        )
        cursor.execute(
            "INSERT INTO archive_study_collections (study_id, collection_id) "
            "SELECT id, (SELECT id FROM archive_collection WHERE name = 'all') "
            "FROM archive_study"
        )
        cursor.execute("ANALYZE")
        cursor.execute("SELECT id FROM archive_collection WHERE name = 'all'")
        everything = [cursor.fetchone()[0]]

    read, sorted_all, first_rows = {}, {}, {}
    for level, params, options in KEYSET_SEARCHES:
        collections = everything if options.get("collections") else None
        deep = Query.from_params(
            level,
            [*params, ("offset", str(DEPTH))],
            collections=collections,
            default_limit=PAGE,
        )
        expected = search(deep.with_page(PAGE + 1, DEPTH + PAGE)).rows
        cursor_token = search(deep).next_cursor
        page = Query.from_params(
            level,
            [*params, ("cursor", cursor_token)],
            collections=collections,
            default_limit=PAGE,
        )
        qs = queryset(page)[: PAGE + 1]
        plan = json.loads(qs.explain(format="json", analyze=True))[0]["Plan"]
        nodes = _nodes(plan)
        name = f"{level.name} {params} {options}"
        # Rows the scans of the big tables produced, over all their loops.
        read[name] = sum(
            n["Actual Rows"] * n["Actual Loops"]
            for n in nodes
            if n.get("Relation Name") in BIG_TABLES
        )
        sorted_all[name] = [n["Node Type"] for n in nodes if n["Node Type"] == "Sort"]
        first_rows[name] = [r.pk for r in qs] == [r.pk for r in expected]

    # OFFSET would read DEPTH + PAGE rows and more; a keyset page reads the
    # page (and, per study, its few series and instances, and its
    # collection and modality rows).
    assert {k: v <= 6 * (PAGE + 1) for k, v in read.items()} == {
        k: True for k in read
    }, read
    assert sorted_all == {k: [] for k in sorted_all}
    assert first_rows == {k: True for k in first_rows}
