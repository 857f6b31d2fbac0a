"""The reverse-ETL plan is read in keyset pages: every page holds at most its LIMIT, every key once."""

from __future__ import annotations

import uuid
from typing import Any

from airflow_provider_integrations.core.sql import sync_state


def _read_pages(cursor: Any, query: str, rows: int) -> list[list[str]]:
    pages: list[list[str]] = []
    previous = None
    while True:
        cursor.execute(sync_state.page_of(query, rows), [previous, previous])
        keys = [row[-4] for row in cursor.fetchall()]
        if not keys:
            return pages
        pages.append(keys)
        previous = keys[-1]


def test_a_plan_against_a_never_written_state_table_is_read_in_bounded_pages(snowflake_conn: Any) -> None:
    suffix = uuid.uuid4().hex[:8].upper()
    model, state = f"MODEL_{suffix}", f"STATE_{suffix}"
    with snowflake_conn.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {model} (ID VARCHAR, SCORE INTEGER)")
        cursor.execute(
            f"INSERT INTO {model} SELECT 'k' || LPAD(SEQ4()::VARCHAR, 5, '0'), SEQ4() "
            "FROM TABLE(GENERATOR(ROWCOUNT => 1000))"
        )
        cursor.execute(sync_state.create_state(state))
        pages = _read_pages(cursor, sync_state.changes(model, state, "ID", ["SCORE"]), 64)

    assert [len(page) for page in pages] == [64] * 15 + [40]
    keys = [key for page in pages for key in page]
    assert keys == sorted(keys) and len(set(keys)) == 1000
