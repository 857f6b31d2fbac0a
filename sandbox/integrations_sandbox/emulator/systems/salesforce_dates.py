"""SOQL date literals (`TODAY`, `LAST_N_DAYS:7`, `THIS_QUARTER`, ...) as half-open UTC ranges.

As the SOQL reference defines them, for a user whose time zone is UTC, weeks starting on Sunday (the
en_US locale) and a fiscal year that is the calendar year (the default). `now` is the real clock, so a
literal finds the records changed recently (the admin API's mutations), not the generated history.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

Range = tuple[datetime, datetime]
_UNITS = "(DAYS|WEEKS|MONTHS|QUARTERS|YEARS)"
_PARAMETRIC = re.compile(rf"(LAST|NEXT)_N_{_UNITS}|N_{_UNITS}_AGO")
_MAX_N = 1000


def _months(when: datetime, months: int) -> datetime:
    total = when.year * 12 + when.month - 1 + months
    return when.replace(year=total // 12, month=total % 12 + 1, day=1)


def _period_start(unit: str, day: datetime) -> datetime:
    if unit == "DAYS":
        return day
    if unit == "WEEKS":
        return day - timedelta(days=(day.weekday() + 1) % 7)
    if unit == "MONTHS":
        return day.replace(day=1)
    if unit == "QUARTERS":
        return day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)
    return day.replace(month=1, day=1)


def _shift(unit: str, start: datetime, count: int) -> datetime:
    if unit == "DAYS":
        return start + timedelta(days=count)
    if unit == "WEEKS":
        return start + timedelta(weeks=count)
    months = {"MONTHS": 1, "QUARTERS": 3}.get(unit, 12)
    return _months(start, months * count)


def _relative(unit: str, day: datetime, which: str, n: int) -> Range:
    """`which` is LAST, THIS, NEXT or AGO, for n periods of `unit` around `day`."""
    start = _period_start(unit, day)
    if which == "THIS":
        return start, _shift(unit, start, 1)
    if which == "AGO":
        begin = _shift(unit, start, -n)
        return begin, _shift(unit, begin, 1)
    if unit == "DAYS":  # LAST_N_DAYS includes today; NEXT_N_DAYS starts tomorrow
        tomorrow = start + timedelta(days=1)
        return (
            (start - timedelta(days=n), tomorrow)
            if which == "LAST"
            else (tomorrow, _shift(unit, tomorrow, n))
        )
    following = _shift(unit, start, 1)
    return (_shift(unit, start, -n), start) if which == "LAST" else (following, _shift(unit, following, n))


_FIXED = {
    "YESTERDAY": ("DAYS", "AGO", 1), "TODAY": ("DAYS", "THIS", 0), "TOMORROW": ("DAYS", "NEXT", 1),
    "LAST_WEEK": ("WEEKS", "AGO", 1), "THIS_WEEK": ("WEEKS", "THIS", 0), "NEXT_WEEK": ("WEEKS", "NEXT", 1),
    "LAST_MONTH": ("MONTHS", "AGO", 1), "THIS_MONTH": ("MONTHS", "THIS", 0),
    "NEXT_MONTH": ("MONTHS", "NEXT", 1), "LAST_90_DAYS": ("DAYS", "LAST", 90),
    "NEXT_90_DAYS": ("DAYS", "NEXT", 90), "LAST_QUARTER": ("QUARTERS", "AGO", 1),
    "THIS_QUARTER": ("QUARTERS", "THIS", 0), "NEXT_QUARTER": ("QUARTERS", "NEXT", 1),
    "LAST_YEAR": ("YEARS", "AGO", 1), "THIS_YEAR": ("YEARS", "THIS", 0), "NEXT_YEAR": ("YEARS", "NEXT", 1),
}  # fmt: skip


def date_literal(text: str, now: datetime | None = None) -> Range | None:
    """The [start, end) range of a date literal, or None when `text` is not one. Raises ValueError for a
    parametric literal with a bad n."""
    today = (now or datetime.now(UTC)).astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    name, _, number = text.upper().replace("FISCAL_", "").partition(":")  # the fiscal year is the calendar's
    if name in _FIXED and not number:
        unit, which, n = _FIXED[name]
        return _relative(unit, today, which, n)
    match = _PARAMETRIC.fullmatch(name)
    if match is None:
        return None
    if not number.isdigit() or not 0 <= int(number) <= _MAX_N:
        raise ValueError(f"date literal {name} needs a number from 0 to {_MAX_N} after the colon")
    if match.group(1):
        return _relative(match.group(2), today, match.group(1), int(number))
    return _relative(match.group(3), today, "AGO", int(number))
