"""Fixes to fakesnow where it differs from Snowflake, applied before its server starts.

Production SQL stays real Snowflake SQL; where the stand-in answers differently, it is mended here.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

_applied = False


def apply() -> None:
    """Apply every fix once per process."""
    global _applied
    if _applied:
        return
    import fakesnow.arrow

    original = fakesnow.arrow.timestamp_to_sf_struct

    def timestamp_to_sf_struct(ts: Any) -> pa.Array:
        """fakesnow drops the null mask, so NULL timestamps arrive as 1970-01-01; Snowflake sends NULL."""
        struct = original(ts)
        values = ts.combine_chunks() if isinstance(ts, pa.ChunkedArray) else ts
        if values.null_count == 0:
            return struct
        fields = [struct.type.field(i) for i in range(struct.type.num_fields)]
        return pa.StructArray.from_arrays(
            [struct.field(i) for i in range(len(fields))], fields=fields, mask=pc.is_null(values)
        )

    fakesnow.arrow.timestamp_to_sf_struct = timestamp_to_sf_struct
    _record_only_real_table_comments()
    _copy_errors_name_the_file()
    _keep_limits_over_empty_joins()
    _describe_stages()
    _applied = True


def _record_only_real_table_comments() -> None:
    """fakesnow records a NULL comment for every CREATE TABLE with properties, writing to its global
    catalog; inside a transaction that already wrote elsewhere (its MERGE creates a temporary table)
    DuckDB refuses, and the transaction aborts. Snowflake has no such limit: record real comments only."""
    import fakesnow.transforms as transforms

    original = transforms.extract_comment_on_table

    def extract_comment_on_table(expression: Any) -> Any:
        result = original(expression)
        comment = result.args.get("table_comment")
        if comment is not None and comment[1] is None:
            del result.args["table_comment"]
        return result

    transforms.extract_comment_on_table = extract_comment_on_table


def _copy_errors_name_the_file() -> None:
    """A staged file that is missing or not Parquet makes Snowflake's COPY fail with a SQL error naming
    the file. fakesnow lets DuckDB's error escape as an HTTP 500, which the connector retries for minutes
    against a transaction DuckDB has already aborted. Answer as Snowflake does instead."""
    import duckdb
    import fakesnow.copy_into as copy_module
    import fakesnow.cursor as cursor_module
    from snowflake.connector.errors import ProgrammingError

    read_columns = copy_module._get_parquet_column_names
    copy_into = cursor_module.copy_into  # type: ignore[attr-defined]

    def parquet_column_names(url: str, duck_conn: Any) -> list[str]:
        try:
            return read_columns(url, duck_conn)
        except duckdb.IOException as error:
            if "No files found" not in str(error):
                raise
            message = f"Remote file '{url}' was not found."
            raise ProgrammingError(msg=message, errno=91016, sqlstate="22000") from error
        except duckdb.InvalidInputException as error:
            reason = str(error).splitlines()[0]
            named = reason if url in reason else f"{reason} File '{url}'"
            message = f"Error parsing the parquet file: {named}"
            raise ProgrammingError(msg=message, errno=100152, sqlstate="22000") from error

    def copy_into_answering_sql_errors(*args: Any, **kwargs: Any) -> Any:
        try:
            return copy_into(*args, **kwargs)
        except (duckdb.IOException, duckdb.InvalidInputException, duckdb.HTTPException) as error:
            raise ProgrammingError(msg=str(error).splitlines()[0], errno=100152, sqlstate="22000") from error

    copy_module._get_parquet_column_names = parquet_column_names
    cursor_module.copy_into = copy_into_answering_sql_errors  # type: ignore[attr-defined]


def _keep_limits_over_empty_joins() -> None:
    """DuckDB 2.0's statistics propagation drops the LIMIT of a query that filters a LEFT JOIN against a
    table that has never held a row, so a keyset page of 50,000 returns the whole rest of the model.
    Snowflake honours LIMIT; DuckDB does too with that optimizer off."""
    import fakesnow.instance as instance

    initialise = instance.FakeSnow.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        initialise(self, *args, **kwargs)
        self.duck_conn.execute("SET GLOBAL disabled_optimizers = 'statistics_propagation'")

    instance.FakeSnow.__init__ = __init__  # type: ignore[method-assign]


def _describe_stages() -> None:
    """fakesnow has no DESC STAGE (it looks for a table of that name). Snowflake answers with one row per
    property: parent_property, property, property_type, property_value, property_default, the location's
    URL as a JSON list (`["s3://bucket/path/"]`, empty for an internal stage), and a missing stage is
    error 2003 "Stage '<db>.<schema>.<name>' does not exist or not authorized."."""
    import json

    import sqlglot
    from fakesnow.cursor import FakeSnowflakeCursor
    from fakesnow.transforms import stage
    from sqlglot import exp

    transform = FakeSnowflakeCursor._transform

    def _transform(self: Any, expression: Any, params: Any) -> Any:
        if not (
            isinstance(expression, exp.Describe)
            and str(expression.args.get("kind") or "").upper() == "STAGE"
            and isinstance(table := expression.this, exp.Table)
        ):
            return transform(self, expression, params)

        def folded(part: str, default: str | None) -> str:
            ident = table.args.get(part)
            if not isinstance(ident, exp.Identifier):
                return default or ""
            return str(ident.this) if ident.quoted else str(ident.this).upper()

        name = folded("this", None)
        catalog, schema = folded("catalog", self._conn.database), folded("db", self._conn.schema)
        found = self._duck_conn.execute(
            "SELECT url, storage_integration FROM _fs_global._fs_information_schema._fs_stages "
            "WHERE database_name = ? AND schema_name = ? AND name = ?",
            [catalog, schema, name],
        ).fetchone()
        if found is None:
            raise stage.not_found_error(f"{catalog}.{schema}.{name}")
        url, integration = found
        rows = [
            ("STAGE_FILE_FORMAT", "TYPE", "String", "CSV", "CSV"),
            ("STAGE_LOCATION", "URL", "String", json.dumps([url]) if url else "", ""),
            ("STAGE_INTEGRATION", "STORAGE_INTEGRATION", "String", integration or "", ""),
            ("DIRECTORY", "ENABLE", "Boolean", "false", "false"),
        ]
        columns = ("parent_property", "property", "property_type", "property_value", "property_default")
        select = exp.select("*").from_(exp.values(rows, alias="t", columns=columns))
        return sqlglot.parse_one(select.sql("duckdb"), read="duckdb")

    FakeSnowflakeCursor._transform = _transform  # type: ignore[method-assign]
