"""Snowflake column types by name, for checking a reverse-ETL mapping (`core.mapping`) before a sync.

`core.mapping` takes type names only, so the core needs no Snowflake library; these helpers turn what
`snowflake-connector-python` reports into those names.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def snowflake_type_name(type_code: int) -> str:
    """The name of a `cursor.description` type code (`0` -> `FIXED`, `2` -> `TEXT`, `13` -> `BOOLEAN`);
    `UNKNOWN(<code>)` for a code this connector version does not know."""
    from snowflake.connector.constants import FIELD_ID_TO_NAME

    return FIELD_ID_TO_NAME.get(type_code) or f"UNKNOWN({type_code})"


def column_types(description: Iterable[Any]) -> Mapping[str, str]:
    """Column name -> type name of a query's `cursor.description`; a NUMBER with a scale above 0 is
    `FIXED(<precision>,<scale>)`, so the mapping check keeps it out of integer fields."""
    types: dict[str, str] = {}
    for column in description:
        name = snowflake_type_name(column.type_code)
        if name == "FIXED" and column.scale:
            name = f"FIXED({column.precision or 38},{column.scale})"
        types[column.name] = name
    return types
