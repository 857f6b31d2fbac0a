"""ServiceNow records: how a dataset row of each table renders into the Table API's JSON.

Values are strings, as the Table API returns them with `sysparm_display_value=false`; references are
`{"link", "value"}` objects (plain sys_ids with `sysparm_exclude_reference_link=true`); datetimes are
`YYYY-MM-DD HH:MM:SS` in UTC. Field values derive from (seed, table, index, version) only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from integrations_sandbox.emulator.data import BASE_TIME, Row, unit
from integrations_sandbox.emulator.systems._common_wd_sn import ordered_id

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
    """Renders rows of one instance; `is_poison(table, index)` marks records to break on purpose."""

    seed: int
    instance: str
    users: int
    is_poison: Callable[[str, int], bool]
    reference_links: bool = True

    def record(self, table: str, row: Row) -> dict[str, Any]:
        pick = _Picker(self.seed, table, row)
        record = {
            "sys_id": ordered_id(self.seed, table, row.index),
            **TABLES[table].fields(self, pick, row),
            "sys_created_on": format_time(row.created),
            "sys_created_by": "admin",
            "sys_updated_on": format_time(row.ts),
            "sys_updated_by": "admin" if row.version == 0 else "sandbox.integration",
            "sys_mod_count": str(row.version),
        }
        if self.is_poison(table, row.index):
            TABLES[table].poison(record, pick)
        return record

    def user(self, pick: _Picker, salt: str, empty_rate: float = 0.0) -> Any:
        """A reference to a sys_user record (or "" for none)."""
        if self.users <= 0 or pick.unit(salt, "empty") < empty_rate:
            return ""
        sys_id = ordered_id(self.seed, "sys_user", int(pick.unit(salt) * self.users))
        if not self.reference_links:
            return sys_id
        return {"link": f"{self.instance}/api/now/table/sys_user/{sys_id}", "value": sys_id}


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
    "change_request": TableSpec(1_000, _change_request, _poison_task, "number"),
    "sys_user": TableSpec(500, _sys_user, _poison_field("user_name"), "name"),
    "cmdb_ci": TableSpec(1_000, _cmdb_ci, _poison_field("name"), "name"),
}


@cache
def table_fields(table: str) -> frozenset[str]:
    """The field names of a generated table (for query and sysparm_fields checks)."""
    sample = Renderer(0, "", 1, lambda _table, _index: False).record(table, Row(0, BASE_TIME, BASE_TIME))
    return frozenset(sample)


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
