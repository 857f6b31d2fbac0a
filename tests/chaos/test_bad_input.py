"""Bad input, and the error it gets: malformed DAG configs, operator arguments and connections, poison
records and a bad sandbox command line. Each error must name what is wrong (the file, key, field or
connection) and must not show a secret. Cases other tests already cover the same way are left to them
(tests/dags/test_dag_integrity.py, tests/core/test_schema.py, tests/airflow/test_hooks.py)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pyarrow.parquet as pq
import pytest
import yaml
from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowFailException, AirflowNotFoundException

from airflow_provider_integrations.core.dlq import LocalDLQStore
from airflow_provider_integrations.core.errors import ConfigError, RecordError
from airflow_provider_integrations.core.records import PartWriter
from airflow_provider_integrations.core.schema import RecordSchema
from airflow_provider_integrations.dag_config import ingest_dag, reverse_etl_dag
from airflow_provider_integrations.hooks.registry import hook_for
from airflow_provider_integrations.operators.extract import SaaSToS3Operator
from airflow_provider_integrations.operators.freshness import SnowflakeFreshnessCheckOperator
from airflow_provider_integrations.operators.load import S3ToSnowflakeMergeOperator
from airflow_provider_integrations.operators.reverse_etl import SnowflakeToSaaSOperator
from tests.chaos.test_security import SECRETS, leaks
from tests.connectors.conftest import Admin
from tests.include_configs import ingest_config
from tests.operators.conftest import s3_client

ROOT = Path(__file__).resolve().parents[2]
INGEST = ingest_config("stripe")
SYNCS = yaml.safe_load((ROOT / "include" / "reverse_etl" / "account_scores.yaml").read_text())
SYNC = SYNCS["syncs"][0]


def context() -> Context:
    ti = SimpleNamespace(dag_id="chaos_bad_input", task_id="t", try_number=1, xcom_push=lambda **_: None)
    return cast(Context, {"ti": ti, "run_id": "manual__bad_input"})


# --------------------------------------------------------------------------------------------------
# YAML DAG configs (dag_config.py): every message starts with the file and names the key.

YAML_CASES: dict[str, tuple[Any, str]] = {
    # name: (config, or raw text as str; what the error must say after the file's path)
    "not YAML": ("dag_id: [unclosed\n", "cannot read DAG config"),
    "a list, not a mapping": ("- a\n- b\n", "must be a mapping, got list"),
    "an empty file": ("", "must be a mapping, got NoneType"),
    "no dag_id": ({k: v for k, v in INGEST.items() if k != "dag_id"}, "missing ['dag_id']"),
    "unknown system": ({**INGEST, "system": "sap"}, "system 'sap' is not one of"),
    "retries as text": (
        {**INGEST, "retries": "three"},
        "retries must be a whole number of at least 0, got 'three'",
    ),
    "negative retries": ({**INGEST, "retries": -1}, "retries must be a whole number of at least 0, got -1"),
    "start_date not a date": ({**INGEST, "start_date": "tomorrow"}, "start_date 'tomorrow' is not a date"),
    "streams a mapping": ({**INGEST, "streams": {"stream": "customers"}}, "streams must be a non-empty list"),
    "no streams": ({**INGEST, "streams": []}, "streams must be a non-empty list, got []"),
    "a stream as text": ({**INGEST, "streams": ["customers"]}, "a stream must be a mapping, got str"),
    "a stream without table": (
        {**INGEST, "streams": [{"stream": "customers"}]},
        "a stream: missing ['table']",
    ),
    "unknown default": ({**INGEST, "defaults": {"colour": "blue"}}, "defaults: unknown keys ['colour']"),
    "bad mode": (
        {**INGEST, "streams": [{"stream": "customers", "table": "T", "mode": "sometimes"}]},
        "stream 'customers': mode must be one of ('auto', 'incremental', 'full'), got 'sometimes'",
    ),
    "bad delete_mode": (
        {**INGEST, "streams": [{"stream": "customers", "table": "T", "delete_mode": "shred"}]},
        "stream 'customers': delete_mode must be 'soft' or 'hard', got 'shred'",
    ),
    "bad schema_policy": (
        {**INGEST, "defaults": {"schema_policy": "yolo"}, "streams": [{"stream": "customers", "table": "T"}]},
        "stream 'customers': schema_policy must be one of ('add', 'ignore', 'fail'), got 'yolo'",
    ),
    "bad freshness_sla": (
        {**INGEST, "streams": [{"stream": "customers", "table": "T", "freshness_sla": "soonish"}]},
        "stream 'customers': freshness_sla: 'soonish' is not a duration",
    ),
    "bad execution_timeout": ({**INGEST, "execution_timeout": "forever"}, "execution_timeout: 'forever'"),
    "bad lookback": ({**INGEST, "lookback": "a while"}, "lookback: 'a while' is not a duration"),
    "sync: no schedule": (
        {k: v for k, v in SYNCS.items() if k != "schedule_on_tables"},
        "give schedule_on_tables (data-aware) or a schedule",
    ),
    "sync: syncs as text": ({**SYNCS, "syncs": "account_scores"}, "syncs must be a non-empty list"),
    "sync: missing keys": ({**SYNCS, "syncs": [{"task_id": "s"}]}, "a sync: missing ['model', 'key'"),
    "sync: mapping a list": (
        {**SYNCS, "syncs": [{**SYNC, "mapping": ["HEALTH_SCORE"]}]},
        "sync 'account_health_scores': mapping must map model columns to destination fields",
    ),
    "sync: bad mode": (
        {**SYNCS, "syncs": [{**SYNC, "mode": "merge"}]},
        "sync 'account_health_scores': sync mode must be one of",
    ),
    "sync: batch_size 0": (
        {**SYNCS, "syncs": [{**SYNC, "batch_size": 0}]},
        "sync 'account_health_scores': batch_size must be between 1 and 10000, got 0",
    ),
    "sync: max_delete_share 2": (
        {**SYNCS, "syncs": [{**SYNC, "mode": "mirror", "max_delete_share": 2}]},
        "sync 'account_health_scores': max_delete_share must be between 0 and 1, got 2",
    ),
    "sync: two statements": (
        {**SYNCS, "syncs": [{**SYNC, "model": "SELECT 1 AS ACCOUNT_KEY; DROP TABLE SALESFORCE_ACCOUNT"}]},
        "sync 'account_health_scores': the model query must be a single SELECT statement",
    ),
    "sync: empty external_id": (
        {**SYNCS, "syncs": [{**SYNC, "external_id": ""}]},
        "sync 'account_health_scores': a sync needs the destination field that holds the model's key",
    ),
}


@pytest.mark.parametrize(("config", "message"), YAML_CASES.values(), ids=YAML_CASES.keys())
def test_a_malformed_dag_config_names_the_file_and_what_is_wrong(
    config: Any, message: str, tmp_path: Path
) -> None:
    path = tmp_path / "dag.yaml"
    path.write_text(config if isinstance(config, str) else yaml.safe_dump(config))
    syncs = isinstance(config, dict) and ("syncs" in config or "schedule_on_tables" in config)
    with pytest.raises(ConfigError) as error:
        (reverse_etl_dag if syncs else ingest_dag)(path)
    assert str(error.value).startswith((str(path), f"cannot read DAG config {path}")), str(error.value)
    assert message in str(error.value), str(error.value)


def test_a_missing_dag_config_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=f"cannot read DAG config {tmp_path}/none.yaml: .*No such file"):
        ingest_dag(tmp_path / "none.yaml")


# --------------------------------------------------------------------------------------------------
# Operator arguments: refused when the DAG is parsed where they are plain values; otherwise when the
# task starts, before any system is called.

OPERATOR_CASES: dict[str, tuple[Callable[[], Any], str]] = {
    "extract: bad mode": (
        lambda: SaaSToS3Operator(task_id="e", conn_id="c", stream="s", bucket="b", mode="sometimes"),
        "mode must be one of ('auto', 'incremental', 'full'), got 'sometimes'",
    ),
    "load: bad delete_mode": (
        lambda: S3ToSnowflakeMergeOperator(
            task_id="l", manifest_uri="s3://b/m", target_table="T", delete_mode="x"
        ),
        "delete_mode must be 'soft' or 'hard', got 'x'",
    ),
    "load: bad schema_policy": (
        lambda: S3ToSnowflakeMergeOperator(
            task_id="l", manifest_uri="s3://b/m", target_table="T", schema_policy="x"
        ),
        "schema_policy must be one of ('add', 'ignore', 'fail'), got 'x'",
    ),
    "load: manifest not on S3": (
        lambda: S3ToSnowflakeMergeOperator(task_id="l", manifest_uri="/tmp/m.json", target_table="T").execute(
            context()
        ),
        "manifest_uri must be s3://bucket/key, got '/tmp/m.json'",
    ),
    "freshness: sla not positive": (
        lambda: SnowflakeFreshnessCheckOperator(task_id="f", table="T", sla=timedelta(0)),
        "sla must be positive, got 0:00:00",
    ),
    "sync: mapping a list": (
        lambda: SnowflakeToSaaSOperator(**{**SYNC, "task_id": "s", "mapping": ["SCORE"]}),
        "mapping must map model columns to destination fields, got ['SCORE']",
    ),
    "sync: empty mapping": (
        lambda: SnowflakeToSaaSOperator(**{**SYNC, "task_id": "s", "mapping": {}}),
        "a upsert sync needs a mapping of model columns to destination fields",
    ),
    "sync: batch_size too big": (
        lambda: SnowflakeToSaaSOperator(**{**SYNC, "task_id": "s", "batch_size": 10_001}),
        "batch_size must be between 1 and 10000, got 10001",
    ),
    "sync: two statements": (
        lambda: SnowflakeToSaaSOperator(**{**SYNC, "task_id": "s", "model": "SELECT 1; SELECT 2"}),
        "the model query must be a single SELECT statement",
    ),
}


@pytest.mark.parametrize(("make", "message"), OPERATOR_CASES.values(), ids=OPERATOR_CASES.keys())
def test_a_bad_operator_argument_is_named(
    make: Callable[[], Any], message: str, sandbox_env: dict[str, str]
) -> None:
    with pytest.raises((ConfigError, AirflowFailException)) as error:
        make()
    assert message in str(error.value), str(error.value)


def test_a_bad_dlq_uri_fails_the_extract_before_any_record_is_read(
    sandbox_env: dict[str, str], admin: Admin
) -> None:
    before = admin.counters()["requests"].get("stripe", 0)
    operator = SaaSToS3Operator(
        task_id="e", conn_id="sandbox_stripe", stream="customers", bucket="b", aws_conn_id="sandbox_s3",
        mode="full", dlq_uri="ftp://dlq.example.com/dead",
    )  # fmt: skip
    with pytest.raises(
        AirflowFailException, match=r"DLQ URI 'ftp://dlq\.example\.com/dead': use a path, file://"
    ):
        operator.execute(context())
    assert admin.counters()["requests"].get("stripe", 0) == before


# --------------------------------------------------------------------------------------------------
# Connections: errors name the connection id and the field; none shows a secret the connection holds.


def without(conn: dict[str, Any], *fields: str) -> dict[str, Any]:
    return {k: v for k, v in conn.items() if k not in fields}


def with_extra(conn: dict[str, Any], drop: tuple[str, ...] = (), **extra: Any) -> dict[str, Any]:
    kept = {k: v for k, v in conn["extra"].items() if k not in drop}
    return {**conn, "extra": {**kept, **extra}}


CONNECTION_CASES: dict[str, tuple[str, Callable[[dict[str, Any]], Any], str]] = {
    # name: (system, change to its sandbox connection, what the error says after "connection 'bad_conn': ")
    "extra not JSON": (
        "salesforce",
        lambda c: {**c, "extra": '{"client_id": "x",'},
        "its extra is not valid JSON",
    ),
    "extra a JSON list": ("netsuite", lambda c: {**c, "extra": "[1, 2]"}, "its extra must be a JSON object"),
    "streams not JSON": (
        "stripe",
        lambda c: with_extra(c, streams="{bad"),
        "extra 'streams' is not valid JSON",
    ),
    "max_attempts as text": (
        "workday",
        lambda c: with_extra(c, max_attempts="many"),
        "extra 'max_attempts' must be a number, got 'many'",
    ),
    "max_attempts 0": (
        "stripe",
        lambda c: with_extra(c, max_attempts="0"),
        "max_attempts must be at least 1, got 0",
    ),
    "rate as text": (
        "servicenow",
        lambda c: with_extra(c, rate_limit_per_second="fast"),
        "extra 'rate_limit_per_second' must be a number, got 'fast'",
    ),
    "ca_bundle missing": (
        "stripe",
        lambda c: with_extra(c, ca_bundle="/nonexistent/ca.pem"),
        "ca_bundle '/nonexistent/ca.pem' cannot be read as a PEM file of CA certificates",
    ),
    "salesforce: unknown auth": (
        "salesforce",
        lambda c: with_extra(c, auth="kerberos"),
        "salesforce auth must be one of ['jwt', 'password', 'refresh_token'], got 'kerberos'",
    ),
    "salesforce: no password": (
        "salesforce",
        lambda c: without(c, "password"),
        "salesforce password auth needs password",
    ),
    "salesforce: jwt without key": (
        "salesforce",
        lambda c: with_extra(c, drop=("private_key",), auth="jwt"),
        "salesforce jwt auth needs private_key",
    ),
    "salesforce: bad api_version": (
        "salesforce",
        lambda c: with_extra(c, api_version="latest"),
        "salesforce api_version 'latest' is not a Salesforce API version such as 59.0",
    ),
    "stripe: no key": (
        "stripe",
        lambda c: without(c, "password"),
        "the Stripe key must be a secret (sk_...)",
    ),
    "stripe: publishable key": (
        "stripe",
        lambda c: {**c, "password": "pk_test_chaos_0001"},
        "the Stripe key must be a secret (sk_...)",
    ),
    "netsuite: no token secret": (
        "netsuite",
        lambda c: with_extra(c, drop=("token_secret",)),
        "token-based auth needs account id",
    ),
    "netsuite: no host nor account": (
        "netsuite",
        lambda c: with_extra(without(c, "host"), drop=("account_id",)),
        "needs a host or an account_id",
    ),
    "workday: no host": ("workday", lambda c: without(c, "host"), "needs a host (the Workday REST base URL)"),
    "workday: no refresh token": (
        "workday",
        lambda c: with_extra(c, drop=("refresh_token",)),
        "workday needs refresh_token",
    ),
    "workday: bad tenant": (
        "workday",
        lambda c: with_extra(c, tenant="a/b"),
        "workday tenant 'a/b' is not a Workday tenant",
    ),
    "servicenow: no host": ("servicenow", lambda c: without(c, "host"), "needs the instance URL as its host"),
    "servicenow: no password": ("servicenow", lambda c: without(c, "password"), "login and password"),
    "servicenow: client id, no secret": (
        "servicenow",
        lambda c: with_extra(c, drop=("client_secret",)),
        "OAuth needs client_secret next to client_id",
    ),
    "servicenow: not http": (
        "servicenow",
        lambda c: {**c, "host": "ftp://instance.example.com"},
        "instance URL must start with https://",
    ),
    "unknown connection type": (
        "stripe",
        lambda c: {**c, "conn_type": "integrations_sap"},
        "has type 'integrations_sap'; extract operators",
    ),
}
CONNECTION_CASES_SYSTEMS = sorted({system for system, _, _ in CONNECTION_CASES.values()})


@pytest.mark.parametrize(
    ("system", "change", "message"), CONNECTION_CASES.values(), ids=CONNECTION_CASES.keys()
)
def test_a_bad_connection_names_itself_and_the_field_without_a_secret(
    system: str,
    change: Callable[[dict[str, Any]], Any],
    message: str,
    sandbox: Any,
    admin: Admin,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    conn = change(admin.connection(sandbox, system))
    monkeypatch.setenv("AIRFLOW_CONN_BAD_CONN", json.dumps(conn))
    before = admin.counters()["requests"].get(system, 0)
    with pytest.raises(ConfigError) as error:
        hook_for("bad_conn").get_conn()
    text = str(error.value)
    assert text.startswith("connection 'bad_conn'") and message in text, text
    assert leaks(text) == [] and leaks(caplog.text) == []
    assert admin.counters()["requests"].get(system, 0) == before, "refused before any call"


def test_a_missing_connection_is_named(sandbox_env: dict[str, str]) -> None:
    with pytest.raises(AirflowNotFoundException, match="The conn_id `no_such_connection` isn't defined"):
        hook_for("no_such_connection")


def test_the_secrets_checked_for_are_in_the_connections(sandbox: Any, admin: Admin) -> None:
    """`leaks()` above is only meaningful if the connections hold the secrets it looks for."""
    held = json.dumps([admin.connection(sandbox, system) for system in CONNECTION_CASES_SYSTEMS])
    expected = {name for name in SECRETS if name.split()[0] in CONNECTION_CASES_SYSTEMS}
    assert {f.split(" (")[0] for f in leaks(held)} == expected


# --------------------------------------------------------------------------------------------------
# Poison records: each shape is refused with the field, what was wrong and the record's key; the rest
# of the batch is written. Shapes that pass must be writable: a value Parquet cannot hold would fail
# the whole extract instead of one record.

SCHEMA = RecordSchema.from_config(
    {
        "id": {"type": "string", "required": True},
        "name": "string",
        "count": "integer",
        "amount": "number",
        "active": "boolean",
        "updated": {"type": "timestamp", "required": True},
        "day": "date",
        "attrs": "json",
    },
    key=["id"],
)
GOOD = {"id": "r0", "name": "ok", "count": 1, "amount": 1.5, "active": True,
        "updated": "2025-01-01T00:00:00Z", "day": "2025-01-01", "attrs": {"a": 1}}  # fmt: skip
POISON: dict[str, tuple[dict[str, Any], str | None, str]] = {
    # name: (changes to GOOD, record key the DLQ gets, what the error says)
    "object for text": ({"name": {"first": "A"}}, "r0", "name: expected text, got dict"),
    "list for integer": ({"count": [1, 2]}, "r0", "count: expected an integer, got [1, 2]"),
    "boolean for integer": ({"count": True}, "r0", "count: expected an integer, got a boolean"),
    "integer past 64 bits": (
        {"count": 10**20},
        "r0",
        "count: expected a 64-bit integer, got 100000000000000000000",
    ),
    "integer text past 64 bits": (
        {"count": "-9223372036854775809"},
        "r0",
        "count: expected a 64-bit integer",
    ),
    "infinite number": ({"amount": float("inf")}, "r0", "amount: expected a finite number, got inf"),
    "Infinity as text": ({"amount": "Infinity"}, "r0", "amount: expected a finite number, got 'Infinity'"),
    "list for boolean": ({"active": []}, "r0", "active: expected a boolean, got []"),
    "month 13": ({"day": "2025-13-01"}, "r0", "day: expected a date (YYYY-MM-DD), got '2025-13-01'"),
    "timestamp as object": ({"updated": {"t": 1}}, "r0", "updated: expected a timestamp"),
    "lone surrogate in text": (
        {"name": "Acme \ud800 Inc"},
        "r0",
        "name: text holds '\\ud800', which UTF-8 cannot",
    ),
    "lone surrogate in JSON text": (
        {"attrs": "\udfff"},
        "r0",
        "attrs: expected JSON-serialisable data: text holds",
    ),
    "no key": ({"id": None}, None, "id is required but missing"),
    "empty key": ({"id": ""}, None, "id is required but missing"),
    "no cursor": ({"updated": None}, "r0", "updated is required but missing"),
}


@pytest.mark.parametrize(("change", "key", "message"), POISON.values(), ids=POISON.keys())
def test_a_poison_record_is_refused_naming_field_value_and_key(
    change: dict[str, Any], key: str | None, message: str
) -> None:
    with pytest.raises(RecordError) as error:
        SCHEMA.validate({**GOOD, **change})
    assert message in str(error.value), str(error.value)
    assert error.value.record_key == key


def test_a_batch_with_every_poison_shape_writes_the_rest(tmp_path: Path) -> None:
    """The extract's loop: validate, dead-letter the refused, write the others to Parquet."""
    records = [{**GOOD, "id": f"g{i}"} for i in range(5)]
    records += [
        {**GOOD, **change, **({"id": f"p{i}"} if key else {})}
        for i, (change, key, _) in enumerate(POISON.values())
    ]
    records += [{**GOOD, "id": "edge", "count": 2**63 - 1, "name": "ünïcødé ✓ 𝄞", "amount": "1e308"}]
    sunk: dict[str, bytes] = {}
    refused: list[RecordError] = []
    with PartWriter(SCHEMA, lambda path, name: sunk.update({name: path.read_bytes()}), batch_id="b",
                    extracted_at=datetime.now(UTC), source_prefix="s3://b/p") as writer:  # fmt: skip
        for record in records:
            try:
                writer.write(SCHEMA.validate(record).values)
            except RecordError as error:
                refused.append(error)
        parts = writer.close()
    assert len(refused) == len(POISON)
    assert [p.rows for p in parts] == [6]
    table = pq.read_table(io.BytesIO(sunk["part-00000.parquet"]))
    assert sorted(table.column("id").to_pylist()) == ["edge", "g0", "g1", "g2", "g3", "g4"]


