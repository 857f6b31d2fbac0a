"""Stripe list semantics over datasets by index: newest first, id cursors, created ranges, and events.

Records of one stream are created in index order, so "newest first" is "highest index first" and a
`created` range is an index range found by bisection. Events are keyed by (time in ms, kind, index,
change); their ids encode that key in base 62, so an event cursor decodes to a position too. Events of
base records are generated from the rows; events of changes come from the dataset's overlay.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from fnmatch import fnmatchcase
from itertools import islice

from integrations_sandbox.emulator.data import Dataset, Row
from integrations_sandbox.emulator.systems.stripe_render import (
    KIND_BY_NUMBER,
    KINDS,
    Kind,
    decode,
    encode,
)

MAX_LIMIT = 100
DEFAULT_LIMIT = 10
RETENTION_MS = 30 * 24 * 3600 * 1000
NO_END = 2**62
CREATED, UPDATED, DELETED = 0, 1, 2
EventKey = tuple[int, int, int, int]
"""(milliseconds, kind number, record index, change): events sort by this, newest first."""

_LIST_PARAMS = {"limit", "starting_after", "ending_before", "created", "expand", "expand[]"}
_CREATED_OPS = {"gte", "gt", "lte", "lt"}
_EVENT_PARAMS = {"type", "types", "types[]", "delivery_success"}


class ParamError(Exception):
    """A request parameter Stripe would refuse: answered as a 400 invalid_request_error."""

    def __init__(self, message: str, param: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message, self.param, self.code = message, param, code


@dataclass(frozen=True)
class ListQuery:
    """A list request's parameters, with `created` folded into [gte, lt) seconds."""

    limit: int = DEFAULT_LIMIT
    starting_after: str | None = None
    ending_before: str | None = None
    created_gte: int | None = None
    created_lt: int | None = None
    types: tuple[str, ...] = ()


def parse_query(items: Iterable[tuple[str, str]], *, events: bool = False) -> ListQuery:
    """Validate a list's query string as Stripe does: unknown parameters and bad values are errors."""
    limit, cursors, types = DEFAULT_LIMIT, {}, []
    gte: int | None = None
    lt: int | None = None
    for name, value in items:
        if name == "limit":
            limit = _integer(name, value)
            if not 1 <= limit <= MAX_LIMIT:
                edge = "greater than or equal to 1" if limit < 1 else f"less than or equal to {MAX_LIMIT}"
                raise ParamError(f"This value must be {edge}.", "limit")
        elif name in ("starting_after", "ending_before"):
            cursors[name] = value
        elif name == "created" or (name.startswith("created[") and name[8:-1] in _CREATED_OPS):
            seconds = _integer(name, value)
            op = name[8:-1] if name != "created" else "eq"
            low = seconds + 1 if op == "gt" else seconds if op in ("gte", "eq") else None
            high = seconds + 1 if op in ("lte", "eq") else seconds if op == "lt" else None
            gte = low if gte is None or (low is not None and low > gte) else gte
            lt = high if lt is None or (high is not None and high < lt) else lt
        elif events and name in _EVENT_PARAMS:
            types += [value] if name != "delivery_success" else []
        elif name not in _LIST_PARAMS and not name.startswith("expand["):
            raise ParamError(f"Received unknown parameter: {name}", name, "parameter_unknown")
    if len(cursors) > 1:
        raise ParamError(
            "You may only specify one of these parameters: ending_before, starting_after.", "ending_before"
        )
    return ListQuery(
        limit, cursors.get("starting_after"), cursors.get("ending_before"), gte, lt, tuple(types)
    )


