"""NetSuite's record tables as SuiteQL sees them, rendered deterministically from dataset rows.

Every field is a function of the row (index, timestamps, version) and the seed, so the same seed always
gives the same records. Internal ids are `ID_BASE + index`: they rise with the index, and all have seven
digits, so their text order is their numeric order too. On the wire, SuiteQL gives every value as a
string and leaves null columns out of the item; dates and timestamps are written by the account's date
preferences (netsuite_dates.DatePreferences), or by the query's own `TO_CHAR` format. Times are UTC: the
sandbox account's time zone preference is GMT.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from integrations_sandbox.emulator.data import Row, unit
from integrations_sandbox.emulator.systems.netsuite_dates import DatePreferences, to_char
from integrations_sandbox.emulator.systems.netsuite_sql import Column

ID_BASE = 1_000_001
CUSTOMER_COUNT = 3000

_FIRST = ("Ada", "Bo", "Cai", "Dee", "Eli", "Fay", "Gus", "Hal", "Ivy", "Jo", "Kit", "Lu", "Mo", "Ned", "Oz")
_LAST = ("Abbott", "Baker", "Chen", "Diaz", "Evans", "Fox", "Garcia", "Hale", "Ito", "Jones", "Khan", "Lee")
_WORDS = ("Acme", "Apex", "Blue", "Cedar", "Delta", "Ember", "Falcon", "Granite", "Harbor", "Iron", "Juniper")
_NOUNS = ("Works", "Labs", "Foods", "Logistics", "Systems", "Retail", "Energy", "Health", "Media", "Supply")
_SUFFIXES = ("Inc", "LLC", "Ltd", "GmbH", "Corp")
_TRAN_TYPES = (("CustInvc", "INV"), ("CustInvc", "INV"), ("SalesOrd", "SO"), ("CashSale", "CS"))
_ITEM_TYPES = ("InvtPart", "NonInvtPart", "Service", "Kit")
_TITLES = ("Analyst", "Engineer", "Manager", "Director", "Accountant", "Buyer")


@dataclass(frozen=True, slots=True)
class Record:
    """One row of a table as the query engine sees it."""

    row: Row
    recordtype: str
    seed: int
    poison: bool = False


@dataclass(frozen=True)
class Field:
    """A column: its kind (int, num, str, bool, ts, date) and how to compute it."""

    kind: str
    value: Callable[[Record], Any]


@dataclass(frozen=True)
class Table:
    """A SuiteQL table: its columns in `SELECT *` order, and the column naming a record."""

    name: str
    fields: dict[str, Field]
    name_field: str


def internal_id(index: int) -> int:
    return ID_BASE + index


def second(ts: datetime) -> datetime:
    """Timestamps are served, compared and ordered at one-second precision, as they are shown."""
    return ts.replace(microsecond=0) if ts.microsecond else ts


@lru_cache(maxsize=8192)
def _timestamp_text(ts: datetime, prefs: DatePreferences) -> str:
    return prefs.timestamp(ts)


def wire(kind: str, value: Any, prefs: DatePreferences, to_char_format: str | None = None) -> str | None:
    """A value as SuiteQL's REST answer carries it: dates by the preferences unless TO_CHAR formats them."""
    if value is None:
        return None
    if kind in ("ts", "date") and isinstance(value, datetime):
        if to_char_format is not None:
            return to_char(value, to_char_format)
        return _timestamp_text(value, prefs) if kind == "ts" else prefs.date(value)
    if kind == "bool":
        return "T" if value else "F"
    if kind == "num" and isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def _draw(rec: Record, *salt: object) -> float:
    return unit(rec.seed, rec.recordtype, rec.row.index, *salt)


def _pick(options: tuple[Any, ...], draw: float) -> Any:
    return options[int(draw * len(options))]


def _number(prefix: str, rec: Record) -> str:
    return f"{prefix}-{rec.row.index + 1:07d}"


def _company(rec: Record) -> str:
    draw = _draw(rec, "company")
    word, rest = _pick(_WORDS, draw), draw * len(_WORDS) % 1
    return f"{word} {_pick(_NOUNS, rest)} {_pick(_SUFFIXES, rest * len(_NOUNS) % 1)}"


def _person(rec: Record) -> tuple[str, str]:
    draw = _draw(rec, "person")
    return _pick(_FIRST, draw), _pick(_LAST, draw * len(_FIRST) % 1)


def _amount(rec: Record, scale: float, poison: str) -> float | str:
    if rec.poison:
        return poison
    return round(_draw(rec, rec.row.version, "amount") * scale, 2)


