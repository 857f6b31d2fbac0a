"""Building blocks for the org's objects: field shorthands, the system fields every object carries, and the
assembly of an SObject whose fields without a hand-written getter get generated values."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from integrations_sandbox.emulator.systems.salesforce_schema import (
    Field,
    Getter,
    SObject,
    make_id,
    truncate_ms,
)
from integrations_sandbox.emulator.systems.salesforce_values import (
    ADDRESS_PARTS,
    GEOCODE_ACCURACY,
    address_getter,
    generated_getter,
    location_getter,
)

USER_REFERENCE = ("User",)
OWNER_REFERENCE = ("Group", "User")
AUDIT_ALL = ("CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById", "SystemModstamp")


def label_of(name: str) -> str:
    """`NumberOfEmployees` -> `Number Of Employees`, `Invoice_Date__c` -> `Invoice Date`."""
    bare = re.sub(r"__[a-z]$", "", name).replace("_", " ")
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", bare).strip()


def f(name: str, kind: str, length: int = 0, **options: Any) -> Field:
    """A field with its label derived from its name; custom when the name ends in `__c`."""
    options.setdefault("custom", name.endswith(("__c", "__s")))
    return Field(name, kind, options.pop("label", label_of(name)), length, **options)


def ref(name: str, *targets: str, **options: Any) -> Field:
    return f(name, "reference", 18, reference_to=tuple(targets), **options)


def read_only(name: str, kind: str, length: int = 0, **options: Any) -> Field:
    return f(name, kind, length, createable=False, updateable=False, **options)


def system_fields(audit: Iterable[str]) -> tuple[Field, ...]:
    """Id, IsDeleted and the audit fields named in `audit` (objects differ in which they have)."""
    fields = [
        read_only("Id", "id", 18, nillable=False, label="Record ID"),
        read_only("IsDeleted", "boolean", nillable=False, label="Deleted"),
    ]
    for name in audit:
        if name.endswith("ById"):
            fields.append(ref(name, *USER_REFERENCE, nillable=False, createable=False, updateable=False,
                              defaulted=True))  # fmt: skip
        else:
            fields.append(read_only(name, "datetime", nillable=False))
    return tuple(fields)


def address(prefix: str) -> tuple[Field, ...]:
    """A compound address field and its components, as on Account's BillingAddress."""
    compound = f"{prefix}Address"
    kinds = {"Street": ("textarea", 255), "City": ("string", 40), "State": ("string", 80),
             "PostalCode": ("string", 20), "Country": ("string", 80), "Latitude": ("double", 0),
             "Longitude": ("double", 0), "GeocodeAccuracy": ("picklist", 40)}  # fmt: skip
    parts = []
    for part in ADDRESS_PARTS:
        kind, length = kinds[part]
        options: dict[str, Any] = {"compound": compound}
        if kind == "double":
            options.update(precision=18, scale=15)
        if kind == "picklist":
            options["picklist"] = GEOCODE_ACCURACY
        if kind == "textarea":
            options["extra_type"] = "plaintextarea"
        parts.append(f(f"{prefix}{part}", kind, length, **options))
    return (*parts, read_only(compound, "address", label=label_of(compound)))


def geolocation(name: str) -> tuple[Field, ...]:
    """A custom geolocation field (`Headquarters__c`) with its `__Latitude__s`/`__Longitude__s` parts."""
    stem = name.removesuffix("__c")
    return (
        f(f"{stem}__Latitude__s", "double", compound=name, precision=18, scale=15, custom=True,
          label=f"{label_of(name)} (Latitude)"),
        f(f"{stem}__Longitude__s", "double", compound=name, precision=18, scale=15, custom=True,
          label=f"{label_of(name)} (Longitude)"),
        f(name, "location", createable=False, updateable=False, custom=True),
    )  # fmt: skip


def system_getters(prefix: str) -> dict[str, Getter]:
    return {
        "Id": lambda v: make_id(prefix, v.row.index),
        "IsDeleted": lambda v: v.row.deleted,
        "CreatedDate": lambda v: truncate_ms(v.row.created),
        "LastModifiedDate": lambda v: truncate_ms(v.row.ts),
        "SystemModstamp": lambda v: truncate_ms(v.row.ts),
    }


def compound_getters(fields: Iterable[Field]) -> dict[str, Getter]:
    getters: dict[str, Getter] = {}
    for spec in fields:
        if spec.type == "address":
            getters[spec.name] = address_getter(spec.name.removesuffix("Address"))
        elif spec.type == "location":
            stem = spec.name.removesuffix("__c")
            getters[spec.name] = location_getter(f"{stem}__Latitude__s", f"{stem}__Longitude__s")
    return getters


def complete_getters(name: str, fields: Iterable[Field], getters: dict[str, Getter]) -> dict[str, Getter]:
    """`getters` plus a compound or generated getter for every field that has none."""
    fields = tuple(fields)
    out = {**compound_getters(fields), **getters}
    for spec in fields:
        if spec.name not in out:
            out[spec.name] = generated_getter(name, spec)
    return out


def sobject(
    name: str,
    key_prefix: str,
    fields: Iterable[Field],
    *,
    plural: str | None = None,
    audit: Iterable[str] = AUDIT_ALL,
    getters: dict[str, Getter] | None = None,
    **options: Any,
) -> SObject:
    """An object with Id, IsDeleted, the audit fields in `audit`, then `fields`."""
    everything = (*system_fields(audit), *fields)
    custom = name.endswith("__c")
    label = label_of(name)
    external_prefix = name[:3].upper()
    keys: dict[str, Getter] = {"External_Id__c": lambda v: f"{external_prefix}-{v.row.index:06d}"}
    return SObject(
        name=name,
        label_plural=plural or f"{label}s",
        key_prefix=key_prefix,
        external_prefix=external_prefix,
        fields=everything,
        getters=complete_getters(name, everything, {**system_getters(key_prefix), **keys, **(getters or {})}),
        label=label,
        custom=custom,
        **options,
    )


def extended(base: SObject, extra: Iterable[Field], replaced: Iterable[Field] = (),
             getters: dict[str, Getter] | None = None) -> SObject:  # fmt: skip
    """`base` with more fields (and some of its own redeclared), its existing getters kept."""
    swap = {spec.name: spec for spec in replaced}
    fields = (*(swap.get(spec.name, spec) for spec in base.fields), *extra)
    return SObject(
        name=base.name,
        label_plural=base.label_plural,
        key_prefix=base.key_prefix,
        external_prefix=base.external_prefix,
        fields=fields,
        getters=complete_getters(base.name, fields, {**base.getters, **(getters or {})}),
        label=base.label,
        custom=base.custom,
        flags=base.flags,
        record_types=base.record_types,
        bulk_queryable=base.bulk_queryable,
        access_denied=base.access_denied,
    )
