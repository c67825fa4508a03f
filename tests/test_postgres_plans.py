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
TABLES = "archive_instance, archive_series, archive_studymodality, archive_study, archive_patient"

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


@pytest.fixture(scope="module")
def volume(django_db_setup, django_db_blocker):
    """The generated archive, committed once for the module, then emptied."""
    with django_db_blocker.unblock():
        if connection.vendor != "postgresql":
            pytest.skip("query plans are checked on PostgreSQL")
        with connection.cursor() as cursor:
            fill(cursor, INSTANCES)
        yield
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {TABLES} CASCADE")


def _plan(level: Level, params: list[tuple[str, str]]) -> str:
    query = Query.from_params(level, params, default_limit=100)
    return queryset(query)[query.offset : query.offset + 101].explain()


@pytest.mark.parametrize(("level", "params"), SEARCHES)
def test_searches_never_read_a_big_table_whole(volume, level, params):
    plan = _plan(level, params)

    scanned = re.findall(r"Seq Scan on (\w+)", plan)
    assert [table for table in scanned if table in BIG_TABLES] == [], plan


@pytest.mark.parametrize("params", NAME_SEARCHES)
def test_person_name_matching_is_served_by_name_indexes(volume, params):
    with connection.cursor() as cursor:
        # Forbid the alternatives, so the plan shows whether the name
        # indexes can answer every arm of the matcher's OR on their own.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")

    plan = _plan(Level.STUDY, params)

    assert "Seq Scan on archive_patient" not in plan, plan
    assert "patient_name_trgm_idx" in plan, plan


def test_the_trigram_indexes_exist_only_where_the_extension_is(volume):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE indexdef LIKE %s ORDER BY 1",
            ["%gin_trgm_ops%"],
        )
        names = [row[0] for row in cursor.fetchall()]

    assert names == ["patient_name_trgm_idx", "study_referring_trgm_idx"]
