"""The one matching engine behind QIDO-RS and C-FIND.

A Query (apps/archive/query.py) is built from QIDO-RS parameters
(`Query.from_params`) or from a C-FIND identifier (`Query.from_identifier`);
`search()` runs it in the database: filtering, ordering and paging all
happen there, and matching on attributes of lower levels (ModalitiesInStudy,
a series key in a study query) uses EXISTS subqueries, never joins that
would repeat a row. apps/archive/results.py renders the rows.

Matching follows PS3.4 C.2.2.2:
- single value: exact and case-sensitive, except person names, which are
  compared case-insensitively (full Unicode folding, apps/archive/text.py)
  against the whole name or any one of its component groups
  (Alphabetic, Ideographic, Phonetic);
- UID list (C.2.2.2.2): comma- or backslash-separated;
- universal: an empty value or "*";
- wildcard (C.2.2.2.4): "*" and "?"; every other character, including the
  database's own pattern characters, matches itself;
- range (C.2.2.2.5): "a-b", "a-", "-b" on dates and times; a single time
  matches the whole span it names ("10" is 10:00:00 to 10:59:59.999999).
  Date and time are matched independently (no combined DT range);
- fuzzy (QIDO `fuzzymatching=true`, PS3.18 8.3.4.6): each word of a person
  name value matches the start of any name component, in any group.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import models
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery

from apps.archive import keyset, querykeys
from apps.archive.keyset import SortKey
from apps.archive.models import Instance, Patient, Series, Study, StudyModality
from apps.archive.query import Filter, Match, Query, QueryError, parse_value
from apps.archive.querykeys import Level
from apps.archive.text import normalize_time

# From this offset on, a page is cut by a deferred join (see search()).
DEFERRED_JOIN_OFFSET = 1000

__all__ = [
    "Level",
    "Match",
    "Query",
    "QueryError",
    "SearchResult",
    "parse_value",
    "queryset",
    "search",
]


@dataclass
class SearchResult:
    rows: list[Any]
    more: bool  # rows exist beyond this page
    query: Query = field(repr=False)
    # A token for the page after this one (`cursor=`), when there is one.
    next_cursor: str | None = None


# --- SQL ------------------------------------------------------------------


class DicomWildcard(models.Lookup):
    """`column__dicom_wildcard=pattern`: DICOM "*" and "?", all else literal.

    SQLite's LIKE ignores ASCII case, so GLOB (case-sensitive, where only
    "[" needs quoting) is used there; PostgreSQL gets LIKE with every
    pattern character of its own escaped.
    """

    lookup_name = "dicom_wildcard"

    def as_sql(self, compiler: Any, connection: Any) -> Any:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        patterns = [str(p) for p in rhs_params]
        if connection.vendor == "sqlite":
            params = [p.replace("[", "[[]") for p in patterns]
            return f"{lhs} GLOB {rhs}", (*lhs_params, *params)
        params = [_like_pattern(p) for p in patterns]
        return f"{lhs} LIKE {rhs} ESCAPE '\\'", (*lhs_params, *params)


def _like_pattern(pattern: str) -> str:
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


models.CharField.register_lookup(DicomWildcard)

MODELS: dict[Level, Any] = {
    Level.PATIENT: Patient,
    Level.STUDY: Study,
    Level.SERIES: Series,
    Level.INSTANCE: Instance,
}
_PARENT_FK = {Level.STUDY: "patient", Level.SERIES: "study", Level.INSTANCE: "series"}


def path_up(start: Level, target: Level) -> str:
    """The ORM path from the model of `start` to the model of `target` above it."""
    return "__".join(_PARENT_FK[Level(n)] for n in range(start, target, -1))


def _prefix(start: Level, target: Level) -> str:
    path = path_up(start, target)
    return path + "__" if path else ""


def condition(f: Filter, level: Level) -> Q | Exists:
    """The filter as a condition on the model of `level`."""
    key = f.key
    if key.level > level:
        # A key of a lower level matches when any row below matches: EXISTS
        # keeps one row per result however many rows below match.
        inner = _column_condition(f, "")
        below = MODELS[key.level].objects.filter(
            **{path_up(key.level, level): OuterRef("pk")}
        )
        return Exists(below.filter(inner))
    return _column_condition(f, _prefix(level, key.level))


def _column_condition(f: Filter, prefix: str) -> Q | Exists:
    key, values = f.key, f.values
    if key.kind == querykeys.MODALITIES:
        rows = StudyModality.objects.filter(study=OuterRef(prefix + "pk"))
        return Exists(rows.filter(_plain(f, "modality")))
    column = prefix + key.column
    if key.kind == querykeys.PN:
        return _person_name(f, column)
    if f.match is Match.RANGE:
        low, high = values
        q = ~Q(**{column: ""})
        if low:
            q &= Q(**{column + "__gte": low})
        if high:
            q &= Q(**{column + "__lte": high})
        return q
    if key.kind == querykeys.TIME and f.match is Match.SINGLE:
        return Q(
            **{
                column + "__gte": values[0],
                column + "__lte": normalize_time(values[0], upper=True),
            }
        )
    return _plain(f, column)


def _plain(f: Filter, column: str) -> Q:
    if f.match is Match.LIST:
        if any("*" in v or "?" in v for v in f.values):
            q = Q()
            for v in f.values:
                q |= Q(**{column + "__dicom_wildcard": v})
            return q
        return Q(**{column + "__in": f.values})
    if f.match is Match.WILDCARD:
        return Q(**{column + "__dicom_wildcard": f.values[0]})
    value: Any = int(f.values[0]) if f.key.kind == querykeys.INT else f.values[0]
    return Q(**{column: value})


def _person_name(f: Filter, column: str) -> Q:
    value = f.values[0]
    if f.match is Match.FUZZY:
        q = Q()
        for word in re.split(r"[\s^=,.-]+", value):
            if word:
                starts = Q(**{column + "__startswith": word})
                for sep in ("^", "=", " ", "-"):
                    starts |= Q(**{column + "__contains": sep + word})
                q &= starts
        return q

    # Stored names keep trailing empty components ("OB^^^^"); the query
    # value has them stripped, so those forms are listed for the index.
    whole = [value + "^" * n for n in range(5)] if "=" not in value else [value]
    if f.match is Match.WILDCARD:
        q = Q(**{column + "__dicom_wildcard": value}) | Q(
            **{column + "__dicom_wildcard": value + "=*"}
        )
        if "=" not in value:
            q |= Q(**{column + "__dicom_wildcard": "*=" + value})
            q |= Q(**{column + "__dicom_wildcard": "*=" + value + "=*"})
        return q
    q = Q(**{column + "__in": whole}) | Q(**{column + "__startswith": value + "="})
    if "=" not in value:
        q |= Q(**{column + "__endswith": "=" + value})
        q |= Q(**{column + "__contains": "=" + value + "="})
    return q


# --- running ----------------------------------------------------------------

_RELATED = {
    Level.PATIENT: (),
    Level.STUDY: ("patient",),
    Level.SERIES: ("study__patient",),
    Level.INSTANCE: ("series__study__patient",),
}


def sort_keys(query: Query) -> list[SortKey]:
    """The query's total order: its orderby keys, then the default order.

    Default: most recent study first; within a study, series and instance
    number. Every level ends in its primary key, so no two rows tie and a
    keyset page (apps/archive/keyset.py) knows exactly where it stands.
    """
    level = query.level
    keys = []
    for key, descending in query.order:
        field = MODELS[key.level]._meta.get_field(key.column)
        path = _prefix(level, key.level) + key.column
        keys.append(SortKey(path, descending, nullable=field.null))
    if level == Level.PATIENT:
        return [*keys, SortKey("patient_id"), SortKey("id")]
    study = _prefix(level, Level.STUDY)
    keys += [
        SortKey(study + "study_date", descending=True),
        SortKey(study + "study_time", descending=True),
        SortKey(study + "id", descending=True),
    ]
    if level >= Level.SERIES:
        series = _prefix(level, Level.SERIES)
        keys += [
            SortKey(series + "series_number", nullable=True),
            SortKey(series + "id"),
        ]
    if level == Level.INSTANCE:
        keys += [SortKey("instance_number", nullable=True), SortKey("id")]
    return keys


def queryset(query: Query) -> QuerySet:
    """The query's rows, filtered, ordered and after its cursor, not yet paged."""
    level = query.level
    qs = _matching(query)
    keys = sort_keys(query)
    if query.cursor:
        try:
            position = keyset.decode(query.fingerprint(), query.cursor, keys)
        except keyset.BadToken as exc:
            raise QueryError("cursor", str(exc)) from None
        qs = qs.filter(keyset.after(keys, position))
    return qs.select_related(*_RELATED[level]).order_by(*keyset.ordering(keys))


