"""The reverse-ETL plan is read in keyset pages: every page holds at most its LIMIT, every key once."""

from __future__ import annotations

import json
import uuid
from typing import Any

from airflow_provider_integrations.core.sql import sync_state


def _read_pages(cursor: Any, query: str, rows: int) -> list[list[str]]:
    return [[key for key, _, _ in page] for page in _read_plan(cursor, query, rows)]


def _read_plan(cursor: Any, query: str, rows: int) -> list[list[tuple[str, int, str | None]]]:
    """Pages of (`__KEY`, `__COPY`, `__REJECT`), read the way the operator reads them."""
    pages: list[list[tuple[str, int, str | None]]] = []
    last = None
    while True:
        cursor.execute(sync_state.page_of(query, rows), sync_state.page_after(last))
        names = [d.name for d in cursor.description]
        at = [names.index(name) for name in ("__KEY", "__COPY", "__REJECT")]
        page = [tuple(row[i] for i in at) for row in cursor.fetchall()]
        if not page:
            return pages
        pages.append(page)
        last = page[-1][:2]


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


def test_outcome_rows_are_chunked_by_rows_and_bytes_with_nulls_left_out() -> None:
    rows = [(f"k{i}", "h", None, 'it\'s "bad"' if i == 3 else None, i == 2) for i in range(5)]
    chunks = [json.loads(c) for c in sync_state.json_rows(rows, max_rows=2)]
    assert [len(c) for c in chunks] == [2, 2, 1]
    assert chunks[0][0] == {"K": "k0", "H": "h", "DEL": False}, "a NULL is a missing key, not JSON null"
    assert chunks[1] == [
        {"K": "k2", "H": "h", "DEL": True},
        {"K": "k3", "H": "h", "E": 'it\'s "bad"', "DEL": False},
    ]
    assert [len(json.loads(c)) for c in sync_state.json_rows(rows, max_bytes=1)] == [1] * 5, (
        "a row over the byte budget goes alone"
    )
    sizes = [len(c) for c in sync_state.json_rows(rows * 200, max_rows=10**6, max_bytes=5_000)]
    assert len(sizes) > 1 and max(sizes) <= 5_000
    assert list(sync_state.json_rows([])) == []


def test_outcomes_bound_as_one_json_value_reach_the_state_as_written(snowflake_conn: Any) -> None:
    state = f"STATE_{uuid.uuid4().hex[:8].upper()}"
    error = 'FIELD_CUSTOM_VALIDATION_EXCEPTION: it\'s "wrong"; DROP TABLE x; -- \\ \n next line'
    rows = [(f"k{i:04d}", f"h{i}", f"001{i}" if i % 2 else None, None, False) for i in range(2500)]
    with snowflake_conn.cursor() as cursor:
        cursor.execute(sync_state.create_state(state))
        for chunk in sync_state.json_rows(rows):
            cursor.execute(sync_state.record_outcomes(state, sync_state.OutcomeStatus.SUCCESS), [chunk])
        failed = [("k0001", "h1-new", None, error, False), ("k9999", "h-new", None, error, False)]
        for chunk in sync_state.json_rows(failed):
            cursor.execute(sync_state.record_outcomes(state, sync_state.OutcomeStatus.DEAD_LETTER), [chunk])
        for chunk in sync_state.json_rows([("k0003",), ("k0004",)], ("K",)):
            cursor.execute(sync_state.mark_batch(state), [chunk, "750job"])
        cursor.execute(
            f'SELECT "SYNC_KEY", "SYNCED_HASH", "DEST_ID", "FAILED_HASH", "LAST_ERROR", "DELETED", '
            f'"INFLIGHT_BATCH", "LAST_STATUS" FROM "{state}" ORDER BY 1'
        )
        found = {row[0]: row[1:] for row in cursor.fetchall()}
    assert len(found) == 2501
    assert found["k0000"] == ("h0", None, None, None, False, None, "success"), "NULL stays NULL"
    assert found["k0001"] == ("h1", "0011", "h1-new", error, False, None, "dead_letter")
    assert found["k9999"] == (None, None, "h-new", error, None, None, "dead_letter")
    assert [k for k, row in found.items() if row[5] == "750job"] == ["k0003", "k0004"]


def test_every_copy_of_a_duplicated_key_is_planned_whatever_the_page_size(snowflake_conn: Any) -> None:
    suffix = uuid.uuid4().hex[:8].upper()
    model, state = f"MODEL_{suffix}", f"STATE_{suffix}"
    keys = ["a", "b", "c", "c", "c", "d", "e", "e", "f", None, None]
    with snowflake_conn.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {model} (ID VARCHAR, SCORE INTEGER)")
        values = ", ".join(f"({'NULL' if k is None else repr(k)}, {i})" for i, k in enumerate(keys))
        cursor.execute(f"INSERT INTO {model} VALUES {values}")
        cursor.execute(sync_state.create_state(state))
        cursor.execute(sync_state.key_counts(model, "ID"))
        assert cursor.fetchone() == (11, 2, 5), "rows, NULL keys, rows of duplicated keys"
        plan = sync_state.changes(model, state, "ID", ["SCORE"])
        for size in range(1, 10):
            pages = _read_plan(cursor, plan, size)
            assert all(len(page) <= size for page in pages)
            rows = [row for page in pages for row in page]
            assert [key for key, _, _ in rows] == ["a", "b", "c", "c", "c", "d", "e", "e", "f"], size
            assert [reason for key, _, reason in rows if key in ("c", "e")] == ["DuplicateKey"] * 5
            assert {reason for key, _, reason in rows if key not in ("c", "e")} == {None}
            nulls = [row for page in _read_plan(cursor, sync_state.null_keys(model, "ID", ["SCORE"]), size)
                     for row in page]  # fmt: skip
            assert [reason for _, _, reason in nulls] == ["NullKey", "NullKey"]
            assert len({key for key, _, _ in nulls}) == 2 and all(
                k.startswith("null-key:") for k, _, _ in nulls
            )
