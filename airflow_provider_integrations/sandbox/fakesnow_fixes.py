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
    _applied = True
