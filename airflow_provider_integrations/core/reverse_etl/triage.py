"""Sorting planned rows: what is sent, what cannot be, and what is refused before sending.

Rows that cannot be sent are refused one by one, never the whole run: a NULL key, a key the model holds
more than once (every copy: none can be told apart from the others), a value that has no JSON form (NaN,
Infinity, a type with no wire form). Each becomes a :class:`Rejection` for the DLQ; the plan SQL marks key
problems (`__REJECT`), `triage` finds value problems while building records. The reasons are the
:class:`~airflow_provider_integrations.core.reverse_etl.dead_letter.ErrorClass` names.
"""

from __future__ import annotations

import decimal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from airflow_provider_integrations.core.errors import ConfigError, PermanentError
from airflow_provider_integrations.core.reverse_etl.dead_letter import ErrorClass
from airflow_provider_integrations.core.reverse_etl.spec import SyncSpec, UnsendableValue, readable
from airflow_provider_integrations.core.sql.sync_state import PlanColumn


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
        counts = {ErrorClass.NULL_KEY.value: self.null_keys, ErrorClass.DUPLICATE_KEY.value: self.duplicated}
        return {reason: n for reason, n in counts.items() if n}


@dataclass
class Triage:
    """A batch of planned rows sorted by what happens to each: (key, record) pairs to send, records an
    update or delete by id cannot be sent (no destination id is known), and refused rows."""

    sendable: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    unknown: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)


def triage(rows: Sequence[Mapping[str, Any]], spec: SyncSpec, operation: str) -> Triage:
    """Sort planned rows (as the plan SQL gives them: the :class:`PlanColumn` columns and the mapped
    ones) into what is sent, what cannot be, and what is refused."""
    sorted_rows = Triage()
    needs_id = spec.id_field is not None and operation in ("update", "delete")
    for row in rows:
        key, destination_id = row[PlanColumn.KEY], row.get(PlanColumn.DEST_ID)
        if row.get(PlanColumn.REJECT):
            sorted_rows.rejected.append(_key_rejection(row, spec))
            continue
        try:
            record = spec.record(row, key, destination_id, operation)
        except UnsendableValue as error:
            reason = ErrorClass.UNSENDABLE_VALUE.value
            sorted_rows.rejected.append(Rejection(key, reason, error.message, _shown(row, spec)))
            continue
        (sorted_rows.unknown if needs_id and not destination_id else sorted_rows.sendable).append(
            (key, record)
        )
    return sorted_rows


def _key_rejection(row: Mapping[str, Any], spec: SyncSpec) -> Rejection:
    key, reason = row[PlanColumn.KEY], row[PlanColumn.REJECT]
    copy, copies = row.get(PlanColumn.COPY), row.get(PlanColumn.COPIES) or 1
    if reason == ErrorClass.NULL_KEY:
        message = (
            f"key column {spec.key} is NULL: the row cannot be matched to a destination record "
            "(give every row a key in the model)"
        )
        return Rejection(
            f"{key}#{copy}" if copies > 1 else key, reason, message, _shown(row, spec, null=True)
        )
    if reason == ErrorClass.DUPLICATE_KEY:
        message = (
            f"key {spec.key}={key!r} appears {copies} times in the model: no copy is sent until it "
            "appears once"
        )
        return Rejection(f"{key}#{copy}", reason, message, _shown(row, spec))
    raise ConfigError(f"the plan refused key {key!r} for an unknown reason {reason!r}")


def _shown(row: Mapping[str, Any], spec: SyncSpec, *, null: bool = False) -> dict[str, Any]:
    """The row's key and mapped columns as the DLQ entry shows them."""
    upper = {name.upper(): value for name, value in row.items()}
    shown = {spec.key: None if null else row[PlanColumn.KEY]}
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
