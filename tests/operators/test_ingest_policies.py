"""The ingest path's policies end to end: schema changes, missing and corrupt files, a retried extract,
hard deletes. DAG runs use `dag.test()`; loads of tampered files call the load operator directly, against
the same sandbox S3 and Snowflake."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_integrations.core.dlq import LocalDLQStore
from airflow_provider_integrations.core.records import Manifest
from airflow_provider_integrations.operators.load import S3ToSnowflakeMergeOperator
from tests.connectors.conftest import Admin
from tests.operators.conftest import s3_client

Query = Callable[[str], list[tuple[Any, ...]]]
Source = Callable[[str, str], list[dict[str, Any]]]
POISON = {"seed": 17, "poison_rate": 0.02}


@pytest.fixture(scope="module")
def admin(sandbox: Any) -> Admin:
    return Admin(sandbox)


@pytest.fixture
def sandbox_env(sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The sandbox's Airflow connections in this process, for operators run in-process."""
    for name, value in sandbox.env().items():
        monkeypatch.setenv(name, value)
    yield


def table_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:6]}".upper()


def ok(result: Any) -> None:
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]


def columns(query: Query, table: str) -> set[str]:
    rows = query(f"SELECT COLUMN_NAME FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_NAME = '{table}'")
    return {str(r[0]) for r in rows}


def snapshot(query: Query, table: str) -> dict[str, tuple[Any, ...]]:
    rows = query(f'SELECT "ID", "_ROW_HASH", "_DELETED", "_BATCH_ID", "_LOADED_AT" FROM "{table}"')
    return {str(r[0]): tuple(r[1:]) for r in rows}


def assert_unique(query: Query, table: str) -> int:
    count, distinct = query(f'SELECT COUNT(*), COUNT(DISTINCT "ID") FROM "{table}"')[0]
    assert count == distinct, f"{table}: duplicate primary keys"
    return int(count)


def poison_keys(dlq: Any) -> set[str]:
    return {str(e.record_key) for e in LocalDLQStore(dlq).find(limit=10_000)}


def s3_keys(s3: Any, bucket: str, prefix: str) -> set[str]:
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return {item["Key"] for item in listed}


