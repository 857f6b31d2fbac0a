"""Check a reverse-ETL field mapping against the destination's own description, before anything is sent.

A sync maps model columns to destination fields and writes in one of five modes. `validate_mapping`
compares that plan with a :class:`DestinationDescription` (what the destination says its fields are)
and raises one :class:`ConfigError` listing every problem: unknown fields (with close names), fields the
mode needs to create or update but cannot, a key field that cannot match records, and column types the
destination field cannot take.

Column types are Snowflake type names: the names `snowflake.connector.constants.FIELD_ID_TO_NAME` gives
the type codes of `cursor.description` (`FIXED`, `REAL`, `TEXT`, `BOOLEAN`, `DATE`, `TIME`,
`TIMESTAMP_NTZ`, ... see :func:`airflow_provider_integrations.hooks.snowflake_types.column_types`), or
the DDL names they stand for (`NUMBER(10,2)`, `VARCHAR`, `FLOAT`, ...). This module needs no Snowflake
library: it takes names only.

Which column type may go into which destination type (`ACCEPTS`):

=================================  ===================================================================
Snowflake column                   destination field types
=================================  ===================================================================
FIXED (NUMBER) with scale 0        integer, number, text
FIXED with a scale above 0, REAL   number, text (not integer: fractions would be cut or refused)
TEXT (VARCHAR)                     text, id/reference, date, datetime, time, json; values must then be
                                   ISO 8601 text (`2025-01-31`, `2025-01-31T09:30:00Z`, `09:30:00`), and
                                   a value that is not is refused per record by the destination (DLQ)
BOOLEAN                            boolean (not text: Salesforce refuses true/false in a text field)
DATE                               date, text (not datetime: midnight in which zone is not known)
TIMESTAMP, _NTZ, _LTZ, _TZ         datetime, date, text
TIME                               time, text
VARIANT, OBJECT, ARRAY, MAP,       json
GEOGRAPHY, GEOMETRY, VECTOR
BINARY                             binary (Salesforce base64)
=================================  ===================================================================

Every scalar column may go into a `scalar` (or Salesforce `anyType`) field: destinations that take any
value as text, such as ServiceNow import set columns or Stripe metadata. A destination type this module
does not know is not checked (the destination still refuses bad values per record); a column type it
does not know is a problem, so a new warehouse type is looked at before rows are sent.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from airflow_provider_integrations.core.errors import ConfigError

MODES = ("upsert", "update", "insert", "mirror", "delete")
NEEDS_CREATEABLE = frozenset({"insert", "upsert", "mirror"})
NEEDS_UPDATEABLE = frozenset({"update", "upsert", "mirror"})
MATCHES_BY_KEY = frozenset({"upsert", "mirror", "delete"})

# Destination type names (Salesforce describe types, the catalogs' field types) -> kind.
DESTINATION_KINDS: Mapping[str, str] = {
    **dict.fromkeys(
        ("string", "textarea", "picklist", "multipicklist", "combobox", "phone", "email", "url",
         "encryptedstring", "text"),
        "text",
    ),
    **dict.fromkeys(("id", "reference"), "id"),
    **dict.fromkeys(("int", "long", "integer"), "integer"),
    **dict.fromkeys(("double", "currency", "percent", "number"), "number"),
    "boolean": "boolean",
    "date": "date",
    **dict.fromkeys(("datetime", "timestamp"), "datetime"),
    "time": "time",
    "base64": "binary",
    "json": "json",
    **dict.fromkeys(("anytype", "scalar"), "scalar"),
}  # fmt: skip

_TIMESTAMPS = ("TIMESTAMP", "TIMESTAMP_NTZ", "TIMESTAMP_LTZ", "TIMESTAMP_TZ")
ACCEPTS: Mapping[str, frozenset[str]] = {
    "FIXED": frozenset({"integer", "number", "text", "scalar"}),
    "FIXED_FRACTION": frozenset({"number", "text", "scalar"}),
    "REAL": frozenset({"number", "text", "scalar"}),
    "TEXT": frozenset({"text", "id", "date", "datetime", "time", "json", "scalar"}),
    "BOOLEAN": frozenset({"boolean", "scalar"}),
    "DATE": frozenset({"date", "text", "scalar"}),
    **dict.fromkeys(_TIMESTAMPS, frozenset({"datetime", "date", "text", "scalar"})),
    "TIME": frozenset({"time", "text", "scalar"}),
    **dict.fromkeys(
        ("VARIANT", "OBJECT", "ARRAY", "MAP", "GEOGRAPHY", "GEOMETRY", "VECTOR"), frozenset({"json"})
    ),
    "BINARY": frozenset({"binary"}),
}
"""Snowflake type -> destination kinds it may be written to (FIXED_FRACTION: FIXED with a scale > 0)."""

# DDL names -> the names cursor.description reports.
_ALIASES = {
    **dict.fromkeys(
        ("NUMBER", "DECIMAL", "NUMERIC", "INT", "INTEGER", "BIGINT", "SMALLINT", "TINYINT", "BYTEINT"),
        "FIXED",
    ),
    **dict.fromkeys(("FLOAT", "FLOAT4", "FLOAT8", "DOUBLE", "DOUBLE PRECISION"), "REAL"),
    **dict.fromkeys(("VARCHAR", "CHAR", "CHARACTER", "STRING", "NCHAR", "NVARCHAR", "NVARCHAR2"), "TEXT"),
    "DATETIME": "TIMESTAMP_NTZ",
    "VARBINARY": "BINARY",
}
_TYPE = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_ ]*?)\s*(?:\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\))?\s*")


@dataclass(frozen=True)
class DestinationField:
    """One field as the destination describes it.

    `type` is the destination's own type name (Salesforce's `string`, `boolean`, `datetime`, ... or a
    catalog type such as `integer`); `external_id` says the field can match records in an upsert
    (Salesforce `externalId` or `idLookup`); `nillable` whether it may be set to null.
    """

    name: str
    type: str
    createable: bool
    updateable: bool
    external_id: bool = False
    nillable: bool = True


@dataclass(frozen=True)
class DestinationDescription:
    """What a destination object (`target`) accepts: its fields by name.

    `patterns` admits families of names the destination does not list one by one, as full-match regular
    expressions, each with a field whose name shows the family to people (Stripe `metadata.<key>`,
    ServiceNow import set columns `u_<name>`). Names compare case-insensitively, as Salesforce does,
    unless `case_sensitive`. `system` names the destination system in errors.
    """

    target: str
    fields: Mapping[str, DestinationField]
    system: str | None = None
    case_sensitive: bool = False
    patterns: Mapping[str, DestinationField] = field(default_factory=dict)

    def field(self, name: str) -> DestinationField | None:
        """The field `name` addresses (with the destination's spelling), or None if there is none."""
        found = self.fields.get(name)
        if found is None and not self.case_sensitive:
            folded = name.casefold()
            found = next((f for key, f in self.fields.items() if key.casefold() == folded), None)
        if found is not None:
            return found
        flags = 0 if self.case_sensitive else re.IGNORECASE
        for pattern, family in self.patterns.items():
            if re.fullmatch(pattern, name, flags):
                return replace(family, name=name)
        return None


def validate_mapping(
    description: DestinationDescription,
    mapping: Mapping[str, str],
    *,
    mode: str,
    external_id: str,
    column_types: Mapping[str, str] | None = None,
) -> None:
    """Raise one ConfigError naming every reason `mapping` (model column -> destination field) cannot be
    written to `description.target` in `mode` with `external_id` as the key field; return if none.

    insert, upsert and mirror need every mapped field createable; update, upsert and mirror need it
    updateable (the key field is exempt except on insert, where it is written as any other field).
    upsert, mirror and delete match records by the key, so it must be an external id or lookup field;
    delete mode checks nothing else. With `column_types` (column -> Snowflake type name; see the module
    docstring), each mapped column must exist in the model and fit its field's type. Columns compare
    case-insensitively, as Snowflake's unquoted names do.
    """
    if mode not in MODES:
        raise ConfigError(f"sync mode must be one of {MODES}, got {mode!r}", system=description.system)
    problems: list[str] = []
    key = description.field(external_id)
    if key is None:
        problems.append(f"key field {external_id!r} {_missing(description, external_id)}")
    elif mode in MATCHES_BY_KEY and not key.external_id:
        matchers = sorted(f.name for f in description.fields.values() if f.external_id)
        problems.append(
            f"key field {key.name!r} is not an external id or lookup field, so {mode} cannot match records "
            f"by it (fields that can: {', '.join(matchers) or 'none'})"
        )
    types = {column.casefold(): kind for column, kind in (column_types or {}).items()}
    seen: dict[str, str] = {}
    for column, name in mapping.items():
        dest = description.field(name)
        is_key = dest is not None and key is not None and dest.name == key.name
        if mode == "delete" and not is_key:
            continue
        if dest is None:
            problems.append(f"field {name!r} (from column {column}) {_missing(description, name)}")
            continue
        spelled = dest.name if description.case_sensitive else dest.name.casefold()
        if spelled in seen:
            problems.append(f"field {dest.name!r} is mapped from two columns: {seen[spelled]} and {column}")
        seen[spelled] = column
        if not is_key or mode == "insert":
            problems += _flag_problems(dest, column, mode)
        if column_types is not None:
            problems += _type_problems(dest, column, types, column_types)
    if problems:
        listing = "\n".join(f"  - {p}" for p in problems)
        raise ConfigError(
            f"the mapping cannot be used to {mode} {description.target}; "
            f"{len(problems)} problem{'s' if len(problems) > 1 else ''}:\n{listing}",
            system=description.system,
        )


def base_type(name: str) -> tuple[str, int | None]:
    """(type as cursor.description names it, scale if given): `NUMBER(10,2)` -> ("FIXED", 2)."""
    match = _TYPE.fullmatch(name)
    if match is None:
        return name.strip().upper(), None
    head = " ".join(match.group(1).upper().split())
    scale = match.group(3)
    return _ALIASES.get(head, head), int(scale) if scale is not None else None


def _missing(description: DestinationDescription, name: str) -> str:
    names = list(description.fields)
    folded = {n.casefold(): n for n in names}
    close = difflib.get_close_matches(name.casefold(), list(folded), n=3, cutoff=0.6)
    text = f"does not exist on {description.target}"
    if close:
        text += "; did you mean " + " or ".join(repr(folded[c]) for c in close) + "?"
    if description.patterns:
        families = ", ".join(f.name for f in description.patterns.values())
        text += f" (besides its listed fields it takes {families})"
    return text


def _flag_problems(dest: DestinationField, column: str, mode: str) -> list[str]:
    problems = []
    if mode in NEEDS_CREATEABLE and not dest.createable:
        problems.append(f"field {dest.name!r} (from column {column}) is not createable, which {mode} needs")
    if mode in NEEDS_UPDATEABLE and not dest.updateable:
        problems.append(f"field {dest.name!r} (from column {column}) is not updateable, which {mode} needs")
    return problems


def _type_problems(
    dest: DestinationField, column: str, types: Mapping[str, str], declared: Mapping[str, str]
) -> list[str]:
    type_name = types.get(column.casefold())
    if type_name is None:
        close = difflib.get_close_matches(column.upper(), [c.upper() for c in declared], n=3, cutoff=0.6)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        return [f"column {column} (mapped to {dest.name!r}) is not in the model{hint}"]
    kind = DESTINATION_KINDS.get(dest.type.casefold())
    if kind is None:
        return []
    base, scale = base_type(type_name)
    accepted = ACCEPTS.get("FIXED_FRACTION" if base == "FIXED" and scale else base)
    if accepted is None:
        return [
            f"column {column} has Snowflake type {type_name}, which the mapping check does not know; cast "
            f"it in the model to a type listed in {__name__}"
        ]
    if kind in accepted:
        return []
    return [
        f"column {column} ({type_name}) cannot be written to field {dest.name!r} ({dest.type}); "
        f"{base} goes into {', '.join(sorted(accepted - {'scalar'}))} fields: cast it in the model"
    ]
