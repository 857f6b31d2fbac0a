"""What a dead-letter entry holds, how it is identified and filtered."""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any

from airflow_provider_integrations.core.errors import ConfigError
from airflow_provider_integrations.core.watermark import parse_timestamp


class DLQStatus(enum.StrEnum):
    NEW = "new"
    REPLAYED = "replayed"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class RunContext:
    """Which orchestrator run produced an entry (dag, task, run and try)."""

    dag_id: str | None = None
    task_id: str | None = None
    run_id: str | None = None
    try_number: int | None = None


def entry_id(
    system: str, stream: str, operation: str, record_key: str | None, context: RunContext, message: str
) -> str:
    """Deterministic id: the same failure written again by a retried task gets the same id.

    The try number is left out on purpose; the message counts only for entries without a record key,
    where it is what tells two failures of one task apart.
    """
    parts = [system, stream, operation, record_key or "", context.dag_id or "", context.task_id or ""]
    parts += [context.run_id or "", "" if record_key else message]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class DLQEntry:
    """One record (or task) that could not be delivered, with the reason and where it came from."""

    id: str
    created_at: datetime
    system: str
    stream: str
    operation: str
    record_key: str | None
    payload: Mapping[str, Any] | None
    error_class: str
    message: str
    attempt: int = 1
    dag_id: str | None = None
    task_id: str | None = None
    run_id: str | None = None
    try_number: int | None = None
    status: DLQStatus = DLQStatus.NEW
    status_note: str | None = None
    updated_at: datetime | None = None

    @classmethod
    def create(
        cls,
        *,
        system: str,
        stream: str,
        operation: str,
        error: BaseException | tuple[str, str],
        record_key: str | None = None,
        payload: Mapping[str, Any] | None = None,
        context: RunContext | None = None,
        attempt: int = 1,
        now: datetime | None = None,
    ) -> DLQEntry:
        """Build an entry from a failure; `error` is an exception or an (error class, message) pair."""
        if not system or not stream or not operation:
            raise ConfigError("a DLQ entry needs a system, a stream and an operation")
        if isinstance(error, BaseException):
            error_class, message = type(error).__name__, str(error)
        else:
            error_class, message = error
        context = context or RunContext()
        return cls(
            id=entry_id(system, stream, operation, record_key, context, message),
            created_at=(now or datetime.now(UTC)).astimezone(UTC),
            system=system,
            stream=stream,
            operation=operation,
            record_key=record_key,
            payload=payload,
            error_class=error_class,
            message=message,
            attempt=attempt,
            dag_id=context.dag_id,
            task_id=context.task_id,
            run_id=context.run_id,
            try_number=context.try_number,
        )

    def with_status(self, status: DLQStatus, note: str | None, when: datetime) -> DLQEntry:
        return replace(self, status=status, status_note=note, updated_at=when)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat()
        data["updated_at"] = self.updated_at.isoformat() if self.updated_at else None
        data["status"] = self.status.value
        data["payload"] = dict(self.payload) if self.payload is not None else None
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DLQEntry:
        values = dict(data)
        values["created_at"] = parse_timestamp(values["created_at"], "created_at")
        if values.get("updated_at") is not None:
            values["updated_at"] = parse_timestamp(values["updated_at"], "updated_at")
        values["status"] = DLQStatus(values.get("status", DLQStatus.NEW))
        return cls(**values)


@dataclass(frozen=True)
class DLQFilter:
    """Which entries to list; every field left as None matches everything."""

    system: str | None = None
    stream: str | None = None
    status: DLQStatus | None = None
    dag_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    ids: frozenset[str] | None = None

    def matches(self, entry: DLQEntry) -> bool:
        return (
            (self.system is None or entry.system == self.system)
            and (self.stream is None or entry.stream == self.stream)
            and (self.status is None or entry.status == self.status)
            and (self.dag_id is None or entry.dag_id == self.dag_id)
            and (self.since is None or entry.created_at >= self.since)
            and (self.until is None or entry.created_at < self.until)
            and (self.ids is None or entry.id in self.ids)
        )


def to_jsonl(entries: Iterable[DLQEntry]) -> bytes:
    return b"".join(json.dumps(e.to_json(), sort_keys=True, default=str).encode() + b"\n" for e in entries)
