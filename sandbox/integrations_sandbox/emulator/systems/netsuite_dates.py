"""Dates as NetSuite's SuiteQL shows them: by the account's date preferences, or by an Oracle format.

A SuiteQL answer carries DATE and TIMESTAMP columns as text in the user's preferences (Set Preferences >
Localization): a US account's default is `M/D/YYYY` dates and `h:mm a` times, so a timestamp reads
`5/12/2026 3:04 pm`, without seconds or zone; a German one `D.M.YYYY` and `H:mm` (`12.5.2026 15:04`).
A query that needs a fixed shape asks for it with Oracle's `TO_CHAR(column, 'YYYY-MM-DD"T"HH24:MI:SS')`
and writes literals with `TO_TIMESTAMP('...', '<format>')` / `TO_DATE`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime


class DateFormatError(ValueError):
    """A format model or a literal Oracle refuses (the query is then a 400, as NetSuite answers)."""


_ORACLE_TOKEN = re.compile(r'"[^"]*"|HH24|HH12|YYYY|A\.M\.|P\.M\.|AM|PM|MI|SS|MM|DD|HH|[-/,.:; ]|.', re.I)
_ORACLE_STRF = {
    "YYYY": "%Y",
    "MM": "%m",
    "DD": "%d",
    "HH24": "%H",
    "HH12": "%I",
    "HH": "%I",
    "MI": "%M",
    "SS": "%S",
    "AM": "%p",
    "PM": "%p",
    "A.M.": "%p",
    "P.M.": "%p",
}
_PREFERENCE_TOKEN = re.compile(r"YYYY|MONTH|Mon|MM|M|DD|D|HH|H|hh|h|mm|ss|a|[-/,.: ]|.")
DATE_FORMATS = ("M/D/YYYY", "D/M/YYYY", "MM/DD/YYYY", "DD/MM/YYYY", "D.M.YYYY", "DD.MM.YYYY",
                "YYYY/M/D", "YYYY-MM-DD", "D-Mon-YYYY", "DD-Mon-YYYY")  # fmt: skip
"""Date formats NetSuite offers as a preference (a selection of them)."""
TIME_FORMATS = ("h:mm a", "hh:mm a", "H:mm", "HH:mm", "h:mm:ss a", "H:mm:ss")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True)
class DatePreferences:
    """The account's date and time format preferences, which SuiteQL uses for unformatted columns."""

    date_format: str = "M/D/YYYY"
    time_format: str = "h:mm a"

    def __post_init__(self) -> None:
        if self.date_format not in DATE_FORMATS:
            raise ValueError(f"date_format must be one of {list(DATE_FORMATS)}, not {self.date_format!r}")
        if self.time_format not in TIME_FORMATS:
            raise ValueError(f"time_format must be one of {list(TIME_FORMATS)}, not {self.time_format!r}")

    def date(self, value: datetime) -> str:
        return _by_preference(self.date_format, value)

    def timestamp(self, value: datetime) -> str:
        return f"{self.date(value)} {_by_preference(self.time_format, value)}"


def _by_preference(pattern: str, value: datetime) -> str:
    out = []
    hour12 = value.hour % 12 or 12
    for token in _PREFERENCE_TOKEN.findall(pattern):
        out.append(
            {
                "YYYY": f"{value.year:04d}",
                "MM": f"{value.month:02d}",
                "M": str(value.month),
                "Mon": _MONTHS[value.month - 1],
                "DD": f"{value.day:02d}",
                "D": str(value.day),
                "HH": f"{value.hour:02d}",
                "H": str(value.hour),
                "hh": f"{hour12:02d}",
                "h": str(hour12),
                "mm": f"{value.minute:02d}",
                "ss": f"{value.second:02d}",
                "a": "am" if value.hour < 12 else "pm",
            }.get(token, token)
        )
    return "".join(out)


def strftime_pattern(oracle_format: str) -> str:
    """An Oracle datetime format model as a strftime/strptime pattern; ORA-01821 for what it lacks."""
    parts = []
    for token in _ORACLE_TOKEN.findall(oracle_format):
        if token.startswith('"'):
            parts.append(token[1:-1].replace("%", "%%"))
        elif token.upper() in _ORACLE_STRF:
            parts.append(_ORACLE_STRF[token.upper()])
        elif token in "-/,.:; ":
            parts.append(token)
        else:
            raise DateFormatError(f"ORA-01821: date format not recognized: {oracle_format!r}")
    return "".join(parts)


def to_char(value: datetime, oracle_format: str) -> str:
    """`TO_CHAR(value, format)`: AM/PM as Oracle writes them, upper case."""
    return value.strftime(strftime_pattern(oracle_format))


def parse_oracle(text: str, oracle_format: str) -> datetime:
    """`TO_TIMESTAMP(text, format)` / `TO_DATE(text, format)` as an aware UTC datetime."""
    try:
        return datetime.strptime(text.strip(), strftime_pattern(oracle_format)).replace(tzinfo=UTC)
    except ValueError:
        raise DateFormatError(f"ORA-01861: literal does not match format string: {text!r}") from None
