"""ServiceNow discovery: the tables of an instance (`sys_db_object`) and each one's fields
(`sys_dictionary`), with the fields it inherits along `super_class`, as :class:`StreamDescription`.

A field is defined in sys_dictionary once, on the table that introduces it: incident's `number`,
`state` and `assigned_to` are rows of `task`, which incident extends. Describing a table therefore walks
its super_class chain and merges the chain's columns, the table's own definition winning.

Calls for describing any number of tables: one `sys_db_object` query for the tables, one more per level
of super_class still unknown (two or three on a typical instance), one `sys_dictionary` query for every
table of every chain (each of these in chunks of IN_CHUNK names, and paged), then one single-record read
of each described table, which is what tells whether the user may read it (a table's ACL is not in the
dictionary): the tables refused (403) are named in one :class:`DescribeRefused` (a PermanentError)
raised after the readable ones were yielded.

What a description decides:

- Types: every internal type maps to a column type (`FIELD_TYPES`), the internal type kept as
  `source_type`. Password fields (`NOT_EXTRACTED_TYPES`) and internal types this module does not know
  are listed in `not_extracted` with the reason, never dropped in silence.
- Required: the key (sys_id) and the cursor's timestamp only. Dictionary `mandatory` is enforced by forms,
  not by imports or scripts, so records with those fields empty exist and are kept.
- Custom: fields named `u_...` or `x_<vendor>_<app>_...`; tables named so too.
- Cursor (sys_updated_on, sys_id) where the table has both; deletes from `sys_audit_delete`, as the
  connector reads them; timestamps are UTC without a zone (`naive_timestamps`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from airflow_provider_integrations.core.catalog import FieldDescription, StreamDescription
from airflow_provider_integrations.core.errors import PermanentError
from airflow_provider_integrations.core.schema import FieldType

SYSTEM = "servicenow"
IN_CHUNK = 100
"""Names per `nameIN` condition, keeping a query's URL well under instances' length limits."""
MAX_DEPTH = 20
"""super_class levels followed before the chain is taken as a loop."""
OBJECT_FIELDS = ["sys_id", "name", "label", "super_class", "sys_scope", "is_extendable"]
DICTIONARY_FIELDS = [
    "sys_id",
    "name",
    "element",
    "internal_type",
    "max_length",
    "mandatory",
    "active",
    "reference",
]
KEY, CURSOR = "sys_id", ("sys_updated_on", "sys_id")
_PLAIN = re.compile(r"[A-Za-z0-9_]{1,80}")

_TEXT = ("string", "GUID", "reference", "choice", "journal", "journal_input", "journal_list", "html",
         "translated_html", "translated_text", "translated_field", "url", "email", "phone_number_e164",
         "sys_class_name", "glide_list", "document_id", "table_name", "field_name", "conditions",
         "script", "script_plain", "script_server", "domain_id", "domain_path", "user_roles", "workflow",
         "user_image", "image", "multi_two_lines", "short_field_name", "ip_address", "color",
         "glide_duration", "timer", "glide_time", "char", "wide_text", "composite_name", "variables",
         "json", "xml", "wiki_text", "video", "sysevent_name", "name_values", "slushbucket",
         "related_tags", "documentation_field", "source_id", "source_name", "source_table",
         "days_of_week", "glide_var", "order_index", "decoration", "breakdown_element")  # fmt: skip
FIELD_TYPES: dict[str, FieldType] = {
    **dict.fromkeys(_TEXT, FieldType.STRING),
    "integer": FieldType.INTEGER,
    "longint": FieldType.INTEGER,
    "order_index": FieldType.INTEGER,
    "decimal": FieldType.NUMBER,
    "float": FieldType.NUMBER,
    "currency": FieldType.NUMBER,
    "currency2": FieldType.NUMBER,
    "price": FieldType.NUMBER,
    "percent_complete": FieldType.NUMBER,
    "boolean": FieldType.BOOLEAN,
    "glide_date_time": FieldType.TIMESTAMP,
    "due_date": FieldType.TIMESTAMP,
    "calendar_date_time": FieldType.TIMESTAMP,
    "glide_date": FieldType.DATE,
}
"""ServiceNow internal types and the column type each lands as. Durations and times of day arrive as
'1970-01-01 HH:MM:SS' text and stay text; currency arrives as its amount in the reference currency."""
NOT_EXTRACTED_TYPES = {
    "password": "one-way hashed password: the Table API never returns a usable value",
    "password2": "encrypted password: returned only decrypted to an encryption context, never extracted",
}

Select = Callable[[str, list[str], list[str]], Iterator[dict[str, Any]]]
"""(table, encoded query conditions, fields) -> every matching record."""
Probe = Callable[[str], None]
"""Read one record of a table, raising the instance's refusal."""


def list_tables(select: Select) -> list[str]:
    """Every table sys_db_object lists, sorted."""
    return sorted({str(r.get("name") or "") for r in select("sys_db_object", [], ["name"])} - {""})


