"""ServiceNow records: how a dataset row of each table renders into the Table API's JSON.

Values are strings, as the Table API returns them with `sysparm_display_value=false`; references are
`{"link", "value"}` objects (plain sys_ids with `sysparm_exclude_reference_link=true`); datetimes are
`YYYY-MM-DD HH:MM:SS` in UTC. Field values derive from (seed, table, index, version) only.

Which fields a record has is the data dictionary's (`servicenow_schema.Schema`): a table's own and
inherited columns. The hand-written generators below give the base tables' usual values; every other
column (custom `u_`/`x_` ones, ones added through the admin API, inherited ones a generator leaves out)
gets a value generated from its internal type. `displayed` turns values into display values
(`sysparm_display_value=true|all`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from integrations_sandbox.emulator.data import Row, unit
from integrations_sandbox.emulator.systems._common_wd_sn import ordered_id
from integrations_sandbox.emulator.systems.servicenow_schema import Column, Schema

DATETIME_FIELDS = {"sys_created_on", "sys_updated_on", "opened_at", "start_date", "end_date"}

FIRST = ("Ava", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kemi", "Liam",
         "Mara", "Nils", "Olga", "Priya", "Quinn", "Rosa", "Sven", "Tara")  # fmt: skip
LAST = ("Adams", "Brandt", "Chen", "Diaz", "Eriksen", "Fischer", "Gupta", "Haddad", "Ito", "Jensen", "Kowal",
        "Lopez", "Moreau", "Novak", "Okafor", "Park", "Rossi", "Silva", "Tanaka", "Weber")  # fmt: skip
SUBJECTS = ("Email not syncing", "VPN drops every hour", "Laptop will not boot", "Printer offline",
            "Password reset loop", "Slow database queries", "Disk almost full", "Certificate expiring",
            "Cannot reach intranet", "Application crash on save")  # fmt: skip
CHANGES = ("Patch web servers", "Rotate TLS certificates", "Upgrade database minor version",
           "Add firewall rule", "Resize storage volume", "Deploy release 4.2")  # fmt: skip
TITLES = ("Analyst", "Engineer", "Service Desk Agent", "Manager", "Architect", "Administrator")
DEPARTMENTS = ("IT", "Finance", "Sales", "HR", "Operations", "Engineering")
CI_CLASSES = ("cmdb_ci_server", "cmdb_ci_computer", "cmdb_ci_netgear", "cmdb_ci_database")


@dataclass(frozen=True)
class Renderer:
    """Renders rows of one instance; `is_poison(table, index)` marks records to break on purpose,
    `size(table)` is how many records a referenced table has."""

    seed: int
    instance: str
    users: int
    is_poison: Callable[[str, int], bool]
    reference_links: bool = True
    schema: Schema | None = None
    size: Callable[[str], int] = lambda _table: 0

    def record(self, table: str, row: Row) -> dict[str, Any]:
        pick = _Picker(self.seed, table, row)
        spec = TABLES.get(table)
        produced = {
            "sys_id": ordered_id(self.seed, table, row.index),
            **(spec.fields(self, pick, row) if spec else {}),
            "sys_created_on": format_time(row.created),
            "sys_created_by": "admin",
            "sys_updated_on": format_time(row.ts),
            "sys_updated_by": "admin" if row.version == 0 else "sandbox.integration",
            "sys_mod_count": str(row.version),
        }
        if self.schema is None:
            record = produced
        else:
            record = {
                name: produced[name] if name in produced else self._generated(table, column, pick, row)
                for name, column in self.schema.columns(table).items()
            }
        if self.is_poison(table, row.index):
            if spec is not None:
                spec.poison(record, pick)
            elif self.schema is not None:
                record[self.schema.display_field(table)] = None
        return record

    def _generated(self, table: str, column: Column, pick: _Picker, row: Row) -> Any:
        """A value for `column` from its internal type (about one in ten empty, as on real data)."""
        kind, name = column.internal_type, column.element
        at = pick.unit("column", name)
        if kind == "sys_class_name":
            return table
        if kind not in ("boolean", "GUID") and not column.mandatory and pick.unit("empty", name) < 0.1:
            return ""
        if column.choices:
            return pick.one(list(column.choices), "column", name)
        if kind in ("integer", "longint"):
            return str(int(at * 1000))
        if kind in ("decimal", "float", "currency"):
            return f"{at * 10000:.2f}"
        if kind == "boolean":
            return "true" if at < 0.5 else "false"
        if kind == "glide_date_time":
            return format_time(row.created + timedelta(minutes=int(at * 43200)))
        if kind == "glide_date":
            return (row.created + timedelta(days=int(at * 365))).date().isoformat()
        if kind == "reference":
            return self.reference(column.reference, pick, name)
        if kind == "GUID":
            return ordered_id(self.seed, f"{table}/{name}", row.index)
        if kind == "email":
            return f"{name}.{int(at * 100000)}@example.com"
        return f"{column.label} {int(at * 100000):05d}"

    def reference(self, table: str, pick: _Picker, salt: str) -> Any:
        """A reference to a record of `table` (or "" when that table has none)."""
        if table == "sys_user":
            return self.user(pick, salt)
        size = self.size(table)
        if size <= 0:
            return ""
        return self._link(table, ordered_id(self.seed, table, int(pick.unit("ref", salt) * size)))

    def user(self, pick: _Picker, salt: str, empty_rate: float = 0.0) -> Any:
        """A reference to a sys_user record (or "" for none)."""
        if self.users <= 0 or pick.unit(salt, "empty") < empty_rate:
            return ""
        return self._link("sys_user", ordered_id(self.seed, "sys_user", int(pick.unit(salt) * self.users)))

    def _link(self, table: str, sys_id: str) -> Any:
        if not self.reference_links:
            return sys_id
        return {"link": f"{self.instance}/api/now/table/{table}/{sys_id}", "value": sys_id}


class _Picker:
    """Deterministic choices for one row: `unit` ignores the version, `changing` follows it."""

    def __init__(self, seed: int, table: str, row: Row) -> None:
        self.base = (seed, table, row.index)
        self.version = row.version

    def unit(self, *salt: object) -> float:
        return unit(*self.base, *salt)

    def one(self, options: Sequence[str], *salt: object) -> str:
        return options[int(self.unit(*salt) * len(options))]

    def changing(self, options: Sequence[str], *salt: object) -> str:
        return self.one(options, self.version, *salt)


def _number(prefix: str, row: Row) -> str:
    return f"{prefix}{row.index + 1:07d}"


def _incident(r: Renderer, pick: _Picker, row: Row) -> dict[str, Any]:
    impact = 1 + int(pick.unit("impact") * 3)
    urgency = 1 + int(pick.unit(row.version, "urgency") * 3)
    state = pick.changing(("1", "2", "3", "6", "7"), "state")
    category = pick.one(("hardware", "software", "network", "inquiry", "database"), "category")
    return {
        "number": _number("INC", row),
        "short_description": f"{pick.one(SUBJECTS, 'subject')} ({category})",
        "category": category,
        "state": state,
        "active": "true" if state in ("1", "2", "3") else "false",
        "impact": str(impact),
        "urgency": str(urgency),
        "priority": str(impact + urgency - 1),
        "caller_id": r.user(pick, "caller"),
        "assigned_to": r.user(pick, f"assignee{row.version}", empty_rate=0.15),
        "opened_at": format_time(row.created),
    }


def _change_request(r: Renderer, pick: _Picker, row: Row) -> dict[str, Any]:
    start = row.created + timedelta(days=1 + int(pick.unit("start") * 14))
    return {
        "number": _number("CHG", row),
        "short_description": pick.one(CHANGES, "subject"),
        "type": pick.one(("normal", "standard", "emergency"), "type"),
        "state": pick.changing(("-5", "-4", "-3", "-2", "-1", "0", "3", "4"), "state"),
        "priority": str(1 + int(pick.unit(row.version, "priority") * 4)),
        "risk": pick.one(("2", "3", "4"), "risk"),
        "approval": pick.changing(("not requested", "requested", "approved", "rejected"), "approval"),
        "assigned_to": r.user(pick, "assignee", empty_rate=0.1),
        "start_date": format_time(start),
        "end_date": format_time(start + timedelta(hours=1 + int(pick.unit("hours") * 8))),
    }


def _sys_user(r: Renderer, pick: _Picker, row: Row) -> dict[str, Any]:
    first, last = pick.one(FIRST, "first"), pick.one(LAST, "last")
    user_name = f"{first}.{last}{row.index}".lower()
    return {
        "user_name": user_name,
        "first_name": first,
        "last_name": last,
        "name": f"{first} {last}",
        "email": f"{user_name}@example.com",
        "title": pick.changing(TITLES, "title"),
        "department": pick.changing(DEPARTMENTS, "department"),
        "active": "false" if pick.unit(row.version, "inactive") < 0.05 else "true",
    }


def _problem(r: Renderer, pick: _Picker, row: Row) -> dict[str, Any]:
    state = pick.changing(("1", "2", "3", "6", "7"), "state")
    return {
        "number": _number("PRB", row),
        "short_description": pick.one(SUBJECTS, "subject"),
        "state": state,
        "active": "true" if state in ("1", "2", "3") else "false",
        "priority": str(1 + int(pick.unit(row.version, "priority") * 4)),
        "assigned_to": r.user(pick, "assignee", empty_rate=0.2),
        "opened_at": format_time(row.created),
    }


def _cmdb_ci(r: Renderer, pick: _Picker, row: Row) -> dict[str, Any]:
    kind = pick.one(CI_CLASSES, "class")
    octets = [int(pick.unit("ip", n) * 254) + 1 for n in range(3)]
    return {
        "name": f"{kind.removeprefix('cmdb_ci_')}-{row.index:06d}",
        "sys_class_name": kind,
        "serial_number": f"SN{int(pick.unit('serial') * 16**10):010X}",
        "ip_address": "10." + ".".join(map(str, octets)),
        "operational_status": pick.changing(("1", "1", "1", "2", "3", "6"), "status"),
        "install_status": pick.changing(("1", "1", "3", "7"), "install"),
        "manufacturer": pick.one(("Dell", "HPE", "Cisco", "Lenovo", "Oracle"), "maker"),
        "assigned_to": r.user(pick, "owner", empty_rate=0.3),
    }


def _poison_task(record: dict[str, Any], pick: _Picker) -> None:
    if pick.unit("poison-kind") < 0.5:
        record["priority"] = "urgent!!"
    else:
        record["number"] = None


def _poison_field(name: str) -> Callable[[dict[str, Any], _Picker], None]:
    def poison(record: dict[str, Any], pick: _Picker) -> None:
        record[name] = None

    return poison


@dataclass(frozen=True)
class TableSpec:
    """One generated table: default size, how its fields render, how a poison record breaks."""

    default_size: int
    fields: Callable[[Renderer, _Picker, Row], dict[str, Any]]
    poison: Callable[[dict[str, Any], _Picker], None]
    display_field: str


TABLES: dict[str, TableSpec] = {
    "incident": TableSpec(5_000, _incident, _poison_task, "number"),
    "problem": TableSpec(200, _problem, _poison_task, "number"),
    "change_request": TableSpec(1_000, _change_request, _poison_task, "number"),
    "sys_user": TableSpec(500, _sys_user, _poison_field("user_name"), "name"),
    "cmdb_ci": TableSpec(1_000, _cmdb_ci, _poison_field("name"), "name"),
}


def displayed(
    record: Mapping[str, Any],
    columns: Mapping[str, Column],
    mode: str,
    resolve: Callable[[str, str], str],
) -> dict[str, Any]:
    """`record` as `sysparm_display_value=true` (display values only) or `all` (both) shows it.

    A reference shows its record's display field, a choice its label, a number its grouped digits,
    currency its symbol; dates stay in UTC, the integration user's zone. References keep their
    `link` where the record carried one (`sysparm_exclude_reference_link` not set).
    """
    shown: dict[str, Any] = {}
    for name, value in record.items():
        link = value.get("link") if isinstance(value, dict) else None
        raw = value.get("value") if isinstance(value, dict) else value
        column = columns.get(name)
        text = raw if column is None else display_text(column, raw, resolve)
        entry: Any
        if mode == "all":
            entry = {"display_value": text, "value": raw}
        else:
            entry = {"display_value": text} if link else text
        if link:
            entry["link"] = link
        shown[name] = entry
    return shown


def display_text(column: Column, raw: Any, resolve: Callable[[str, str], str]) -> Any:
    if raw in (None, ""):
        return raw
    kind = column.internal_type
    if kind == "reference":
        return resolve(column.reference, str(raw))
    if column.choices:
        return column.choices.get(str(raw), raw)
    try:
        if kind in ("integer", "longint"):
            return f"{int(raw):,}"
        if kind in ("decimal", "float"):
            return f"{Decimal(str(raw)):,}"
        if kind == "currency":
            return f"${Decimal(str(raw)):,.2f}"
    except (ValueError, InvalidOperation):
        return raw
    return raw


def audit_record(seed: int, table: str, row: Row, display_value: Any) -> dict[str, Any]:
    """The sys_audit_delete entry for a deleted row of `table`."""
    when = format_time(row.ts)
    return {
        "sys_id": ordered_id(seed, f"sys_audit_delete/{table}", row.index),
        "tablename": table,
        "documentkey": ordered_id(seed, table, row.index),
        "display_value": display_value,
        "sys_created_on": when,
        "sys_created_by": "admin",
        "sys_updated_on": when,
        "sys_mod_count": "0",
    }


def format_time(when: datetime) -> str:
    """'YYYY-MM-DD HH:MM:SS' (UTC), the Table API's datetime format."""
    return when.isoformat(" ", "seconds")[:19]
