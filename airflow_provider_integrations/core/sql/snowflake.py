"""Snowflake SQL for staged loads, built by pure functions.

Identifiers are validated, upper-cased and quoted (Snowflake's own folding of unquoted names, made
explicit); values never enter SQL text except as bound parameters or as file names checked here.
The statements stay within real Snowflake SQL: an explicit FILES list instead of PATTERN, lineage in the
rows instead of METADATA$ columns, ON_ERROR=ABORT_STATEMENT.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from airflow_provider_integrations.core.errors import ConfigError
from airflow_provider_integrations.core.schema import Field, FieldType
from airflow_provider_integrations.core.sql.identifiers import validate_identifier

SNOWFLAKE_TYPES = {
    FieldType.STRING: "VARCHAR",
    FieldType.INTEGER: "NUMBER(38,0)",
    FieldType.NUMBER: "FLOAT",
    FieldType.BOOLEAN: "BOOLEAN",
    FieldType.TIMESTAMP: "TIMESTAMP_TZ",
    FieldType.DATE: "DATE",
    FieldType.JSON: "VARCHAR",
}
LINEAGE_COLUMNS = (
    ("_BATCH_ID", "VARCHAR"),
    ("_SOURCE_FILE", "VARCHAR"),
    ("_EXTRACTED_AT", "TIMESTAMP_TZ"),
    ("_CHANGED_AT", "TIMESTAMP_TZ"),
    ("_DELETED", "BOOLEAN"),
)
TARGET_COLUMNS = (("_ROW_HASH", "VARCHAR"), ("_LOADED_AT", "TIMESTAMP_TZ"))
_FILE = re.compile(r"^[A-Za-z0-9_=./-]+\.parquet$")


def quote(name: str) -> str:
    """`External_Id__c` -> `"EXTERNAL_ID__C"`; `db.schema.t` -> `"DB"."SCHEMA"."T"`."""
    validate_identifier(name)
    return ".".join(f'"{part.upper()}"' for part in name.split("."))


@dataclass(frozen=True)
class LoadTables:
    """The names one stream's load uses."""

    target: str
    staging: str
    stage: str

    def __post_init__(self) -> None:
        for name in (self.target, self.staging, self.stage):
            validate_identifier(name, "table or stage")


def column_defs(fields: Sequence[Field], extra: Sequence[tuple[str, str]]) -> str:
    defs = [f"{quote(f.name)} {SNOWFLAKE_TYPES[f.type]}" for f in fields]
    defs += [f"{quote(name)} {kind}" for name, kind in extra]
    return ", ".join(defs)


def create_target(table: str, fields: Sequence[Field], primary_key: Sequence[str]) -> str:
    key = ", ".join(quote(k) for k in primary_key)
    columns = column_defs(fields, (*LINEAGE_COLUMNS, *TARGET_COLUMNS))
    return f"CREATE TABLE IF NOT EXISTS {quote(table)} ({columns}, PRIMARY KEY ({key}))"


def create_staging(table: str, fields: Sequence[Field]) -> str:
    """Staging is rebuilt for every load, so it always has exactly the extract's columns."""
    return f"CREATE OR REPLACE TABLE {quote(table)} ({column_defs(fields, LINEAGE_COLUMNS)})"


def stage_for(table: str, url: str) -> str:
    """The default stage of `table` for one location, e.g. `ACCOUNTS__STAGE_3FA2B1C0` for s3://raw-prod/.

    The name carries a digest of the URL: loads from another bucket get a stage of their own instead of
    reusing the first location's under the same name.
    """
    return f"{table}__STAGE_{hashlib.sha256(url.encode()).hexdigest()[:8].upper()}"


def create_stage(stage: str, url: str, storage_integration: str | None = None) -> str:
    """An external stage on `url` (s3://bucket/prefix/). Credentials belong in a storage integration.

    An existing stage is left as it is: `describe_stage` tells where it points.
    """
    if not re.fullmatch(r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[A-Za-z0-9_=./-]*)?", url):
        raise ConfigError(f"stage URL {url!r} is not an s3:// bucket location")
    text = f"CREATE STAGE IF NOT EXISTS {quote(stage)} URL='{url.rstrip('/')}/'"
    if storage_integration:
        text += f" STORAGE_INTEGRATION = {quote(storage_integration)}"
    return text


