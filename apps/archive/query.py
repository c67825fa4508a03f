"""The query model shared by QIDO-RS and C-FIND, and its two parsers.

A Query (level, filters, parent UIDs, collections, return keys, order,
page) is built from QIDO-RS parameters (`Query.from_params`) or from a
C-FIND identifier (`Query.from_identifier`). Both turn each key and value
into a Filter through `parse_value`, so the same key and value become the
same Filter, and apps/archive/matching.py the same SQL.
"""

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.valuerep import PersonName

from apps.archive import querykeys
from apps.archive.ingest import is_valid_uid
from apps.archive.querykeys import Key, Level
from apps.archive.text import fold, normalize_date, normalize_time


class QueryError(ValueError):
    """A query that cannot be run; `parameter` names the offending part."""

    def __init__(self, parameter: str, reason: str) -> None:
        super().__init__(f"{parameter}: {reason}")
        self.parameter = parameter
        self.reason = f"{parameter}: {reason}"


class Match(Enum):
    SINGLE = "single"
    LIST = "list"  # any of the values (UID list, ModalitiesInStudy list)
    UNIVERSAL = "universal"
    WILDCARD = "wildcard"
    RANGE = "range"  # values: (low, high), normalized; "" for an open end
    FUZZY = "fuzzy"


@dataclass(frozen=True)
class Filter:
    key: Key
    match: Match
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class Query:
    level: Level
    filters: tuple[Filter, ...] = ()
    study_uid: str | None = None
    series_uid: str | None = None
    # None: unrestricted; otherwise only studies in one of these collections.
    collections: tuple[int, ...] | None = None
    # Return keys beyond the defaults ("GGGGEEEE"); return_all: every one held.
    return_tags: frozenset[str] = frozenset()
    return_all: bool = False
    # QIDO adds the PS3.18 default attributes; C-FIND returns only its keys.
    defaults: bool = True
    order: tuple[tuple[Key, bool], ...] = ()  # (key, descending)
    limit: int | None = None
    offset: int = 0
    # A keyset token (apps/archive/keyset.py): the page starts after the
    # row it names, and `offset` counts from there.
    cursor: str = ""
    # Keywords given with a value that the archive cannot match on; they
    # are ignored for matching and only returned (PS3.18 8.3.4.1).
    ignored: tuple[str, ...] = ()

    @classmethod
    def from_params(
        cls,
        level: Level,
        params: Iterable[tuple[str, str]],
        *,
        study_uid: str | None = None,
        series_uid: str | None = None,
        collections: Iterable[int] | None = None,
        default_limit: int | None = None,
        max_limit: int | None = None,
    ) -> "Query":
        return _parse_params(
            cls(
                level,
                study_uid=study_uid,
                series_uid=series_uid,
                collections=None if collections is None else tuple(collections),
                limit=default_limit,
            ),
            params,
            max_limit=max_limit,
        )

    @classmethod
    def from_identifier(
        cls,
        ds: Dataset,
        level: Level | str,
        model_root: str = "STUDY",
        *,
        collections: Iterable[int] | None = None,
        fuzzy: bool = False,
    ) -> "Query":
        """A C-FIND identifier (PS3.4 C.4.1.1.3) at `level` in `model_root`.

        Every element is a return key; those with a value and a column are
        also matching keys. Sequence matching is not supported: sequences
        are return keys only.
        """
        if isinstance(level, str):
            try:
                level = Level.from_dicom(level)
            except KeyError:
                raise QueryError(
                    "QueryRetrieveLevel", f"unknown level {level!r}"
                ) from None
        if model_root.upper() == "STUDY" and level == Level.PATIENT:
            raise QueryError(
                "QueryRetrieveLevel", "the Study Root model has no PATIENT level"
            )

        filters: list[Filter] = []
        return_tags: set[str] = set()
        ignored: list[str] = []
        for elem in ds:
            tag = f"{elem.tag:08X}"
            if elem.tag.group in (0x0000, 0x0002) or tag in (
                querykeys.QUERY_RETRIEVE_LEVEL,
                querykeys.SPECIFIC_CHARACTER_SET,
            ):
                continue
            return_tags.add(tag)
            if elem.VR == "SQ":
                continue
            text = _element_text(elem)
            key = querykeys.MATCHING_KEYS.get(tag)
            if key is None:
                if text:
                    ignored.append(querykeys.keyword_of(tag))
                continue
            parsed = parse_value(key, text, fuzzy=fuzzy)
            if parsed.match is not Match.UNIVERSAL:
                filters.append(parsed)
        return cls(
            level,
            filters=tuple(filters),
            collections=None if collections is None else tuple(collections),
            return_tags=frozenset(return_tags),
            defaults=False,
            ignored=tuple(ignored),
        )

    def with_page(self, limit: int | None, offset: int = 0) -> "Query":
        return replace(self, limit=limit, offset=offset)

    def fingerprint(self) -> str:
        """What decides which rows match and their order, as one string.

        A keyset token is valid only for queries with the same fingerprint;
        the page size, return keys and the caller's collections may differ.
        """
        identity = [
            self.level.name,
            self.study_uid,
            self.series_uid,
            sorted([f.key.tag, f.match.value, *f.values] for f in self.filters),
            [[key.tag, descending] for key, descending in self.order],
        ]
        text = json.dumps(identity, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:32]