def _matching(query: Query) -> QuerySet:
    level = query.level
    qs = MODELS[level].objects.all()
    if query.collections is not None:
        qs = _restrict(qs, level, query.collections)
    if query.study_uid is not None and level >= Level.STUDY:
        qs = qs.filter(
            **{_prefix(level, Level.STUDY) + "study_instance_uid": query.study_uid}
        )
    if query.series_uid is not None and level >= Level.SERIES:
        qs = qs.filter(
            **{_prefix(level, Level.SERIES) + "series_instance_uid": query.series_uid}
        )
    for f in query.filters:
        if f.match is not Match.UNIVERSAL:
            qs = qs.filter(condition(f, level))
    return qs


def _restrict(qs: QuerySet, level: Level, collections: tuple[int, ...]) -> QuerySet:
    if not collections:
        return qs.none()
    if level == Level.PATIENT:
        studies = Study.objects.filter(
            patient=OuterRef("pk"), collections__in=collections
        )
        # NumberOfPatientRelatedStudies counts only the studies the caller
        # may see (results.py), or it would tell of the others.
        visible = (
            studies.order_by()
            .values("patient")
            .annotate(n=Count("pk", distinct=True))
            .values("n")
        )
        return qs.filter(Exists(studies)).annotate(visible_studies=Subquery(visible))
    through = Study.collections.through
    study = "pk" if level == Level.STUDY else _prefix(level, Level.STUDY) + "id"
    links = through.objects.filter(
        study_id=OuterRef(study), collection_id__in=collections
    )
    return qs.filter(Exists(links))


def search(query: Query, *, defer: Iterable[str] = ()) -> SearchResult:
    """Run the query for one page; one SQL statement.

    Raises QueryError for a cursor this server did not issue for this query.
    """
    qs = queryset(query)
    if defer:
        qs = qs.defer(*defer)
    if query.limit is None:
        rows = list(qs[query.offset :])
        return SearchResult(rows, False, query)

    # One row more than the page tells whether another page exists.
    end = query.offset + query.limit + 1
    if query.offset >= DEFERRED_JOIN_OFFSET:
        # Rows before the page are skipped on the ordered keys alone, then
        # only the page's rows are joined and loaded (a "deferred join"):
        # the skip still grows with the offset, but per row it reads index
        # entries, not whole rows and their parents.
        page = qs.values("pk")[query.offset : end]
        qs = qs.filter(pk__in=page)
        rows = list(qs)
    else:
        rows = list(qs[query.offset : end])
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    cursor = None
    if more and rows:
        position = keyset.values_of(rows[-1], sort_keys(query))
        cursor = keyset.encode(query.fingerprint(), position)
    return SearchResult(rows, more, query, cursor)