def describe_stage(stage: str) -> str:
    """Snowflake's DESC STAGE: one row per property (parent_property, property, property_type,
    property_value, property_default); read it with `stage_url`."""
    return f"DESC STAGE {quote(stage)}"


def stage_url(stage: str, rows: Sequence[Sequence[Any]]) -> str:
    """The location DESC STAGE reports for `stage` (STAGE_LOCATION.URL, a JSON list of one URL), ending
    in `/`; an internal stage or one without exactly one URL is refused."""
    values = [row[3] for row in rows if row[0] == "STAGE_LOCATION" and row[1] == "URL"]
    try:
        urls = json.loads(values[0]) if len(values) == 1 and values[0] else []
    except json.JSONDecodeError:
        urls = []
    if not isinstance(urls, list) or len(urls) != 1 or not str(urls[0]).startswith("s3://"):
        raise ConfigError(
            f"stage {stage} is not an external stage on one s3:// location (DESC STAGE reports URL {values})"
        )
    url = str(urls[0])
    return url if url.endswith("/") else f"{url}/"


def staged_files(staging: str) -> str:
    """Rows per lineage (source file, batch) in staging: what the COPY loaded, by the files' own account."""
    return (
        f'SELECT "_SOURCE_FILE", "_BATCH_ID", COUNT(*) FROM {quote(staging)} '
        'GROUP BY "_SOURCE_FILE", "_BATCH_ID" ORDER BY "_SOURCE_FILE", "_BATCH_ID"'
    )


COPY_FILES_LIMIT = 1000
"""Snowflake's COPY takes at most 1,000 names in FILES=(...)."""


def copy_into(staging: str, stage: str, files: Sequence[str]) -> list[str]:
    """COPY statements for the listed Parquet files (relative to the stage) into staging, matching
    columns by name: one per 1,000 files, the most Snowflake's FILES list takes."""
    if not files:
        raise ConfigError("COPY needs at least one file")
    for name in files:
        if not _FILE.match(name) or ".." in name:
            raise ConfigError(f"refusing file name {name!r} in COPY: only plain .parquet paths are allowed")
    statements = []
    for start in range(0, len(files), COPY_FILES_LIMIT):
        listed = ", ".join(f"'{name}'" for name in files[start : start + COPY_FILES_LIMIT])
        statements.append(
            f"COPY INTO {quote(staging)} FROM @{quote(stage)} FILES=({listed}) "
            "FILE_FORMAT=(TYPE=PARQUET) MATCH_BY_COLUMN_NAME=CASE_INSENSITIVE ON_ERROR=ABORT_STATEMENT"
        )
    return statements


def row_hash(fields: Sequence[Field]) -> str:
    """SHA2 of the business columns (not lineage), NULL-safe, for change detection."""
    return hash_columns([f.name for f in fields])


def hash_columns(columns: Sequence[str], alias: str = "") -> str:
    """SHA2 over `columns` (of table `alias`, if given), NULL-safe: a row's content fingerprint."""
    prefix = f"{alias}." if alias else ""
    parts = [f"COALESCE(TO_VARCHAR({prefix}{quote(c)}), '\\u0000')" for c in columns]
    return f"SHA2(CONCAT_WS('\\u001f', {', '.join(parts)}), 256)"


