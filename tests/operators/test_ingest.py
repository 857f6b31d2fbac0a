"""SaaS -> S3 -> Snowflake through real DAG runs (`dag.test()`) on the sandbox."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from airflow_provider_integrations.core.dlq import LocalDLQStore
from tests.connectors.conftest import Admin
from tests.operators.conftest import s3_client


@pytest.fixture(scope="module")
def admin(sandbox: Any) -> Admin:
    return Admin(sandbox)


def table_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:6]}".upper()


def ok(result: Any) -> None:
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]


def test_full_then_incremental_salesforce_account(
    run_ingest: Any,
    admin: Admin,
    snowflake_query: Callable[[str], list[tuple[Any, ...]]],
    source_records: Callable[[str, str], list[dict[str, Any]]],
) -> None:
    table = table_name("SF_ACCOUNT")
    spec = [{"system": "salesforce", "stream": "Account", "table": table, "mode": "full"}]
    with admin.sized("salesforce", "Account", 1500), admin.faults("salesforce", seed=21, poison_rate=0.01):
        started = datetime.now(UTC)
        ok(run_ingest(spec, started))
        rows = snowflake_query(f'SELECT COUNT(*), COUNT(DISTINCT "ID") FROM "{table}"')[0]
        poison = LocalDLQStore(run_ingest.dlq).find(limit=10_000)
        assert rows[0] == rows[1] == 1500 - len(poison)
        assert poison and all(e.system == "salesforce" and e.stream == "Account" for e in poison)

        hashes = dict(snowflake_query(f'SELECT "ID", "_ROW_HASH" FROM "{table}"'))
        ok(run_ingest(spec, started))
        assert dict(snowflake_query(f'SELECT "ID", "_ROW_HASH" FROM "{table}"')) == hashes, (
            "a re-run changes nothing"
        )

        time.sleep(1)
        window_start = datetime.now(UTC)
        admin.mutate("salesforce", "Account", update=12, insert=5, delete=4, same_timestamp=True)
        incremental = [{"system": "salesforce", "stream": "Account", "table": table, "lookback_hours": 1}]
        ok(run_ingest(incremental, window_start + timedelta(minutes=30)))
        ok(run_ingest(incremental, window_start + timedelta(minutes=30)))
        source_live = {r["Id"] for r in source_records("salesforce", "Account") if not r["IsDeleted"]}
    count, distinct, deleted = snowflake_query(
        f'SELECT COUNT(*), COUNT(DISTINCT "ID"), COUNT_IF("_DELETED") FROM "{table}"'
    )[0]
    assert count == distinct, "no duplicate primary keys"
    assert deleted == 4
    live = {r[0] for r in snowflake_query(f'SELECT "ID" FROM "{table}" WHERE NOT "_DELETED"')}
    poison_keys = {e.record_key for e in LocalDLQStore(run_ingest.dlq).find(limit=10_000)}
    assert len(source_live) == 1500 + 5 - 4
    assert live == source_live - poison_keys, "the target equals the source minus the poison records"


def test_a_second_bucket_loads_its_own_files_into_the_same_table(
    run_ingest: Any,
    admin: Admin,
    sandbox: Any,
    snowflake_query: Callable[[str], list[tuple[Any, ...]]],
    source_records: Callable[[str, str], list[dict[str, Any]]],
) -> None:
    """The same stream extracted to another bucket lands under the same relative path: the load must COPY
    the second bucket's objects, not the first bucket's files found at that path."""
    table = table_name("SF_CONTACT_BUCKETS")
    spec = [{"system": "salesforce", "stream": "Contact", "table": table, "mode": "full"}]
    second = f"{run_ingest.bucket}-second"
    s3_client(sandbox).create_bucket(Bucket=second)
    with admin.restored("salesforce", "Contact"), admin.sized("salesforce", "Contact", 60):
        ok(run_ingest(spec, datetime.now(UTC)))
        updated = admin.mutate("salesforce", "Contact", update=7)["updated"]
        ok(run_ingest(spec, datetime.now(UTC), {"INGEST_BUCKET": second}))
        source = {r["Id"]: when(r["SystemModstamp"]) for r in source_records("salesforce", "Contact")}
    rows = snowflake_query(f'SELECT "ID", "SYSTEMMODSTAMP", "_SOURCE_FILE" FROM "{table}"')
    assert updated == 7 and len(rows) == 60
    assert {r[0]: when(r[1]) for r in rows} == source, "the target holds the second extract's values"
    from_second = {r[0] for r in rows if str(r[2]).startswith(f"s3://{second}/")}
    assert len(from_second) == 7, "the changed rows came from the second bucket's files"


def when(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.astimezone(UTC)
