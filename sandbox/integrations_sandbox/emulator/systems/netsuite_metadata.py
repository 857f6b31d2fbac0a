"""The REST record service's metadata catalog, as NetSuite documents it (Working with Resource Metadata).

    GET /services/rest/record/v1/metadata-catalog[?select=customer,salesorder]
        {"items": [{"name": "customer", "links": [{"rel", "href", "mediaType"}, ...]}], "links": [...]}
    GET /services/rest/record/v1/metadata-catalog/<type>      header Accept: application/schema+json
        {"type": "object", "properties": {"companyName": {"title", "type", "format"?, "nullable",
         "readOnly"?, "x-ns-custom-field"?}, ...}}

Standard fields carry the record service's camelCase names (`companyName`, `lastModifiedDate`), which
SuiteQL reads in lower case; custom fields keep their script ids (`custentity_region`). References are
objects with an `id` and a `refName`; sublists (a customer's address book) are objects holding `items`,
and every record has hypermedia `links`: SuiteQL has no column for either.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from integrations_sandbox.emulator.systems.netsuite_records import Table

CATALOG = "/services/rest/record/v1/metadata-catalog"
MEDIA_TYPES = ("application/json", "application/swagger+json", "application/schema+json")
_REST_NAMES = {
    "entityid": "entityId", "companyname": "companyName", "isperson": "isPerson",
    "datecreated": "dateCreated", "lastmodifieddate": "lastModifiedDate", "externalid": "externalId",
    "tranid": "tranId",
    "trandate": "tranDate", "createddate": "createdDate", "itemid": "itemId", "displayname": "displayName",
    "itemtype": "itemType", "baseprice": "basePrice", "isinactive": "isInactive", "firstname": "firstName",
    "lastname": "lastName", "lastmodified": "lastModified",
}  # fmt: skip
_READ_ONLY = frozenset({"id", "datecreated", "createddate", "lastmodifieddate", "created", "lastmodified"})
_REFERENCES = {("transaction", "entity"): "customer"}
_SUBLISTS = {"customer": ("addressBook", "Address Book"), "employee": ("addressBook", "Address Book")}
_JSON_TYPES = {
    "int": {"type": "integer", "format": "int64"},
    "num": {"type": "number", "format": "double"},
    "str": {"type": "string"},
    "bool": {"type": "boolean"},
    "date": {"type": "string", "format": "date"},
    "ts": {"type": "string", "format": "date-time"},
}


def rest_name(column: str) -> str:
    return _REST_NAMES.get(column, column)


def catalog(base: str, names: list[str]) -> dict[str, Any]:
    """The record types, each with its links in the three media types."""
    items = [
        {
            "name": name,
            "links": [
                {
                    "rel": "canonical" if media == MEDIA_TYPES[0] else "alternate",
                    "href": f"{base}{CATALOG}/{name}",
                    "mediaType": media,
                }
                for media in MEDIA_TYPES
            ],
        }
        for name in names
    ]
    return {"items": items, "links": [{"rel": "self", "href": f"{base}{CATALOG}"}]}


def json_schema(table: Table, custom: Mapping[str, str], base: str) -> dict[str, Any]:
    """The JSON Schema of one record type: every column under its record-service name."""
    properties: dict[str, Any] = {
        "links": {
            "title": "Links",
            "type": "array",
            "readOnly": True,
            "items": {"$ref": f"{base}{CATALOG}/nsLink", "type": "object"},
        }
    }
    for column, field in table.fields.items():
        reference = _REFERENCES.get((table.name, column))
        if reference is not None:
            properties[column] = _reference(column, reference, base)
            continue
        prop: dict[str, Any] = {
            "title": _title(column),
            **_JSON_TYPES[field.kind],
            "nullable": column != "id",
        }
        if column in _READ_ONLY:
            prop["readOnly"] = True
        if column in custom:
            prop["x-ns-custom-field"] = True
        properties[rest_name(column)] = prop
    if table.name in _SUBLISTS:
        name, title = _SUBLISTS[table.name]
        properties[name] = {
            "title": title,
            "type": "object",
            "properties": {
                "items": {"type": "array", "items": {"$ref": f"{base}{CATALOG}/{table.name}-{name}Element"}},
                "totalResults": {"type": "integer", "readOnly": True},
            },
        }
    return {"type": "object", "properties": properties}


def _reference(column: str, record_type: str, base: str) -> dict[str, Any]:
    return {
        "title": _title(column),
        "type": "object",
        "properties": {
            "id": {"title": "Internal identifier", "type": "string"},
            "refName": {"title": "Reference Name", "type": "string"},
            "externalId": {"title": "External identifier", "type": "string"},
            "links": {"title": "Links", "type": "array", "readOnly": True},
        },
        "x-ns-record-type": record_type,
        "nullable": True,
    }


def _title(column: str) -> str:
    if column.startswith(("cust", "custrecord")) and "_" in column:
        return column.split("_", 1)[1].replace("_", " ").title()
    return rest_name(column)[:1].upper() + rest_name(column)[1:]