def _element_text(elem: DataElement) -> str:
    value = elem.value
    if value is None:
        return ""
    values = list(value) if isinstance(value, (MultiValue, list)) else [value]
    texts = []
    for item in values:
        if isinstance(item, PersonName):
            texts.append("=".join(item.components))
        elif isinstance(item, bytes):
            texts.append(item.decode("latin-1").strip())
        else:
            texts.append(str(item).strip())
    return "\\".join(texts)


# --- values -----------------------------------------------------------------


def parse_value(key: Key, raw: str, *, fuzzy: bool = False) -> Filter:
    """One key's value, as given in a QIDO parameter or a C-FIND element."""
    name = key.keyword
    value = raw.strip()
    if "\x00" in value:
        # No VR's character repertoire has NUL (PS3.5 6.1.2), and
        # PostgreSQL refuses it in a text parameter: an error, not a 500.
        raise QueryError(name, "must not contain a NUL character")
    if value in ("", "*"):
        return Filter(key, Match.UNIVERSAL)

    if key.kind == querykeys.UID:
        uids = tuple(u.strip() for u in re.split(r"[,\\]", value))
        for uid in uids:
            if not is_valid_uid(uid):
                raise QueryError(
                    name,
                    f"{uid!r} is not a valid UID (wildcards are not allowed in UIDs)",
                )
        return Filter(key, Match.LIST if len(uids) > 1 else Match.SINGLE, uids)

    if key.kind in (querykeys.DATE, querykeys.TIME):
        return _range(key, value)

    if key.kind == querykeys.INT:
        try:
            return Filter(key, Match.SINGLE, (str(int(value)),))
        except ValueError:
            raise QueryError(name, f"{value!r} is not an integer") from None

    if key.kind == querykeys.MODALITIES:
        values = tuple(v.strip() for v in re.split(r"[,\\]", value) if v.strip())
        if len(values) > 1:
            return Filter(key, Match.LIST, values)

    if "*" in value or "?" in value:
        text = _pn_text(value) if key.kind == querykeys.PN else value
        return Filter(key, Match.WILDCARD, (text,))
    if key.kind == querykeys.PN:
        return Filter(key, Match.FUZZY if fuzzy else Match.SINGLE, (_pn_text(value),))
    return Filter(key, Match.SINGLE, (value,))


def _pn_text(value: str) -> str:
    # Trailing empty components and groups carry no meaning (PS3.5 6.2.1).
    groups = [g.rstrip("^ ") for g in fold(value).split("=")]
    return "=".join(groups).rstrip("=")


def _valid(normalized: str, kind: str) -> str:
    """The normalized value if it names a real date or time, else ""."""
    if not normalized:
        return ""
    try:
        if kind == querykeys.DATE:
            datetime.strptime(normalized, "%Y%m%d")
        else:
            datetime.strptime(normalized[:6], "%H%M%S")
    except ValueError:
        return ""
    return normalized


def _range(key: Key, value: str) -> Filter:
    normalize = normalize_date if key.kind == querykeys.DATE else normalize_time
    what = "date" if key.kind == querykeys.DATE else "time"
    if "-" in value:
        low_text, _, high_text = value.partition("-")
    else:
        low_text = high_text = value
    low = _valid(normalize(low_text), key.kind) if low_text else ""
    high = ""
    if high_text:
        upper = (
            normalize(high_text)
            if key.kind == querykeys.DATE
            else normalize_time(high_text, upper=True)
        )
        high = _valid(upper, key.kind)
    if (
        (low_text and not low)
        or (high_text and not high)
        or not (low_text or high_text)
    ):
        raise QueryError(
            key.keyword, f"{value!r} is not a valid {what} or {what} range"
        )
    if low and high and low > high:
        raise QueryError(
            key.keyword, f"{value!r} is a range that ends before it starts"
        )
    if low == high:
        return Filter(key, Match.SINGLE, (low,))
    return Filter(key, Match.RANGE, (low, high))


