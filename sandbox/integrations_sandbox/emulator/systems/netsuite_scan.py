"""Ordered range scans over one dataset: the "indexes" on id and lastmodifieddate behind SuiteQL.

Base rows are never materialised: a range of ids or timestamps maps to a range of indexes (timestamps rise
with the index), and the few changed rows in the dataset's overlay are merged in by key. Conditions on
`id` and `lastmodifieddate` joined by AND become `Bounds`; when the WHERE clause is nothing else, the
bounds are exact and rows are counted and skipped without testing each one.
"""

from __future__ import annotations

import heapq
import itertools
import operator
from collections.abc import Hashable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from integrations_sandbox.emulator.data import Dataset, Row
from integrations_sandbox.emulator.systems.netsuite_records import ID_BASE, second
from integrations_sandbox.emulator.systems.netsuite_sql import (
    BoolOp,
    Compare,
    Condition,
    as_datetime,
)

_TINY = timedelta(microseconds=1)
_RANGE_OPS = {"=", "<", "<=", ">", ">="}


@dataclass
class Bounds:
    """Index range (inclusive) and one-second timestamp limits (value, strict) implied by a WHERE clause."""

    lo: int = 0
    hi: int | None = None
    ts_lo: tuple[datetime, bool] | None = None
    ts_hi: tuple[datetime, bool] | None = None
    exact: bool = True

    def admits(self, row: Row) -> bool:
        if row.index < self.lo or (self.hi is not None and row.index > self.hi):
            return False
        ts = second(row.ts)
        if self.ts_lo is not None and (ts < self.ts_lo[0] or (self.ts_lo[1] and ts == self.ts_lo[0])):
            return False
        return self.ts_hi is None or not (ts > self.ts_hi[0] or (self.ts_hi[1] and ts == self.ts_hi[0]))

    def narrow(self, item: Compare) -> bool:
        """Tighten the bounds by one comparison; False if it is not a range on id or lastmodifieddate."""
        if item.op not in _RANGE_OPS:
            return False
        lower, upper = item.op in ("=", ">", ">="), item.op in ("=", "<", "<=")
        strict = item.op in ("<", ">")
        if item.column == "id" and isinstance(item.value, int):
            index = item.value - ID_BASE
            if lower:
                self.lo = max(self.lo, index + strict)
            if upper:
                self.hi = min(index - strict, self.hi if self.hi is not None else index)
            return True
        if item.column == "lastmodifieddate":
            limit = (as_datetime(item.value), strict)
            if lower:
                self.ts_lo = limit if self.ts_lo is None else max(self.ts_lo, limit)
            if upper:
                self.ts_hi = (
                    limit if self.ts_hi is None else min(self.ts_hi, limit, key=lambda x: (x[0], not x[1]))
                )
            return True
        return False


def bounds_of(where: Condition | None) -> Bounds:
    bounds = Bounds()
    for item in _conjuncts(where):
        if not (isinstance(item, Compare) and bounds.narrow(item)):
            bounds.exact = False
    return bounds


def _conjuncts(where: Condition | None) -> Iterator[Condition]:
    if isinstance(where, BoolOp) and where.op == "and":
        for item in where.items:
            yield from _conjuncts(item)
    elif where is not None:
        yield where


def id_key(row: Row) -> int:
    return row.index


def ts_key(row: Row) -> tuple[datetime, int]:
    return second(row.ts), row.index


@dataclass(frozen=True)
class Snapshot:
    """A consistent view of one dataset for one request: base rows plus the changed rows."""

    dataset: Dataset
    overlay: tuple[Row, ...]
    touched: frozenset[int]
    deleted: tuple[Row, ...]
    version: Hashable

    @classmethod
    def of(cls, dataset: Dataset, salt: Hashable = None) -> Snapshot:
        """`salt` joins the version: whatever else changes the answers (the poison profile)."""
        with dataset.lock:
            changes = tuple(dataset.changes.values())
            version = (id(dataset), dataset.base_size, dataset.size, dataset.mutations, salt)
        live = tuple(r for r in changes if not r.deleted)
        touched = frozenset(r.index for r in changes if r.index < dataset.base_size)
        return cls(dataset, live, touched, tuple(r for r in changes if r.deleted), version)

    def count(self, bounds: Bounds) -> int:
        """Live rows within the bounds, counted without visiting the base rows."""
        lo, hi = self.base_range(bounds)
        hidden = sum(1 for index in self.touched if lo <= index < hi)
        return max(hi - lo, 0) - hidden + sum(1 for r in self.overlay if bounds.admits(r))

    def base_range(self, bounds: Bounds) -> tuple[int, int]:
        """The base indexes [lo, hi) within the bounds; exact, as base timestamps are whole seconds."""
        first_at = self.dataset.first_index_at
        lo = max(bounds.lo, 0)
        if bounds.ts_lo is not None:
            value, strict = bounds.ts_lo
            lo = max(lo, first_at(value + _TINY if strict else value))
        hi = self.dataset.base_size if bounds.hi is None else min(bounds.hi + 1, self.dataset.base_size)
        if bounds.ts_hi is not None:
            value, strict = bounds.ts_hi
            hi = min(hi, first_at(value if strict else value + _TINY))
        return lo, hi

    def scan(self, by_ts: bool, desc: bool, bounds: Bounds, after: Any = None) -> Iterator[Row]:
        """Live rows within `bounds` in id or (timestamp, id) order, strictly after the key `after`."""
        key = ts_key if by_ts else id_key
        lo, hi = self.base_range(bounds)
        if after is not None:
            lo, hi = self._resume_range(by_ts, desc, after, lo, hi)
        extra = sorted((r for r in self.overlay if bounds.admits(r)), key=key, reverse=desc)
        base = self._base_rows(lo, hi, desc)
        rows: Iterable[Row] = heapq.merge(base, extra, key=key, reverse=desc) if extra else base
        if after is not None:
            passed = operator.ge if desc else operator.le
            rows = itertools.dropwhile(lambda r: passed(key(r), after), rows)
        return iter(rows)

    def _resume_range(self, by_ts: bool, desc: bool, after: Any, lo: int, hi: int) -> tuple[int, int]:
        first_at = self.dataset.first_index_at
        if by_ts:
            ts, _ = after
            return (lo, min(hi, first_at(ts + _TINY))) if desc else (max(lo, first_at(ts)), hi)
        return (lo, min(hi, after)) if desc else (max(lo, after + 1), hi)

    def _base_rows(self, lo: int, hi: int, desc: bool) -> Iterator[Row]:
        touched, base_ts = self.touched, self.dataset.base_ts
        for index in range(hi - 1, lo - 1, -1) if desc else range(lo, hi):
            if index not in touched:
                ts = base_ts(index)
                yield Row(index, ts, ts)
