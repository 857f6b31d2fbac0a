"""Reverse ETL without Airflow: what a sync sends, how rows become destination records, and its tally.

A sync pushes the rows of a warehouse model into a destination object. The change plan itself is SQL
(`core/sql/sync_state.py`); this module turns planned rows into records, decides what each per-record
result means for the sync state, and counts outcomes for the run's summary.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from airflow_provider_integrations.core.errors import ConfigError
from airflow_provider_integrations.core.sql.identifiers import validate_identifier

MODES = ("upsert", "update", "insert", "mirror", "delete")
OPERATIONS = {
    "upsert": "upsert",
    "mirror": "upsert",
    "update": "update",
    "insert": "insert",
    "delete": "delete",
}


@dataclass(frozen=True)
class SyncSpec:
    """One sync: rows of a model, keyed by `key`, sent to `target` with `mapping` (column -> field).

    `external_id` is the destination field that holds the model's key (the upsert key, e.g.
    `External_Id__c` on a Salesforce Account); `id_field` the destination's own record id field, needed
    to update or delete records by id (Salesforce `Id`). A field name with dots (`metadata.score`)
    becomes a nested object. Up to `batch_size` rows are planned, sent and recorded together; the
    connector picks its API per batch (Salesforce: Collections of 200 records up to 2,000, a Bulk API 2.0
    job above). Mirror mode refuses to delete more than `max_delete_share` of what it has
    delivered.
    """

    target: str
    key: str
    mapping: Mapping[str, str]
    external_id: str
    mode: str = "upsert"
    id_field: str | None = None
    batch_size: int = 10_000
    max_delete_share: float = 0.1
    transient_retries: int = 3

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"sync mode must be one of {MODES}, got {self.mode!r}")
        validate_identifier(self.key, "model key column")
        for column in self.mapping:
            validate_identifier(column, "mapped model column")
        if self.mode != "delete" and not self.mapping:
            raise ConfigError(f"a {self.mode} sync needs a mapping of model columns to destination fields")
        if not self.external_id:
            raise ConfigError("a sync needs the destination field that holds the model's key (external_id)")
        if not 1 <= self.batch_size <= 10_000:
            raise ConfigError(f"batch_size must be between 1 and 10000, got {self.batch_size}")
        if not 0 <= self.max_delete_share <= 1:
            raise ConfigError(f"max_delete_share must be between 0 and 1, got {self.max_delete_share}")

    @property
    def operation(self) -> str:
        return OPERATIONS[self.mode]

    @property
    def columns(self) -> list[str]:
        return list(self.mapping)

    def record(
        self, row: Mapping[str, Any], key: str, destination_id: str | None, operation: str | None = None
    ) -> dict[str, Any]:
        """The destination record for one planned row (for `operation`, by default the mode's)."""
        operation = operation or self.operation
        record: dict[str, Any] = {}
        if operation != "delete":
            upper = {name.upper(): value for name, value in row.items()}
            for column, dest in self.mapping.items():
                place(record, dest, wire_value(upper[column.upper()]))
        record[self.external_id] = key
        if self.id_field and destination_id and operation in ("update", "delete"):
            record[self.id_field] = destination_id
        return record


def place(record: dict[str, Any], name: str, value: Any) -> None:
    """Set `name` in `record`; dots make nested objects (`metadata.score`)."""
    *parents, leaf = name.split(".")
    node = record
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value


def wire_value(value: Any) -> Any:
    """A warehouse value as JSON and CSV carry it: decimals as int/float, times as ISO 8601."""
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def arrived(record: Mapping[str, Any], found: Mapping[str, Any] | None) -> bool:
    """Whether the destination already holds `record`'s values (compared as the wire carries them)."""
    if found is None:
        return False
    lowered = {name.lower(): value for name, value in found.items()}
    return all(
        name.lower() in lowered and _same(value, lowered[name.lower()]) for name, value in record.items()
    )


def _same(sent: Any, held: Any) -> bool:
    if isinstance(sent, Mapping):
        return isinstance(held, Mapping) and arrived(sent, held)
    numbers = (int, float, decimal.Decimal)
    if isinstance(sent, numbers) and isinstance(held, numbers) and not isinstance(sent, bool):
        return float(sent) == float(held)
    return bool(sent == held)


@dataclass
class SyncSummary:
    """What one run did, for the task log and XCom."""

    mode: str
    dry_run: bool = False
    model_rows: int = 0
    planned: int = 0
    unchanged: int = 0
    sent: int = 0
    succeeded: int = 0
    failed_permanently: int = 0
    retried: int = 0
    left_pending: int = 0
    reconciled: int = 0
    would_insert: int = 0
    would_update: int = 0
    would_delete: int = 0
    deleted: int = 0
    dead_letter_reasons: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        if self.dry_run:
            return (
                f"dry run ({self.mode}): would insert {self.would_insert}, update {self.would_update}, "
                f"delete {self.would_delete}; {self.unchanged} unchanged of {self.model_rows}"
            )
        return (
            f"{self.mode}: planned {self.planned}, sent {self.sent}, succeeded {self.succeeded}, "
            f"failed permanently {self.failed_permanently}, retried {self.retried}, "
            f"left pending {self.left_pending}, unchanged {self.unchanged}, deleted {self.deleted}, "
            f"reconciled without sending {self.reconciled}"
        )
