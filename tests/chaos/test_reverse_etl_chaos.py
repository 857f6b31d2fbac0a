"""Reverse ETL under 5% transient and 5% permanent per-record failures, through Collections and Bulk jobs,
of a model that also holds bad rows (a duplicated key, a NULL key): refused, the rest delivered.

The emulator counts every write attempt and, apart, every write it let through ("accepted"): a record
applied twice for one change would show as 2 there.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from airflow_provider_integrations.core.dlq import LocalDLQStore
from tests.connectors.conftest import Admin
from tests.operators.test_reverse_etl import sync

ROWS = 3000
FAULTS = {"seed": 31, "write_transient_rate": 0.05, "write_permanent_rate": 0.05}
REFUSED = {"DuplicateKey": 2, "NullKey": 1}


def accepted(admin: Admin, keys: set[str]) -> dict[str, int]:
    counts = admin.counters()["accepted"].get("salesforce/Account", {})
    return {k: n for k, n in counts.items() if k in keys}


@pytest.mark.parametrize("batch_size", [200, 10_000], ids=["collections", "bulk-jobs"])
def test_transient_failures_are_delivered_permanent_ones_parked_and_nothing_applied_twice(
    admin: Admin, snowflake_query: Any, sandbox_env: Any, tmp_path: Any, batch_size: int
) -> None:
    table = f"CHAOS_SCORES_{uuid.uuid4().hex[:6]}".upper()
    prefix = table[-6:].lower()
    snowflake_query(
        f'CREATE TABLE "{table}" (ACCOUNT_KEY VARCHAR, ACCOUNT_NAME VARCHAR, SCORE NUMBER(12,2), SEATS INT)'
    )
    snowflake_query(
        f"INSERT INTO \"{table}\" SELECT '{prefix}-' || LPAD(TO_VARCHAR(i), 6, '0'), 'Account ' || i, "
        f"i * 10.5, i % 500 FROM (SELECT SEQ4() AS i FROM TABLE(GENERATOR(ROWCOUNT => {ROWS})))"
    )
    twice = f"{prefix}-000008"
    snowflake_query(f"INSERT INTO \"{table}\" VALUES ('{twice}', 'Copy', 1, 8), (NULL, 'No key', 1, 1)")
    keys = {f"{prefix}-{i:06d}" for i in range(ROWS)}
    with admin.faults("salesforce", **FAULTS):
        first = sync(table, tmp_path, batch_size=batch_size, transient_retries=8)
        assert first["retried"] > 0 and first["left_pending"] == 0, "transient failures delivered by the end"
        assert first["succeeded"] + first["failed_permanently"] == ROWS - 1
        assert first["rejected_reasons"] == REFUSED
        entries = LocalDLQStore(tmp_path).find(limit=10_000)
        dead = {str(e.record_key) for e in entries if e.error_class not in REFUSED}
        assert {str(e.record_key) for e in entries if e.error_class == "DuplicateKey"} == {
            f"{twice}#1",
            f"{twice}#2",
        }
        assert len(dead) == first["failed_permanently"] > ROWS * 0.02
        applied = accepted(admin, keys)
        assert set(applied.values()) == {1}, "no record applied twice"
        assert set(applied) == keys - dead - {twice}, "every record applied or in the DLQ, never both"

        second = sync(table, tmp_path, batch_size=batch_size)
        assert second["sent"] == 0, "parked failures are not resent"
        assert second["rejected_reasons"] == REFUSED, "bad rows are refused again while they stay bad"

        snowflake_query(f'UPDATE "{table}" SET SCORE = SCORE + 1 WHERE MOD(SEATS, 100) = 7')
        changed = {
            r[0] for r in snowflake_query(f'SELECT ACCOUNT_KEY FROM "{table}" WHERE MOD(SEATS, 100) = 7')
        }
        third = sync(table, tmp_path, batch_size=batch_size, transient_retries=8)
        assert third["sent"] == len(changed) and third["left_pending"] == 0
        after = accepted(admin, keys)
        moved = {k for k in keys if after.get(k, 0) != applied.get(k, 0)}
        assert moved == changed - dead, "each changed row applied once more, the refused ones again refused"
        assert all(after[k] == applied.get(k, 0) + 1 for k in moved)
