"""NetSuite record types as the REST metadata catalog describes them, turned into streams read by SuiteQL.

`GET /services/rest/record/v1/metadata-catalog/<type>` with `Accept: application/schema+json` answers a
JSON Schema whose properties are the record's fields: standard ones under the record service's names
(`companyName`), which SuiteQL reads in lower case, and custom fields (`custentity_*`, `custbody_*`,
`custrecord_*`) marked `x-ns-custom-field`. References (`entity`) read as the referenced internal id.
Sublists and subrecords (objects without an `id`, arrays) have no SuiteQL column on the record's table;
they and the hypermedia `links` are listed as not extracted, with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_integrations.core.catalog import FieldDescription, StreamDescription
from airflow_provider_integrations.core.errors import PermanentError
from airflow_provider_integrations.core.schema import FieldType

SYSTEM = "netsuite"
CURSOR_COLUMNS = ("lastmodifieddate", "lastmodified")
"""Standard records carry `lastmodifieddate`; custom record types `lastmodified`."""
_SCALARS = {
    ("string", "date-time"): FieldType.TIMESTAMP,
    ("string", "date"): FieldType.DATE,
    ("string", None): FieldType.STRING,
    ("integer", None): FieldType.INTEGER,
    ("number", None): FieldType.NUMBER,
    ("boolean", None): FieldType.BOOLEAN,
}
SUBLIST = "a sublist or subrecord: SuiteQL has no column for it on this table; read its own table"
LINKS = "hypermedia links of the record service, not record data"


def describe_record_type(record_type: str, schema: Any) -> StreamDescription:
    """One record type's stream from its JSON Schema; a schema without properties is a PermanentError."""
    properties = schema.get("properties") if isinstance(schema, Mapping) else None
    if not isinstance(properties, Mapping) or not properties:
        raise PermanentError(
            f"the metadata catalog describes {record_type!r} without properties", system=SYSTEM
        )
    fields: list[FieldDescription] = []
    not_extracted: dict[str, str] = {}
    for name, prop in properties.items():
        described = _field(str(name), prop if isinstance(prop, Mapping) else {})
        if isinstance(described, str):
            not_extracted[str(name)] = described
        else:
            fields.append(described)
    names = {f.name for f in fields}
    timestamp = next((c for c in CURSOR_COLUMNS if c in names), None)
    cursor = (timestamp, "id") if timestamp and "id" in names else None
    return StreamDescription(
        name=record_type,
        source=record_type,
        fields=tuple(fields),
        primary_key=("id",) if "id" in names else (),
        cursor=cursor,
        deletes=True,
        not_extracted=not_extracted,
        options={"record_type": record_type},
        naive_timestamps=True,
        custom=record_type.startswith("customrecord"),
    )


def _field(name: str, prop: Mapping[str, Any]) -> FieldDescription | str:
    """The field as SuiteQL reads it, or why it is not extracted."""
    if name == "links":
        return LINKS
    kind, fmt = prop.get("type"), prop.get("format")
    column = name.lower()
    custom = bool(prop.get("x-ns-custom-field"))
    required = column == "id" or prop.get("nullable") is False
    if kind == "object":
        nested = prop.get("properties")
        if isinstance(nested, Mapping) and "id" in nested:
            return FieldDescription(column, FieldType.INTEGER, "reference", required, custom)
        return SUBLIST
    if kind == "array":
        return SUBLIST
    field_type = _SCALARS.get((str(kind), fmt if fmt in ("date", "date-time") else None))
    if field_type is None:
        return f"metadata type {kind!r} ({fmt or 'no format'}) has no column type here"
    return FieldDescription(column, field_type, str(fmt or kind), required, custom)
