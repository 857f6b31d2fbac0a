"""ServiceNow's data dictionary: tables (`sys_db_object`) and their columns (`sys_dictionary`).

A table extends another through `super_class`; a column is defined once, on the table that introduces
it, and every table extending that one inherits it (incident, problem and change_request carry the task
columns, which sys_dictionary lists under `task`, not under `incident`). Tables without a super_class
define the system columns (sys_id, sys_created_on, ...). Custom tables are named `u_...` (global scope)
or `x_<vendor>_<app>_...` (a scoped application); custom columns on base tables are `u_...` or
`x_<vendor>_<app>_...`.

Schema changes (`add_table`, `add_column`, `change_type`, `remove_column`) move `version`, so the Table
API, its query parser and the dictionary answers see them at once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from integrations_sandbox.emulator.data import BASE_TIME
from integrations_sandbox.emulator.systems._common_wd_sn import ordered_id

TYPES = {
    "GUID": 32, "string": 40, "integer": 40, "longint": 40, "decimal": 15, "float": 15, "currency": 20,
    "boolean": 40, "glide_date_time": 40, "glide_date": 40, "reference": 32, "sys_class_name": 80,
    "journal": 4000, "html": 8000, "email": 100, "url": 1024, "choice": 40, "password2": 255,
}  # fmt: skip
"""The internal types this instance knows, with their default max_length."""
DATETIME_TYPES = {"glide_date_time"}
_NAME = re.compile(r"[a-z][a-z0-9_]{0,79}")
_CUSTOM_TABLE = re.compile(r"u_[a-z0-9_]+|x_[a-z0-9]+_[a-z0-9]+_[a-z0-9_]+")
_SCOPE = re.compile(r"(x_[a-z0-9]+_[a-z0-9]+)_")

STATES = {"1": "New", "2": "In Progress", "3": "On Hold", "6": "Resolved", "7": "Closed", "-5": "New",
          "-4": "Assess", "-3": "Authorize", "-2": "Scheduled", "-1": "Implement", "0": "Review",
          "4": "Canceled"}  # fmt: skip
LEVELS = {"1": "1 - High", "2": "2 - Medium", "3": "3 - Low", "4": "4 - Planning", "5": "5 - Planning"}


@dataclass(frozen=True)
class Column:
    """One sys_dictionary entry: a column of the table that defines it."""

    element: str
    internal_type: str
    label: str
    max_length: int
    reference: str = ""
    mandatory: bool = False
    choices: Mapping[str, str] = field(default_factory=dict)
    number: int = 0
    created: datetime = BASE_TIME
    updated: datetime = BASE_TIME


@dataclass
class Table:
    """One sys_db_object entry, with the columns it defines itself."""

    name: str
    label: str
    super_class: str | None
    extendable: bool
    number: int
    columns: dict[str, Column] = field(default_factory=dict)
    readable: bool = True
    display: str = ""
    created: datetime = BASE_TIME

    @property
    def scope(self) -> str:
        match = _SCOPE.match(self.name)
        return match.group(1) if match else "global"


def col(element: str, internal_type: str, label: str = "", **more: Any) -> Column:
    """A column definition; max_length defaults to its type's."""
    length = more.pop("max_length", TYPES[internal_type])
    return Column(element, internal_type, label or element.replace("_", " ").title(), length, **more)


SYSTEM_COLUMNS = (
    col("sys_id", "GUID", "Sys ID"),
    col("sys_created_on", "glide_date_time", "Created"),
    col("sys_created_by", "string", "Created by"),
    col("sys_updated_on", "glide_date_time", "Updated"),
    col("sys_updated_by", "string", "Updated by"),
    col("sys_mod_count", "integer", "Updates"),
)

