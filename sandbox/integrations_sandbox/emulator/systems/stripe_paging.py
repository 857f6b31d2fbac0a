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
from typing import Any

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

_PAGING_PARAMS = {"limit", "starting_after", "ending_before", "created", "expand"}
_RANGE_OPS = {"gte", "gt", "lte", "lt"}
_SUBSCRIPTION_STATUSES = (
    "active", "all", "canceled", "ended", "incomplete", "incomplete_expired",
    "past_due", "paused", "trialing", "unpaid",
)  # fmt: skip
_ENUMS = {
    ("invoices", "status"): ("draft", "open", "paid", "uncollectible", "void"),
    ("invoices", "collection_method"): ("charge_automatically", "send_invoice"),
    ("subscriptions", "status"): _SUBSCRIPTION_STATUSES,
    ("subscriptions", "collection_method"): ("charge_automatically", "send_invoice"),
}
FILTERS: dict[str, dict[str, str]] = {
    "customers": {"email": "equals", "test_clock": "equals"},
    "charges": {"customer": "equals", "payment_intent": "equals", "transfer_group": "equals"},
    "invoices": {
        "collection_method": "equals",
        "customer": "equals",
        "due_date": "range",
        "status": "equals",
        "subscription": "equals",
    },
    "subscriptions": {
        "automatic_tax": "automatic_tax",
        "collection_method": "equals",
        "current_period_end": "range",
        "current_period_start": "range",
        "customer": "equals",
        "price": "price",
        "status": "status",
        "test_clock": "equals",
    },
    "events": {"type": "events", "types": "events", "delivery_success": "boolean"},
}
"""The documented filters of each list endpoint (besides paging and `created`), by how they match."""

Record = dict[str, Any]
Matcher = Callable[[Record], bool]


