"""ServiceNow Import Set API: staging rows transformed into target tables, coalescing on a key field.

Every staged row goes through `Faults.write_outcome` (keyed by its coalesce value): "transient" answers
a row error caused by a lock or timeout (safe to retry), "permanent" a data policy violation (not).
Otherwise the row is inserted, updated (a field changed) or ignored (nothing changed) in
`state.written_records("servicenow", <target table>)`, which the Table API also serves.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from integrations_sandbox.emulator.faults import Faults
from integrations_sandbox.emulator.systems.servicenow_tables import format_time

MAX_ROWS = 10_000
TRANSIENT_MESSAGE = (
    "Transaction cancelled: the target record is locked by another transaction (lock wait timeout). "
    "Retry the row."
)


@dataclass(frozen=True)
class TransformMap:
    """A staging table's transform: target table, coalesce field, and the field shown as display value.

    Staging fields named `u_<name>` map to target field `<name>`; the coalesce field keeps its name.
    """

    name: str
    table: str
    coalesce: str = "u_external_id"
    display_field: str = "name"

    def target_fields(self, staged: dict[str, Any]) -> dict[str, str]:
        return {
            (key if key == self.coalesce else key.removeprefix("u_")): "" if value is None else str(value)
            for key, value in staged.items()
        }


TRANSFORM_MAPS: dict[str, TransformMap] = {
    "u_account_import": TransformMap("Account import", "core_company"),
    "u_contact_import": TransformMap("Contact import", "customer_contact"),
    "u_incident_import": TransformMap(
        "Incident import", "u_imported_incident", display_field="short_description"
    ),
}


class ImportSets:
    """Runs staged rows through their transform map; numbers import sets ISET0010001, ISET0010002, ..."""

    def __init__(
        self, faults: Faults, written: Callable[[str], dict[str, dict[str, Any]]], system: str = "servicenow"
    ) -> None:
        self.faults = faults
        self.written = written
        self.system = system
        self._numbers = itertools.count(10001)

    def run(self, staging_table: str, rows: list[Any], instance: str) -> dict[str, Any]:
        """The Import Set API's answer for `rows` staged into `staging_table` (a known transform map)."""
        transform = TRANSFORM_MAPS[staging_table]
        number = next(self._numbers)
        return {
            "import_set": f"ISET{number:07d}",
            "import_set_id": _sys_id("sys_import_set", number),
            "staging_table": staging_table,
            "result": [self._transform(transform, row, instance) for row in rows],
        }

    def _transform(self, transform: TransformMap, staged: Any, instance: str) -> dict[str, Any]:
        result: dict[str, Any] = {
            "transform_map": transform.name,
            "table": transform.table,
            "display_name": transform.display_field,
            "display_value": "",
            "record_link": "",
            "sys_id": "",
        }
        if not isinstance(staged, dict) or any(isinstance(v, dict | list) for v in staged.values()):
            return {**result, "status": "error", "error_message": "Staging rows are flat name/value objects"}
        key = "" if staged.get(transform.coalesce) is None else str(staged[transform.coalesce])
        if not key:
            message = f"Coalesce field {transform.coalesce} is empty; the transform map requires it"
            return {**result, "status": "error", "error_message": message}
        sys_id = _sys_id(transform.table, key)
        fields = transform.target_fields(staged)
        result |= {
            "display_value": fields.get(transform.display_field, key),
            "record_link": f"{instance}/api/now/table/{transform.table}/{sys_id}",
            "sys_id": sys_id,
        }
        outcome = self.faults.write_outcome(self.system, transform.table, key)
        if outcome == "transient":
            return {**result, "status": "error", "error_message": TRANSIENT_MESSAGE}
        if outcome == "permanent":
            message = (
                f"Data Policy Exception: these fields are mandatory or invalid for {transform.table}: "
                f"{transform.display_field} (record {key} rejected by data policy)"
            )
            return {**result, "status": "error", "error_message": message}
        return {**result, **self._store(self.written(transform.table), key, sys_id, fields)}

    @staticmethod
    def _store(
        table: dict[str, dict[str, Any]], key: str, sys_id: str, fields: dict[str, str]
    ) -> dict[str, str]:
        now = format_time(datetime.now(UTC))
        current = table.get(key)
        if current is None:
            table[key] = {
                **fields,
                "sys_id": sys_id,
                "sys_created_on": now,
                "sys_created_by": "sandbox.integration",
                "sys_updated_on": now,
                "sys_updated_by": "sandbox.integration",
                "sys_mod_count": "0",
            }
            return {"status": "inserted"}
        if all(current.get(name) == value for name, value in fields.items()):
            return {"status": "ignored", "status_message": "No field values changed"}
        current.update(fields)
        current["sys_updated_on"] = now
        current["sys_mod_count"] = str(int(current["sys_mod_count"]) + 1)
        return {"status": "updated"}


def _sys_id(*parts: object) -> str:
    return hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=16).hexdigest()