def describe_tables(select: Select, probe: Probe, names: Sequence[str]) -> Iterator[StreamDescription]:
    """Each table of `names` with its inherited fields, in the order asked (see the module's doc)."""
    wanted = list(dict.fromkeys(names))
    objects = {r["name"]: r for r in _objects(select, "name", wanted)}
    missing = [name for name in wanted if name not in objects]
    if missing:
        raise PermanentError(
            f"servicenow has no table {missing} in sys_db_object (or the user may not read its entry)",
            system=SYSTEM,
            code="NO_TABLE",
        )
    by_id = {r["sys_id"]: r for r in objects.values()}
    for _ in range(MAX_DEPTH):
        unknown = sorted({_value(r.get("super_class")) for r in by_id.values()} - set(by_id) - {""})
        if not unknown:
            break
        by_id.update((r["sys_id"], r) for r in _objects(select, "sys_id", unknown))
    chains = {name: _chain(objects[name], by_id) for name in wanted}
    columns: dict[str, list[dict[str, Any]]] = {}
    every = sorted({table for chain in chains.values() for table in chain})
    for chunk in _chunks(every):
        conditions = [f"nameIN{','.join(chunk)}", "elementISNOTEMPTY"]
        for row in select("sys_dictionary", conditions, DICTIONARY_FIELDS):
            columns.setdefault(str(row.get("name") or ""), []).append(row)
    refused: dict[str, str] = {}
    for name in wanted:
        try:
            probe(name)
        except PermanentError as error:
            refused[name] = str(error)
            continue
        yield _description(name, chains[name], columns)
    if refused:
        raise DescribeRefused(refused)


class DescribeRefused(PermanentError):
    """Tables the user may not read, each with the instance's reason in `failures`; raised after every
    readable table of the same call was described."""

    def __init__(self, failures: dict[str, str]) -> None:
        super().__init__("; ".join(failures.values()), system=SYSTEM, code="ACL")
        self.failures = failures


def _objects(select: Select, by: str, values: list[str]) -> Iterator[dict[str, Any]]:
    odd = [v for v in values if not _PLAIN.fullmatch(v)]
    if odd:
        raise PermanentError(
            f"servicenow sys_db_object answered {by} values {odd[:3]} that are no names", system=SYSTEM
        )
    for chunk in _chunks(values):
        for record in select("sys_db_object", [f"{by}IN{','.join(chunk)}"], OBJECT_FIELDS):
            yield {k: _value(v) for k, v in record.items()}


def _chain(table: dict[str, Any], by_id: dict[str, dict[str, Any]]) -> list[str]:
    """The table and those it extends, nearest first."""
    chain = [str(table["name"])]
    parent = by_id.get(_value(table.get("super_class")))
    while parent is not None:
        if parent["name"] in chain or len(chain) > MAX_DEPTH:
            raise PermanentError(
                f"servicenow table {chain[0]}: super_class loops through {chain}", system=SYSTEM
            )
        chain.append(str(parent["name"]))
        parent = by_id.get(_value(parent.get("super_class")))
    return chain


def _description(name: str, chain: list[str], columns: dict[str, list[dict[str, Any]]]) -> StreamDescription:
    merged: dict[str, dict[str, Any]] = {}
    for table in reversed(chain):
        for row in sorted(columns.get(table, []), key=lambda r: str(r.get("element"))):
            merged[str(row["element"])] = row
    fields: list[FieldDescription] = []
    not_extracted: dict[str, str] = {}
    cursor = CURSOR if all(f in merged for f in CURSOR) else None
    required = {KEY, *(cursor[:1] if cursor else ())}
    for element, row in merged.items():
        kind = _value(row.get("internal_type"))
        if kind in NOT_EXTRACTED_TYPES:
            not_extracted[element] = NOT_EXTRACTED_TYPES[kind]
        elif kind not in FIELD_TYPES:
            not_extracted[element] = f"ServiceNow type {kind!r} has no column type here yet"
        else:
            fields.append(
                FieldDescription(element, FIELD_TYPES[kind], kind, element in required, _custom(element))
            )
    if KEY not in merged:
        raise PermanentError(
            f"servicenow table {name}: sys_dictionary lists no sys_id along {chain}", system=SYSTEM
        )
    fields.sort(key=lambda f: (f.name != KEY, not f.required))
    return StreamDescription(
        name=name,
        source=name,
        fields=tuple(fields),
        primary_key=(KEY,),
        cursor=cursor,
        deletes=cursor is not None,
        not_extracted=not_extracted,
        naive_timestamps=True,
        custom=_custom(name),
    )


def _custom(name: str) -> bool:
    return name.startswith(("u_", "x_"))


def _value(value: Any) -> str:
    """A reference's sys_id (or name) whether links are excluded or not."""
    if isinstance(value, dict):
        value = value.get("value")
    return "" if value is None else str(value)


def _chunks(values: Iterable[str]) -> Iterator[list[str]]:
    chunk: list[str] = []
    for value in values:
        chunk.append(value)
        if len(chunk) == IN_CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
