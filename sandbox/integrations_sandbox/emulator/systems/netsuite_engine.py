"""Runs parsed SuiteQL over the generated datasets without materialising them.

Fast paths stream rows from the dataset (see netsuite_scan): no ORDER BY or ORDER BY id, and ORDER BY
lastmodifieddate [, id] (one-second timestamp, then id), either direction. Sequential pages resume from a
small cursor (the last key served) kept per (query, offset), and totals are cached per (table, WHERE,
dataset version), so paging costs one page of work per call; a WHERE on other columns is tested row by
row and the first page counts them once. Any other ORDER BY keeps only the best `offset + limit` rows in
a heap (bounded by the 100,000-row cap) and scans the table for every page: the slow path.
`deletedrecord` is built from the datasets' change overlays, which hold only changed rows.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import operator
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from integrations_sandbox.emulator.data import Dataset, Row
from integrations_sandbox.emulator.faults import Faults
from integrations_sandbox.emulator.systems.netsuite_dates import DatePreferences
from integrations_sandbox.emulator.systems.netsuite_records import (
    DELETED_RECORD,
    Record,
    Table,
    all_columns,
    render,
)
from integrations_sandbox.emulator.systems.netsuite_scan import (
    Snapshot,
    bounds_of,
    id_key,
    ts_key,
)
from integrations_sandbox.emulator.systems.netsuite_sql import (
    BoolOp,
    Condition,
    InList,
    IsNull,
    Not,
    Query,
    SuiteQLError,
    as_datetime,
)

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "<>": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
Predicate = Callable[[Record], bool | None]


class OffsetOutOfBounds(Exception):
    """The requested offset lies past the end of the results."""


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    total: int


@dataclass
class QueryEngine:
    """Answers SuiteQL pages for one emulated account; thread-safe, memory bounded by its caches."""

    system: str
    faults: Faults
    dataset_of: Callable[[str], Dataset]
    tables: Callable[[], Mapping[str, Table]]
    preferences: Callable[[], DatePreferences]
    cache_size: int = 1024
    _cursors: OrderedDict[Hashable, Any] = field(default_factory=OrderedDict)
    _totals: OrderedDict[Hashable, int] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, query: Query, limit: int, offset: int) -> Page:
        tables = self.tables()
        table = DELETED_RECORD if query.table == "deletedrecord" else tables.get(query.table)
        if table is None:
            raise SuiteQLError(f"Record '{query.table}' was not found.")
        columns = query.columns or all_columns(table)
        for source in (*(c.source for c in columns), *(column for column, _ in query.order)):
            if source not in table.fields:
                raise SuiteQLError(f"Unknown identifier '{source}'.")
        for column in columns:
            if column.to_char and table.fields[column.source].kind not in ("ts", "date"):
                raise SuiteQLError(f"TO_CHAR with a date format needs a date column, not '{column.source}'.")
        predicate = _compile(query.where, table) if query.where else None
        if table is DELETED_RECORD:
            rows = self._page_deleted(tables, query, predicate, limit, offset)
        else:
            rows = self._page_table(query, table, predicate, limit, offset)
        prefs = self.preferences()
        return Page([render(table, columns, rec, prefs) for rec in rows.records], rows.total)

    def _page_table(
        self, query: Query, table: Table, predicate: Predicate | None, limit: int, offset: int
    ) -> _Rows:
        profile = self.faults.profiles[self.system]
        snap = Snapshot.of(self.dataset_of(table.name), (profile.seed, profile.poison_rate))
        bounds = bounds_of(query.where)
        if bounds.exact:
            predicate = None
        to_record = functools.partial(self._record, table.name, snap.dataset.seed)
        total_key = (table.name, repr(query.where), snap.version)
        total = self._cached(self._totals, total_key)
        if total is None:
            matching = _matching(snap.scan(False, False, bounds), to_record, predicate)
            total = snap.count(bounds) if predicate is None else sum(1 for _ in matching)
            self._remember(self._totals, total_key, total)
        _check_offset(offset, total)
        fast = _fast_order(query.order)
        if fast is None:
            matching = _matching(snap.scan(False, False, bounds), to_record, predicate)
            return _Rows(_top(matching, query.order, table, offset, limit), total)
        by_ts, desc = fast
        cursor_key = (query, snap.version)
        after = self._cached(self._cursors, (cursor_key, offset))
        rows = snap.scan(by_ts, desc, bounds, after)
        skip = 0 if after is not None else offset
        if predicate is None:
            records: Iterator[Record] = map(to_record, itertools.islice(rows, skip, None))
        else:
            records = itertools.islice(_matching(rows, to_record, predicate), skip, None)
        page = list(itertools.islice(records, limit))
        if page:
            resume = (ts_key if by_ts else id_key)(page[-1].row)
            self._remember(self._cursors, (cursor_key, offset + len(page)), resume)
        return _Rows(page, total)

    def _page_deleted(
        self, tables: Mapping[str, Table], query: Query, predicate: Predicate | None, limit: int, offset: int
    ) -> _Rows:
        records: list[Record] = []
        for name in tables:
            snap = Snapshot.of(self.dataset_of(name))
            records.extend(Record(row, name, snap.dataset.seed) for row in snap.deleted)
        matching = [r for r in records if predicate is None or predicate(r) is True]
        _check_offset(offset, len(matching))
        return _Rows(_top(iter(matching), query.order, DELETED_RECORD, offset, limit), len(matching))

    def _record(self, stream: str, seed: int, row: Row) -> Record:
        return Record(row, stream, seed, self.faults.is_poison(self.system, stream, row.index))

    def _cached(self, cache: OrderedDict[Hashable, Any], key: Hashable) -> Any:
        with self._lock:
            if key in cache:
                cache.move_to_end(key)
                return cache[key]
        return None

    def _remember(self, cache: OrderedDict[Hashable, Any], key: Hashable, value: Any) -> None:
        with self._lock:
            cache[key] = value
            while len(cache) > self.cache_size:
                cache.popitem(last=False)


@dataclass(frozen=True)
class _Rows:
    records: list[Record]
    total: int


def _check_offset(offset: int, total: int) -> None:
    if offset > 0 and offset >= total:
        raise OffsetOutOfBounds(offset)


def _matching(
    rows: Iterator[Row], to_record: Callable[[Row], Record], predicate: Predicate | None
) -> Iterator[Record]:
    records = map(to_record, rows)
    return records if predicate is None else (r for r in records if predicate(r) is True)


def _fast_order(order: tuple[tuple[str, bool], ...]) -> tuple[bool, bool] | None:
    """(by timestamp, descending) when the order can stream from the dataset, else None."""
    if not order:
        return False, False
    columns = tuple(column for column, _ in order)
    directions = {desc for _, desc in order}
    if len(directions) != 1:
        return None
    desc = directions.pop()
    if columns == ("id",):
        return False, desc
    if columns in (("lastmodifieddate",), ("lastmodifieddate", "id")):
        return True, desc
    return None


def _top(
    records: Iterator[Record], order: tuple[tuple[str, bool], ...], table: Table, offset: int, limit: int
) -> list[Record]:
    """The page of an arbitrary ORDER BY, keeping at most offset + limit rows."""
    getters = [(table.fields[column].value, desc) for column, desc in order]

    def key(rec: Record) -> tuple[Any, ...]:
        parts = [_Descending(_sortable(v(rec))) if desc else _sortable(v(rec)) for v, desc in getters]
        return (*parts, rec.recordtype, rec.row.index)

    return heapq.nsmallest(offset + limit, records, key=key)[offset:]


class _Descending:
    """A sort key part that orders its value backwards."""

    __slots__ = ("value",)

    def __init__(self, value: tuple[int, Any]) -> None:
        self.value = value

    def __lt__(self, other: _Descending) -> bool:
        return other.value < self.value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Descending) and self.value == other.value

    def __hash__(self) -> int:
        return hash(self.value)


def _sortable(value: Any) -> tuple[int, Any]:
    """Typed values first, then mistyped ones as text, NULLs last (first when descending), as Oracle."""
    if value is None:
        return 2, ""
    if isinstance(value, str):
        return 1, value
    return 0, value


def _compile(condition: Condition, table: Table) -> Predicate:
    """A three-valued (True / False / None for unknown) test of a record, as SQL evaluates WHERE."""
    if isinstance(condition, BoolOp):
        parts = [_compile(item, table) for item in condition.items]
        return _all(parts) if condition.op == "and" else _any(parts)
    if isinstance(condition, Not):
        inner = _compile(condition.item, table)
        return lambda rec: None if (v := inner(rec)) is None else not v
    column = table.fields.get(condition.column)
    if column is None:
        raise SuiteQLError(f"Unknown identifier '{condition.column}'.")
    value, kind = column.value, column.kind
    if isinstance(condition, IsNull):
        return lambda rec: (value(rec) is None) != condition.negated
    if isinstance(condition, InList):
        options = [_coerce(v, kind) for v in condition.values]
        negated = condition.negated
        return lambda rec: None if (v := value(rec)) is None else (v in options) != negated
    compare, literal = _OPS[condition.op], _coerce(condition.value, kind)
    return lambda rec: _safe(compare, value(rec), literal)


def _all(parts: list[Predicate]) -> Predicate:
    def test(rec: Record) -> bool | None:
        results = [p(rec) for p in parts]
        return False if False in results else (None if None in results else True)

    return test


def _any(parts: list[Predicate]) -> Predicate:
    def test(rec: Record) -> bool | None:
        results = [p(rec) for p in parts]
        return True if True in results else (None if None in results else False)

    return test


def _safe(compare: Callable[[Any, Any], bool], left: Any, right: Any) -> bool | None:
    if left is None:
        return None
    try:
        return compare(left, right)
    except TypeError:
        return None


def _coerce(value: Any, kind: str) -> Any:
    """A literal converted to a column's type, as SuiteQL converts implicitly."""
    try:
        if kind == "int":
            return int(value) if isinstance(value, str) or float(value).is_integer() else float(value)
        if kind == "num":
            return float(value)
    except ValueError as error:
        raise SuiteQLError(f"Invalid number '{value}'") from error
    if kind in ("ts", "date"):
        return as_datetime(value)
    if kind == "bool":
        return str(value).upper() in ("T", "TRUE", "1")
    return value if isinstance(value, str) else str(value)
