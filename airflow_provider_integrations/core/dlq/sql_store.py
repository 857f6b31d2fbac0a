"""DLQ in a SQL table through any DB-API 2.0 connection (PostgreSQL, Snowflake, SQLite).

Only portable SQL is used: CREATE TABLE IF NOT EXISTS, SELECT ... IN, INSERT ... VALUES and UPDATE, with
every value bound as a parameter. An id already in the table is not inserted again.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Protocol

from airflow_provider_integrations.core.dlq.entry import DLQEntry, DLQFilter, DLQStatus
from airflow_provider_integrations.core.dlq.redaction import Redactor
from airflow_provider_integrations.core.dlq.store import DLQStore
from airflow_provider_integrations.core.errors import ConfigError
from airflow_provider_integrations.core.sql.identifiers import validate_identifier

COLUMNS = (
    ("id", "VARCHAR(64) NOT NULL PRIMARY KEY"),
    ("created_at", "TIMESTAMP WITH TIME ZONE NOT NULL"),
    ("system", "VARCHAR(100) NOT NULL"),
    ("stream", "VARCHAR(255) NOT NULL"),
    ("operation", "VARCHAR(100) NOT NULL"),
    ("record_key", "VARCHAR(1024)"),
    ("payload", "TEXT"),
    ("error_class", "VARCHAR(255) NOT NULL"),
    ("message", "TEXT NOT NULL"),
    ("attempt", "INTEGER NOT NULL"),
    ("dag_id", "VARCHAR(250)"),
    ("task_id", "VARCHAR(250)"),
    ("run_id", "VARCHAR(250)"),
    ("try_number", "INTEGER"),
    ("status", "VARCHAR(20) NOT NULL"),
    ("status_note", "TEXT"),
    ("updated_at", "TIMESTAMP WITH TIME ZONE"),
)
_NAMES = [name for name, _ in COLUMNS]
_CHUNK = 500


class DBAPICursor(Protocol):
    rowcount: int

    def execute(self, operation: str, parameters: Sequence[Any] = ..., /) -> Any: ...

    def executemany(self, operation: str, seq_of_parameters: Sequence[Sequence[Any]]) -> Any: ...

    def fetchall(self) -> Sequence[Sequence[Any]]: ...

    def close(self) -> Any: ...


class DBAPIConnection(Protocol):
    def cursor(self) -> Any: ...

    def commit(self) -> Any: ...

    def rollback(self) -> Any: ...

    def close(self) -> Any: ...


_PLACEHOLDERS = {"pyformat": "%s", "format": "%s", "qmark": "?"}


class SqlDLQStore(DLQStore):
    """DLQ table `table` reached through `connection`; `paramstyle` is the driver's (`%s` or `?`).

    The store owns `connection`: :meth:`close` closes it.
    """

    def __init__(
        self,
        connection: DBAPIConnection,
        table: str = "dlq_entries",
        *,
        paramstyle: str = "pyformat",
        redactor: Redactor | None = None,
        create_table: bool = True,
    ) -> None:
        super().__init__(redactor)
        if paramstyle not in _PLACEHOLDERS:
            raise ConfigError(f"paramstyle must be one of {sorted(_PLACEHOLDERS)}, got {paramstyle!r}")
        self.connection = connection
        self.table = validate_identifier(table, "DLQ table")
        self._p = _PLACEHOLDERS[paramstyle]
        if create_table:
            self.create_table()

    def close(self) -> None:
        self.connection.close()

    def create_table(self) -> None:
        columns = ", ".join(f"{name} {kind}" for name, kind in COLUMNS)
        with self._transaction() as cursor:
            cursor.execute(f"CREATE TABLE IF NOT EXISTS {self.table} ({columns})")

    def _write(self, entries: list[DLQEntry]) -> None:
        insert = f"INSERT INTO {self.table} ({', '.join(_NAMES)}) VALUES ({self._marks(len(_NAMES))})"
        with self._transaction() as cursor:
            for start in range(0, len(entries), _CHUNK):
                chunk = entries[start : start + _CHUNK]
                cursor.execute(
                    f"SELECT id FROM {self.table} WHERE id IN ({self._marks(len(chunk))})",
                    [e.id for e in chunk],
                )
                stored = {row[0] for row in cursor.fetchall()}
                fresh = [_row(e) for e in chunk if e.id not in stored]
                if fresh:
                    cursor.executemany(insert, fresh)

    def _list(self, where: DLQFilter, limit: int) -> list[DLQEntry]:
        clauses: list[str] = []
        params: list[Any] = []
        for column in ("system", "stream", "dag_id"):
            value = getattr(where, column)
            if value is not None:
                clauses.append(f"{column} = {self._p}")
                params.append(value)
        if where.status is not None:
            clauses.append(f"status = {self._p}")
            params.append(where.status.value)
        if where.since is not None:
            clauses.append(f"created_at >= {self._p}")
            params.append(where.since)
        if where.until is not None:
            clauses.append(f"created_at < {self._p}")
            params.append(where.until)
        if where.ids is not None:
            if not where.ids:
                return []
            clauses.append(f"id IN ({self._marks(len(where.ids))})")
            params.extend(sorted(where.ids))
        sql = f"SELECT {', '.join(_NAMES)} FROM {self.table}"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += f" ORDER BY created_at DESC, id DESC LIMIT {int(limit)}"
        with self._transaction() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        return [_entry(row) for row in rows]

    def _mark(self, ids: list[str], status: DLQStatus, note: str | None, when: datetime) -> int:
        changed = 0
        with self._transaction() as cursor:
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                cursor.execute(
                    f"UPDATE {self.table} SET status = {self._p}, status_note = {self._p}, "
                    f"updated_at = {self._p} WHERE id IN ({self._marks(len(chunk))})",
                    [status.value, note, when, *chunk],
                )
                changed += max(cursor.rowcount, 0)
        return changed

    def _marks(self, n: int) -> str:
        return ", ".join([self._p] * n)

    @contextmanager
    def _transaction(self) -> Iterator[DBAPICursor]:
        cursor = self.connection.cursor()
        try:
            yield cursor
            self.connection.commit()
        except BaseException:
            self.connection.rollback()
            raise
        finally:
            cursor.close()


def _row(entry: DLQEntry) -> list[Any]:
    data = entry.to_json()
    data["created_at"] = entry.created_at
    data["updated_at"] = entry.updated_at
    if entry.payload is not None:
        data["payload"] = json.dumps(data["payload"], sort_keys=True, default=str)
    return [data[name] for name in _NAMES]


def _entry(row: Sequence[Any]) -> DLQEntry:
    data = dict(zip(_NAMES, row, strict=True))
    data["payload"] = json.loads(data["payload"]) if data["payload"] is not None else None
    return DLQEntry.from_json(data)
