"""The account's record types as an admin has customised them: custom fields and custom record types.

Standard record types (customer, transaction, item, employee) carry the account's custom fields
(`custentity_*` on entities, `custbody_*` on transactions, `custitem_*` on items); custom record types
(`customrecord_*`) have NetSuite's own columns (id, name, externalid, isinactive, created, lastmodified)
plus `custrecord_*` fields. Custom field values are generated from the row, like every other value.

Schema changes (`NetSuite.change_schema`, admin route POST /__admin/schema/netsuite) act as an
administrator does in Customization > Lists, Records & Fields, and show at once in SuiteQL and the
metadata catalog:

    {"action": "add_object", "object": "customrecord_x", "size": 200}
    {"action": "add_field", "object": "customer", "field": "custentity_x", "type": "string"}
    {"action": "change_type", "object": "customer", "field": "custentity_x", "type": "integer"}
    {"action": "remove_field", "object": "customer", "field": "custentity_x"}

Types are the metadata catalog's: string, integer, number, boolean, date, date-time. Only custom fields
can be changed or removed, as in NetSuite.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from typing import Any

from integrations_sandbox.emulator.data import unit
from integrations_sandbox.emulator.systems.netsuite_records import (
    TABLES,
    Field,
    Record,
    Table,
    internal_id,
    second,
)

KINDS = {"string": "str", "integer": "int", "number": "num", "boolean": "bool", "date": "date",
         "date-time": "ts"}  # fmt: skip
"""Metadata catalog type names and the SuiteQL column kinds they read as."""
_PREFIXES = {
    "customer": "custentity",
    "employee": "custentity",
    "transaction": "custbody",
    "item": "custitem",
}
_CUSTOM_TYPE = re.compile(r"customrecord_[a-z0-9_]{1,80}")
_FIELD_NAME = re.compile(r"(custentity|custbody|custitem|custrecord)_[a-z0-9_]{1,80}")
CUSTOM_TYPE_SIZE = 300
_VALUES = ("North", "South", "East", "West", "Central", "Online", "Partner", "Retail")

INITIAL_FIELDS: Mapping[str, Mapping[str, str]] = {
    "customer": {"custentity_region": "string", "custentity_credit_score": "integer"},
    "transaction": {"custbody_channel": "string", "custbody_approved": "boolean"},
    "item": {"custitem_weight_kg": "number"},
    "employee": {"custentity_badge_date": "date"},
}
INITIAL_TYPES: Mapping[str, Mapping[str, str]] = {
    "customrecord_contract": {
        "custrecord_contract_value": "number",
        "custrecord_contract_start": "date",
        "custrecord_contract_customer": "integer",
    },
}


def custom_value(name: str, kind: str) -> Callable[[Record], Any]:
    """The generated value of custom field `name` read as `kind`: deterministic per record and field."""

    def draw(rec: Record, *salt: object) -> float:
        return unit(rec.seed, rec.recordtype, rec.row.index, name, *salt)

    if kind == "int":
        return lambda r: int(draw(r) * 1000)
    if kind == "num":
        return lambda r: round(draw(r, r.row.version) * 10_000, 2)
    if kind == "bool":
        return lambda r: draw(r) < 0.5
    if kind == "date":
        return lambda r: r.row.created.replace(hour=0, minute=0, second=0, microsecond=0)
    if kind == "ts":
        return lambda r: second(r.row.created)
    return lambda r: None if draw(r, "null") < 0.1 else _VALUES[int(draw(r) * len(_VALUES))]


def _custom_type_table(name: str) -> Table:
    return Table(
        name,
        {
            "id": Field("int", lambda r: internal_id(r.row.index)),
            "name": Field("str", lambda r: f"{name.removeprefix('customrecord_')} {r.row.index + 1}"),
            "externalid": Field("str", lambda r: f"ext-{name}-{r.row.index + 1}"),
            "isinactive": Field("bool", lambda r: False),
            "created": Field("ts", lambda r: second(r.row.created)),
            "lastmodified": Field("ts", lambda r: second(r.row.ts)),
        },
        "name",
    )


class AccountSchema:
    """Record types and their columns as SuiteQL and the metadata catalog see them now (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.custom_fields: dict[str, dict[str, str]] = {t: dict(f) for t, f in INITIAL_FIELDS.items()}
        self.custom_types: dict[str, int] = dict.fromkeys(INITIAL_TYPES, CUSTOM_TYPE_SIZE)
        for record_type, fields in INITIAL_TYPES.items():
            self.custom_fields[record_type] = dict(fields)
        self._tables = self._build()

    def tables(self) -> Mapping[str, Table]:
        return self._tables

    def is_custom_type(self, name: str) -> bool:
        return name in self.custom_types

    def _build(self) -> dict[str, Table]:
        tables: dict[str, Table] = {}
        bases = {**TABLES, **{name: _custom_type_table(name) for name in self.custom_types}}
        for name, base in bases.items():
            custom = {
                field: Field(KINDS[kind], custom_value(field, KINDS[kind]))
                for field, kind in self.custom_fields.get(name, {}).items()
            }
            tables[name] = Table(name, {**base.fields, **custom}, base.name_field)
        return tables

    def change(self, change: Mapping[str, Any]) -> str:
        """Apply one admin change (see the module); return the record type it changed."""
        action = change.get("action")
        record_type = str(change.get("object") or "").lower()
        with self._lock:
            if action == "add_object":
                self._add_type(record_type, change.get("size", CUSTOM_TYPE_SIZE))
            elif action in ("add_field", "change_type", "remove_field"):
                self._change_field(str(action), record_type, change)
            else:
                raise ValueError(
                    f"action must be add_object, add_field, change_type or remove_field, not {action!r}"
                )
            self._tables = self._build()
        return record_type

    def _add_type(self, record_type: str, size: Any) -> None:
        if not _CUSTOM_TYPE.fullmatch(record_type):
            raise ValueError(f"a custom record type's id is customrecord_<name>, not {record_type!r}")
        if record_type in self.custom_types:
            raise ValueError(f"custom record type {record_type!r} already exists")
        if not isinstance(size, int) or not 0 <= size <= 100_000:
            raise ValueError("size must be a whole number of records from 0 to 100000")
        self.custom_types[record_type] = size
        self.custom_fields[record_type] = {}

    def _change_field(self, action: str, record_type: str, change: Mapping[str, Any]) -> None:
        if record_type not in TABLES and record_type not in self.custom_types:
            raise ValueError(f"record type {record_type!r} does not exist")
        name = str(change.get("field") or "").lower()
        prefix = "custrecord" if record_type in self.custom_types else _PREFIXES[record_type]
        if not (_FIELD_NAME.fullmatch(name) and name.startswith(prefix + "_")):
            raise ValueError(
                f"custom fields of {record_type} are named {prefix}_<name> "
                f"(standard fields cannot be changed), not {name!r}"
            )
        fields = self.custom_fields.setdefault(record_type, {})
        if action == "remove_field":
            if fields.pop(name, None) is None:
                raise ValueError(f"{record_type} has no custom field {name!r}")
            return
        kind = change.get("type")
        if kind not in KINDS:
            raise ValueError(f"type must be one of {sorted(KINDS)}, not {kind!r}")
        if action == "add_field" and name in fields:
            raise ValueError(f"{record_type} already has custom field {name!r}")
        if action == "change_type" and name not in fields:
            raise ValueError(f"{record_type} has no custom field {name!r}")
        fields[name] = str(kind)
