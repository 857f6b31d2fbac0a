"""Running a query over a Dataset without materialising it.

Generated ("base") rows that no mutation touched have ids and timestamps that rise with the index, so a
WHERE on Id, SystemModstamp, LastModifiedDate, CreatedDate or External_Id__c is a set of index intervals,
found by bisection. When the whole WHERE is such a condition (the usual incremental or keyset query), the
count is arithmetic and no row is evaluated; otherwise the intervals bound a scan that evaluates each row.
The few changed rows (the dataset's overlay) are evaluated one by one and merged in.

Rows come out in (Id) or (timestamp, Id) order, ascending or descending, resumable after a key: a page
cursor is just the last key served. Other ORDER BY fields are sorted in memory, for small results only.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator
from functools import cmp_to_key
from itertools import chain
from typing import Any

from integrations_sandbox.emulator.data import Dataset, Row
from integrations_sandbox.emulator.systems.salesforce_schema import (
    Renderer,
    SObject,
    make_id,
    to_ms,
)
from integrations_sandbox.emulator.systems.salesforce_soql import (
    BoolOp,
    Compare,
    Cond,
    InList,
    Not,
    OrderItem,
    Query,
    SoqlError,
    compare,
    matches,
)

Intervals = list[tuple[int, int]]
Key = tuple[int, ...]
MAX_SORT = 50_000
_TIME_FIELDS = {"SystemModstamp": "ts", "LastModifiedDate": "ts", "CreatedDate": "created"}


class _Keys:
    """A virtual, sorted sequence of base-row keys, for bisection."""

    def __init__(self, size: int, key: Callable[[int], Any]) -> None:
        self.size = size
        self.key = key

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> Any:
        return self.key(index)


def _normal(intervals: Intervals) -> Intervals:
    merged: Intervals = []
    for lo, hi in sorted(i for i in intervals if i[0] < i[1]):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
        else:
            merged.append((lo, hi))
    return merged


def _intersect(a: Intervals, b: Intervals) -> Intervals:
    out, i, j = [], 0, 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if lo < hi:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def _complement(a: Intervals, size: int) -> Intervals:
    out, pos = [], 0
    for lo, hi in a:
        out.append((pos, lo))
        pos = hi
    out.append((pos, size))
    return _normal(out)


def _compared(keys: _Keys, op: str, value: Any) -> Intervals:
    size = len(keys)
    try:
        lo, hi = bisect_left(keys, value), bisect_right(keys, value)
    except TypeError:
        return [(0, size)] if op == "!=" else []
    spans = {
        "=": [(lo, hi)],
        "!=": [(0, lo), (hi, size)],
        "<": [(0, lo)],
        "<=": [(0, hi)],
        ">": [(hi, size)],
        ">=": [(lo, size)],
    }[op]
    return _normal(spans)


class _Planner:
    """The index intervals of base rows a condition can match, and whether they match exactly."""

    def __init__(self, obj: SObject, data: Dataset) -> None:
        self.obj = obj
        self.size = data.base_size
        self.all: Intervals = [(0, self.size)] if self.size else []
        self.ids = _Keys(self.size, lambda i: make_id(obj.key_prefix, i))
        self.times = _Keys(self.size, data.base_ts)

    def plan(self, cond: Cond | None) -> tuple[Intervals, bool]:
        if cond is None:
            return self.all, True
        if isinstance(cond, BoolOp):
            plans = [self.plan(p) for p in cond.parts]
            spans = plans[0][0]
            for other, _ in plans[1:]:
                spans = _intersect(spans, other) if cond.op == "AND" else _normal(spans + other)
            return spans, all(exact for _, exact in plans)
        if isinstance(cond, Not):
            spans, exact = self.plan(cond.part)
            return (_complement(spans, self.size), True) if exact else (self.all, False)
        if isinstance(cond, Compare):
            return self.compared(cond.field, cond.op, cond.value)
        if isinstance(cond, InList):
            spans: Intervals = []
            for value in cond.values:
                found, exact = self.compared(cond.field, "=", value)
                if not exact:
                    return self.all, False
                spans = _normal(spans + found)
            return (_complement(spans, self.size) if cond.negated else spans), True
        return self.all, False

    def compared(self, name: str, op: str, value: Any) -> tuple[Intervals, bool]:
        if value is None:
            # These fields are never null on a base row; other fields may be.
            known = name in ("Id", "IsDeleted", "External_Id__c", *_TIME_FIELDS)
            return (self.all if op == "!=" else []) if known else self.all, known
        if name == "IsDeleted":
            return (self.all if compare(False, op, value) else []), True
        if name == "Id":
            return (_compared(self.ids, op, value) if isinstance(value, str) else []), True
        if name in _TIME_FIELDS:
            return _compared(self.times, op, value), True
        if name == "External_Id__c" and op == "=" and isinstance(value, str):
            index = self.obj.external_index(value.upper())
            hit = index is not None and index < self.size
            return ([(index, index + 1)] if hit and index is not None else []), True
        return self.all, False


def order_kind(order: tuple[OrderItem, ...]) -> tuple[str, bool]:
    """("index" | "ts" | "created" | "sort", descending) for an ORDER BY."""
    if not order:
        return "index", False
    first, rest = order[0], order[1:]
    if rest and not (len(rest) == 1 and rest[0].field == "Id" and rest[0].desc == first.desc):
        return "sort", False
    if first.field == "Id" and not rest:
        return "index", first.desc
    if first.field in _TIME_FIELDS:
        return _TIME_FIELDS[first.field], first.desc
    return "sort", False


class Scan:
    """The rows of one query over one dataset, counted and iterated in the query's order."""

    def __init__(self, query: Query, data: Dataset, renderer: Renderer, include_deleted: bool) -> None:
        self.query = query
        self.data = data
        self.renderer = renderer
        with data.lock:
            changes = list(data.changes.values())
        self.size = data.base_size
        self.touched = {r.index for r in changes if r.index < self.size}
        self.intervals, self.exact = _Planner(query.obj, data).plan(query.where)
        self.kind, self.desc = order_kind(query.order)
        visible = [r for r in changes if (include_deleted or not r.deleted) and self.matches(r)]
        self.changed = sorted(visible, key=self.key, reverse=self.desc)

    def matches(self, row: Row) -> bool:
        if self.query.where is None:
            return True
        return matches(self.query.where, self.renderer.values(row).get)

    def key(self, row: Row) -> Key:
        if self.kind == "ts":
            return (to_ms(row.ts), row.index)
        if self.kind == "created":
            return (to_ms(row.created), row.index)
        return (row.index,)

    def base_key(self, index: int) -> Key:
        if self.kind in ("ts", "created"):
            return (to_ms(self.data.base_ts(index)), index)
        return (index,)

    def count(self) -> int:
        """How many rows match (before OFFSET and LIMIT), exactly."""
        if self.exact:
            base = sum(hi - lo for lo, hi in self.intervals)
            base -= sum(1 for index in self.touched if self._inside(index))
        else:
            base = sum(1 for _ in self._base(0, self.size))
        return base + len(self.changed)

    def _inside(self, index: int) -> bool:
        at = bisect_right(self.intervals, (index, self.size + 1)) - 1
        return at >= 0 and self.intervals[at][0] <= index < self.intervals[at][1]

    def rows(self, after: Key | None = None) -> Iterator[Row]:
        """Matching rows in order, starting after the row whose key is `after`."""
        if self.kind == "sort":
            raise ValueError("use sorted_rows() for this ORDER BY")
        return self._descending(after) if self.desc else self._ascending(after)

    def _ascending(self, after: Key | None) -> Iterator[Row]:
        keys = _Keys(self.size, self.base_key)
        pos = 0 if after is None else bisect_right(keys, after)
        for row in self.changed:
            key = self.key(row)
            if after is not None and key <= after:
                continue
            bound = bisect_right(keys, key)
            if bound > pos:
                yield from self._base(pos, bound)
                pos = bound
            yield row
        yield from self._base(pos, self.size)

    def _descending(self, after: Key | None) -> Iterator[Row]:
        keys = _Keys(self.size, self.base_key)
        pos = self.size if after is None else bisect_left(keys, after)
        for row in self.changed:
            key = self.key(row)
            if after is not None and key >= after:
                continue
            bound = bisect_right(keys, key)
            if bound < pos:
                yield from self._base(bound, pos, reverse=True)
                pos = bound
            yield row
        yield from self._base(0, pos, reverse=True)

    def _base(self, lo: int, hi: int, reverse: bool = False) -> Iterator[Row]:
        touched, base_ts = self.touched, self.data.base_ts
        check = None if self.exact or self.query.where is None else self.matches
        spans = reversed(self.intervals) if reverse else self.intervals
        for start, stop in spans:
            start, stop = max(start, lo), min(stop, hi)
            if start >= stop:
                continue
            indexes = range(stop - 1, start - 1, -1) if reverse else range(start, stop)
            for index in indexes:
                if index in touched:
                    continue
                ts = base_ts(index)
                row = Row(index, ts, ts)
                if check is None or check(row):
                    yield row

    def sorted_rows(self, needed: int | None) -> list[Row]:
        """Every matching row in ORDER BY order (or the first `needed`): for small results only."""
        order = self.query.order
        decorated = ((self._sort_values(row), row) for row in chain(self._base(0, self.size), self.changed))
        sort_key = cmp_to_key(lambda a, b: _compare_rows(order, a, b))
        if needed is not None and needed <= MAX_SORT:
            return [row for _, row in heapq.nsmallest(needed, decorated, key=sort_key)]
        if self.count() > MAX_SORT:
            names = ", ".join(item.field for item in order)
            raise SoqlError(
                "MALFORMED_QUERY",
                f"ORDER BY {names} needs a sort of more than {MAX_SORT} rows, which this sandbox refuses: "
                "order by Id or SystemModstamp, or add a LIMIT",
            )
        return [row for _, row in sorted(decorated, key=sort_key)]

    def _sort_values(self, row: Row) -> tuple[Any, ...]:
        values = self.renderer.values(row)
        return (*(values.get(item.field) for item in self.query.order), row.index)


def _compare_rows(
    order: tuple[OrderItem, ...], a: tuple[tuple[Any, ...], Row], b: tuple[tuple[Any, ...], Row]
) -> int:
    for item, x, y in zip(order, a[0], b[0], strict=False):
        if x is None or y is None:
            if x is None and y is None:
                continue
            return (1 if x is None else -1) if item.nulls_last else (-1 if x is None else 1)
        result = _compare_values(x, y)
        if result:
            return -result if item.desc else result
    return (a[1].index > b[1].index) - (a[1].index < b[1].index)


def _compare_values(x: Any, y: Any) -> int:
    if isinstance(x, str) and isinstance(y, str):
        x, y = x.casefold(), y.casefold()
    try:
        return (x > y) - (x < y)
    except TypeError:
        return (type(x).__name__ > type(y).__name__) - (type(x).__name__ < type(y).__name__)