def merge(
    tables: LoadTables,
    fields: Sequence[Field],
    primary_key: Sequence[str],
    *,
    hard_delete: bool,
) -> str:
    """MERGE the latest staged version of each key into the target.

    The source keeps one row per key (the newest by `_CHANGED_AT`, the time the source says a version was
    made, then by extraction time), updates only rows whose content hash changed, inserts new keys, and
    applies deletes as a hard DELETE or as `_DELETED = TRUE` (soft delete, stamped with the deletion's
    `_CHANGED_AT`). A staged row older than the target's version never replaces or deletes it, so loading
    an earlier extract again (a cleared or late task) cannot roll rows back.
    """
    if not primary_key:
        raise ConfigError("a MERGE needs a primary key")
    names = [quote(f.name) for f in fields]
    key_match = " AND ".join(f"t.{quote(k)} = s.{quote(k)}" for k in primary_key)
    partition = ", ".join(quote(k) for k in primary_key)
    lineage = [quote(name) for name, _ in LINEAGE_COLUMNS]
    source = (
        f'SELECT {", ".join(names + lineage)}, {row_hash(fields)} AS "_ROW_HASH" '
        f"FROM {quote(tables.staging)} "
        f"QUALIFY ROW_NUMBER() OVER (PARTITION BY {partition} "
        'ORDER BY "_CHANGED_AT" DESC NULLS LAST, "_EXTRACTED_AT" DESC) = 1'
    )
    updates = ", ".join(f"t.{c} = s.{c}" for c in [*names, *lineage, '"_ROW_HASH"'])
    inserted = [*names, *lineage, '"_ROW_HASH"', '"_LOADED_AT"']
    values = [f"s.{c}" for c in [*names, *lineage, '"_ROW_HASH"']] + ["CURRENT_TIMESTAMP()"]
    not_older = ' AND COALESCE(s."_CHANGED_AT" >= t."_CHANGED_AT", TRUE)'
    delete = (
        f'WHEN MATCHED AND s."_DELETED"{not_older} THEN DELETE'
        if hard_delete
        else f'WHEN MATCHED AND s."_DELETED" AND NOT COALESCE(t."_DELETED", FALSE){not_older} '
        'THEN UPDATE SET t."_DELETED" = TRUE, t."_CHANGED_AT" = s."_CHANGED_AT", '
        't."_BATCH_ID" = s."_BATCH_ID", t."_SOURCE_FILE" = s."_SOURCE_FILE", '
        't."_LOADED_AT" = CURRENT_TIMESTAMP()'
    )
    return (
        f"MERGE INTO {quote(tables.target)} t USING ({source}) s ON {key_match} "
        f"{delete} "
        f'WHEN MATCHED AND NOT s."_DELETED"{not_older} AND (t."_ROW_HASH" IS DISTINCT FROM s."_ROW_HASH" '
        'OR COALESCE(t."_DELETED", FALSE)) '
        f'THEN UPDATE SET {updates}, t."_LOADED_AT" = CURRENT_TIMESTAMP() '
        f'WHEN NOT MATCHED AND NOT s."_DELETED" THEN INSERT ({", ".join(inserted)}) '
        f"VALUES ({', '.join(values)})"
    )


def mark_missing(
    tables: LoadTables,
    primary_key: Sequence[str],
    *,
    hard_delete: bool,
    batch_id: str,
    extracted_at: str,
    kept_keys: Sequence[str] = (),
) -> tuple[str, list[str]]:
    """After a full extract: target rows whose key is absent from staging were deleted at the source.

    Only rows extracted before this extract can be judged by it (a newer load's rows stay), and
    `kept_keys` (records the extract rejected, as `|`-joined key values) are never judged absent.
    Returns the statement and its bound values.
    """
    if not primary_key:
        raise ConfigError("deletion detection needs a primary key")
    key_match = " AND ".join(f"s.{quote(k)} = t.{quote(k)}" for k in primary_key)
    where = (
        f't."_EXTRACTED_AT" < %s AND NOT EXISTS (SELECT 1 FROM {quote(tables.staging)} s WHERE {key_match})'
    )
    params = [extracted_at]
    if kept_keys:
        joined = " || '|' || ".join(f"TO_VARCHAR(t.{quote(k)})" for k in primary_key)
        where += f" AND {joined} NOT IN ({', '.join(['%s'] * len(kept_keys))})"
        params += list(kept_keys)
    if hard_delete:
        return f"DELETE FROM {quote(tables.target)} t WHERE {where}", params
    return (
        f'UPDATE {quote(tables.target)} t SET "_DELETED" = TRUE, "_BATCH_ID" = %s, '
        f'"_LOADED_AT" = CURRENT_TIMESTAMP() WHERE NOT COALESCE(t."_DELETED", FALSE) AND {where}',
        [batch_id, *params],
    )


def add_columns(table: str, fields: Sequence[Field]) -> list[str]:
    """Schema evolution: one ALTER per new column (Snowflake adds them without rewriting data)."""
    return [
        f"ALTER TABLE {quote(table)} ADD COLUMN IF NOT EXISTS {quote(f.name)} {SNOWFLAKE_TYPES[f.type]}"
        for f in fields
    ]


