"""Salesforce objects of the sandbox: ids, field declarations (describe) and rendering of dataset rows.

A dataset row (index, timestamps, version, deleted) becomes a record deterministically: values come from a
hash of (seed, object, index) for the fields that never change and of (seed, object, index, version) for
the fields an update changes. Ids are 18 characters whose first 15 sort like the index, so `ORDER BY Id`
is index order.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from integrations_sandbox.emulator.data import Row
from integrations_sandbox.emulator.systems.salesforce_describe import (
    field_describe,
    object_describe,
    object_summary,
)

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
POD = "5g"
GENERATED = "00"  # characters 5-6 of a generated record's id
WRITTEN = "W0"  # ... of a record created through the API (sorts after every generated id)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MS = timedelta(milliseconds=1)


def base62(number: int, width: int) -> str:
    chars = []
    for _ in range(width):
        number, digit = divmod(number, 62)
        chars.append(BASE62[digit])
    if number:
        raise ValueError("number too large for the id width")
    return "".join(reversed(chars))


def checksum(id15: str) -> str:
    """The 3-character suffix that makes a 15-character id case-insensitively unique."""
    suffix = []
    for chunk in range(3):
        flags = 0
        for pos in range(5):
            char = id15[chunk * 5 + pos]
            if "A" <= char <= "Z":
                flags |= 1 << pos
        suffix.append(_SUFFIX[flags])
    return "".join(suffix)


def make_id(prefix: str, number: int, kind: str = GENERATED) -> str:
    """The 18-character id of record `number`; ids of one prefix and kind sort like their numbers."""
    high, low = divmod(number, _LOW_SPAN)
    head, head_suffix = _id_head(prefix, kind, high)
    first, rest = divmod(low, _PAIRS_SPAN * _PAIRS_SPAN)
    middle, last = divmod(rest, _PAIRS_SPAN)
    pair1, flags1 = _PAIRS[middle]
    pair2, flags2 = _PAIRS[last]
    flags = (BASE62[first].isupper()) | flags1 << 1 | flags2 << 3
    return f"{head}{BASE62[first]}{pair1}{pair2}{head_suffix}{_SUFFIX[flags]}"


_PAIRS_SPAN = 62 * 62
_LOW_SPAN = 62**5
_PAIRS = [
    (a + b, (a.isupper() and a.isascii()) | (b.isupper() and b.isascii()) << 1)
    for a in BASE62
    for b in BASE62
]


@functools.lru_cache(maxsize=256)
def _id_head(prefix: str, kind: str, high: int) -> tuple[str, str]:
    """The first ten characters of an id and the checksum characters they decide."""
    head = f"{prefix}{POD}{kind}{base62(high, 3)}"
    return head, checksum(head + "00000")[:2]


def to_id18(value: str) -> str:
    return value + checksum(value) if len(value) == 15 else value


def id_number(value: str, prefix: str, kind: str = GENERATED) -> int | None:
    """The number inside an id of `prefix` and `kind`, or None if it is not such an id."""
    value = to_id18(value)
    if len(value) != 18 or not value.startswith(prefix + POD + kind) or checksum(value[:15]) != value[15:]:
        return None
    number = 0
    for char in value[7:15]:
        digit = BASE62.find(char)
        if digit < 0:
            return None
        number = number * 62 + digit
    return number


def is_id(value: str) -> bool:
    return len(value) in (15, 18) and value.isalnum()


def to_ms(when: datetime) -> int:
    return (when - EPOCH) // MS


def from_ms(ms: int) -> datetime:
    return EPOCH + ms * MS


def truncate_ms(when: datetime) -> datetime:
    """Salesforce keeps milliseconds: comparisons must see what clients read."""
    return when.replace(microsecond=when.microsecond // 1000 * 1000) if when.microsecond % 1000 else when


def sf_datetime(when: datetime) -> str:
    """`2025-01-01T00:00:00.000+0000`, as the REST API writes datetimes."""
    return when.astimezone(UTC).isoformat(timespec="milliseconds")[:-6] + "+0000"


def bulk_datetime(when: datetime) -> str:
    """`2025-01-01T00:00:00.000Z`, as Bulk API CSV writes datetimes."""
    return when.astimezone(UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


@dataclass(frozen=True)
class Field:
    """One field as `describe` reports it."""

    name: str
    type: str
    label: str
    length: int = 0
    nillable: bool = True
    createable: bool = True
    updateable: bool = True
    external_id: bool = False
    unique: bool = False
    required: bool = False  # on create (nillable=False fields the API needs)
    reference_to: tuple[str, ...] = ()
    picklist: tuple[str, ...] = ()
    custom: bool = False
    formula: str | None = None  # a formula field: calculated, never createable or updateable
    relationship: str | None = None  # a reference's relationship name when it is not the derived one
    compound: str | None = None  # the compound field (BillingAddress) this component belongs to
    precision: int | None = None
    scale: int | None = None
    extra_type: str | None = None  # extraTypeInfo: plaintextarea, richtextarea, personname, ...
    filterable: bool | None = None  # None: what the type allows
    defaulted: bool = False  # defaultedOnCreate beyond the system fields
    auto_number: bool = False
    deprecated: bool = False

    @property
    def soap_type(self) -> str:
        return SOAP_TYPES[self.type]

    @property
    def relationship_name(self) -> str | None:
        if self.type != "reference":
            return None
        if self.relationship is not None:
            return self.relationship
        return self.name[:-3] + "__r" if self.name.endswith("__c") else self.name.removesuffix("Id")

    def describe(self) -> dict[str, Any]:
        return field_describe(self)


SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "boolean": "xsd:boolean",
    "string": "xsd:string",
    "picklist": "xsd:string",
    "multipicklist": "xsd:string",
    "combobox": "xsd:string",
    "encryptedstring": "xsd:string",
    "phone": "xsd:string",
    "url": "xsd:string",
    "email": "xsd:string",
    "textarea": "xsd:string",
    "currency": "xsd:double",
    "double": "xsd:double",
    "percent": "xsd:double",
    "int": "xsd:int",
    "long": "xsd:long",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
    "time": "xsd:time",
    "base64": "xsd:base64Binary",
    "address": "urn:address",
    "location": "urn:location",
    "anyType": "xsd:anyType",
}
_AUDIT_FIELDS = ("CreatedDate", "LastModifiedDate", "SystemModstamp", "IsDeleted")
NUMBER_TYPES = ("currency", "double", "percent", "int", "long")
TEXT_TYPES = (
    "string", "picklist", "multipicklist", "combobox", "encryptedstring", "phone", "url", "email", "textarea",
    "time",
)  # fmt: skip
COMPOUND_TYPES = ("address", "location")


class RowValues:
    """The field values of one row, computed on demand (Python values: datetime, date, float, ...)."""

    __slots__ = ("_h", "_hv", "_poison", "renderer", "row")

    def __init__(self, renderer: Renderer, row: Row) -> None:
        self.renderer = renderer
        self.row = row
        self._h: int | None = None
        self._hv: int | None = None
        self._poison: int | None = None

    @property
    def h(self) -> int:
        """Hash bits of the record's stable fields."""
        if self._h is None:
            self._h = self.renderer.bits(self.row.index, 0)
        return self._h

    @property
    def hv(self) -> int:
        """Hash bits of the fields an update changes."""
        if self._hv is None:
            self._hv = (
                self.h if self.row.version == 0 else self.renderer.bits(self.row.index, self.row.version)
            )
        return self._hv

    @property
    def poison(self) -> int:
        """0 for a clean record; 1 or 2 names which schema violation a poison record carries."""
        if self._poison is None:
            check = self.renderer.is_poison
            self._poison = 1 + (self.h >> 120) % 2 if check is not None and check(self.row.index) else 0
        return self._poison

    def get(self, name: str) -> Any:
        return self.renderer.obj.getter(name)(self)


