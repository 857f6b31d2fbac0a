"""The Snowflake load SQL, run on Snowflake's protocol (fakesnow's server) over Parquet on moto's S3."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
import snowflake.connector
from integrations_sandbox import stores

from airflow_provider_integrations.core.errors import ConfigError
from airflow_provider_integrations.core.records import PartWriter
from airflow_provider_integrations.core.schema import RecordSchema
from airflow_provider_integrations.core.sql import snowflake as sql

SCHEMA = RecordSchema.from_config(
    {"Id": {"type": "string", "required": True}, "Name": "string", "Amount": "number",
     "Modified": {"type": "timestamp", "required": True}, "Meta": "json"},
    key=["Id"],
)  # fmt: skip
T0 = datetime(2025, 3, 1, tzinfo=UTC)


@pytest.fixture
def env(sandbox: Any) -> Iterator[dict[str, Any]]:
    s3 = boto3.client(
        "s3",
        endpoint_url=sandbox.s3_url,
        region_name=stores.S3_REGION,
        aws_access_key_id=stores.S3_ACCESS_KEY,
        aws_secret_access_key=stores.S3_SECRET_KEY,
    )
    bucket = f"load-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    conn = snowflake.connector.connect(**sandbox.snowflake_kwargs())
    suffix = uuid.uuid4().hex[:6].upper()
    tables = sql.LoadTables(f"ACCOUNTS_{suffix}", f"ACCOUNTS_{suffix}_STG", f"STAGE_{suffix}")
    yield {"s3": s3, "bucket": bucket, "conn": conn, "tables": tables}
    conn.close()


def stage_batch(env: dict[str, Any], batch: str, records: list[dict[str, Any]]) -> list[str]:
    s3, bucket = env["s3"], env["bucket"]

    def upload(path: Path, name: str) -> None:
        s3.upload_file(str(path), bucket, f"acct/{batch}/{name}")

    with PartWriter(SCHEMA, upload, batch_id=batch, extracted_at=datetime.now(UTC),
                    source_prefix=f"acct/{batch}", part_rows=4) as writer:  # fmt: skip
        for record in records:
            values = SCHEMA.validate(record).values
            writer.write(values, deleted=bool(record.get("_deleted")), changed_at=values["Modified"])
        parts = writer.close()
    return [p.key for p in parts]


def run(env: dict[str, Any], statement: str, params: Any = None) -> list[tuple[Any, ...]]:
    cursor = env["conn"].cursor()
    cursor.execute(statement, params)
    return list(cursor.fetchall())


def load(env: dict[str, Any], files: list[str], hard_delete: bool = False) -> list[tuple[Any, ...]]:
    tables = env["tables"]
    fields = SCHEMA.fields
    run(env, sql.create_target(tables.target, fields, ["Id"]))
    run(env, sql.create_staging(tables.staging, fields))
    run(env, sql.create_stage(tables.stage, f"s3://{env['bucket']}"))
    (copy,) = sql.copy_into(tables.staging, tables.stage, files)
    results = run(env, copy)
    run(env, sql.merge(tables, fields, ["Id"], hard_delete=hard_delete))
    run(env, sql.truncate(tables.staging))
    return results


def target(env: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    rows = run(
        env, f'SELECT "ID", "NAME", "AMOUNT", "_DELETED", "_ROW_HASH" FROM {sql.quote(env["tables"].target)}'
    )
    return {r[0]: r[1:] for r in rows}


def rec(i: int, name: str, minutes: int = 0, **extra: Any) -> dict[str, Any]:
    return {"Id": f"A{i}", "Name": name, "Amount": i * 10.0, "Modified": T0 + timedelta(minutes=minutes),
            "Meta": {"i": i}, **extra}  # fmt: skip


def test_copy_reports_every_file_and_merge_keeps_one_row_per_key(env: dict[str, Any]) -> None:
    files = stage_batch(env, "b1", [rec(i, f"n{i}") for i in range(10)] + [rec(3, "newer", minutes=5)])
    results = load(env, files)
    loaded = sorted((r[0].rsplit("/", 1)[-1], r[1], r[3]) for r in results)
    assert loaded == [(f"part-0000{i}.parquet", "LOADED", n) for i, n in enumerate((4, 4, 3))]
    rows = target(env)
    assert len(rows) == 10 and rows["A3"][0] == "newer"


def test_second_load_updates_changed_rows_only_and_soft_deletes(env: dict[str, Any]) -> None:
    load(env, stage_batch(env, "b1", [rec(i, f"n{i}") for i in range(6)]))
    before = target(env)
    second = [rec(1, "changed", 10), rec(2, "n2"), rec(4, "n4", 10, _deleted=True), rec(9, "new", 10)]
    load(env, stage_batch(env, "b2", second))
    after = target(env)
    assert after["A1"][0] == "changed" and after["A1"][3] != before["A1"][3]
    assert after["A2"] == before["A2"], "an unchanged row is not rewritten"
    assert after["A4"][2] is True and after["A9"][0] == "new"
    assert len(after) == 7


def test_hard_delete_removes_the_row(env: dict[str, Any]) -> None:
    load(env, stage_batch(env, "b1", [rec(i, f"n{i}") for i in range(3)]))
    load(env, stage_batch(env, "b2", [rec(1, "n1", 5, _deleted=True)]), hard_delete=True)
    assert set(target(env)) == {"A0", "A2"}


def test_a_retried_load_leaves_the_target_unchanged(env: dict[str, Any]) -> None:
    files = stage_batch(env, "b1", [rec(i, f"n{i}") for i in range(3)])
    load(env, files)
    before = target(env)
    again = load(env, files)
    assert {r[1] for r in again} == {"LOADED"}, "truncating staging resets its load history"
    assert target(env) == before


def test_added_columns_and_bad_inputs(env: dict[str, Any]) -> None:
    from airflow_provider_integrations.core.schema import Field, FieldType

    load(env, stage_batch(env, "b1", [rec(0, "n0")]))
    for statement in sql.add_columns(env["tables"].target, [Field("Region", FieldType.STRING)]):
        run(env, statement)
        run(env, statement)
    query, params = sql.table_columns(env["tables"].target)
    assert "REGION" in [r[0] for r in run(env, query, params)]
    with pytest.raises(ConfigError, match="refusing file name"):
        sql.copy_into("T", "S", ["x.parquet') ; DROP TABLE T; --"])
    with pytest.raises(ConfigError, match="s3://"):
        sql.create_stage("S", "https://evil")
    with pytest.raises(ConfigError, match="not a valid SQL name"):
        sql.quote('T"; DROP')


def test_reloading_an_older_extract_never_rolls_rows_back(env: dict[str, Any]) -> None:
    older = stage_batch(env, "b1", [rec(1, "old", 0), rec(2, "old", 0)])
    newer = stage_batch(env, "b2", [rec(1, "new", 10), rec(2, "gone", 10, _deleted=True)])
    load(env, older)
    load(env, newer)
    after_newer = target(env)
    load(env, older)
    assert target(env) == after_newer
    assert after_newer["A1"][0] == "new" and after_newer["A2"][2] is True


def mark_missing(env: dict[str, Any], files: list[str], hard: bool, kept: Sequence[str] = ()) -> int:
    """A full load: COPY + MERGE, then rows absent from this extract are deleted."""
    tables = env["tables"]
    run(env, sql.create_staging(tables.staging, SCHEMA.fields))
    for copy in sql.copy_into(tables.staging, tables.stage, files):
        run(env, copy)
    run(env, sql.merge(tables, SCHEMA.fields, ["Id"], hard_delete=hard))
    extracted = run(env, f'SELECT MAX("_EXTRACTED_AT") FROM {sql.quote(tables.staging)}')[0][0]
    statement, params = sql.mark_missing(
        tables, ["Id"], hard_delete=hard, batch_id="full2", extracted_at=extracted.isoformat(), kept_keys=kept
    )
    cursor = env["conn"].cursor()
    cursor.execute(statement, params)
    run(env, sql.truncate(tables.staging))
    return int(cursor.rowcount)


@pytest.mark.parametrize("hard", [False, True])
def test_a_full_extract_deletes_what_the_source_no_longer_holds(env: dict[str, Any], hard: bool) -> None:
    load(env, stage_batch(env, "full1", [rec(i, f"n{i}") for i in range(6)]))
    full = stage_batch(env, "full2", [rec(i, f"n{i}") for i in (0, 1, 2)])
    load(env, stage_batch(env, "late", [rec(7, "newer than the full extract", 20)]))
    assert mark_missing(env, full, hard, kept=["A5"]) == 2, "A3 and A4 are gone; A5 was only rejected"
    rows = target(env)
    if hard:
        assert set(rows) == {"A0", "A1", "A2", "A5", "A7"}
    else:
        assert {k for k, r in rows.items() if r[2]} == {"A3", "A4"}
        assert mark_missing(env, full, hard, kept=["A5"]) == 0, "an already deleted row is not touched again"
    assert "A7" in rows and not rows["A7"][2], "a row loaded after the full extract was made stays"


def test_versions_of_one_key_are_ordered_by_their_change_time(env: dict[str, Any]) -> None:
    """Stripe-like: the cursor (created) never moves; the change time orders versions in one batch."""
    s3, bucket = env["s3"], env["bucket"]
    changes = [("A1", "second", 5), ("A1", "first", 1), ("A1", "third", 9), ("A1", "zeroth", 0)]

    def upload(path: Path, name: str) -> None:
        s3.upload_file(str(path), bucket, f"acct/events/{name}")

    with PartWriter(SCHEMA, upload, batch_id="events", extracted_at=datetime.now(UTC),
                    source_prefix="acct/events") as writer:  # fmt: skip
        for key, name, minute in changes:
            values = SCHEMA.validate({"Id": key, "Name": name, "Modified": T0}).values
            writer.write(values, changed_at=T0 + timedelta(minutes=minute))
        files = [p.key for p in writer.close()]
    load(env, files)
    assert target(env)["A1"][0] == "third"


def test_copy_lists_at_most_a_thousand_files_per_statement() -> None:
    files = [f"raw/x/part-{i:05d}.parquet" for i in range(2345)]
    statements = sql.copy_into("STAGING", "STAGE", files)
    listed = [s.split("FILES=(", 1)[1].split(")", 1)[0].split(", ") for s in statements]
    assert [len(names) for names in listed] == [1000, 1000, 345]
    assert [name.strip("'") for names in listed for name in names] == files


def test_desc_stage_reports_the_url_as_snowflake_does(env: dict[str, Any]) -> None:
    """DESC STAGE: a row per property, (parent_property, property, property_type, property_value,
    property_default), the location as a JSON list of one URL; a missing stage is error 2003."""
    stage, bucket = env["tables"].stage, env["bucket"]
    run(env, sql.create_stage(stage, f"s3://{bucket}/raw"))
    cursor = env["conn"].cursor()
    cursor.execute(sql.describe_stage(stage))
    rows = cursor.fetchall()
    assert [d.name for d in cursor.description] == [
        "parent_property", "property", "property_type", "property_value", "property_default"
    ]  # fmt: skip
    assert ("STAGE_LOCATION", "URL", "String", f'["s3://{bucket}/raw/"]', "") in rows
    assert sql.stage_url(stage, rows) == f"s3://{bucket}/raw/"
    run(env, sql.create_stage(stage, f"s3://{bucket}/other"))
    assert sql.stage_url(stage, run(env, sql.describe_stage(stage))) == f"s3://{bucket}/raw/", (
        "CREATE STAGE IF NOT EXISTS leaves an existing stage where it points"
    )
    with pytest.raises(
        snowflake.connector.ProgrammingError, match=r"Stage '.*\.NOPE_.*' does not exist"
    ) as e:
        run(env, sql.describe_stage(f"NOPE_{stage}"))
    assert e.value.errno == 2003
    run(env, f"CREATE STAGE {sql.quote('INTERNAL_' + stage)}")
    with pytest.raises(ConfigError, match=r"not an external stage on one s3:// location .*URL \[''\]"):
        sql.stage_url(stage, run(env, sql.describe_stage(f"INTERNAL_{stage}")))


def test_the_default_stage_is_one_per_location() -> None:
    first = sql.stage_for("DB.S.ACCOUNTS", "s3://raw-prod/")
    assert first == sql.stage_for("DB.S.ACCOUNTS", "s3://raw-prod/")
    assert re.fullmatch(r"DB\.S\.ACCOUNTS__STAGE_[0-9A-F]{8}", first)
    assert first != sql.stage_for("DB.S.ACCOUNTS", "s3://raw-dev/")
    assert sql.stage_url("S", [("STAGE_LOCATION", "URL", "String", '["s3://b/raw"]', "")]) == "s3://b/raw/"
    for value in ('["s3://a/", "s3://b/"]', '["gcs://b/"]', "not json"):
        with pytest.raises(ConfigError, match="not an external stage"):
            sql.stage_url("S", [("STAGE_LOCATION", "URL", "String", value, "")])