def add_lineage_columns(table: str, existing: set[str]) -> list[str]:
    """Lineage columns a target made by an earlier version of this package lacks."""
    return [
        f"ALTER TABLE {quote(table)} ADD COLUMN IF NOT EXISTS {quote(name)} {kind}"
        for name, kind in (*LINEAGE_COLUMNS, *TARGET_COLUMNS)
        if name not in existing
    ]


def truncate(table: str) -> str:
    return f"TRUNCATE TABLE {quote(table)}"


def table_columns(table: str) -> tuple[str, list[str]]:
    """Query (and bound values) listing a table's columns from INFORMATION_SCHEMA."""
    parts = validate_identifier(table).upper().split(".")
    name = parts[-1]
    schema_filter = "AND TABLE_SCHEMA = %s " if len(parts) > 1 else ""
    params = [name, *([parts[-2]] if len(parts) > 1 else [])]
    sql = (
        "SELECT COLUMN_NAME FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_NAME = %s "
        f"{schema_filter}ORDER BY ORDINAL_POSITION"
    )
    return sql, params


SCHEMA_CHANGES_TABLE = "_INTEGRATIONS_SCHEMA_CHANGES"
"""The default schema-change table, created in the target table's schema."""
SCHEMA_CHANGE_COLUMNS = (
    ("SYSTEM", "VARCHAR"),
    ("STREAM", "VARCHAR"),
    ("FIELD", "VARCHAR"),
    ("CHANGE", "VARCHAR"),
    ("ACTION", "VARCHAR"),
    ("OLD_TYPE", "VARCHAR"),
    ("NEW_TYPE", "VARCHAR"),
    ("DETECTED_AT", "TIMESTAMP_TZ"),
    ("DAG_ID", "VARCHAR"),
    ("RUN_ID", "VARCHAR"),
    ("TASK_ID", "VARCHAR"),
    ("TARGET_TABLE", "VARCHAR"),
    ("BATCH_ID", "VARCHAR"),
)


def schema_changes_table(target: str, name: str | None = None) -> str:
    """The schema-change table for `target`: `name` as given when qualified, else in the target's
    schema (`DB.SCHEMA.T` -> `DB.SCHEMA._INTEGRATIONS_SCHEMA_CHANGES`)."""
    chosen = validate_identifier(name or SCHEMA_CHANGES_TABLE, "schema-change table")
    if "." in chosen:
        return chosen
    qualifier = validate_identifier(target, "table").rpartition(".")[0]
    return f"{qualifier}.{chosen}" if qualifier else chosen


def create_schema_changes(table: str) -> str:
    columns = ", ".join(f"{quote(name)} {kind}" for name, kind in SCHEMA_CHANGE_COLUMNS)
    return f"CREATE TABLE IF NOT EXISTS {quote(table)} ({columns})"


def record_schema_change(table: str, row: dict[str, str | None]) -> tuple[str, list[str | None]]:
    """INSERT one schema-change row (keys: the `SCHEMA_CHANGE_COLUMNS`) unless it repeats what is
    recorded: the same batch already wrote it (a re-run of a load), or the latest row for this target and
    field already says the same (every run compares the live system with the declared fields, so an
    unchanged catalog reports the same difference again). Returns the statement and its bound values."""
    names = [name for name, _ in SCHEMA_CHANGE_COLUMNS]
    missing = sorted(set(names) - set(row))
    if missing:
        raise ConfigError(f"a schema-change row lacks {missing}")
    selected = ", ".join("TO_TIMESTAMP_TZ(%s)" if n == "DETECTED_AT" else "%s" for n in names)
    summary = "\"CHANGE\" || '|' || COALESCE(\"NEW_TYPE\", '') || '|' || \"ACTION\""
    same_place = '"TARGET_TABLE" = %s AND "FIELD" = %s'
    statement = (
        f"INSERT INTO {quote(table)} ({', '.join(quote(n) for n in names)}) SELECT {selected} "
        f'WHERE NOT EXISTS (SELECT 1 FROM {quote(table)} WHERE {same_place} AND "BATCH_ID" = %s '
        'AND "CHANGE" = %s) '
        f"AND COALESCE((SELECT {summary} FROM {quote(table)} WHERE {same_place} "
        "ORDER BY \"DETECTED_AT\" DESC LIMIT 1), '') <> %s"
    )
    place = [row["TARGET_TABLE"], row["FIELD"]]
    latest = f"{row['CHANGE']}|{row['NEW_TYPE'] or ''}|{row['ACTION']}"
    params = [*(row[n] for n in names), *place, row["BATCH_ID"], row["CHANGE"], *place, latest]
    return statement, params


