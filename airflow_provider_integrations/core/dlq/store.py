"""The interface every DLQ store offers."""

from __future__ import annotations

import abc
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Self

from airflow_provider_integrations.core.dlq.entry import DLQEntry, DLQFilter, DLQStatus
from airflow_provider_integrations.core.dlq.redaction import Redactor
from airflow_provider_integrations.core.errors import ConfigError


class DLQStore(abc.ABC):
    """Where dead letters live. Writes are idempotent: an entry id already stored is not stored again.

    Every entry passes through the store's :class:`Redactor` before it is written. A store is a context
    manager: leaving the ``with`` block calls :meth:`close`, which releases what the store holds open.
    """

    def __init__(self, redactor: Redactor | None = None) -> None:
        self.redactor = redactor or Redactor()

    def write(self, entries: Iterable[DLQEntry]) -> int:
        """Store a batch; returns how many entries the batch held (after merging repeats of one id)."""
        unique: dict[str, DLQEntry] = {}
        for entry in entries:
            unique.setdefault(entry.id, self.redactor.entry(entry))
        if unique:
            self._write(list(unique.values()))
        return len(unique)

    def find(self, where: DLQFilter | None = None, *, limit: int = 1000) -> list[DLQEntry]:
        """Entries matching `where`, newest first, at most `limit`."""
        if limit < 1:
            raise ConfigError(f"limit must be at least 1, got {limit}")
        return self._list(where or DLQFilter(), limit)

    def get(self, entry_id: str) -> DLQEntry | None:
        found = self.find(DLQFilter(ids=frozenset({entry_id})), limit=1)
        return found[0] if found else None

    def mark(
        self,
        ids: Sequence[str],
        status: DLQStatus,
        note: str | None = None,
        *,
        now: datetime | None = None,
    ) -> int:
        """Set the status of the given entries (replayed, resolved, or back to new); returns how many."""
        if status not in DLQStatus:
            raise ConfigError(f"unknown DLQ status {status!r}")
        if not ids:
            return 0
        note = self.redactor.text(note) if note else note
        return self._mark(list(dict.fromkeys(ids)), DLQStatus(status), note, now or datetime.now(UTC))

    def close(self) -> None:
        """Release what the store holds open (a SQL store's connection). Stores holding nothing do nothing."""
        return None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    @abc.abstractmethod
    def _write(self, entries: list[DLQEntry]) -> None: ...

    @abc.abstractmethod
    def _list(self, where: DLQFilter, limit: int) -> list[DLQEntry]: ...

    @abc.abstractmethod
    def _mark(self, ids: list[str], status: DLQStatus, note: str | None, when: datetime) -> int: ...
