"""Reading a sync's change plan from the warehouse a page at a time, so memory stays bounded."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

from airflow_provider_integrations.core.sql import sync_state as sql
from airflow_provider_integrations.core.sql.sync_state import PlanColumn

Row = dict[str, Any]
"""A plan row by upper-case column name: the :class:`PlanColumn` columns and the mapped ones."""


class Warehouse(Protocol):
    """A DB-API 2.0 connection to the warehouse holding the model and the state (Snowflake)."""

    def cursor(self) -> Any: ...


def read_plan(warehouse: Warehouse, query: str, *, page_rows: int, batch_size: int) -> Iterator[list[Row]]:
    """A plan query's rows in batches, read a page at a time by (`__KEY`, `__COPY`)."""
    last: tuple[str, int] | None = None
    while True:
        # Each page's cursor is closed before the next: an open one keeps its whole result set.
        with warehouse.cursor() as cursor:
            cursor.execute(sql.page_of(query, page_rows), sql.page_after(last))
            names = [d.name.upper() for d in cursor.description]
            page = 0
            while batch := cursor.fetchmany(batch_size):
                rows = [dict(zip(names, values, strict=True)) for values in batch]
                last = (rows[-1][PlanColumn.KEY], rows[-1][PlanColumn.COPY])
                page += len(rows)
                yield rows
        if page < page_rows:
            return