def column_types(table: str) -> tuple[str, list[str]]:
    """Query (and bound values) for a table's columns: name, DATA_TYPE, NUMERIC_PRECISION, NUMERIC_SCALE."""
    query, params = table_columns(table)
    listed = "SELECT COLUMN_NAME, DATA_TYPE, NUMERIC_PRECISION, NUMERIC_SCALE"
    return query.replace("SELECT COLUMN_NAME", listed, 1), params


def field_type_of(data_type: str, scale: int | None) -> FieldType | None:
    """The field type a column of INFORMATION_SCHEMA's `data_type` holds, None for one we do not write
    (JSON lands as VARCHAR and reads back as string)."""
    kind = data_type.upper()
    if kind in ("NUMBER", "DECIMAL", "NUMERIC", "INT", "INTEGER", "BIGINT"):
        return FieldType.INTEGER if not scale else FieldType.NUMBER
    return {
        "TEXT": FieldType.STRING,
        "VARCHAR": FieldType.STRING,
        "FLOAT": FieldType.NUMBER,
        "DOUBLE": FieldType.NUMBER,
        "BOOLEAN": FieldType.BOOLEAN,
        "DATE": FieldType.DATE,
        "TIMESTAMP_TZ": FieldType.TIMESTAMP,
    }.get(kind)


WIDENING_SUFFIX = "__WIDENING"


def widening_table(table: str) -> str:
    return f"{table}{WIDENING_SUFFIX}"


def widen_columns(
    table: str,
    columns: Sequence[Sequence[Any]],
    widened: dict[str, FieldType],
    primary_key: Sequence[str],
) -> list[str]:
    """Statements that give the `widened` columns (upper-case name -> type) their wider type, keeping
    every value: the table is rebuilt beside itself with the new types, filled, and put in its place.

    Snowflake's `ALTER COLUMN ... SET DATA TYPE` only lengthens text and raises a NUMBER's precision (it
    refuses NUMBER(38,0) -> FLOAT and anything -> VARCHAR), and DuckDB under fakesnow refuses to drop a
    column of a table with a primary key, so adding a column, copying and dropping the old one works in
    neither. `columns` are the table's `column_types` rows in order. `finish_widening` completes a
    rebuild that stopped half-way (DDL commits statement by statement).
    """
    defs, values = [], []
    for name, data_type, precision, scale in columns:
        column = quote(str(name))
        if str(name).upper() in widened:
            kind = SNOWFLAKE_TYPES[widened[str(name).upper()]]
            values.append(f"TO_VARCHAR({column})" if kind == "VARCHAR" else f"CAST({column} AS {kind})")
        else:
            kind = _column_type(str(data_type), precision, scale)
            values.append(column)
        defs.append(f"{column} {kind}")
    key = ", ".join(quote(k) for k in primary_key)
    rebuilt = quote(widening_table(table))
    names = ", ".join(quote(str(row[0])) for row in columns)
    return [
        f"CREATE OR REPLACE TABLE {rebuilt} ({', '.join(defs)}, PRIMARY KEY ({key}))",
        f"INSERT INTO {rebuilt} ({names}) SELECT {', '.join(values)} FROM {quote(table)}",
        f"DROP TABLE {quote(table)}",
        f"ALTER TABLE {rebuilt} RENAME TO {quote(table)}",
    ]


def finish_widening(table: str, table_exists: bool, rebuild_exists: bool) -> list[str]:
    """After a rebuild that stopped: put the rebuilt table in place when the old one is already gone,
    else drop the rebuild (the next widening starts again)."""
    if not rebuild_exists:
        return []
    if table_exists:
        return [f"DROP TABLE {quote(widening_table(table))}"]
    return [f"ALTER TABLE {quote(widening_table(table))} RENAME TO {quote(table)}"]


def _column_type(data_type: str, precision: Any, scale: Any) -> str:
    kind = data_type.upper()
    if kind == "TEXT":
        return "VARCHAR"
    if kind == "NUMBER":
        return f"NUMBER({int(precision or 38)},{int(scale or 0)})"
    return kind
