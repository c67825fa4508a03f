"""Normalization of text, dates and times for matching.

Matching in the database compares folded text, so folding happens once, in
Python, with full Unicode case folding: SQL LOWER() folds only ASCII on
SQLite, which would make "ÉRIC" and "éric" different names.
"""

import re

_DATE_RE = re.compile(r"^(\d{4})\.?(\d{2})\.?(\d{2})$")
_TIME_RE = re.compile(r"^(\d{2})(?::?(\d{2})(?::?(\d{2})(?:\.(\d{1,6}))?)?)?$")


def fold(text: str) -> str:
    """Case-fold text for case-insensitive comparison (all scripts)."""
    return text.casefold()


def normalize_date(value: str) -> str:
    """DA (YYYYMMDD, or the retired YYYY.MM.DD) to YYYYMMDD; "" if invalid."""
    match = _DATE_RE.fullmatch(value.strip())
    if not match:
        return ""
    return "".join(match.groups())


def normalize_time(value: str, *, upper: bool = False) -> str:
    """TM to HHMMSS.FFFFFF so that string order is time order; "" if invalid.

    Missing trailing parts are filled with zeros, or with their largest value
    when `upper` is set (the end of a range: "10" up to "105959.999999").
    """
    match = _TIME_RE.fullmatch(value.strip())
    if not match:
        return ""
    hours, minutes, seconds, fraction = match.groups()
    fill = "9" if upper else "0"
    minutes = minutes or ("59" if upper else "00")
    seconds = seconds or ("59" if upper else "00")
    if fraction is None:
        fraction = fill * 6
    else:
        fraction = fraction.ljust(6, fill if upper else "0")
    return f"{hours}{minutes}{seconds}.{fraction}"
