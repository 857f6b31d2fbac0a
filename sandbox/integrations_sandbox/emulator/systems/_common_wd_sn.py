"""What the Workday and ServiceNow emulators share: ordered ids and offset paging over a `Dataset`.

Both APIs page by offset over a result set with an exact total. A result set here is a `MergedView`: the
untouched base rows of an index range (whose timestamps rise with the index, so ranges are cheap to find)
merged with the few changed rows that match, in index or (timestamp, index) order. Counting it and finding
the row at any offset take arithmetic over the overlay, not a scan of the stream, so pages stay cheap at a
million records. Views whose base rows need a per-row filter fall back to scanning, resumed from a small
cache of (position -> cursor) entries so that sequential paging stays linear.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request

from integrations_sandbox.emulator.data import Dataset, Row

Cursor = tuple[int, int]
"""(next extra row, next base index) in a view's merge."""

ORDERS = ("index", "updated", "created")


def ordered_id(seed: int, stream: str, index: int) -> str:
    """A 32-hex id (a Workday WID or ServiceNow sys_id) whose lexical order is index order in `stream`."""
    return f"{id_prefix(seed, stream)}{index:08x}{_digest(seed, stream, index, size=9)}"


@functools.cache
def id_prefix(seed: int, stream: str) -> str:
    return _digest(seed, stream, "prefix", size=3)


def index_of_id(seed: int, stream: str, value: str) -> int | None:
    """The index whose `ordered_id` is `value`, or None if no index of the stream has that id."""
    if len(value) != 32 or not value.startswith(id_prefix(seed, stream)):
        return None
    try:
        index = int(value[6:14], 16)
    except ValueError:
        return None
    return index if ordered_id(seed, stream, index) == value else None


def first_index_with_id(seed: int, stream: str, value: str, size: int, *, strictly_after: bool) -> int:
    """The first index in [0, size] whose id is >= `value` (or > `value`), by binary search."""
    lo, hi = 0, size
    while lo < hi:
        mid = (lo + hi) // 2
        found = ordered_id(seed, stream, mid)
        if found > value or (found == value and not strictly_after):
            hi = mid
        else:
            lo = mid + 1
    return lo


def _digest(*parts: object, size: int) -> str:
    return hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=size).hexdigest()


def to_second(when: datetime) -> datetime:
    return when.replace(microsecond=0)


@dataclass(frozen=True)
class Overlay:
    """A snapshot of a dataset's changed rows: their sorted indexes and the rows themselves."""

    touched: list[int]
    rows: list[Row]


_overlays: dict[str, tuple[Dataset, int, Overlay]] = {}


def overlay_of(data: Dataset) -> Overlay:
    """The dataset's changes, sorted once per mutation rather than once per request."""
    cached = _overlays.get(data.stream)
    if cached is not None and cached[0] is data and cached[1] == data.mutations:
        return cached[2]
    with data.lock:
        rows = sorted(data.changes.values(), key=lambda r: r.index)
    overlay = Overlay([r.index for r in rows], rows)
    _overlays[data.stream] = (data, data.mutations, overlay)
    return overlay


def dataset_version(data: Dataset) -> tuple[str, int, int, int]:
    """Identifies a dataset's current content, for caches keyed by query."""
    return (data.stream, id(data), data.mutations, data.size)