# --- QIDO-RS parameters (PS3.18 8.3.4) -------------------------------------

FLAGS = ("includefield", "fuzzymatching", "limit", "offset", "orderby", "cursor")
# limit and offset end up in SQL LIMIT/OFFSET, 64-bit signed integers in
# SQLite and PostgreSQL; offset + limit + 1 must still fit.
MAX_COUNT = 2**62


def _parse_params(
    query: Query, params: Iterable[tuple[str, str]], *, max_limit: int | None
) -> Query:
    items = list(params)
    fuzzy = False
    for name, value in items:
        if name == "fuzzymatching":
            if value not in ("true", "false"):
                raise QueryError(name, f"must be true or false, got {value!r}")
            fuzzy = value == "true"

    filters: list[Filter] = []
    return_tags: set[str] = set()
    return_all = False
    ignored: list[str] = []
    order: tuple[tuple[Key, bool], ...] = ()
    limit, offset = query.limit, 0
    cursor = ""
    seen: set[str] = set()
    for name, value in items:
        if name == "includefield":
            for part in (p.strip() for p in value.split(",")):
                if part == "all":
                    return_all = True
                    continue
                tag = querykeys.tag_of(part)
                if tag is None:
                    raise QueryError(name, f"{part!r} is not a DICOM keyword or tag")
                return_tags.add(tag)
        elif name == "limit":
            limit = _count(name, value, minimum=1)
        elif name == "offset":
            offset = _count(name, value, minimum=0)
        elif name == "orderby":
            order = _order(value, query.level)
        elif name == "cursor":
            # Checked against the whole query when it runs (matching.py).
            if cursor or not value:
                raise QueryError(name, "must be given once, as the Link header gave it")
            cursor = value
        elif name != "fuzzymatching":
            tag = _attribute_tag(name)
            if tag in seen:
                raise QueryError(name, "is given more than once")
            seen.add(tag)
            return_tags.add(tag)
            key = querykeys.MATCHING_KEYS.get(tag) if "." not in name else None
            if key is None:
                if value.strip():
                    ignored.append(name)
                continue
            parsed = parse_value(key, value, fuzzy=fuzzy)
            if parsed.match is not Match.UNIVERSAL:
                filters.append(parsed)

    if limit is not None and max_limit is not None:
        limit = min(limit, max_limit)
    return replace(
        query,
        filters=tuple(filters),
        return_tags=frozenset(return_tags),
        return_all=return_all,
        order=order,
        limit=limit,
        offset=offset,
        cursor=cursor,
        ignored=tuple(ignored),
    )


def _attribute_tag(name: str) -> str:
    """The top-level tag of a key; "A.B" names B inside sequence A."""
    parts = name.split(".")
    tags = [querykeys.tag_of(part) for part in parts]
    if any(tag is None for tag in tags) or not name:
        raise QueryError(name, "unknown query parameter (not a DICOM keyword or tag)")
    return tags[0]  # type: ignore[return-value]


def _count(name: str, value: str, *, minimum: int) -> int:
    what = "a positive" if minimum else "a non-negative"
    # ASCII digits only: str.isdigit() also accepts superscripts and other
    # scripts' digits, some of which int() then refuses.
    if not (value.isascii() and value.isdigit()) or int(value) < minimum:
        raise QueryError(name, f"must be {what} integer, got {value!r}")
    if int(value) > MAX_COUNT:
        raise QueryError(name, f"must be at most {MAX_COUNT}, got {value}")
    return int(value)


def _order(value: str, level: Level) -> tuple[tuple[Key, bool], ...]:
    order = []
    for part in (p.strip() for p in value.split(",")):
        descending = part.startswith("-")
        tag = querykeys.tag_of(part.lstrip("-+"))
        key = querykeys.MATCHING_KEYS.get(tag) if tag else None
        if key is None or key.kind == querykeys.MODALITIES or key.level > level:
            raise QueryError(
                "orderby", f"cannot order {level.name.lower()} results by {part!r}"
            )
        order.append((key, descending))
    return tuple(order)