def _integer(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ParamError(f"Invalid integer: {value}", name, "parameter_invalid_integer") from None


def record_page(
    dataset: Dataset, query: ListQuery, after: int | None, before: int | None
) -> tuple[list[Row], bool]:
    """One page of live rows, newest first, and whether more lie beyond it in the paging direction."""
    lo, hi = _created_range(dataset, query)
    if after is not None:
        hi = min(hi, after)
    if before is not None:
        lo = max(lo, before + 1)
        rows = _live(dataset, range(lo, hi), query.limit + 1)
        return rows[: query.limit][::-1], len(rows) > query.limit
    rows = _live(dataset, range(hi - 1, lo - 1, -1), query.limit + 1)
    return rows[: query.limit], len(rows) > query.limit


def _created_range(dataset: Dataset, query: ListQuery) -> tuple[int, int]:
    def seconds(index: int) -> int:
        row = dataset.row(index)
        return int(row.created.timestamp()) if row else 0

    indexes = range(dataset.size)
    lo = 0 if query.created_gte is None else bisect.bisect_left(indexes, query.created_gte, key=seconds)
    hi = (
        len(indexes)
        if query.created_lt is None
        else bisect.bisect_left(indexes, query.created_lt, key=seconds)
    )
    return lo, max(lo, hi)


def _live(dataset: Dataset, indexes: range, count: int) -> list[Row]:
    found = []
    for index in indexes:
        row = dataset.row(index)
        if row is not None and not row.deleted:
            found.append(row)
            if len(found) == count:
                break
    return found


def event_id(key: EventKey) -> str:
    millis, kind, index, change = key
    return f"evt_{encode(millis, 8)}{encode(kind, 1)}{encode(index, 6)}{change}"


def event_key(text: str) -> EventKey | None:
    if not text.startswith("evt_") or len(text) != 20 or text[-1] not in "012":
        return None
    when, number, index = decode(text[4:12]), decode(text[12:13]), decode(text[13:19])
    if when is None or index is None or number not in KIND_BY_NUMBER:
        return None
    return when, number, index, int(text[-1])  # type: ignore[return-value]


def millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def event_type(kind: Kind, change: int, charge_status: Callable[[], str]) -> str:
    if change == CREATED:
        return f"charge.{charge_status()}" if kind.stream == "charges" else f"{kind.event_object}.created"
    return f"{kind.event_object}.{'updated' if change == UPDATED else 'deleted'}"


def possible_types(kind: Kind) -> list[str]:
    created = ["charge.succeeded", "charge.failed", "charge.pending"] if kind.stream == "charges" else []
    changes = ["created", "updated", "deleted"] if kind.deletable else ["created", "updated"]
    return created + [f"{kind.event_object}.{change}" for change in changes]


def matches(event: str, patterns: tuple[str, ...]) -> bool:
    return not patterns or any(fnmatchcase(event, pattern) for pattern in patterns)


class EventLog:
    """The events of every stream in the retention window, in key order, without listing them all."""

    def __init__(self, datasets: Callable[[str], Dataset]) -> None:
        self.datasets = datasets

    def keys(
        self,
        *,
        lo_ms: int,
        hi_ms: int,
        after: EventKey | None = None,
        before: EventKey | None = None,
        kinds: Iterable[Kind] = KINDS.values(),
    ) -> Iterator[EventKey]:
        """Keys in [lo_ms, hi_ms): descending below `after`, or ascending above `before`."""
        descending = before is None
        sources: list[Iterator[EventKey]] = []
        for kind in kinds:
            dataset = self.datasets(kind.stream)
            sources.append(self._created(kind, dataset, lo_ms, hi_ms, descending))
            sources.append(iter(self._changes(kind, dataset, lo_ms, hi_ms, descending)))
        merged = heapq.merge(*sources, reverse=descending)
        if after is not None:
            return (key for key in merged if key < after)
        if before is not None:
            return (key for key in merged if key > before)
        return merged

    def exists(self, key: EventKey) -> bool:
        when, number, index, change = key
        kind = KIND_BY_NUMBER[number]
        row = self.datasets(kind.stream).row(index)
        if row is None:
            return False
        if change == CREATED:
            return millis(row.created) == when
        return any(k == key for k in self._changes(kind, self.datasets(kind.stream), when, when + 1, True))

    def _created(
        self, kind: Kind, dataset: Dataset, lo_ms: int, hi_ms: int, desc: bool
    ) -> Iterator[EventKey]:
        def created_ms(index: int) -> int:
            row = dataset.row(index)
            return millis(row.created) if row else 0

        indexes = range(dataset.size)
        lo = bisect.bisect_left(indexes, lo_ms, key=created_ms)
        hi = max(lo, bisect.bisect_left(indexes, hi_ms, key=created_ms))
        for index in range(hi - 1, lo - 1, -1) if desc else range(lo, hi):
            yield created_ms(index), kind.number, index, CREATED

    def _changes(self, kind: Kind, dataset: Dataset, lo_ms: int, hi_ms: int, desc: bool) -> list[EventKey]:
        with dataset.lock:
            rows = list(dataset.changes.values())
        keys = []
        for row in rows:
            change = DELETED if row.deleted else UPDATED if row.ts != row.created else None
            if change is None or (change == DELETED and not kind.deletable):
                continue
            when = millis(row.ts)
            if lo_ms <= when < hi_ms:
                keys.append((when, kind.number, row.index, change))
        return sorted(keys, reverse=desc)


def take(
    keys: Iterator[EventKey], wanted: Callable[[EventKey], bool], limit: int
) -> tuple[list[EventKey], bool]:
    """Up to `limit` wanted keys and whether another one follows."""
    found = list(islice((key for key in keys if wanted(key)), limit + 1))
    return found[:limit], len(found) > limit
