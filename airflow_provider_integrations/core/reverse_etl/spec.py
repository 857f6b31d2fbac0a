"""Reverse ETL without Airflow: what a sync sends, how rows become destination records, and its tally.

A sync pushes the rows of a warehouse model into a destination object. The change plan itself is SQL
(`core/sql/sync_state.py`); this module turns planned rows into records, decides what each per-record
result means for the sync state, and counts outcomes for the run's summary.

Rows that cannot be sent are refused one by one, never the whole run: a NULL key, a key the model holds
more than once (every copy: none can be told apart from the others), a value that has no JSON form (NaN,
Infinity, a type with no wire form). Each becomes a :class:`Rejection` for the DLQ; the plan SQL marks key
problems (`__REJECT`), `triage` finds value problems while building records.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

from airflow_provider_integrations.core.errors import ConfigError, PermanentError, RecordError
from airflow_provider_integrations.core.sql.identifiers import validate_identifier
from airflow_provider_integrations.core.sql.sync_state import DUPLICATE_KEY, NULL_KEY

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
    delivered. A run fails when more than `max_rejected_share` of the model's rows are refused (see
    :class:`Rejection`).
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
    max_rejected_share: float = 0.1

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
        if not 0 <= self.max_rejected_share <= 1:
            raise ConfigError(f"max_rejected_share must be between 0 and 1, got {self.max_rejected_share}")

    @property
    def operation(self) -> str:
        return OPERATIONS[self.mode]

    @property
    def columns(self) -> list[str]:
        return list(self.mapping)

    def record(
        self, row: Mapping[str, Any], key: str, destination_id: str | None, operation: str | None = None
    ) -> dict[str, Any]:
        """The destination record for one planned row (for `operation`, by default the mode's).

        Raises :class:`UnsendableValue` naming the column whose value has no wire form."""
        operation = operation or self.operation
        record: dict[str, Any] = {}
        if operation != "delete":
            upper = {name.upper(): value for name, value in row.items()}
            for column, dest in self.mapping.items():
                try:
                    value = wire_value(upper[column.upper()])
                except UnsendableValue as error:
                    raise UnsendableValue(f"column {column} {error.message}", record_key=key) from None
                place(record, dest, value)
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


class UnsendableValue(RecordError):
    """A model value with no form the destination can be sent (NaN, Infinity, a type JSON lacks)."""


def wire_value(value: Any) -> Any:
    """A warehouse value as JSON and CSV carry it: decimals as int/float, dates and times as ISO 8601,
    binary as base64 (as Salesforce base64 fields take it). Raises :class:`UnsendableValue` for a value
    no number or text of the wire can stand for, rather than sending something else."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise UnsendableValue(f"holds {_number_name(value)}, which is not a number JSON can carry")
        return value
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            raise UnsendableValue(f"holds {_number_name(value)}, which is not a number JSON can carry")
        if value == value.to_integral_value():
            return int(value)
        if not math.isfinite(number := float(value)):
            raise UnsendableValue(f"holds {value}, beyond the range of a JSON (double) number")
        return number
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, list | tuple):
        return [wire_value(item) for item in value]
    if isinstance(value, Mapping):
        return {str(name): wire_value(item) for name, item in value.items()}
    raise UnsendableValue(f"holds a {type(value).__name__}, which has no JSON form")


def _number_name(value: float | decimal.Decimal) -> str:
    if value != value:
        return "NaN"
    return "-Infinity" if value < 0 else "Infinity"


def readable(value: Any) -> Any:
    """A model value as a DLQ entry shows it: its wire form, or text where it has none (`NaN`)."""
    try:
        return wire_value(value)
    except UnsendableValue:
        if isinstance(value, float | decimal.Decimal) and not math.isfinite(value):
            return _number_name(value)
        return repr(value)


UNSENDABLE_VALUE = UnsendableValue.__name__
"""With `NULL_KEY` and `DUPLICATE_KEY` (marked by the plan SQL): why a row is refused, as the summary
counts it and its DLQ entry's error class says."""


@dataclass(frozen=True)
class Rejection:
    """A model row refused before sending. `record_key` names it in the DLQ: the key, `<key>#<n>` for
    the n-th copy of a duplicated key, `null-key:<row digest>` for a row without a key."""

    record_key: str
    reason: str
    message: str
    row: Mapping[str, Any]


