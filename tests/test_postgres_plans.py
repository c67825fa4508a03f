"""QIDO-RS and C-FIND SQL is served by indexes on PostgreSQL at 100k instances.

The matcher's statements (apps/archive/matching.py) are run through EXPLAIN
on a generated archive. The big tables (studies, series, instances) must
never be read whole; person-name matching must be able to use the trigram
indexes of migration 0002 for every pattern form the matcher emits.
"""

import re

import pytest
from django.db import connection

from apps.archive.matching import Level, Query, queryset
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