BUILT_IN: tuple[tuple[str, str, str | None, bool, str, tuple[Column, ...]], ...] = (
    ("sys_user", "User", None, True, "name", (
        col("user_name", "string", "User ID", mandatory=True), col("first_name", "string"),
        col("last_name", "string"), col("name", "string"), col("email", "email"), col("title", "string"),
        col("department", "string"), col("active", "boolean"),
    )),
    ("task", "Task", None, True, "number", (
        col("number", "string"), col("short_description", "string", "Short description"),
        col("description", "string", max_length=4000), col("state", "integer", choices=STATES),
        col("active", "boolean"), col("impact", "integer", choices=LEVELS),
        col("urgency", "integer", choices=LEVELS), col("priority", "integer", choices=LEVELS),
        col("assigned_to", "reference", "Assigned to", reference="sys_user"),
        col("opened_at", "glide_date_time", "Opened"), col("sys_class_name", "sys_class_name", "Task type"),
    )),
    ("incident", "Incident", "task", True, "number", (
        col("category", "string", choices={c: c.title() for c in ("hardware", "software", "network",
                                                                  "inquiry", "database")}),
        col("caller_id", "reference", "Caller", reference="sys_user"),
        col("u_vendor_ticket", "string", "Vendor ticket"),
        col("u_outage_minutes", "integer", "Outage minutes"),
        col("x_acme_fleet_vehicle", "reference", "Vehicle", reference="x_acme_fleet_vehicle"),
    )),
    ("problem", "Problem", "task", True, "number", ()),
    ("change_request", "Change Request", "task", True, "number", (
        col("type", "string", choices={"normal": "Normal", "standard": "Standard", "emergency": "Emergency"}),
        col("risk", "integer", choices={"2": "High", "3": "Moderate", "4": "Low"}),
        col("approval", "string"), col("start_date", "glide_date_time", "Planned start date"),
        col("end_date", "glide_date_time", "Planned end date"),
    )),
    ("cmdb_ci", "Configuration Item", None, True, "name", (
        col("name", "string"), col("sys_class_name", "sys_class_name", "Class"),
        col("serial_number", "string"), col("ip_address", "string", "IP Address"),
        col("operational_status", "integer"), col("install_status", "integer"),
        col("manufacturer", "string"), col("assigned_to", "reference", "Assigned to", reference="sys_user"),
    )),
    ("sys_audit_delete", "Deleted records", None, False, "display_value", (
        col("tablename", "string", "Table"), col("documentkey", "GUID", "Document key"),
        col("display_value", "string", "Display value"),
    )),
    ("u_vendor_contract", "Vendor contract", None, False, "u_number", (
        col("u_number", "string", "Number"), col("u_vendor", "string", "Vendor"),
        col("u_amount", "decimal", "Amount"), col("u_start", "glide_date", "Start"),
        col("u_renewal", "glide_date_time", "Renewal"), col("u_active", "boolean", "Active"),
        col("u_owner", "reference", "Owner", reference="sys_user"),
    )),
    ("x_acme_fleet_vehicle", "Vehicle", None, False, "vin", (
        col("vin", "string", "VIN"), col("model", "string"), col("mileage", "integer"),
        col("in_service", "boolean", "In service"), col("last_service", "glide_date", "Last service"),
        col("driver", "reference", reference="sys_user"),
    )),
    ("u_payroll_adjustment", "Payroll adjustment", None, False, "u_number", (
        col("u_number", "string", "Number"), col("u_employee", "reference", "Employee", reference="sys_user"),
        col("u_amount", "currency", "Amount"),
    )),
)  # fmt: skip
"""(name, label, super_class, is_extendable, display field, own columns) of the tables this instance has.
u_payroll_adjustment exists, but the integration user has no read ACL on it."""
UNREADABLE = {"u_payroll_adjustment"}


class SchemaError(ValueError):
    """A schema change the instance refuses (the admin API answers it as a 400)."""