def test_a_stream_whose_declared_types_the_source_contradicts_fails_naming_the_field(
    sandbox: Any, admin: Admin, sandbox_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """End to end: a custom stream declares Stripe customers' `created` (Unix seconds) a boolean. The
    extract's check against the live description refuses the type before any record is read, naming the
    field: no record is dead-lettered and nothing is written."""
    conn = admin.connection(sandbox, "stripe")
    stream = {"source": "customers", "primary_key": ["id"], "fields": {"id": "string", "created": "boolean"}}
    conn["extra"]["streams"] = {"customer_emails": stream}
    monkeypatch.setenv("AIRFLOW_CONN_CHAOS_TYPES", json.dumps(conn))
    bucket = f"poison-{uuid.uuid4().hex[:8]}"
    s3_client(sandbox).create_bucket(Bucket=bucket)
    operator = SaaSToS3Operator(
        task_id="e", conn_id="chaos_types", stream="customer_emails", bucket=bucket, aws_conn_id="sandbox_s3",
        mode="full", dlq_uri=str(tmp_path),
    )  # fmt: skip
    with admin.sized("stripe", "customers", 40), pytest.raises(AirflowFailException, match="created"):
        operator.execute(context())
    assert LocalDLQStore(tmp_path).find(limit=100) == []
    assert s3_client(sandbox).list_objects_v2(Bucket=bucket).get("KeyCount") == 0


# --------------------------------------------------------------------------------------------------
# The sandbox command line: a bad --faults or --sizes is one clear line naming the option, not a
# traceback, and nothing is started.


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        (
            "--faults",
            "{bad json",
            "--faults is not valid JSON (Expecting property name enclosed in double quotes",
        ),
        ("--faults", "[1, 2]", "--faults must be a JSON object, got list"),
        ("--faults", '{"sap": {"rate_429": 0.1}}', "--faults: unknown system 'sap'; known: ['netsuite',"),
        ("--faults", '{"stripe": 0.1}', "--faults: stripe must map to a JSON object, got float"),
        ("--faults", '{"stripe": {"rate_42": 1}}', "--faults: stripe: unknown fault settings ['rate_42']"),
        ("--faults", '{"stripe": {"rate_429": 2}}', "--faults: stripe: rate_429 must be between 0 and 1"),
        ("--sizes", "{'salesforce/Account': 10}", "--sizes is not valid JSON"),
        (
            "--sizes",
            '{"salesforce/Account": -1}',
            "--sizes: 'salesforce/Account' must be a non-negative number",
        ),
    ],
)
def test_the_sandbox_cli_names_a_bad_option_in_one_line(
    option: str, value: str, message: str, tmp_path: Path
) -> None:
    data_dir = tmp_path / "sandbox"
    result = subprocess.run(
        [sys.executable, "-m", "integrations_sandbox", "--data-dir", str(data_dir), "up",
         option, value],
        capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith("python -m integrations_sandbox up: error: ")
    assert message in lines[0], lines[0]
    assert result.stdout == "" and not data_dir.exists(), "nothing was started"
