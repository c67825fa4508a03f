"""Keyset paging: "the rows after this one" in a total order, from an index.

OFFSET makes the database read and drop every row before the page, so a
deep page costs in proportion to its depth. A keyset page instead starts
strictly after the sort key of the last row already seen: the database
seeks to that key in the index that serves the order and reads only the
page. Rows inserted or deleted between two requests cannot make a page
repeat or skip a row, because the position is a value, not a count; the
order must be total, so every sort ends in the primary key.

Used by QIDO-RS (apps/archive/matching.py) and the study list
(apps/viewer/search.py). Positions travel to clients as tokens signed with
the server's secret: a client can hand back only positions this server
gave out, for the search it gave them out for. A token carries no rights:
whoever presents it is filtered by their own collections as always.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.core import signing
from django.db.models import BooleanField, F, Func, Q, Value
from django.db.models.expressions import OrderBy

_SALT = "pacsweb.archive.keyset"
_VERSION = 1


class BadToken(ValueError):
    """A token this server did not issue, or issued for another search."""


@dataclass(frozen=True)
class SortKey:
    """One column of a total order. NULLs sort after every value."""

    path: str  # ORM path from the model, e.g. "study__study_date"
    descending: bool = False
    nullable: bool = False

    def order_by(self, *, reverse: bool = False) -> OrderBy:
        descending = self.descending != reverse
        column = F(self.path)
        if not self.nullable:
            return column.desc() if descending else column.asc()
        # Reversing the order puts the NULLs first.
        nulls = {"nulls_first": True} if reverse else {"nulls_last": True}
        return column.desc(**nulls) if descending else column.asc(**nulls)


def ordering(keys: Sequence[SortKey], *, reverse: bool = False) -> list[OrderBy]:
    return [key.order_by(reverse=reverse) for key in keys]


def values_of(row: Any, keys: Sequence[SortKey]) -> list[Any]:
    """The row's position in the order (related rows must be loaded)."""
    values = []
    for key in keys:
        value = row
        for part in key.path.split("__"):
            value = getattr(value, part)
        values.append(value)
    return values


class _Row(Func):
    # A row value, "(a, b, c)": SQLite (3.15+) and PostgreSQL both compare
    # them lexicographically and both use them to seek in a matching index.
    function = ""


def after(
    keys: Sequence[SortKey], values: Sequence[Any], *, reverse: bool = False
) -> Q:
    """Rows strictly after `values` in the order (before it with `reverse`)."""
    lead = _uniform_prefix(keys, values)
    if lead == len(keys):
        # The common case (every default order of the archive and the
        # study list): one row comparison that the index range answers.
        return Q(_compare(keys, values, strict=True, reverse=reverse))

    # Mixed directions or NULLs: (a, b, c) > (x, y, z) spelled out, which
    # an index cannot seek on; the bound on the leading columns that share
    # a direction lets it seek to the right place all the same.
    beyond = Q(pk__in=[])
    for position, key in enumerate(keys):
        same = Q()
        for earlier, value in zip(keys[:position], values[:position], strict=True):
            same &= _equal(earlier, value)
        beyond |= same & _beyond(key, values[position], reverse=reverse)
    if lead:
        beyond &= Q(_compare(keys[:lead], values[:lead], strict=False, reverse=reverse))
    return beyond


def _uniform_prefix(keys: Sequence[SortKey], values: Sequence[Any]) -> int:
    """How many leading keys one index on one table can seek on together.

    They must be NOT NULL (and not null here), sorted in one direction, and
    columns of the same table: a row comparison across a join is only a
    filter to the database, however its columns are indexed.
    """
    count = 0
    for key, value in zip(keys, values, strict=True):
        if (
            key.nullable
            or value is None
            or key.descending != keys[0].descending
            or _table(key.path) != _table(keys[0].path)
        ):
            break
        count += 1
    return count


def _table(path: str) -> str:
    """The relation path of the table a column path is read from."""
    parts = path.split("__")
    # "study__id" is the study_id column of this table: Django reads a
    # related primary key from the foreign key, without the join.
    if len(parts) > 1 and parts[-1] in ("id", "pk"):
        return "__".join(parts[:-2])
    return "__".join(parts[:-1])


def _compare(
    keys: Sequence[SortKey], values: Sequence[Any], *, strict: bool, reverse: bool
) -> Func:
    descending = keys[0].descending != reverse
    operator = ("<" if descending else ">") + ("" if strict else "=")
    if len(keys) == 1:
        left: Any = F(keys[0].path)
        right: Any = Value(values[0])
    else:
        left = _Row(*(F(key.path) for key in keys))
        right = _Row(*(Value(value) for value in values))
    return Func(
        left,
        right,
        template="%(expressions)s",
        arg_joiner=f" {operator} ",
        output_field=BooleanField(),
    )


def _equal(key: SortKey, value: Any) -> Q:
    return (
        Q(**{f"{key.path}__isnull": True}) if value is None else Q(**{key.path: value})
    )


def _beyond(key: SortKey, value: Any, *, reverse: bool) -> Q:
    if value is None:
        # NULLs are last: nothing follows them, everything else precedes.
        return Q(pk__in=[]) if not reverse else Q(**{f"{key.path}__isnull": False})
    descending = key.descending != reverse
    q = Q(**{f"{key.path}__{'lt' if descending else 'gt'}": value})
    if key.nullable and not reverse:
        q |= Q(**{f"{key.path}__isnull": True})
    return q


# --- tokens -------------------------------------------------------------------


def encode(scope: str, values: Sequence[Any]) -> str:
    """A signed, URL-safe token for a position within the search `scope`."""
    return signing.dumps(
        {"v": _VERSION, "s": scope, "k": list(values)}, salt=_SALT, compress=True
    )


def decode(scope: str, token: str, keys: Sequence[SortKey]) -> list[Any]:
    """The position a token of `encode` holds; BadToken says why not."""
    try:
        payload = signing.loads(token, salt=_SALT)
    except signing.BadSignature:
        raise BadToken("was not issued by this server or was altered") from None
    if not isinstance(payload, dict) or payload.get("v") != _VERSION:
        raise BadToken("was issued by another version of this server")
    if payload.get("s") != scope:
        raise BadToken("belongs to another search or sort order")
    values = payload.get("k")
    if not isinstance(values, list) or len(values) != len(keys):
        raise BadToken("does not fit this search's order")
    for key, value in zip(keys, values, strict=True):
        if value is None and not key.nullable:
            raise BadToken("does not fit this search's order")
        if value is not None and not isinstance(value, (str, int)):
            raise BadToken("does not fit this search's order")
    return values