Getter = Callable[[RowValues], Any]


@dataclass(frozen=True)
class SObject:
    """An object type: its fields, how its records are rendered and what describeGlobal says of it."""

    name: str
    label_plural: str
    key_prefix: str
    external_prefix: str
    fields: tuple[Field, ...]
    getters: dict[str, Getter] = field(repr=False)
    label: str = ""
    custom: bool = False
    flags: tuple[tuple[str, bool], ...] = ()  # describeGlobal flags that differ from a plain object
    record_types: tuple[str, ...] = ()  # record type names besides the master one
    bulk_queryable: bool = True  # on Salesforce's list of objects Bulk API 2.0 cannot query: False
    access_denied: bool = False  # the integration user lacks read access (INSUFFICIENT_ACCESS)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_lower", {f.name.lower(): f for f in self.fields})
        if not self.label:
            object.__setattr__(self, "label", self.name.removesuffix("__c").replace("_", " "))

    def flag(self, name: str) -> bool:
        return dict(self.flags).get(name, True)

    def field(self, name: str) -> Field | None:
        """A field by name, or the field a relationship path such as `Owner.Name` ends on."""
        if "." in name:
            resolved = resolve_path(self, name)
            return None if resolved is None else resolved[1]
        return self.by_lower.get(name.lower())  # type: ignore[attr-defined,no-any-return]

    def getter(self, name: str) -> Getter:
        """How to read field `name` (or a relationship path) from a row's values."""
        found = self.getters.get(name)
        return path_getter(self, name) if found is None else found

    def make_id(self, number: int, kind: str = GENERATED) -> str:
        return make_id(self.key_prefix, number, kind)

    def external_id(self, index: int) -> str:
        return f"{self.external_prefix}-{index:06d}"

    def external_index(self, value: str) -> int | None:
        """The dataset index behind a generated external id such as `ACC-000123`."""
        head, _, digits = value.partition("-")
        if head != self.external_prefix or len(digits) < 6 or not digits.isdigit():
            return None
        if len(digits) > 6 and digits.startswith("0"):
            return None
        return int(digits)

    def describe(self, version: str, children: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        return object_describe(self, version, children or [])

    def summary(self, version: str) -> dict[str, Any]:
        return object_summary(self, version)


class Renderer:
    """Renders rows of one object for one seed; `is_poison` (None: no poison) and `sizes` come from the
    live emulator."""

    def __init__(
        self,
        obj: SObject,
        seed: int,
        is_poison: Callable[[int], bool] | None,
        sizes: Callable[[str], int],
        lookup: Callable[[SObject, str], RowValues | None] | None = None,
    ) -> None:
        self.obj = obj
        self.seed = seed
        self.is_poison = is_poison
        self.sizes = sizes
        self.lookup = lookup
        self._salt = f"{seed}|{obj.name}|"

    def related(self, target: SObject, record_id: str) -> RowValues | None:
        """The values of the record `record_id` of `target` (a lookup's parent), if it exists."""
        return None if self.lookup is None else self.lookup(target, record_id)

    def bits(self, index: int, version: int) -> int:
        digest = hashlib.blake2b(f"{self._salt}{index}|{version}".encode(), digest_size=16).digest()
        return int.from_bytes(digest, "big")

    def values(self, row: Row) -> RowValues:
        return RowValues(self, row)


def _pick(options: tuple[str, ...], bits: int) -> str:
    return options[bits % len(options)]


_ADJECTIVES = (
    "Acme", "Apex", "Blue", "Bright", "Cedar", "Crown", "Delta", "Eagle", "Evergreen", "Falcon", "Global",
    "Granite", "Harbor", "Horizon", "Iron", "Keystone", "Liberty", "Lunar", "Maple", "Meridian", "Nova",
    "Oak", "Pacific", "Pioneer", "Quantum", "Redwood", "Sierra", "Silver", "Summit", "Terra", "United",
)  # fmt: skip
_NOUNS = (
    "Analytics", "Bank", "Biotech", "Capital", "Dynamics", "Energy", "Foods", "Freight", "Health",
    "Holdings", "Industries", "Labs", "Logistics", "Media", "Motors", "Networks", "Partners", "Pharma",
    "Robotics", "Systems", "Textiles", "Ventures", "Works", "Solar",
)  # fmt: skip
_COMPANY_SUFFIXES = ("Inc", "LLC", "Ltd", "Corp", "GmbH", "SA", "PLC", "Co")
_INDUSTRIES = (
    "Agriculture", "Banking", "Biotechnology", "Construction", "Education", "Energy", "Finance",
    "Healthcare", "Manufacturing", "Retail", "Technology", "Transportation",
)  # fmt: skip
_ACCOUNT_TYPES = ("Customer - Direct", "Customer - Channel", "Prospect", "Partner", "Other")
_COUNTRIES = ("United States", "Canada", "United Kingdom", "Germany", "France", "Japan", "Brazil", "India")
_FIRST_NAMES = (
    "Ada", "Ben", "Chloe", "David", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kara", "Luis",
    "Maya", "Noah", "Olga", "Priya", "Quinn", "Rosa", "Sam", "Tariq", "Uma", "Victor", "Wen", "Yara",
)  # fmt: skip
_LAST_NAMES = (
    "Anders", "Brooks", "Castillo", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad", "Ito", "Jensen",
    "Kowalski", "Lopez", "Moreau", "Nakamura", "Okafor", "Petrov", "Quist", "Rossi", "Silva", "Tanaka",
    "Ueda", "Varga", "Weber", "Zhang",
)  # fmt: skip
_TITLES = ("CEO", "CFO", "VP Sales", "Buyer", "Engineer", "Analyst", "Director of IT", "Controller")
_PRODUCTS = ("Platform", "Renewal", "Expansion", "Services", "Support Plan", "Pilot", "Upgrade")
STAGES = (
    ("Prospecting", 10.0), ("Qualification", 10.0), ("Needs Analysis", 20.0), ("Value Proposition", 50.0),
    ("Id. Decision Makers", 60.0), ("Perception Analysis", 70.0), ("Proposal/Price Quote", 75.0),
    ("Negotiation/Review", 90.0), ("Closed Won", 100.0), ("Closed Lost", 0.0),
)  # fmt: skip
POISON_TEXT = "not-a-number"


def _audit_fields() -> tuple[Field, ...]:
    return (
        Field("CreatedDate", "datetime", "Created Date", nillable=False, createable=False, updateable=False),
        Field("LastModifiedDate", "datetime", "Last Modified Date", nillable=False, createable=False,
              updateable=False),
        Field("SystemModstamp", "datetime", "System Modstamp", nillable=False, createable=False,
              updateable=False),
    )  # fmt: skip


def _id_field() -> Field:
    return Field("Id", "id", "Record ID", 18, nillable=False, createable=False, updateable=False)


def _deleted_field() -> Field:
    return Field("IsDeleted", "boolean", "Deleted", nillable=False, createable=False, updateable=False)


def _external_field(label: str) -> Field:
    return Field("External_Id__c", "string", label, 20, external_id=True, unique=True, custom=True)


def _common_getters(obj_prefix: str, external_prefix: str) -> dict[str, Getter]:
    return {
        "Id": lambda v: make_id(obj_prefix, v.row.index),
        "IsDeleted": lambda v: v.row.deleted,
        "External_Id__c": lambda v: f"{external_prefix}-{v.row.index:06d}",
        "CreatedDate": lambda v: truncate_ms(v.row.created),
        "LastModifiedDate": lambda v: truncate_ms(v.row.ts),
        "SystemModstamp": lambda v: truncate_ms(v.row.ts),
    }


def _account_name(v: RowValues) -> str | None:
    if v.poison == 2:
        return None
    h = v.h
    return f"{_pick(_ADJECTIVES, h)} {_pick(_NOUNS, h >> 8)} {_pick(_COMPANY_SUFFIXES, h >> 16)}"


def _account_id_of(v: RowValues) -> str | None:
    accounts = v.renderer.sizes("Account")
    return make_id("001", (v.h >> 24) % accounts) if accounts else None


def _revenue_per_employee(v: RowValues) -> float | None:
    # From the generated values only: reading back a record written through the API does not recompute it.
    revenue, employees = v.get("AnnualRevenue"), v.get("NumberOfEmployees")
    if not isinstance(revenue, float) or not employees:
        return None
    return round(revenue / employees, 2)


ACCOUNT = SObject(
    name="Account",
    label_plural="Accounts",
    key_prefix="001",
    external_prefix="ACC",
    fields=(
        _id_field(),
        _deleted_field(),
        Field("Name", "string", "Account Name", 255, nillable=False, required=True),
        Field("Type", "picklist", "Account Type", 255, picklist=_ACCOUNT_TYPES),
        Field("Industry", "picklist", "Industry", 255, picklist=_INDUSTRIES),
        Field("AnnualRevenue", "currency", "Annual Revenue"),
        Field("NumberOfEmployees", "int", "Employees"),
        Field("BillingCountry", "string", "Billing Country", 80),
        Field("Phone", "phone", "Account Phone", 40),
        Field("Website", "url", "Website", 255),
        _external_field("Account External ID"),
        Field("Health_Score__c", "double", "Health Score", custom=True),
        Field(
            "Revenue_Per_Employee__c",
            "currency",
            "Revenue per Employee",
            createable=False,
            updateable=False,
            custom=True,
            formula="AnnualRevenue / NumberOfEmployees",
        ),
        *_audit_fields(),
    ),
    getters={
        **_common_getters("001", "ACC"),
        "Revenue_Per_Employee__c": _revenue_per_employee,
        "Health_Score__c": lambda v: None,
        "Name": _account_name,
        "Type": lambda v: _pick(_ACCOUNT_TYPES, v.hv >> 32),
        "Industry": lambda v: _pick(_INDUSTRIES, v.hv >> 40),
        "AnnualRevenue": lambda v: POISON_TEXT if v.poison == 1 else float((v.hv >> 48) % 10_000 * 10_000),
        "NumberOfEmployees": lambda v: int((v.hv >> 64) % 50_000) + 1,
        "BillingCountry": lambda v: _pick(_COUNTRIES, v.h >> 72),
        "Phone": lambda v: f"(555) {(v.h >> 80) % 900 + 100}-{(v.h >> 90) % 10_000:04d}",
        "Website": lambda v: f"https://www.account{v.row.index}.example.com",
    },
)


def _contact_first(v: RowValues) -> str:
    return _pick(_FIRST_NAMES, v.h)


def _contact_last(v: RowValues) -> str | None:
    return None if v.poison == 2 else _pick(_LAST_NAMES, v.h >> 8)


def _contact_name(v: RowValues) -> str:
    last = _contact_last(v)
    return _contact_first(v) if last is None else f"{_contact_first(v)} {last}"


def _contact_email(v: RowValues) -> str:
    if v.poison == 1:
        return "not-an-email"
    return f"{_contact_first(v)}.{_pick(_LAST_NAMES, v.h >> 8)}{v.row.index}@example.com".lower()


CONTACT = SObject(
    name="Contact",
    label_plural="Contacts",
    key_prefix="003",
    external_prefix="CON",
    fields=(
        _id_field(),
        _deleted_field(),
        Field("AccountId", "reference", "Account ID", 18, reference_to=("Account",)),
        Field("FirstName", "string", "First Name", 40),
        Field("LastName", "string", "Last Name", 80, nillable=False, required=True),
        Field("Name", "string", "Full Name", 121, nillable=False, createable=False, updateable=False),
        Field("Email", "email", "Email", 80),
        Field("Phone", "phone", "Business Phone", 40),
        Field("Title", "string", "Title", 128),
        _external_field("Contact External ID"),
        *_audit_fields(),
    ),
    getters={
        **_common_getters("003", "CON"),
        "AccountId": _account_id_of,
        "FirstName": _contact_first,
        "LastName": _contact_last,
        "Name": _contact_name,
        "Email": _contact_email,
        "Phone": lambda v: f"(555) {(v.hv >> 32) % 900 + 100}-{(v.hv >> 42) % 10_000:04d}",
        "Title": lambda v: _pick(_TITLES, v.hv >> 56),
    },
)


def _opportunity_name(v: RowValues) -> str | None:
    if v.poison == 2:
        return None
    return f"{_pick(_ADJECTIVES, v.h)} {_pick(_NOUNS, v.h >> 8)} - {_pick(_PRODUCTS, v.h >> 16)}"


def _stage(v: RowValues) -> tuple[str, float]:
    return STAGES[(v.hv >> 32) % len(STAGES)]


OPPORTUNITY = SObject(
    name="Opportunity",
    label_plural="Opportunities",
    key_prefix="006",
    external_prefix="OPP",
    fields=(
        _id_field(),
        _deleted_field(),
        Field("AccountId", "reference", "Account ID", 18, reference_to=("Account",)),
        Field("Name", "string", "Name", 120, nillable=False, required=True),
        Field("Amount", "currency", "Amount"),
        Field(
            "StageName",
            "picklist",
            "Stage",
            255,
            nillable=False,
            required=True,
            picklist=tuple(s for s, _ in STAGES),
        ),
        Field("Probability", "percent", "Probability (%)"),
        Field("CloseDate", "date", "Close Date", nillable=False, required=True),
        _external_field("Opportunity External ID"),
        *_audit_fields(),
    ),
    getters={
        **_common_getters("006", "OPP"),
        "AccountId": _account_id_of,
        "Name": _opportunity_name,
        "Amount": lambda v: POISON_TEXT if v.poison == 1 else (v.hv >> 40) % 50_000_000 / 100,
        "StageName": lambda v: _stage(v)[0],
        "Probability": lambda v: _stage(v)[1],
        "CloseDate": lambda v: v.row.created.date() + timedelta(days=int((v.hv >> 64) % 365)),
    },
)

OBJECTS: dict[str, SObject] = {o.name: o for o in (ACCOUNT, CONTACT, OPPORTUNITY)}
OBJECTS_LOWER = {name.lower(): o for name, o in OBJECTS.items()}
DEFAULT_SIZES = {"Account": 5_000, "Contact": 10_000, "Opportunity": 5_000}


def find_object(name: str) -> SObject | None:
    return OBJECTS_LOWER.get(name.lower())


def register(obj: SObject) -> None:
    """Add or replace an object in the org's schema (the catalog and schema changes do)."""
    old = OBJECTS_LOWER.pop(obj.name.lower(), None)
    if old is not None:
        OBJECTS.pop(old.name, None)
    OBJECTS[obj.name] = obj
    OBJECTS_LOWER[obj.name.lower()] = obj


def unregister(name: str) -> None:
    old = OBJECTS_LOWER.pop(name.lower(), None)
    if old is not None:
        OBJECTS.pop(old.name, None)


def relationship_field(obj: SObject, relationship: str) -> Field | None:
    """The lookup field of `obj` whose relationship name is `relationship` (Owner: OwnerId)."""
    wanted = relationship.lower()
    return next(
        (f for f in obj.fields if f.relationship_name is not None and f.relationship_name.lower() == wanted),
        None,
    )


def reference_target(spec: Field) -> SObject | None:
    """The object a lookup's generated ids point at (a User for a polymorphic owner)."""
    names = ("User",) if "User" in spec.reference_to else spec.reference_to
    return next((o for o in map(find_object, names) if o is not None), None)


def resolve_path(obj: SObject, path: str) -> tuple[str, Field] | None:
    """A relationship path (`Owner.Name`, `Account.Owner.Name`) as its canonical spelling and the field
    it ends on, or None when a part does not exist."""
    head, _, rest = path.partition(".")
    if not rest:
        spec = obj.field(head)
        return None if spec is None else (spec.name, spec)
    lookup = relationship_field(obj, head)
    target = None if lookup is None else reference_target(lookup)
    if lookup is None or target is None:
        return None
    inner = resolve_path(target, rest)
    if inner is None:
        return None
    assert lookup.relationship_name is not None
    return f"{lookup.relationship_name}.{inner[0]}", inner[1]


def path_getter(obj: SObject, path: str) -> Getter:
    """Reads a relationship path by following the lookup to the related record."""
    head, _, rest = path.partition(".")
    lookup = relationship_field(obj, head)
    target = None if lookup is None else reference_target(lookup)
    if lookup is None or target is None:
        raise KeyError(path)
    reference = obj.getter(lookup.name)
    inner = target.getter(rest)

    def get(values: RowValues) -> Any:
        related_id = reference(values)
        related = None if related_id is None else values.renderer.related(target, related_id)
        return None if related is None else inner(related)

    return get


def json_value(value: Any) -> Any:
    """A Python field value as the REST API's JSON writes it."""
    if isinstance(value, datetime):
        return sf_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def csv_value(value: Any) -> str:
    """A Python field value as Bulk API CSV writes it (null is the empty string)."""
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, datetime):
        return bulk_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)
