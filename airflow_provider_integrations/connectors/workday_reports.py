"""Workday custom reports (Report-as-a-Service): described from their XSD, read as streamed JSON.

A report enabled as a web service answers `GET /ccx/service/customreport2/{tenant}/{owner}/{report}`:
`?xsd` its XML Schema (a `Report_Entry` complex type whose sequence names every field and its type) and
`?format=json` every row as `{"Report_Entry": [...]}` in one body, which is read entry by entry so a
large report never sits in memory whole.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from typing import Any

from airflow_provider_integrations.core.catalog import FieldDescription, StreamDescription
from airflow_provider_integrations.core.errors import PermanentError
from airflow_provider_integrations.core.schema import FieldType

SYSTEM = "workday"
_XSD = "{http://www.w3.org/2001/XMLSchema}"
_TYPES = {
    "string": FieldType.STRING, "normalizedString": FieldType.STRING, "token": FieldType.STRING,
    "date": FieldType.DATE, "dateTime": FieldType.TIMESTAMP,
    "decimal": FieldType.NUMBER, "double": FieldType.NUMBER, "float": FieldType.NUMBER,
    "integer": FieldType.INTEGER, "int": FieldType.INTEGER, "long": FieldType.INTEGER,
    "boolean": FieldType.BOOLEAN,
}  # fmt: skip


def report_fields(xsd: str, report: str) -> tuple[tuple[FieldDescription, ...], dict[str, str]]:
    """The fields of `Report_EntryType` and the ones not extracted (with why), from the report's XSD.

    A reference (a `wd:` type) reads as its descriptor text; a field that repeats as JSON."""
    if "<!DOCTYPE" in xsd or "<!ENTITY" in xsd:
        raise PermanentError(f"the XSD of report {report!r} declares a DTD; refused", system=SYSTEM)
    try:
        root = ET.fromstring(xsd)  # noqa: S314 - no DTD, so no entity expansion
    except ET.ParseError as error:
        raise PermanentError(f"the XSD of report {report!r} is not XML: {error}", system=SYSTEM) from None
    entry = next((t for t in root.iter(f"{_XSD}complexType") if t.get("name") == "Report_EntryType"), None)
    if entry is None:
        raise PermanentError(f"the XSD of report {report!r} has no Report_EntryType", system=SYSTEM)
    fields: list[FieldDescription] = []
    skipped: dict[str, str] = {}
    for element in entry.iter(f"{_XSD}element"):
        name, declared = element.get("name"), element.get("type", "")
        if not name:
            skipped[element.get("ref", "?")] = "an element without a name"
            continue
        prefix, _, local = declared.rpartition(":")
        repeated = element.get("maxOccurs") == "unbounded"
        if repeated:
            fields.append(FieldDescription(name, FieldType.JSON, declared))
        elif prefix == "wd":
            fields.append(FieldDescription(name, FieldType.STRING, "reference"))
        elif local in _TYPES:
            fields.append(FieldDescription(name, _TYPES[local], local))
        else:
            skipped[name] = f"XML Schema type {declared!r} has no column type here"
    return tuple(fields), skipped


def describe_report(name: str, report: str, xsd: str, primary_key: tuple[str, ...]) -> StreamDescription:
    """A declared report's stream: full reads only (RaaS has no change filter, so no cursor)."""
    fields, skipped = report_fields(xsd, report)
    names = {f.name for f in fields}
    missing = [k for k in primary_key if k not in names]
    if missing:
        raise PermanentError(f"report {report!r} has no field {missing} for the primary key", system=SYSTEM)
    return StreamDescription(
        name=name,
        source=report.rpartition("/")[2],
        fields=tuple(
            FieldDescription(f.name, f.type, f.source_type, f.name in primary_key, f.custom) for f in fields
        ),
        primary_key=primary_key,
        not_extracted=skipped,
        options={"report": report},
        custom=True,
    )


def report_entries(chunks: Iterable[str], report: str) -> Iterator[dict[str, Any]]:
    """The objects of `Report_Entry` in a JSON body read piece by piece; a body that ends before the
    array closes is a PermanentError (a truncated report is never taken as complete)."""
    decoder = json.JSONDecoder()
    buffer, started, pos = "", False, 0
    for chunk in chunks:
        buffer += chunk
        if not started:
            at = buffer.find('"Report_Entry"')
            bracket = buffer.find("[", at) if at >= 0 else -1
            if bracket < 0:
                continue
            started, pos = True, bracket + 1
        while True:
            while pos < len(buffer) and buffer[pos] in " \t\r\n,":
                pos += 1
            if pos < len(buffer) and buffer[pos] == "]":
                return
            try:
                entry, end = decoder.raw_decode(buffer, pos)
            except json.JSONDecodeError:
                break
            if not isinstance(entry, dict):
                raise PermanentError(f"report {report!r} has an entry that is not an object", system=SYSTEM)
            yield entry
            pos = end
        buffer, pos = buffer[pos:], 0
    if not started and buffer.strip() in ("{}", ""):
        raise PermanentError(f"report {report!r} answered without Report_Entry", system=SYSTEM)
    raise PermanentError(f"report {report!r} ended before its Report_Entry list closed", system=SYSTEM)