class Schema:
    """The instance's tables and columns, with inheritance along super_class."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.tables: dict[str, Table] = {}
        self.version = 0
        self._numbers = 0
        self._columns: dict[tuple[str, int], dict[str, Column]] = {}
        for name, label, parent, extendable, display, columns in BUILT_IN:
            own = columns if parent else (*SYSTEM_COLUMNS, *columns)
            table = self._new_table(name, label, parent, extendable, display, own, BASE_TIME)
            table.readable = name not in UNREADABLE

    def _next(self) -> int:
        self._numbers += 1
        return self._numbers

    def _new_table(
        self,
        name: str,
        label: str,
        parent: str | None,
        extendable: bool,
        display: str,
        columns: tuple[Column, ...],
        when: datetime,
    ) -> Table:
        table = Table(name, label, parent, extendable, self._next(), display=display, created=when)
        for column in columns:
            table.columns[column.element] = replace(column, number=self._next(), created=when, updated=when)
        self.tables[name] = table
        self.version += 1
        return table

    def table(self, name: str) -> Table | None:
        return self.tables.get(name)

    def chain(self, name: str) -> list[Table]:
        """The table and the tables it extends, nearest first."""
        found: list[Table] = []
        table = self.tables.get(name)
        while table is not None:
            found.append(table)
            table = self.tables.get(table.super_class) if table.super_class else None
        return found

    def columns(self, name: str) -> dict[str, Column]:
        """Every column of `name`, inherited ones first (a table's own definition wins)."""
        key = (name, self.version)
        if key not in self._columns:
            merged: dict[str, Column] = {}
            for table in reversed(self.chain(name)):
                merged.update(table.columns)
            self._columns = {key: merged, **{k: v for k, v in self._columns.items() if k[1] == self.version}}
        return self._columns[key]

    def datetime_fields(self, name: str) -> frozenset[str]:
        return frozenset(c.element for c in self.columns(name).values() if c.internal_type in DATETIME_TYPES)

    def display_field(self, name: str) -> str:
        for table in self.chain(name):
            if table.display:
                return table.display
        return "sys_id"

    # schema changes (the admin API)

    def add_table(self, name: str, label: str, columns: list[Column], now: datetime) -> Table:
        if not _CUSTOM_TABLE.fullmatch(name) or len(name) > 80:
            raise SchemaError(f"a custom table is named u_<name> or x_<vendor>_<app>_<name>, not {name!r}")
        if name in self.tables:
            raise SchemaError(f"table {name!r} already exists")
        first = columns[0].element if columns else "sys_id"
        return self._new_table(name, label, None, False, first, (*SYSTEM_COLUMNS, *columns), now)

    def add_column(self, name: str, column: Column, now: datetime) -> Column:
        table = self._existing(name)
        if not _NAME.fullmatch(column.element):
            raise SchemaError(f"{column.element!r} is not a column name")
        if not (column.element.startswith(("u_", "x_")) or table.name.startswith(("u_", "x_"))):
            raise SchemaError(f"a column added to {name} is named u_<name> (or x_<scope>_<name>)")
        if column.element in self.columns(name) or any(
            column.element in self.columns(other) for other in self._extending(name)
        ):
            raise SchemaError(f"{name} already has a column {column.element!r}")
        if column.reference and column.reference not in self.tables:
            raise SchemaError(f"reference table {column.reference!r} does not exist")
        added = replace(column, number=self._next(), created=now, updated=now)
        table.columns[column.element] = added
        self.version += 1
        return added

    def change_type(self, name: str, element: str, internal_type: str, now: datetime) -> Column:
        owner, column = self._defined(name, element)
        if internal_type not in TYPES or internal_type in ("GUID", "reference"):
            raise SchemaError(f"cannot change {element} to type {internal_type!r}")
        changed = replace(column, internal_type=internal_type, max_length=TYPES[internal_type], updated=now)
        owner.columns[element] = changed
        self.version += 1
        return changed

    def remove_column(self, name: str, element: str) -> None:
        owner, _ = self._defined(name, element)
        if element.startswith("sys_"):
            raise SchemaError(f"system column {element} cannot be removed")
        del owner.columns[element]
        self.version += 1

    def _existing(self, name: str) -> Table:
        table = self.tables.get(name)
        if table is None:
            raise SchemaError(f"no table {name!r}; known: {sorted(self.tables)}")
        return table

    def _defined(self, name: str, element: str) -> tuple[Table, Column]:
        for table in self.chain(self._existing(name).name):
            if element in table.columns:
                if table.name != name:
                    raise SchemaError(f"{element} is defined on {table.name}; change it there")
                return table, table.columns[element]
        raise SchemaError(f"{name} has no column {element!r}")

    def _extending(self, name: str) -> list[str]:
        return [t for t in self.tables if name in (x.name for x in self.chain(t)[1:])]

    # how the dictionary reads through the Table API

    def db_object_records(self, instance: str) -> list[dict[str, Any]]:
        records = []
        for table in self.tables.values():
            parent = self.tables.get(table.super_class or "")
            records.append(
                {
                    "sys_id": self.sys_id("sys_db_object", table.number),
                    "name": table.name,
                    "label": table.label,
                    "super_class": ""
                    if parent is None
                    else self._link(instance, "sys_db_object", self.sys_id("sys_db_object", parent.number)),
                    "is_extendable": _flag(table.extendable),
                    "sys_scope": self._scope_link(instance, table.scope),
                    "sys_package": self._scope_link(instance, table.scope).get("value", ""),
                    "access": "public",
                    "sys_class_name": "sys_db_object",
                    "number_ref": "",
                    **_stamps(table.created, table.created),
                }
            )
        return records

    def dictionary_records(self, instance: str) -> list[dict[str, Any]]:
        records = []
        for table in self.tables.values():
            collection = Column("", "collection", table.label, 40, number=table.number, created=table.created,
                                updated=table.created)  # fmt: skip
            for column in (collection, *table.columns.values()):
                records.append(self._dictionary_record(instance, table, column))
        return records

    def _dictionary_record(self, instance: str, table: Table, column: Column) -> dict[str, Any]:
        reference = self.tables.get(column.reference)
        return {
            "sys_id": self.sys_id("sys_dictionary", column.number),
            "name": table.name,
            "element": column.element,
            "column_label": column.label,
            "internal_type": self._link(instance, "sys_glide_object", column.internal_type),
            "max_length": str(column.max_length),
            "mandatory": _flag(column.mandatory),
            "active": "true",
            "read_only": _flag(column.element.startswith("sys_")),
            "primary": _flag(column.element == "sys_id"),
            "display": _flag(column.element == table.display),
            "reference": "" if reference is None else self._link(instance, "sys_db_object", reference.name),
            "default_value": "",
            "choice": "1" if column.choices else "0",
            "sys_scope": self._scope_link(instance, table.scope),
            "sys_class_name": "sys_dictionary",
            **_stamps(column.created, column.updated),
        }

    def sys_id(self, kind: str, number: int) -> str:
        return ordered_id(self.seed, kind, number)

    @staticmethod
    def _link(instance: str, table: str, value: str) -> dict[str, str]:
        return {"link": f"{instance}/api/now/table/{table}/{value}", "value": value}

    def _scope_link(self, instance: str, scope: str) -> dict[str, str]:
        value = scope if scope == "global" else ordered_id(self.seed, "sys_scope", sum(map(ord, scope)))
        return self._link(instance, "sys_scope", value)


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _stamps(created: datetime, updated: datetime) -> dict[str, str]:
    return {
        "sys_created_on": _time(created),
        "sys_created_by": "system",
        "sys_updated_on": _time(updated),
        "sys_updated_by": "system" if updated == created else "admin",
        "sys_mod_count": "0" if updated == created else "1",
    }


def _time(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(" ", "seconds")[:19]
