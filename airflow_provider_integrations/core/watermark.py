"""Incremental reads: composite (timestamp, id) cursors and [start, end) windows with lookback.

A cursor on the timestamp alone misses records that share the last timestamp of a page or a run. The
composite cursor orders by (timestamp, id); windows have an inclusive lower bound and an exclusive upper
bound, so consecutive windows neither overlap nor leave gaps, and a lookback re-reads a margin whose
duplicates the MERGE downstream removes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow_provider_integrations.core.errors import ConfigError, TransientError


def require_aware(value: datetime, what: str) -> datetime:
    """Return `value` in UTC, refusing naive datetimes whose zone would be a guess."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ConfigError(f"{what} must be timezone-aware, got naive {value.isoformat()}")
    return value.astimezone(UTC)


def parse_timestamp(value: Any, what: str = "timestamp", *, naive_is_utc: bool = False) -> datetime:
    """Parse ISO 8601 strings (with `Z` or an offset), Unix seconds, or aware datetimes into UTC.

    Values without a zone are refused unless `naive_is_utc` says the source writes UTC without one
    (NetSuite, ServiceNow).
    """
    if isinstance(value, str):  # first: what APIs send, parsed for every timestamp field of every record
        text = value.strip()
        try:
            # Python 3.11 reads `Z` and `+0000` (Salesforce's `.000+0000`) itself: the fast path.
            parsed = datetime.fromisoformat(text)
        except ValueError:
            parsed = _with_colon_offset(text, value, what)
        if parsed.tzinfo is UTC:
            return parsed
        if naive_is_utc and parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        return require_aware(parsed, what)
    if isinstance(value, datetime):
        if naive_is_utc and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return require_aware(value, what)
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            raise ConfigError(f"{what}: {value!r} is not a valid Unix timestamp in seconds") from None
    raise ConfigError(f"{what}: expected a timestamp, got {type(value).__name__}")


def _with_colon_offset(text: str, value: str, what: str) -> datetime:
    """Forms `fromisoformat` refuses as they are but reads once `Z` and `+HHMM` become `+HH:MM`
    (a date with `Z`, `2024-03-05Z`)."""
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    if len(text) >= 5 and text[-5] in "+-" and text[-4:].isdigit() and ":" not in text[-5:]:
        text = f"{text[:-2]}:{text[-2:]}"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"{what}: cannot parse {value!r} as an ISO 8601 timestamp") from None


@dataclass(frozen=True, order=True)
class Cursor:
    """Position in a stream ordered by (timestamp, id)."""

    ts: datetime
    id: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "ts", require_aware(self.ts, "cursor timestamp"))

    def to_json(self) -> dict[str, str]:
        return {"ts": self.ts.isoformat(), "id": self.id}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Cursor:
        try:
            return cls(parse_timestamp(data["ts"], "cursor ts"), str(data["id"]))
        except KeyError as missing:
            raise ConfigError(f"cursor is missing {missing}; expected {{'ts': ..., 'id': ...}}") from None

    def is_passed_by(self, ts: datetime, record_id: str) -> bool:
        """True when a record at (ts, record_id) comes strictly after this cursor."""
        return (require_aware(ts, "record timestamp"), record_id) > (self.ts, self.id)


class CursorTracker:
    """Follows the highest (timestamp, id) seen in a read; `high` is the cursor to store afterwards."""

    def __init__(self, start: Cursor | None = None) -> None:
        self.high = start

    def observe(self, ts: datetime, record_id: str) -> None:
        cursor = Cursor(ts, record_id)
        if self.high is None or cursor > self.high:
            self.high = cursor