def _common(kind_created: str) -> dict[str, Field]:
    return {
        kind_created: Field("ts", lambda r: second(r.row.created)),
        "lastmodifieddate": Field("ts", lambda r: second(r.row.ts)),
    }


def _customer_email(rec: Record) -> str:
    return f"ar{rec.row.index + 1}@{_company(rec).split()[0].lower()}.example.com"


CUSTOMER = Table(
    "customer",
    {
        "id": Field("int", lambda r: internal_id(r.row.index)),
        "entityid": Field("str", lambda r: _number("CUST", r)),
        "companyname": Field("str", lambda r: None if r.poison else _company(r)),
        "email": Field("str", _customer_email),
        "isperson": Field("bool", lambda r: False),
        "balance": Field("num", lambda r: round(_draw(r, r.row.version, "balance") * 50_000, 2)),
        **_common("datecreated"),
        "externalid": Field("str", lambda r: _number("ext-cust", r)),
    },
    "entityid",
)

TRANSACTION = Table(
    "transaction",
    {
        "id": Field("int", lambda r: internal_id(r.row.index)),
        "tranid": Field("str", lambda r: _number(_pick(_TRAN_TYPES, _draw(r, "type"))[1], r)),
        "type": Field("str", lambda r: _pick(_TRAN_TYPES, _draw(r, "type"))[0]),
        "entity": Field("int", lambda r: internal_id(int(_draw(r, "entity") * CUSTOMER_COUNT))),
        "total": Field("num", lambda r: _amount(r, 25_000, "abc")),
        "trandate": Field("date", lambda r: r.row.created.replace(hour=0, minute=0, second=0, microsecond=0)),
        **_common("createddate"),
        "externalid": Field("str", lambda r: _number("ext-tran", r)),
    },
    "tranid",
)

ITEM = Table(
    "item",
    {
        "id": Field("int", lambda r: internal_id(r.row.index)),
        "itemid": Field("str", lambda r: _number("SKU", r)),
        "displayname": Field("str", lambda r: _company(r).rsplit(" ", 1)[0]),
        "itemtype": Field("str", lambda r: _pick(_ITEM_TYPES, _draw(r, "itemtype"))),
        "baseprice": Field("num", lambda r: _amount(r, 900, "n/a")),
        "isinactive": Field("bool", lambda r: _draw(r, r.row.version, "inactive") < 0.05),
        **_common("createddate"),
        "externalid": Field("str", lambda r: _number("ext-item", r)),
    },
    "itemid",
)

EMPLOYEE = Table(
    "employee",
    {
        "id": Field("int", lambda r: internal_id(r.row.index)),
        "entityid": Field("str", lambda r: _number("EMP", r)),
        "firstname": Field("str", lambda r: _person(r)[0]),
        "lastname": Field("str", lambda r: None if r.poison else _person(r)[1]),
        "email": Field("str", lambda r: f"{_person(r)[0].lower()}.{r.row.index + 1}@corp.example.com"),
        "title": Field("str", lambda r: _pick(_TITLES, _draw(r, r.row.version, "title"))),
        "isinactive": Field("bool", lambda r: False),
        **_common("datecreated"),
        "externalid": Field("str", lambda r: _number("ext-emp", r)),
    },
    "entityid",
)

TABLES: dict[str, Table] = {t.name: t for t in (CUSTOMER, TRANSACTION, ITEM, EMPLOYEE)}


def _deleted_name(rec: Record) -> Any:
    table = TABLES.get(rec.recordtype)
    return None if table is None else table.fields[table.name_field].value(rec)


DELETED_RECORD = Table(
    "deletedrecord",
    {
        "recordtype": Field("str", lambda r: r.recordtype),
        "recordid": Field("int", lambda r: internal_id(r.row.index)),
        "deleteddate": Field("ts", lambda r: second(r.row.ts)),
        "name": Field("str", _deleted_name),
    },
    "name",
)


def all_columns(table: Table) -> tuple[Column, ...]:
    """`SELECT *`: every column under its own name."""
    return tuple(Column(name, name) for name in table.fields)


def render(table: Table, columns: tuple[Column, ...], rec: Record, prefs: DatePreferences) -> dict[str, Any]:
    """One SuiteQL item: lower-case keys, string values, null columns left out."""
    item: dict[str, Any] = {"links": []}
    fields = table.fields
    for column in columns:
        field = fields[column.source]
        value = wire(field.kind, field.value(rec), prefs, column.to_char)
        if value is not None:
            item[column.output] = value
    return item
