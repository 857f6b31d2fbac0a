"""The contract between a reverse-ETL sync and its DLQ replay: why an entry was written and what it holds.

A sync writes a dead letter whose payload is `{"record": ..., "sync": {...}}` (a destination record a
replay can send) or `{"row": ..., "sync": {...}}` (a model row refused before sending, replayed only
once the model is fixed); the replay reads the same payload back. Both sides use
:class:`DeadLetterPayload`, so the shape is written down once.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

OPERATION_PREFIX = "reverse_etl."
"""A sync's entries have the operation `reverse_etl.<mode>`."""


class ErrorClass(enum.StrEnum):
    """The error classes a sync gives the dead letters it names itself (a destination's refusal carries
    the destination's own code, or `DestinationRejected` when it gives none)."""

    NULL_KEY = "NullKey"
    DUPLICATE_KEY = "DuplicateKey"
    UNSENDABLE_VALUE = "UnsendableValue"
    DESTINATION_UNKNOWN = "DestinationUnknown"
    DESTINATION_REJECTED = "DestinationRejected"


@dataclass(frozen=True)
class SyncSettings:
    """Where a dead letter's record goes again: what a replay needs to send it through the same sync."""

    conn_id: str
    target: str
    operation: str
    key_field: str
    state_table: str
    snowflake_conn_id: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> SyncSettings | None:
        """The settings in `data`, or None unless every one is a non-empty string."""
        if not isinstance(data, Mapping):
            return None
        values = [data.get(f.name) for f in fields(cls)]
        if not all(isinstance(value, str) and value for value in values):
            return None
        return cls(*(str(value) for value in values))


class PayloadKind(enum.StrEnum):
    """What a dead letter holds: a destination `record` a replay can send, or a model `row` refused
    before sending (nothing to replay before the model is fixed)."""

    RECORD = "record"
    ROW = "row"


@dataclass(frozen=True)
class DeadLetterPayload:
    """The payload of a sync's dead letter: the record (or row) and the sync's settings."""

    sync: SyncSettings
    content: Mapping[str, Any]
    kind: PayloadKind = PayloadKind.RECORD

    @property
    def record(self) -> Mapping[str, Any] | None:
        """The destination record to send again; None for a refused model row."""
        return self.content if self.kind is PayloadKind.RECORD else None

    def to_dict(self) -> dict[str, Any]:
        return {self.kind.value: dict(self.content), "sync": self.sync.to_dict()}

    @classmethod
    def from_dict(cls, payload: Mapping[str, Any] | None) -> DeadLetterPayload | None:
        """The payload as a sync wrote it, or None when it lacks its settings or its record (or row)."""
        payload = payload or {}
        sync = SyncSettings.from_dict(payload.get("sync"))
        for kind in PayloadKind:
            content = payload.get(kind.value)
            if sync is not None and isinstance(content, Mapping):
                return cls(sync, content, kind)
        return None

    @staticmethod
    def state_table_of(payload: Mapping[str, Any] | None) -> str | None:
        """The state table named by a payload's settings, even when the rest of it is malformed."""
        sync = (payload or {}).get("sync")
        table = sync.get("state_table") if isinstance(sync, Mapping) else None
        return table if isinstance(table, str) else None