def read_manifest(s3: Any, bucket: str, key: str) -> Manifest:
    return Manifest.from_json(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def account_stream(name: str, *extra_fields: str) -> dict[str, Any]:
    """A custom stream over Salesforce's Account, declared in the connection's `streams` extra."""
    fields: dict[str, Any] = {
        "Id": {"type": "string", "required": True},
        "Name": "string",
        "SystemModstamp": {"type": "timestamp", "required": True},
    }
    types = {"Industry": "string", "NumberOfEmployees": "integer"}
    fields.update({f: types[f] for f in extra_fields})
    return {
        name: {
            "source": "Account",
            "primary_key": ["Id"],
            "cursor": ["SystemModstamp", "Id"],
            "fields": fields,
        }
    }


def test_fields_a_catalog_declares_later_are_left_out_of_the_table_under_ignore(
    run_ingest: Any,
    admin: Admin,
    sandbox: Any,
    snowflake_query: Query,
) -> None:
    """The load's side of `schema_policy="ignore"`: columns the catalog gains are not added. (New fields
    at the source under every policy, caught by the extract's drift check, are tested end to end in
    test_schema_drift_ingest.py.)"""
    table = table_name("ACCOUNT_IGNORE")
    stream = {"system": "salesforce", "stream": "Account_ignore", "table": table, "mode": "full"}
    spec = [{**stream, "schema_policy": "ignore"}]
    conn = json.loads(sandbox.env()["AIRFLOW_CONN_SANDBOX_SALESFORCE"])

    def declared(*extra_fields: str) -> dict[str, str]:
        streams = account_stream("Account_ignore", *extra_fields)
        with_streams = {**conn, "extra": {**conn["extra"], "streams": streams}}
        return {"AIRFLOW_CONN_SANDBOX_SALESFORCE": json.dumps(with_streams)}

    with admin.sized("salesforce", "Account", 200):
        ok(run_ingest(spec, datetime.now(UTC), declared()))
        before = snapshot(snowflake_query, table)
        assert len(before) == 200
        assert "INDUSTRY" not in columns(snowflake_query, table), "'ignore' leaves undeclared live fields out"
        result = run_ingest(spec, datetime.now(UTC), declared("Industry", "NumberOfEmployees"))

    ok(result)
    assert "leaving out new source columns Industry, NumberOfEmployees (schema_policy='ignore')" in (
        result.stdout + result.stderr
    )
    assert not {"INDUSTRY", "NUMBEROFEMPLOYEES"} & columns(snowflake_query, table)
    assert snapshot(snowflake_query, table) == before, "'ignore' leaves rows as they were"


def test_a_missing_or_corrupt_part_file_fails_the_load_naming_it(
    run_ingest: Any, admin: Admin, snowflake_query: Query, sandbox: Any, sandbox_env: None
) -> None:
    table = table_name("SF_CONTACT_FILES")
    spec = [{"system": "salesforce", "stream": "Contact", "table": table, "mode": "full", "part_rows": 100}]
    with admin.sized("salesforce", "Contact", 250):
        ok(run_ingest(spec, datetime.now(UTC)))
    bucket, prefix = run_ingest.bucket, "raw/salesforce/Contact/full"
    s3 = s3_client(sandbox)
    manifest = read_manifest(s3, bucket, f"{prefix}/manifest.json")
    assert [f.rows for f in manifest.files] == [100, 100, 50]
    loaded = snapshot(snowflake_query, table)
    assert len(loaded) == 250

    load = S3ToSnowflakeMergeOperator(
        task_id="load",
        manifest_uri=f"s3://{bucket}/{prefix}/manifest.json",
        target_table=table,
        snowflake_conn_id="sandbox_snowflake",
        aws_conn_id="sandbox_s3",
    )
    context = cast(Context, {})
    assert load.execute(context)["rows"] == 250, "the untouched extract loads"
    assert snapshot(snowflake_query, table) == loaded

    def part(name: str) -> bytes:
        return bytes(s3.get_object(Bucket=bucket, Key=f"{prefix}/{name}")["Body"].read())

    def put(name: str, body: bytes) -> None:
        s3.put_object(Bucket=bucket, Key=f"{prefix}/{name}", Body=body)

    second, third = part("part-00001.parquet"), part("part-00002.parquet")

    s3.delete_object(Bucket=bucket, Key=f"{prefix}/part-00001.parquet")
    with pytest.raises(AirflowFailException, match=r"part-00001\.parquet") as missing:
        load.execute(context)
    assert "part-00000" not in str(missing.value) and "part-00002" not in str(missing.value)
    put("part-00001.parquet", second)
    assert snapshot(snowflake_query, table) == loaded, "a failed load changes nothing in the target"

    put("part-00002.parquet", (b"\x00garbage, not parquet\xff" * len(third))[: len(third)])
    with pytest.raises(AirflowFailException, match=r"LoadError: COPY .*part-00002\.parquet") as corrupt:
        load.execute(context)
    assert "part-00000" not in str(corrupt.value) and "part-00001" not in str(corrupt.value)
    put("part-00002.parquet", third)
    assert snapshot(snowflake_query, table) == loaded

    put("part-00001.parquet", third)  # valid Parquet, but not the object the manifest lists
    with pytest.raises(AirflowFailException, match=r"part-00001\.parquet: \d+ bytes where the manifest"):
        load.execute(context)
    assert snapshot(snowflake_query, table) == loaded, "a failed load changes nothing in the target"


def test_a_retried_extract_replaces_its_files_and_duplicates_nothing(
    run_ingest: Any, admin: Admin, snowflake_query: Query, sandbox: Any, source_records: Source
) -> None:
    table = table_name("SF_CONTACT_RETRY")
    interval_end = datetime(2025, 1, 1, 4, tzinfo=UTC)
    first = [
        {"system": "salesforce", "stream": "Contact", "table": table, "lookback_hours": 4, "part_rows": 100}
    ]
    again = [{**first[0], "part_rows": 200}]
    s3 = s3_client(sandbox)
    bucket = run_ingest.bucket
    prefix = "raw/salesforce/Contact/20250101T000000_20250101T040000"

    def parts(manifest: Manifest) -> set[str]:
        return {f.key.removeprefix(f"s3://{bucket}/") for f in manifest.files}

    with admin.sized("salesforce", "Contact", 450), admin.faults("salesforce", **POISON):
        ok(run_ingest(first, interval_end))
        manifest = read_manifest(s3, bucket, f"{prefix}/manifest.json")
        assert len(manifest.files) == 5
        assert s3_keys(s3, bucket, prefix) == parts(manifest) | {f"{prefix}/manifest.json"}
        loaded = snapshot(snowflake_query, table)

        ok(run_ingest(again, interval_end))
        retried = read_manifest(s3, bucket, f"{prefix}/manifest.json")
        source = {r["Id"] for r in source_records("salesforce", "Contact") if not r["IsDeleted"]}

    assert retried.batch_id == manifest.batch_id, "the same interval is the same batch"
    assert [f.key.rsplit("/", 1)[-1] for f in retried.files] == [f"part-0000{i}.parquet" for i in range(3)]
    assert s3_keys(s3, bucket, prefix) == parts(retried) | {f"{prefix}/manifest.json"}, (
        "S3 holds exactly the retry's manifest and parts: the first try's extra parts are gone"
    )
    poison = poison_keys(run_ingest.dlq)
    assert poison and retried.rows == manifest.rows == 450 - len(poison)
    assert assert_unique(snowflake_query, table) == 450 - len(poison)
    assert set(snapshot(snowflake_query, table)) == source - poison
    assert snapshot(snowflake_query, table) == loaded, "re-loading the same records rewrites nothing"


def test_hard_delete_mode_removes_deleted_rows(
    run_ingest: Any, admin: Admin, snowflake_query: Query, source_records: Source
) -> None:
    table = table_name("SF_CONTACT_HARD")
    full = [
        {"system": "salesforce", "stream": "Contact", "table": table, "mode": "full", "delete_mode": "hard"}
    ]
    incremental = [{**full[0], "mode": "incremental", "lookback_hours": 1}]
    with admin.sized("salesforce", "Contact", 300), admin.faults("salesforce", **POISON):
        ok(run_ingest(full, datetime.now(UTC)))
        before = set(snapshot(snowflake_query, table))
        time.sleep(1)
        window_start = datetime.now(UTC)
        assert admin.mutate("salesforce", "Contact", update=5, insert=2, delete=6, same_timestamp=True) == {
            "updated": 5,
            "inserted": 2,
            "deleted": 6,
        }
        ok(run_ingest(incremental, window_start + timedelta(minutes=30)))
        records = source_records("salesforce", "Contact")
    deleted = {r["Id"] for r in records if r["IsDeleted"]}
    live = {r["Id"] for r in records if not r["IsDeleted"]}
    poison = poison_keys(run_ingest.dlq)
    assert len(deleted) == 6 and len(deleted & before) == len(deleted - poison)
    rows = snapshot(snowflake_query, table)
    assert set(rows) == live - poison, "deleted records are gone from the target"
    assert not any(row[1] for row in rows.values()), "no soft-deleted rows in hard mode"
    assert assert_unique(snowflake_query, table) == len(live - poison)


def test_loading_an_older_extract_again_does_not_roll_rows_back(
    run_ingest: Any, admin: Admin, snowflake_query: Query, sandbox_env: None
) -> None:
    """A cleared load task of an earlier run (or a late retry) must not undo what later runs loaded."""
    table = table_name("SF_CONTACT_REPLAY")
    full = [{"system": "salesforce", "stream": "Contact", "table": table, "mode": "full"}]
    incremental = [{**full[0], "mode": "incremental", "lookback_hours": 1}]
    with admin.sized("salesforce", "Contact", 200):
        ok(run_ingest(full, datetime.now(UTC)))
        first = snapshot(snowflake_query, table)
        time.sleep(1)
        window_start = datetime.now(UTC)
        admin.mutate("salesforce", "Contact", update=6, delete=3, same_timestamp=True)
        ok(run_ingest(incremental, window_start + timedelta(minutes=30)))
    latest = snapshot(snowflake_query, table)
    assert sum(1 for k in first if latest[k][:2] != first[k][:2]) == 9, "6 updates and 3 soft deletes landed"

    older = S3ToSnowflakeMergeOperator(
        task_id="load",
        manifest_uri=f"s3://{run_ingest.bucket}/raw/salesforce/Contact/full/manifest.json",
        target_table=table,
        snowflake_conn_id="sandbox_snowflake",
        aws_conn_id="sandbox_s3",
    )
    assert older.execute(cast(Context, {}))["rows"] == 200
    assert snapshot(snowflake_query, table) == latest, "older versions never replace newer ones"
