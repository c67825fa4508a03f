"""The study list query: filters, sort orders and keyset pages.

Every filter is one the archive indexes (patient name and ID, accession
number, study date, the modality rows), and pages are cut by keyset, not
OFFSET: a page is "the next N rows after this sort key", which the database
answers from an index however deep the user pages (apps/archive/keyset.py,
shared with QIDO-RS; cursors are signed, so only positions the server gave
out come back). The total is counted
only up to COUNT_CAP, so the list never counts 100,000 rows to say "1,000+".
"""

from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet

from apps.archive import keyset
from apps.archive.models import Patient, Study, StudyModality
from apps.archive.text import fold

PAGE_SIZE = 50
COUNT_CAP = 1000


class BadCursor(ValueError):
    """A page cursor that was not produced by `encode_cursor` for this sort."""


@dataclass(frozen=True)
class SortOrder:
    label: str
    # Model fields in order; the last one is always "id" so keys are unique.
    fields: tuple[str, ...]


SORTS: dict[str, SortOrder] = {
    "date": SortOrder("Study date", ("study_date", "study_time", "id")),
    "name": SortOrder("Patient name", ("patient__patient_name_norm", "id")),
    "patient_id": SortOrder("Patient ID", ("patient__patient_id", "id")),
    "accession": SortOrder("Accession number", ("accession_number", "id")),
}
DEFAULT_SORT = "date"


@dataclass(frozen=True)
class StudyFilter:
    patient: str = ""
    accession: str = ""
    date_from: str = ""  # YYYYMMDD, inclusive
    date_to: str = ""  # YYYYMMDD, inclusive
    modality: str = ""
    sort: str = DEFAULT_SORT
    descending: bool = True
    collections: list[int] | None = None


@dataclass
class StudyPage:
    studies: list[Study]
    # Cursors to the neighbouring pages; None when there is none.
    next_cursor: str | None
    previous_cursor: str | None
    # Matches counted up to COUNT_CAP; `count_capped` means "at least".
    count: int
    count_capped: bool
    sort_fields: tuple[str, ...] = field(default=())


def matching_studies(flt: StudyFilter) -> QuerySet[Study]:
    studies = Study.objects.all()

    if flt.patient:
        studies = studies.filter(patient__in=_patients_matching(flt.patient))
    if flt.accession:
        studies = studies.filter(accession_number=flt.accession)
    if flt.date_from:
        studies = studies.filter(study_date__gte=flt.date_from)
    if flt.date_to:
        studies = studies.filter(study_date__lte=flt.date_to)
    if flt.modality:
        studies = studies.filter(
            Exists(
                StudyModality.objects.filter(
                    study=OuterRef("pk"), modality=flt.modality
                )
            )
        )
    if flt.collections is not None:
        # Exists, not a join: a study in two allowed collections is one row.
        granted = Study.collections.through.objects.filter(
            study_id=OuterRef("pk"), collection_id__in=flt.collections
        )
        studies = studies.filter(Exists(granted))
    return studies


def _patients_matching(text: str) -> QuerySet[Patient]:
    """Patients whose folded name starts with the text, or whose ID is it."""
    # The search is already a prefix search; a trailing DICOM wildcard
    # ("Smith*"), which PACS users type by habit, means the same.
    folded = fold(text.strip().rstrip("*"))
    by_name = Q(patient_name_norm__startswith=folded)
    if connection.vendor == "sqlite":
        # SQLite does not use an index for LIKE with an ESCAPE clause (which
        # Django always adds); the equivalent range on the same column does.
        # PostgreSQL already has a pattern-ops index for startswith.
        by_name &= Q(
            patient_name_norm__gte=folded, patient_name_norm__lt=folded + "\U0010ffff"
        )
    return Patient.objects.filter(by_name | Q(patient_id=text.strip()))


def study_page(flt: StudyFilter, *, after: str = "", before: str = "") -> StudyPage:
    """One page of matching studies, after or before a cursor (or the first)."""
    order = SORTS[flt.sort]
    keys = sort_keys(flt)
    matches = matching_studies(flt)
    forward = not before
    cursor = after or before

    page_query = matches.select_related("patient")
    if cursor:
        position = decode_cursor(flt, cursor)
        # Going back means walking the reversed order from the cursor.
        page_query = page_query.filter(
            keyset.after(keys, position, reverse=not forward)
        )
    ordering = keyset.ordering(keys, reverse=not forward)
    rows = list(page_query.order_by(*ordering)[: PAGE_SIZE + 1])
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    if not forward:
        rows.reverse()

    has_next = more if forward else bool(cursor)
    has_previous = bool(cursor) if forward else more
    count = matches.values("pk")[: COUNT_CAP + 1].count()
    return StudyPage(
        studies=rows,
        next_cursor=encode_cursor(flt, rows[-1]) if rows and has_next else None,
        previous_cursor=encode_cursor(flt, rows[0]) if rows and has_previous else None,
        count=min(count, COUNT_CAP),
        count_capped=count > COUNT_CAP,
        sort_fields=order.fields,
    )


def sort_keys(flt: StudyFilter) -> list[keyset.SortKey]:
    return [
        keyset.SortKey(name, descending=flt.descending)
        for name in SORTS[flt.sort].fields
    ]


def _scope(flt: StudyFilter) -> str:
    # A cursor places a study in one sort order; the filters may change
    # between pages (the list then continues from the same place).
    return f"study-list:{flt.sort}:{'desc' if flt.descending else 'asc'}"


def encode_cursor(flt: StudyFilter, study: Study) -> str:
    return keyset.encode(_scope(flt), keyset.values_of(study, sort_keys(flt)))


def decode_cursor(flt: StudyFilter, cursor: str) -> list[Any]:
    try:
        return keyset.decode(_scope(flt), cursor, sort_keys(flt))
    except keyset.BadToken as exc:
        raise BadCursor(f"page cursor {exc}") from None
