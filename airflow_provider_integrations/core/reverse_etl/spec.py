"""What a sync sends: its settings (:class:`SyncSpec`) and how a model row becomes a destination record.

Values go as JSON and CSV carry them (:func:`wire_value`); a value with no such form (NaN, Infinity, a
type JSON lacks) is refused as :class:`UnsendableValue` rather than sent as something else.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_integrations.core.errors import ConfigError, RecordError
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