@dataclass(frozen=True)
class Window:
    """A half-open time window [start, end) in UTC."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        start = require_aware(self.start, "window start")
        end = require_aware(self.end, "window end")
        if end <= start:
            raise ConfigError(f"window end {end.isoformat()} must be after start {start.isoformat()}")
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)

    def contains(self, ts: datetime) -> bool:
        return self.start <= require_aware(ts, "timestamp") < self.end

    def with_lookback(self, lookback: timedelta) -> Window:
        """The same window reaching `lookback` further into the past, for late-arriving changes."""
        if lookback < timedelta(0):
            raise ConfigError(f"lookback must not be negative, got {lookback}")
        return Window(self.start - lookback, self.end)

    def split(self, step: timedelta) -> Iterator[Window]:
        """Consecutive sub-windows of at most `step`, covering this window exactly."""
        if step <= timedelta(0):
            raise ConfigError(f"window step must be positive, got {step}")
        lower = self.start
        while lower < self.end:
            upper = min(lower + step, self.end)
            yield Window(lower, upper)
            lower = upper


@dataclass(frozen=True)
class ReadMark:
    """How far one extract read, so that the next `mode="auto"` read carries on from there.

    `start` is the window's start (None for a full read); `until` its end, or for a full read the moment
    the read began; `high` the latest change time among the records read (None when none carried one).
    A mark describes what was read, never when a run was dated: a run's logical date or start date can
    lie in the future of the data (a manual run dated ahead, a skewed clock), its records cannot.
    """

    start: datetime | None
    until: datetime
    high: datetime | None

    def __post_init__(self) -> None:
        if self.start is not None:
            object.__setattr__(self, "start", require_aware(self.start, "read mark start"))
        object.__setattr__(self, "until", require_aware(self.until, "read mark until"))
        if self.high is not None:
            object.__setattr__(self, "high", require_aware(self.high, "read mark high"))

    def resume_from(self, lookback: timedelta) -> datetime:
        """The earliest change time the next read must include.

        After the latest change read (never past `until`, so a record dated in the future cannot push
        the next read ahead), minus `lookback`. A window that read nothing starts the next one where it
        started itself (that start already has its lookback); a full read that saw no change time
        resumes from when it began.
        """
        if lookback < timedelta(0):
            raise ConfigError(f"lookback must not be negative, got {lookback}")
        if self.high is not None:
            return min(self.high, self.until) - lookback
        if self.start is not None:
            return self.start
        return self.until - lookback

    def to_json(self) -> dict[str, str | None]:
        return {
            "start": None if self.start is None else self.start.isoformat(),
            "until": self.until.isoformat(),
            "high": None if self.high is None else self.high.isoformat(),
        }

    @classmethod
    def from_json(cls, data: Any) -> ReadMark:
        if not isinstance(data, dict) or not isinstance(data.get("until"), str):
            raise ConfigError(f"a read mark is {{'start', 'until', 'high'}} with `until` set, got {data!r}")

        def stamp(name: str) -> datetime | None:
            value = data.get(name)
            return None if value is None else parse_timestamp(value, f"read mark {name}")

        return cls(stamp("start"), parse_timestamp(data["until"], "read mark until"), stamp("high"))


def window_after(
    mark: ReadMark | None, *, interval_end: datetime | None, now: datetime, lookback: timedelta
) -> Window | None:
    """The window of a `mode="auto"` read: from where the last successful read left off (`mark`, minus
    `lookback`) to the end of this run's data interval, never past `now`. None (read everything) when
    nothing was read before.

    The end is capped at `now` because changes after `now` do not exist yet: a run dated in the future
    reads what exists and the next run carries on from what it actually read, so nothing is skipped.
    A start at or after the end means the previous read got further than this run may go, and it is
    refused with both times named rather than read as an empty or inverted window: a re-run of an
    interval older than what was already read fails (re-read it with mode incremental or full); a
    start after `now` (clocks that disagree) is retried, as the clock will pass it.
    """
    if mark is None:
        return None
    now = require_aware(now, "now")
    end = now if interval_end is None else min(require_aware(interval_end, "data interval end"), now)
    start = mark.resume_from(lookback)
    if start < end:
        return Window(start, end)
    reached = f"the last successful read reached changes up to {start.isoformat()} (lookback applied)"
    if end == now:
        raise TransientError(
            f"{reached}, after this worker's clock ({now.isoformat()}): the clocks of the workers or the "
            "source disagree; retrying later rather than reading an empty window"
        )
    raise ConfigError(
        f"{reached}, after this run's data interval ends ({end.isoformat()}): the interval was already "
        "read by a later read; re-run a past interval with mode='incremental' or 'full'"
    )
