"""Schema changes an admin makes in a live org, applied through `POST /__admin/schema/salesforce`:

    {"action": "add_object", "object": "Loyalty__c", "size": 500, "fields": [{"name": "Tier__c",
     "type": "picklist", "picklist": ["Gold", "Silver"]}]}
    {"action": "add_field", "object": "Account", "field": "Loyalty_Tier__c", "type": "picklist",
     "picklist": ["Gold", "Silver"], "length": 255}
    {"action": "change_type", "object": "Account", "field": "Loyalty_Tier__c", "type": "string"}
    {"action": "remove_field", "object": "Account", "field": "Loyalty_Tier__c"}
    {"action": "deny_access" | "allow_access", "object": "Invoice__c"}

As in a real org only custom objects and fields (`__c`) can be added, changed or removed. Existing and
future records get generated values for a new field at once: REST query, Bulk API 2.0 and describe see
the change on their next call. A changed type keeps the values that convert (a number read as text) and
generates the others.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from integrations_sandbox.emulator.systems.salesforce_fields import OWNER_REFERENCE, f, ref, sobject
from integrations_sandbox.emulator.systems.salesforce_schema import (
    NUMBER_TYPES,
    TEXT_TYPES,
    Field,
    Getter,
    SObject,
    base62,
    find_object,
    register,
)
from integrations_sandbox.emulator.systems.salesforce_values import generated_getter

if TYPE_CHECKING:
    from integrations_sandbox.emulator.systems.salesforce import Salesforce

CUSTOM_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)*__c")
ADDABLE_TYPES = ("string", "textarea", "email", "phone", "url", "picklist", "multipicklist", "boolean",
                 "int", "double", "currency", "percent", "date", "datetime", "time", "reference",
                 "encryptedstring")  # fmt: skip
_LENGTHS = {"string": 255, "textarea": 32_768, "email": 80, "phone": 40, "url": 255, "picklist": 255,
            "multipicklist": 4099, "encryptedstring": 175}  # fmt: skip
MAX_OBJECT_SIZE = 1_000_000
_added_objects = 0


def apply(sf: Salesforce, change: Mapping[str, Any]) -> dict[str, Any]:
    """Apply one change; raises ValueError naming what is wrong with it."""
    action = change.get("action")
    name = change.get("object")
    if not isinstance(name, str) or not name:
        raise ValueError("'object' (the sObject's API name) is required")
    if action == "add_object":
        obj = _add_object(sf, name, change)
    else:
        found = find_object(name)
        if found is None:
            raise ValueError(f"no sObject named {name!r}")
        if action == "add_field":
            obj = _with_field(found, _new_field(found, change))
        elif action == "change_type":
            obj = _change_type(found, _custom_field(found, change), change)
        elif action == "remove_field":
            obj = _without(found, _custom_field(found, change).name)
        elif action in ("deny_access", "allow_access"):
            obj = replace(found, access_denied=action == "deny_access")
        else:
            raise ValueError(
                "'action' must be one of add_object, add_field, change_type, remove_field, deny_access, "
                f"allow_access, not {action!r}"
            )
    register(obj)
    return obj.describe(sf.api_version)


def _add_object(sf: Salesforce, name: str, change: Mapping[str, Any]) -> SObject:
    global _added_objects
    if not CUSTOM_NAME.fullmatch(name):
        raise ValueError(f"a custom object's name is letters, digits and underscores ending in __c: {name!r}")
    if find_object(name) is not None:
        raise ValueError(f"an sObject named {name!r} already exists")
    size = change.get("size", 100)
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= MAX_OBJECT_SIZE:
        raise ValueError(f"'size' must be an integer from 0 to {MAX_OBJECT_SIZE}")
    specs = change.get("fields", [])
    if not isinstance(specs, list):
        raise ValueError("'fields' must be a list of {name, type} objects")
    _added_objects += 1
    base = sobject(
        name,
        "a" + base62(100 + _added_objects, 2),
        (
            ref("OwnerId", *OWNER_REFERENCE, nillable=False, defaulted=True, relationship="Owner"),
            f("Name", "string", 80, nillable=False, required=True),
        ),
        plural=f"{name.removesuffix('__c').replace('_', ' ')}s",
    )
    obj = base
    for spec in specs:
        if not isinstance(spec, dict):
            raise ValueError("each of 'fields' must be a JSON object with name and type")
        obj = _with_field(obj, _new_field(obj, {**spec, "field": spec.get("name")}))
    sf.state.resize(sf.name, name, size)
    return obj


def _new_field(obj: SObject, change: Mapping[str, Any]) -> Field:
    name, kind = change.get("field"), change.get("type")
    if not isinstance(name, str) or not CUSTOM_NAME.fullmatch(name):
        raise ValueError(f"a custom field's name is letters, digits and underscores ending in __c: {name!r}")
    if obj.field(name) is not None:
        raise ValueError(f"{obj.name} already has a field named {name!r}")
    return _typed(obj, name, kind, change)


def _typed(obj: SObject, name: str, kind: Any, change: Mapping[str, Any]) -> Field:
    if kind not in ADDABLE_TYPES:
        raise ValueError(f"'type' must be one of {', '.join(ADDABLE_TYPES)}, not {kind!r}")
    length = change.get("length", _LENGTHS.get(kind, 0))
    if not isinstance(length, int) or isinstance(length, bool) or not 0 <= length <= 131_072:
        raise ValueError("'length' must be an integer from 0 to 131072")
    options: dict[str, Any] = {}
    if kind in ("picklist", "multipicklist"):
        values = change.get("picklist", ["Option A", "Option B", "Option C"])
        if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
            raise ValueError("'picklist' must be a non-empty list of strings")
        options["picklist"] = tuple(values)
    if kind == "reference":
        target = change.get("reference_to")
        if not isinstance(target, str) or find_object(target) is None:
            raise ValueError(f"'reference_to' must name an existing sObject, not {target!r}")
        options["reference_to"] = (find_object(target).name,)  # type: ignore[union-attr]
    if kind == "boolean":
        options["nillable"] = False
    if kind in ("double", "currency", "percent"):
        options.update(precision=18, scale=2)
    return f(name, kind, length if kind in _LENGTHS or kind == "reference" else 0, **options)


def _custom_field(obj: SObject, change: Mapping[str, Any]) -> Field:
    name = change.get("field")
    spec = obj.field(name) if isinstance(name, str) and "." not in name else None
    if spec is None:
        raise ValueError(f"{obj.name} has no field named {name!r}")
    if not spec.custom or spec.compound is not None or spec.type in ("address", "location"):
        raise ValueError(f"only custom fields can be changed or removed, and {spec.name} is not one")
    return spec


def _with_field(obj: SObject, spec: Field) -> SObject:
    return _rebuilt(obj, (*obj.fields, spec), {**obj.getters, spec.name: generated_getter(obj.name, spec)})


def _without(obj: SObject, name: str) -> SObject:
    getters = {k: v for k, v in obj.getters.items() if k != name}
    return _rebuilt(obj, tuple(s for s in obj.fields if s.name != name), getters)


def _change_type(obj: SObject, spec: Field, change: Mapping[str, Any]) -> SObject:
    new = replace(_typed(obj, spec.name, change.get("type"), change), label=spec.label)
    fields = tuple(new if s.name == spec.name else s for s in obj.fields)
    return _rebuilt(obj, fields, {**obj.getters, spec.name: _converted(obj, spec, new)})


def _converted(obj: SObject, old: Field, new: Field) -> Getter:
    """Values that survive the change (numbers read as text, whole numbers widened) keep their value."""
    before = obj.getters[old.name]
    fresh = generated_getter(obj.name, new)
    if new.type in TEXT_TYPES and old.type in (*NUMBER_TYPES, *TEXT_TYPES) and not new.picklist:
        limit = new.length or 255

        def as_text(v: Any) -> Any:
            value = before(v)
            return None if value is None else str(value)[:limit]

        return as_text
    if new.type in ("double", "currency", "percent") and old.type in NUMBER_TYPES:
        return lambda v: None if (value := before(v)) is None else float(value)
    return fresh


def _rebuilt(obj: SObject, fields: tuple[Field, ...], getters: dict[str, Getter]) -> SObject:
    return replace(obj, fields=fields, getters=getters)