class MergedView:
    """The rows one query selects from a dataset, in one order, with exact counts and offset access.

    Base rows are the untouched indexes in [lo, hi) that pass `base_filter` (None: all of them); `extras`
    are the changed rows that match, already filtered by the caller. `order` is "index", "updated"
    (second-truncated sys_updated_on then index) or "created".
    """

    def __init__(
        self,
        data: Dataset,
        lo: int,
        hi: int,
        extras: list[Row],
        order: str = "index",
        base_filter: Callable[[Row], bool] | None = None,
    ) -> None:
        assert order in ORDERS
        self.data = data
        self.lo = max(0, lo)
        self.hi = max(self.lo, min(hi, data.base_size))
        self.touched = overlay_of(data).touched
        self.order = order
        self.extras = sorted(extras, key=self.key)
        self.base_filter = base_filter

    def key(self, row: Row) -> Any:
        if self.order == "index":
            return row.index
        return (to_second(row.ts if self.order == "updated" else row.created), row.index)

    def base_key(self, index: int) -> Any:
        return index if self.order == "index" else (self.data.base_ts(index), index)

    def base_row(self, index: int) -> Row:
        ts = self.data.base_ts(index)
        return Row(index, ts, ts)

    def untouched(self, a: int, b: int) -> int:
        """How many untouched base indexes lie in [a, b)."""
        if b <= a:
            return 0
        return (b - a) - (bisect.bisect_left(self.touched, b) - bisect.bisect_left(self.touched, a))

    def count(self) -> int:
        """The exact number of rows (a scan only when base rows need a per-row filter)."""
        if self.base_filter is None:
            return self.untouched(self.lo, self.hi) + len(self.extras)
        return sum(1 for _ in self._forward((0, self.lo)))

    def page(
        self, offset: int, limit: int, *, descending: bool = False, cache_key: Hashable | None = None
    ) -> list[Row]:
        """`limit` rows from position `offset` (positions counted in the requested direction)."""
        if limit <= 0 or offset < 0:
            return []
        if self.base_filter is None:
            if descending:
                end = self.count() - offset
                return [] if end <= 0 else self._take(self._backward(self._split(end)), limit)
            return self._take(self._forward(self._split(offset)), limit)
        start = (len(self.extras), self.hi) if descending else (0, self.lo)
        resumed = _resume_cache.get((cache_key, offset, descending)) if cache_key is not None else None
        walk = self._backward if descending else self._forward
        rows = walk(resumed) if resumed is not None else self._skip(walk(start), offset)
        taken: list[Row] = []
        for row, cursor in rows:
            taken.append(row)
            if len(taken) == limit:
                if cache_key is not None:
                    _resume_cache.put((cache_key, offset + limit, descending), cursor)
                break
        return taken

    def scan(self) -> Iterator[Row]:
        """Every row in ascending order."""
        return (row for row, _ in self._forward((0, self.lo)))

    @staticmethod
    def _skip(rows: Iterator[tuple[Row, Cursor]], n: int) -> Iterator[tuple[Row, Cursor]]:
        for _ in range(n):
            if next(rows, None) is None:
                break
        return rows

    @staticmethod
    def _take(rows: Iterator[tuple[Row, Cursor]], limit: int) -> list[Row]:
        taken = []
        for row, _ in rows:
            taken.append(row)
            if len(taken) == limit:
                break
        return taken

    def _cut(self, row: Row) -> int:
        """How far into [lo, hi) the base rows ordered before the changed `row` reach."""
        if self.order == "index":
            cut = row.index
        else:
            when = to_second(row.ts if self.order == "updated" else row.created)
            first = self.data.first_index_at(when)
            after = self.data.first_index_at(when + timedelta(microseconds=1))
            cut = min(max(first, row.index + 1), after)
        return min(max(cut, self.lo), self.hi)

    def _split(self, position: int) -> Cursor:
        """The merge cursor at `position`: how many extras and up to which base index come before it."""
        lo, hi = 0, len(self.extras)
        while lo < hi:
            mid = (lo + hi) // 2
            if mid + self.untouched(self.lo, self._cut(self.extras[mid])) >= position:
                hi = mid
            else:
                lo = mid + 1
        extras_before = lo
        wanted = position - extras_before
        a, b = self.lo, self.hi
        while a < b:
            mid = (a + b) // 2
            if self.untouched(self.lo, mid) >= wanted:
                b = mid
            else:
                a = mid + 1
        return extras_before, a

    def _base_up(self, start: int) -> Iterator[int]:
        at = bisect.bisect_left(self.touched, start)
        index = start
        while index < self.hi:
            stop = self.touched[at] if at < len(self.touched) else self.hi
            yield from range(index, min(stop, self.hi))
            index, at = stop + 1, at + 1

    def _base_down(self, end: int) -> Iterator[int]:
        at = bisect.bisect_left(self.touched, end) - 1
        index = end - 1
        while index >= self.lo:
            stop = self.touched[at] if at >= 0 else self.lo - 1
            yield from range(index, max(stop, self.lo - 1), -1)
            index, at = stop - 1, at - 1

    def _forward(self, cursor: Cursor) -> Iterator[tuple[Row, Cursor]]:
        j, start = cursor
        bases = self._base_up(start)
        nxt = next(bases, None)
        keep = self.base_filter
        while nxt is not None or j < len(self.extras):
            if nxt is not None and (j >= len(self.extras) or self.base_key(nxt) < self.key(self.extras[j])):
                row, nxt = self.base_row(nxt), next(bases, None)
                if keep is None or keep(row):
                    yield row, (j, self.hi if nxt is None else nxt)
            else:
                j += 1
                yield self.extras[j - 1], (j, self.hi if nxt is None else nxt)

    def _backward(self, cursor: Cursor) -> Iterator[tuple[Row, Cursor]]:
        j, end = cursor
        bases = self._base_down(end)
        nxt = next(bases, None)
        keep = self.base_filter
        while nxt is not None or j > 0:
            if nxt is not None and (j == 0 or self.base_key(nxt) > self.key(self.extras[j - 1])):
                row, nxt = self.base_row(nxt), next(bases, None)
                if keep is None or keep(row):
                    yield row, (j, self.lo if nxt is None else nxt + 1)
            else:
                j -= 1
                yield self.extras[j], (j, self.lo if nxt is None else nxt + 1)


class LruCache:
    """A small bounded mapping for positions and counts; never holds records."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.items: OrderedDict[Hashable, Any] = OrderedDict()

    def get(self, key: Hashable) -> Any:
        if key in self.items:
            self.items.move_to_end(key)
            return self.items[key]
        return None

    def put(self, key: Hashable, value: Any) -> None:
        self.items[key] = value
        self.items.move_to_end(key)
        while len(self.items) > self.size:
            self.items.popitem(last=False)


_resume_cache = LruCache(512)


class TokenStore:
    """Bearer tokens with expiry (monotonic clock), bounded by dropping the oldest."""

    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self.tokens: OrderedDict[str, tuple[Any, float]] = OrderedDict()

    def issue(self, token: str, subject: Any, lifetime: float) -> None:
        self.tokens[token] = (subject, time.monotonic() + lifetime)
        while len(self.tokens) > self.capacity:
            self.tokens.popitem(last=False)

    def subject(self, token: str) -> Any:
        """Whom the token was issued to, or None if unknown or expired."""
        found = self.tokens.get(token)
        if found is None or found[1] <= time.monotonic():
            return None
        return found[0]


def bearer_token(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def instance_url(request: Request) -> str:
    """The system's base URL as the client reached it (scheme, host and mount prefix)."""
    return str(request.url.replace(path=request.scope.get("root_path", ""), query="")).rstrip("/")


def page_url(request: Request, **params: object) -> str:
    """The request's own URL with some query parameters replaced."""
    query = dict(request.query_params)
    query.update({k: str(v) for k, v in params.items()})
    return str(request.url.include_query_params(**query))


def utc(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