class KeyCounts(NamedTuple):
    """A model's rows, those with a NULL key, and those whose key appears more than once."""

    rows: int
    null_keys: int
    duplicated: int

    def rejected(self) -> dict[str, int]:
        counts = {NULL_KEY: self.null_keys, DUPLICATE_KEY: self.duplicated}
        return {reason: n for reason, n in counts.items() if n}


@dataclass
class Triage:
    """A batch of planned rows sorted by what happens to each: (key, record) pairs to send, records an
    update or delete by id cannot be sent (no destination id is known), and refused rows."""

    sendable: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    unknown: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)


def triage(rows: Sequence[Mapping[str, Any]], spec: SyncSpec, operation: str) -> Triage:
    """Sort planned rows (as the plan SQL gives them: `__KEY`, `__COPY`, `__COPIES`, `__REJECT`,
    `__DEST_ID`, the mapped columns) into what is sent, what cannot be, and what is refused."""
    sorted_rows = Triage()
    needs_id = spec.id_field is not None and operation in ("update", "delete")
    for row in rows:
        key, destination_id = row["__KEY"], row.get("__DEST_ID")
        if row.get("__REJECT"):
            sorted_rows.rejected.append(_key_rejection(row, spec))
            continue
        try:
            record = spec.record(row, key, destination_id, operation)
        except UnsendableValue as error:
            sorted_rows.rejected.append(Rejection(key, UNSENDABLE_VALUE, error.message, _shown(row, spec)))
            continue
        (sorted_rows.unknown if needs_id and not destination_id else sorted_rows.sendable).append(
            (key, record)
        )
    return sorted_rows


def _key_rejection(row: Mapping[str, Any], spec: SyncSpec) -> Rejection:
    key, reason, copy, copies = row["__KEY"], row["__REJECT"], row.get("__COPY"), row.get("__COPIES") or 1
    if reason == NULL_KEY:
        message = (
            f"key column {spec.key} is NULL: the row cannot be matched to a destination record "
            "(give every row a key in the model)"
        )
        return Rejection(
            f"{key}#{copy}" if copies > 1 else key, reason, message, _shown(row, spec, null=True)
        )
    if reason == DUPLICATE_KEY:
        message = (
            f"key {spec.key}={key!r} appears {copies} times in the model: no copy is sent until it "
            "appears once"
        )
        return Rejection(f"{key}#{copy}", reason, message, _shown(row, spec))
    raise ConfigError(f"the plan refused key {key!r} for an unknown reason {reason!r}")


def _shown(row: Mapping[str, Any], spec: SyncSpec, *, null: bool = False) -> dict[str, Any]:
    """The row's key and mapped columns as the DLQ entry shows them."""
    upper = {name.upper(): value for name, value in row.items()}
    shown = {spec.key: None if null else row["__KEY"]}
    shown.update({column: readable(upper.get(column.upper())) for column in spec.mapping})
    return shown


def refuse_if_too_many_rejected(rejected: Mapping[str, int], model_rows: int, share: float) -> None:
    """Fail the run when more than `share` of the model's rows are refused: a model that broken is
    more likely a bug in the model than a few bad rows."""
    total = sum(rejected.values())
    if total and total > share * model_rows:
        reasons = ", ".join(f"{reason}: {n}" for reason, n in sorted(rejected.items()))
        raise PermanentError(
            f"{total} of {model_rows} model rows are refused, more than max_rejected_share={share} "
            f"({reasons}): fix the model or raise the share"
        )


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
    rejected: int = 0
    rejected_reasons: dict[str, int] = field(default_factory=dict)

    def reject(self, reason: str) -> None:
        """Count one row refused before sending (in a dry run: one that would be)."""
        self.rejected += 1
        self.rejected_reasons[reason] = self.rejected_reasons.get(reason, 0) + 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        if self.dry_run:
            return (
                f"dry run ({self.mode}): would insert {self.would_insert}, update {self.would_update}, "
                f"delete {self.would_delete}, reject {self.rejected}{self._reasons()}; "
                f"{self.unchanged} unchanged of {self.model_rows}"
            )
        return (
            f"{self.mode}: planned {self.planned}, sent {self.sent}, succeeded {self.succeeded}, "
            f"failed permanently {self.failed_permanently}, retried {self.retried}, "
            f"left pending {self.left_pending}, unchanged {self.unchanged}, deleted {self.deleted}, "
            f"reconciled without sending {self.reconciled}, rejected {self.rejected}{self._reasons()}"
        )

    def _reasons(self) -> str:
        if not self.rejected_reasons:
            return ""
        return f" ({', '.join(f'{r}: {n}' for r, n in sorted(self.rejected_reasons.items()))})"
