"""Generated values for fields that have no hand-written getter: one deterministic value per (seed, object,
record, field), typed by the field's describe type, so every object and every added field has data.

A field's value mixes the record's hash bits (stable ones for fields no update changes, versioned ones
otherwise) with a salt from the field's name, so adding a field never changes the values of the others.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import date, timedelta
from typing import Any

from integrations_sandbox.emulator.systems.salesforce_schema import (
    Field,
    Getter,
    RowValues,
    make_id,
    reference_target,
    truncate_ms,
)

_M64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_WORDS = ("alpha", "bravo", "delta", "echo", "harbor", "lumen", "orbit", "quartz", "sierra", "vector")
_CITIES = (("San Francisco", "CA", "94105"), ("Austin", "TX", "73301"), ("Boston", "MA", "02110"),
           ("Chicago", "IL", "60601"), ("Seattle", "WA", "98101"), ("Denver", "CO", "80202"))  # fmt: skip
ADDRESS_PARTS = ("Street", "City", "State", "PostalCode", "Country", "Latitude", "Longitude",
                 "GeocodeAccuracy")  # fmt: skip
GEOCODE_ACCURACY = ("Address", "NearAddress", "Block", "Street", "ExtendedZip", "Zip", "City")
_NO_NULLS = ("boolean", "id", "address", "location")


def _salt(object_name: str, field_name: str) -> int:
    digest = hashlib.blake2b(f"{object_name}|{field_name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def _mixed(bits: int, salt: int) -> int:
    x = (((bits >> 64) ^ bits ^ salt) & _M64) * _GOLDEN & _M64
    return x ^ (x >> 29)


def generated_getter(object_name: str, spec: Field) -> Getter:
    """A getter producing values of `spec.type` for any row (None for about one nillable value in 8)."""
    # an address's city, state and postal code come from one draw, so they belong together
    shared = spec.compound is not None and spec.name.endswith(("City", "State", "PostalCode"))
    salt = _salt(object_name, spec.compound if shared and spec.compound else spec.name)
    value = _value_maker(object_name, spec)
    nullable = spec.nillable and spec.type not in _NO_NULLS and not spec.external_id
    changes = spec.updateable

    def get(v: RowValues) -> Any:
        x = _mixed(v.hv if changes else v.h, salt)
        if nullable and x % 8 == 0:
            return None
        return value(v, x >> 3)

    return get


def _value_maker(object_name: str, spec: Field) -> Any:
    kind, label, length = spec.type, spec.label, spec.length or 255
    if kind == "reference":
        return lambda v, x: _reference(v, spec, x)
    if kind in ("string", "encryptedstring", "combobox") and not spec.picklist:
        if spec.name.endswith(("City", "State", "PostalCode", "Country")):
            return lambda v, x: _place(spec.name, x)[:length]
        return lambda v, x: f"{label} {x % 100_000}"[:length]
    if kind in ("picklist", "combobox"):
        options = spec.picklist or ("Option A", "Option B", "Option C")
        return lambda v, x: options[x % len(options)]
    if kind == "multipicklist":
        options = spec.picklist or ("Option A", "Option B", "Option C")
        return lambda v, x: ";".join(o for i, o in enumerate(options) if (x >> i) & 1) or options[0]
    if kind == "textarea":
        return lambda v, x: _sentence(label, v.row.index, x)[:length]
    if kind == "email":
        return lambda v, x: f"user{x % 1_000_000}@example.com"
    if kind == "phone":
        return lambda v, x: f"(555) {x % 900 + 100}-{(x >> 10) % 10_000:04d}"
    if kind == "url":
        return lambda v, x: f"https://www.example.com/{object_name.lower()}/{x % 100_000}"
    if kind == "boolean":
        return lambda v, x: bool(x & 1)
    if kind in ("int", "long"):
        return lambda v, x: x % (1_000_000 if kind == "int" else 10**12)
    if kind in ("double", "currency"):
        if spec.name.endswith("Latitude") or spec.name.endswith("Latitude__s"):
            return lambda v, x: round((x % 18_000_000) / 100_000 - 90, 6)
        if spec.name.endswith("Longitude") or spec.name.endswith("Longitude__s"):
            return lambda v, x: round((x % 36_000_000) / 100_000 - 180, 6)
        return lambda v, x: round((x % 100_000_000) / 100, 2)
    if kind == "percent":
        return lambda v, x: (x % 10_001) / 100
    if kind == "date":
        return lambda v, x: date(2020, 1, 1) + timedelta(days=x % 2_500)
    if kind == "datetime":
        return lambda v, x: truncate_ms(v.row.created + timedelta(seconds=x % 10_000_000))
    if kind == "time":
        return lambda v, x: f"{x % 24:02d}:{(x >> 5) % 60:02d}:{(x >> 11) % 60:02d}.000Z"
    if kind == "base64":
        return lambda v, x: base64.b64encode(f"{object_name} {v.row.index} {x % 1000}".encode()).decode()
    if kind == "anyType":
        return lambda v, x: f"{_WORDS[x % len(_WORDS)]}"
    raise ValueError(f"no generated values for fields of type {kind!r}")


def _reference(v: RowValues, spec: Field, x: int) -> str | None:
    target = reference_target(spec)
    if target is None:
        return None
    size = v.renderer.sizes(target.name)
    return make_id(target.key_prefix, x % size) if size else None


def _place(name: str, x: int) -> str:
    city, state, postal = _CITIES[x % len(_CITIES)]
    if name.endswith("City"):
        return city
    if name.endswith("State"):
        return state
    if name.endswith("PostalCode"):
        return postal
    return "United States"


def _sentence(label: str, index: int, x: int) -> str:
    words = " ".join(_WORDS[(x >> (4 * i)) % len(_WORDS)] for i in range(6))
    return f"{label} of record {index}: {words}."


def address_getter(prefix: str) -> Getter:
    """The compound address `<prefix>Address` read from its component fields, as the REST API nests it."""
    names = {part: f"{prefix}{part}" for part in ADDRESS_PARTS}

    def get(v: RowValues) -> dict[str, Any] | None:
        parts = {part: v.get(name) for part, name in names.items()}
        if all(value is None for value in parts.values()):
            return None
        return {
            "city": parts["City"],
            "country": parts["Country"],
            "geocodeAccuracy": parts["GeocodeAccuracy"],
            "latitude": parts["Latitude"],
            "longitude": parts["Longitude"],
            "postalCode": parts["PostalCode"],
            "state": parts["State"],
            "street": parts["Street"],
        }

    return get


def location_getter(latitude: str, longitude: str) -> Getter:
    """A compound geolocation read from its latitude and longitude components."""

    def get(v: RowValues) -> dict[str, Any] | None:
        lat, lon = v.get(latitude), v.get(longitude)
        return None if lat is None and lon is None else {"latitude": lat, "longitude": lon}

    return get
