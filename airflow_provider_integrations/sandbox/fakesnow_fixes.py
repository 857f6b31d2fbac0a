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