class ParamError(Exception):
    """A request parameter Stripe would refuse: answered as a 400 invalid_request_error."""

    def __init__(self, message: str, param: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message, self.param, self.code = message, param, code


@dataclass(frozen=True)
class ListQuery:
    """A list request's parameters, with `created` folded into [gte, lt) seconds and every other filter
    a matcher on the rendered record."""

    limit: int = DEFAULT_LIMIT
    starting_after: str | None = None
    ending_before: str | None = None
    created_gte: int | None = None
    created_lt: int | None = None
    types: tuple[str, ...] = ()
    matchers: tuple[Matcher, ...] = ()
    expand: tuple[str, ...] = ()

    def keeps(self, record: Record) -> bool:
        return all(matcher(record) for matcher in self.matchers)


def parse_query(items: Iterable[tuple[str, str]], *, resource: str = "", events: bool = False) -> ListQuery:
    """Validate a list's query string as Stripe does: unknown parameters and bad values are errors."""
    resource = "events" if events else resource
    filters = FILTERS.get(resource, {})
    limit, cursors, types, expand = DEFAULT_LIMIT, {}, [], []
    ranges: dict[str, list[int | None]] = {}
    equals: dict[str, str] = {}
    for name, value in items:
        head, _, rest = name.partition("[")
        op = rest.removesuffix("]")
        if name == "limit":
            limit = _integer(name, value)
            if not 1 <= limit <= MAX_LIMIT:
                edge = "greater than or equal to 1" if limit < 1 else f"less than or equal to {MAX_LIMIT}"
                raise ParamError(f"This value must be {edge}.", "limit")
        elif name in ("starting_after", "ending_before"):
            cursors[name] = value
        elif head == "expand" and op in ("", *map(str, range(MAX_LIMIT))):
            expand.append(value)
        elif (head == "created" or filters.get(head) == "range") and (not op or op in _RANGE_OPS):
            _narrow(ranges.setdefault(head, [None, None]), op or "eq", _integer(name, value))
        elif filters.get(head) == "events" and (not op or head == "types"):
            types.append(value)
        elif filters.get(head) == "boolean" and not op:
            _boolean(name, value)
        elif filters.get(head) == "automatic_tax" and op == "enabled":
            equals[name] = str(_boolean(name, value)).lower()
        elif head in filters and not op:
            allowed = _ENUMS.get((resource, head))
            if allowed is not None and value not in allowed:
                raise ParamError(f"Invalid {head}: must be one of {', '.join(allowed)}", head)
            equals[head] = value
        else:
            raise ParamError(f"Received unknown parameter: {name}", name, "parameter_unknown")
    if len(cursors) > 1:
        raise ParamError(
            "You may only specify one of these parameters: ending_before, starting_after.", "ending_before"
        )
    created = ranges.pop("created", [None, None])
    matchers = [_range_matcher(field, low, high) for field, (low, high) in ranges.items()]
    matchers += [_matcher(resource, field, value) for field, value in equals.items()]
    if resource == "subscriptions" and "status" not in equals:
        # Stripe leaves canceled subscriptions out unless a status asks for them (`all`, `canceled`).
        matchers.append(lambda record: record.get("status") != "canceled")
    return ListQuery(
        limit,
        cursors.get("starting_after"),
        cursors.get("ending_before"),
        created[0],
        created[1],
        tuple(types),
        tuple(matchers),
        tuple(expand),
    )


def _narrow(bounds: list[int | None], op: str, seconds: int) -> None:
    """Fold one range condition into [gte, lt)."""
    low = seconds + 1 if op == "gt" else seconds if op in ("gte", "eq") else None
    high = seconds + 1 if op in ("lte", "eq") else seconds if op == "lt" else None
    if low is not None and (bounds[0] is None or low > bounds[0]):
        bounds[0] = low
    if high is not None and (bounds[1] is None or high < bounds[1]):
        bounds[1] = high


def _range_matcher(field: str, low: int | None, high: int | None) -> Matcher:
    def matches(record: Record) -> bool:
        value = record.get(field)
        return isinstance(value, int) and (low is None or value >= low) and (high is None or value < high)

    return matches


def _matcher(resource: str, field: str, value: str) -> Matcher:
    if field == "automatic_tax[enabled]":
        return lambda record: str(record["automatic_tax"]["enabled"]).lower() == value
    if field == "price":
        return lambda record: any(item["price"]["id"] == value for item in record["items"]["data"])
    if resource == "subscriptions" and field == "status":
        if value == "all":
            return lambda record: True
        if value == "ended":
            return lambda record: record.get("status") in ("canceled", "incomplete_expired")
    return lambda record: _identity(record.get(field)) == value


def _identity(value: Any) -> Any:
    """An expandable field's id, whether or not it was expanded."""
    return value["id"] if isinstance(value, dict) and "id" in value else value


def _boolean(name: str, value: str) -> bool:
    if value not in ("true", "false"):
        raise ParamError(f"Invalid boolean: {value}", name, "parameter_invalid_boolean")
    return value == "true"


def _integer(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ParamError(f"Invalid integer: {value}", name, "parameter_invalid_integer") from None


def record_page(
    dataset: Dataset,
    query: ListQuery,
    after: int | None,
    before: int | None,
    render: Callable[[Row], Record | None],
) -> tuple[list[Record], bool]:
    """One page of listed records, newest first, and whether more lie beyond it in the paging direction.

    `render` gives a row's record, or None where the list leaves it out (a deleted object); the query's
    filters then pick from those records.
    """
    lo, hi = _created_range(dataset, query)
    if after is not None:
        hi = min(hi, after)
    if before is not None:
        lo = max(lo, before + 1)
        found = _matching(dataset, range(lo, hi), query, render)
        return found[: query.limit][::-1], len(found) > query.limit
    found = _matching(dataset, range(hi - 1, lo - 1, -1), query, render)
    return found[: query.limit], len(found) > query.limit


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


def _matching(
    dataset: Dataset, indexes: range, query: ListQuery, render: Callable[[Row], Record | None]
) -> list[Record]:
    """Up to limit + 1 records, so the caller knows whether another follows."""
    found = []
    for index in indexes:
        row = dataset.row(index)
        record = None if row is None else render(row)
        if record is not None and query.keeps(record):
            found.append(record)
            if len(found) > query.limit:
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
