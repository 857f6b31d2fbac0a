"""Security under fire, on the sandbox: no secret reaches a log, an XCom, the metadata DB or a dead
letter, even in encoded form; names that could inject SQL are refused before any SQL runs; values are
escaped in SOQL, SuiteQL and ServiceNow encoded queries (and in the keys of write URLs); TLS is verified
by every hook unless the server's CA is given."""

from __future__ import annotations

import base64
import json
import logging
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast
from urllib.parse import quote, quote_plus

import pytest
import yaml
from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowFailException
from integrations_sandbox.emulator.systems import (
    netsuite_auth,
    salesforce_auth,
    servicenow_auth,
)
from integrations_sandbox.emulator.systems import stripe as stripe_emulator
from integrations_sandbox.emulator.systems import workday as workday_emulator

from airflow_provider_integrations.connectors.base import WriteOutcome
from airflow_provider_integrations.core.errors import ConfigError
from airflow_provider_integrations.core.records import Manifest, PartFile
from airflow_provider_integrations.core.watermark import Window
from airflow_provider_integrations.dag_config import ingest_dag, reverse_etl_dag
from airflow_provider_integrations.hooks.base import ConnectorHook
from airflow_provider_integrations.hooks.registry import hook_for
from airflow_provider_integrations.operators.freshness import SnowflakeFreshnessCheckOperator
from airflow_provider_integrations.operators.load import S3ToSnowflakeMergeOperator
from airflow_provider_integrations.operators.reverse_etl import SnowflakeToSaaSOperator, default_state_table
from tests.connectors.conftest import Admin
from tests.include_configs import ingest_config
from tests.operators.conftest import s3_client

Query = Callable[[str], list[tuple[Any, ...]]]
ROOT = Path(__file__).resolve().parents[2]
SYSTEMS = ("salesforce", "stripe", "netsuite", "workday", "servicenow")

# --------------------------------------------------------------------------------------------------
# Secrets: every credential of every connection the runs below use. The SaaS ones are the emulator's
# own (it accepts nothing else); S3 (moto) and Snowflake (fakesnow) accept any, so they get ours, with
# characters that URL-encoding changes.

S3_ACCESS_KEY = "AKIACHAOS7781SECRETID"
S3_SECRET_KEY = "s3cr3t-aws-7781/Zq+chaos"
SNOWFLAKE_PASSWORD = "s3cr3t-snowflake-7781+pw/x"
SECRETS = {
    "salesforce password": salesforce_auth.PASSWORD,
    "salesforce security token": salesforce_auth.SECURITY_TOKEN,
    "salesforce client secret": salesforce_auth.CLIENT_SECRET,
    "salesforce refresh token": salesforce_auth.REFRESH_TOKEN,
    "salesforce private key": salesforce_auth.private_key_pem().splitlines()[5],
    "stripe secret key": stripe_emulator.SECRET_KEY,
    "stripe restricted key": stripe_emulator.RESTRICTED_KEY,
    "stripe webhook secret": stripe_emulator.WEBHOOK_SECRET,
    "netsuite consumer secret": netsuite_auth.SANDBOX_CREDENTIALS.consumer_secret,
    "netsuite token secret": netsuite_auth.SANDBOX_CREDENTIALS.token_secret,
    "workday client secret": workday_emulator.CLIENT_SECRET,
    "workday refresh token": workday_emulator.REFRESH_TOKEN,
    "servicenow password": servicenow_auth.PASSWORD,
    "servicenow client secret": servicenow_auth.CLIENT_SECRET,
    "s3 access key": S3_ACCESS_KEY,
    "s3 secret key": S3_SECRET_KEY,
    "snowflake password": SNOWFLAKE_PASSWORD,
}


def encodings(secret: str) -> dict[str, str]:
    """The forms a secret can take in text: raw, URL- and form-encoded, JSON-escaped, and base64 (both
    alphabets) at each of the three byte alignments it can have inside a longer encoded value, such as
    `Basic base64(login:password)`: only the characters fully determined by the secret are kept."""
    forms = {
        "raw": secret,
        "url-encoded": quote(secret, safe=""),
        "form-encoded": quote_plus(secret),
        "json": json.dumps(secret)[1:-1],
    }
    data = secret.encode()
    for shift in range(3):
        for name, encode in (("base64", base64.b64encode), ("base64url", base64.urlsafe_b64encode)):
            text = encode(b"\0" * shift + data).decode()
            forms[f"{name}+{shift}"] = text[(8 * shift + 5) // 6 : 8 * (shift + len(data)) // 6]
    return forms


def leaks(text: str) -> list[str]:
    """Which secrets, in which form, occur in `text`."""
    return sorted(
        f"{name} ({form})"
        for name, secret in SECRETS.items()
        for form, value in encodings(secret).items()
        if value in text
    )


def scan(places: dict[str, str]) -> dict[str, list[str]]:
    """Leaks per place; empty when clean."""
    return {place: found for place, text in places.items() if (found := leaks(text))}


def metadata_db(home: Path) -> str:
    """Every row of every table of the Airflow metadata database (SQLite), as text."""
    with sqlite3.connect(home / "airflow.db") as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        lines = []
        for table in tables:
            for row in db.execute(f'SELECT * FROM "{table}"'):
                cells = [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in row]
                lines.append(f"{table}: {' | '.join(cells)}")
    return "\n".join(lines)


def files_under(root: Path) -> dict[str, str]:
    return {
        str(path): path.read_bytes().decode("utf-8", "replace")
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_the_secrets_are_distinctive_and_the_scan_sees_every_form() -> None:
    assert all(len(secret) >= 12 for secret in SECRETS.values())
    assert len(set(SECRETS.values())) == len(SECRETS)
    basic = base64.b64encode(f"{servicenow_auth.LOGIN}:{servicenow_auth.PASSWORD}".encode()).decode()
    assert {f.split(" (")[0] for f in leaks(f"Authorization: Basic {basic}")} == {"servicenow password"}
    assert "s3 secret key (url-encoded)" in leaks(f"secret={quote(S3_SECRET_KEY, safe='')}&x=1")
    assert leaks("nothing to see: sandbox-sf-passwor, sk_test_51Sandbox") == []


@pytest.fixture
def secret_connections(sandbox: Any) -> dict[str, str]:
    """The sandbox's connections with our S3 and Snowflake secrets (moto and fakesnow take any)."""
    env = sandbox.env()
    s3 = json.loads(env["AIRFLOW_CONN_SANDBOX_S3"])
    snowflake = json.loads(env["AIRFLOW_CONN_SANDBOX_SNOWFLAKE"])
    env["AIRFLOW_CONN_SANDBOX_S3"] = json.dumps({**s3, "login": S3_ACCESS_KEY, "password": S3_SECRET_KEY})
    env["AIRFLOW_CONN_SANDBOX_SNOWFLAKE"] = json.dumps({**snowflake, "password": SNOWFLAKE_PASSWORD})
    return env


def latest_run_xcoms(home: Path, dag_id: str) -> list[tuple[str, str, Any]]:
    with sqlite3.connect(home / "airflow.db") as db:
        (run_id,) = db.execute(
            "SELECT run_id FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", (dag_id,)
        ).fetchone()
        rows = db.execute(
            "SELECT task_id, key, value FROM xcom WHERE dag_id = ? AND run_id = ?", (dag_id, run_id)
        ).fetchall()
    return [(task, key, value) for task, key, value in rows]


def test_an_ingest_dag_run_of_every_system_leaks_no_secret(
    run_ingest: Any, airflow_home: Path, admin: Admin, sandbox: Any, secret_connections: dict[str, str]
) -> None:
    streams = {"salesforce": "Account", "stripe": "customers", "netsuite": "customer",
               "workday": "workers", "servicenow": "incident"}  # fmt: skip
    suffix = uuid.uuid4().hex[:6].upper()
    spec = [
        {"system": system, "stream": stream, "table": f"SEC_{system}_{suffix}".upper(), "mode": "full"}
        for system, stream in streams.items()
    ]
    faults = {"seed": 31, "rate_429": 0.1, "rate_5xx": 0.1, "retry_after": 0.05, "poison_rate": 0.03}
    with ExitStack() as stack:
        for system, stream in streams.items():
            stack.enter_context(admin.sized(system, stream, 200))
            stack.enter_context(admin.faults(system, **faults))
        result = run_ingest(spec, datetime.now(UTC), extra_env=secret_connections)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    logs = result.stdout + result.stderr
    assert "retrying in" in logs, "transient faults were met and logged"
    assert all(f"extracted {system}/{stream}:" in logs for system, stream in streams.items()), "task logs"
    assert "Authorization" not in logs

    dead = files_under(run_ingest.dlq)
    assert len([line for text in dead.values() for line in text.splitlines() if line]) >= 5, (
        "poison records of the five systems were dead-lettered"
    )
    xcoms = latest_run_xcoms(airflow_home, "ingest_test")
    extracts = [v for task, key, v in xcoms if task.endswith(".extract") and key == "return_value"]
    loads = [v for task, key, v in xcoms if task.endswith(".load") and key == "return_value"]
    assert len(extracts) == len(loads) == 5, xcoms
    s3 = s3_client(sandbox)
    listed = s3.list_objects_v2(Bucket=run_ingest.bucket).get("Contents", [])
    manifests = {
        item["Key"]: s3.get_object(Bucket=run_ingest.bucket, Key=item["Key"])["Body"].read().decode()
        for item in listed
        if item["Key"].endswith("manifest.json")
    }
    assert len(manifests) == 5

    def places() -> dict[str, str]:
        return {
            "task logs (stdout, stderr)": logs,
            **{f"log file {p}": t for p, t in files_under(airflow_home / "logs").items()},
            "XComs": json.dumps([list(x) for x in xcoms], default=str),
            "metadata database": metadata_db(airflow_home),
            **{f"DLQ {p}": t for p, t in files_under(run_ingest.dlq).items()},
            **{f"manifest {k}": t for k, t in manifests.items()},
        }

    assert scan(places()) == {}

    # Control: the same scan over the same places finds a secret planted in one of them, encoded.
    planted = base64.b64encode(f"{servicenow_auth.LOGIN}:{servicenow_auth.PASSWORD}".encode()).decode()
    (run_ingest.dlq / "planted.jsonl").write_text(json.dumps({"message": f"Basic {planted}"}) + "\n")
    found = scan(places())
    assert list(found) == [f"DLQ {run_ingest.dlq / 'planted.jsonl'}"]
    assert found[f"DLQ {run_ingest.dlq / 'planted.jsonl'}"][0].startswith("servicenow password (base64")


def test_a_reverse_etl_sync_with_failures_leaks_no_secret(
    sandbox: Any,
    admin: Admin,
    secret_connections: dict[str, str],
    snowflake_query: Query,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    for name, value in secret_connections.items():
        monkeypatch.setenv(name, value)
    table = f"SEC_SCORES_{uuid.uuid4().hex[:6]}".upper()
    snowflake_query(f'CREATE TABLE "{table}" (ACCOUNT_KEY VARCHAR, ACCOUNT_NAME VARCHAR, SCORE NUMBER(12,2))')
    snowflake_query(
        f"INSERT INTO \"{table}\" SELECT '{table[-6:].lower()}-' || LPAD(TO_VARCHAR(i), 5, '0'), "
        "'Account ' || i, i * 1.5 FROM (SELECT SEQ4() AS i FROM TABLE(GENERATOR(ROWCOUNT => 300)))"
    )
    caplog.set_level(logging.DEBUG)
    operator = SnowflakeToSaaSOperator(
        task_id="sync",
        model=table,
        key="ACCOUNT_KEY",
        mapping={"ACCOUNT_NAME": "Name", "SCORE": "AnnualRevenue"},
        external_id="External_Id__c",
        id_field="Id",
        conn_id="sandbox_salesforce",
        target="Account",
        snowflake_conn_id="sandbox_snowflake",
        dlq_uri=str(tmp_path / "dlq"),
        batch_size=100,
        transient_retries=8,
        retry_backoff=0.01,
    )
    ti = SimpleNamespace(dag_id="chaos_security", task_id="sync", try_number=1)
    try:
        with admin.faults("salesforce", seed=13, write_transient_rate=0.1, write_permanent_rate=0.05):
            summary = operator.execute(cast(Context, {"ti": ti, "run_id": "manual__secrets"}))
        assert summary["failed_permanently"] > 0 and summary["retried"] > 0, json.dumps(summary)
        state = snowflake_query(
            f'SELECT * FROM "{default_state_table(table, "sandbox_salesforce", "Account")}"'
        )
        assert any("dead_letter" in map(str, row) for row in state)
        captured = capfd.readouterr()
        places = {
            "logs (DEBUG)": caplog.text,
            "stdout": captured.out,
            "stderr": captured.err,
            "returned summary (XCom)": json.dumps(summary, default=str),
            "sync state table": "\n".join(map(str, state)),
            **{f"DLQ {p}": t for p, t in files_under(tmp_path / "dlq").items()},
        }
        assert len([p for p in places if p.startswith("DLQ")]) >= 1
        assert scan(places) == {}

        logging.getLogger("chaos.control").warning("token=%s", quote(SNOWFLAKE_PASSWORD, safe=""))
        assert "snowflake password (url-encoded)" in scan({"logs": caplog.text})["logs"]
    finally:
        snowflake_query(f'DROP TABLE IF EXISTS "{table}"')


# --------------------------------------------------------------------------------------------------
# Identifiers: names that could inject SQL are refused, naming the name, before any SQL runs. The
# Snowflake connection of the operators below points at a closed port: had anything tried to reach
# Snowflake first, the error would be a connection error instead.

BAD_NAMES = [
    'x"; DROP TABLE t; --',
    "a.b.c.d",
    "",
    "T" * 256,
    "t`; DROP TABLE t",
    "t;",
    "t' OR '1'='1",
    "T\nDROP",
    "T\n",
    ".T",
    "T.",
    "t -- comment",
]
NAME_IDS = [repr(n)[:24] for n in BAD_NAMES]


@pytest.fixture
def nowhere_snowflake(sandbox_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> str:
    """A Snowflake connection to a port nothing listens on."""
    conn = json.loads(sandbox_env["AIRFLOW_CONN_SANDBOX_SNOWFLAKE"])
    monkeypatch.setenv("AIRFLOW_CONN_NOWHERE_SNOWFLAKE", json.dumps({**conn, "port": 9}))
    return "nowhere_snowflake"


def refused(name: str, error: BaseException) -> None:
    message = str(error)
    assert f"{name!r} is not a valid SQL name" in message, message
    assert "ConnectionError" not in message and "OperationalError" not in message


@pytest.fixture(scope="module")
def manifest_uri(sandbox: Any) -> str:
    """A manifest on the sandbox S3 (its part needs not exist: the load must stop before the COPY)."""
    bucket = f"names-{uuid.uuid4().hex[:8]}"
    s3 = s3_client(sandbox)
    s3.create_bucket(Bucket=bucket)
    manifest = Manifest(
        system="stripe",
        stream="customers",
        batch_id="b1",
        window_start=None,
        window_end=None,
        schema={"id": "string"},
        primary_key=["id"],
        cursor=None,
        files=[PartFile(f"s3://{bucket}/raw/part-00000.parquet", 1, 10, "0" * 64)],
    )
    s3.put_object(Bucket=bucket, Key="raw/manifest.json", Body=manifest.to_json().encode())
    return f"s3://{bucket}/raw/manifest.json"


def context() -> Context:
    ti = SimpleNamespace(dag_id="chaos_names", task_id="t", try_number=1)
    return cast(Context, {"ti": ti, "run_id": "manual__names"})


@pytest.mark.parametrize(
    ("argument", "name"),
    [
        (argument, name)
        for argument in ("target_table", "staging_table", "stage")
        for name in BAD_NAMES
        if not (argument != "target_table" and name == "")  # empty: the default staging table or stage
    ],
    ids=lambda value: repr(value)[:24],
)
def test_load_operator_refuses_bad_names_before_touching_snowflake(
    name: str, argument: str, manifest_uri: str, nowhere_snowflake: str
) -> None:
    names = {"target_table": "T_OK", argument: name}
    operator = S3ToSnowflakeMergeOperator(
        task_id="load",
        manifest_uri=manifest_uri,
        snowflake_conn_id=nowhere_snowflake,
        aws_conn_id="sandbox_s3",
        **names,
    )
    with pytest.raises(AirflowFailException) as error:
        operator.execute(context())
    refused(name, error.value)


@pytest.mark.parametrize("name", BAD_NAMES, ids=NAME_IDS)
@pytest.mark.parametrize("argument", ["table", "column"])
def test_freshness_check_refuses_bad_names_before_touching_snowflake(
    name: str, argument: str, nowhere_snowflake: str
) -> None:
    names = {"table": "T_OK", argument: name}
    operator = SnowflakeFreshnessCheckOperator(
        task_id="fresh", sla=timedelta(hours=1), snowflake_conn_id=nowhere_snowflake, **names
    )
    with pytest.raises(AirflowFailException) as error:
        operator.execute(context())
    refused(name, error.value)


@pytest.mark.parametrize(
    ("argument", "name"),
    [
        (argument, name)
        for argument in ("model", "key", "mapping", "state_table")
        for name in BAD_NAMES
        if not (argument == "state_table" and name == "")  # empty: the default state table
    ],
    ids=lambda value: repr(value)[:24],
)
def test_reverse_etl_refuses_bad_names_when_the_dag_is_parsed(name: str, argument: str) -> None:
    options: dict[str, Any] = {
        "task_id": "sync",
        "model": "SCORES",
        "key": "ACCOUNT_KEY",
        "mapping": {"SCORE": "AnnualRevenue"},
        "external_id": "External_Id__c",
        "conn_id": "nowhere",
        "target": "Account",
    }
    options[argument] = {name: "AnnualRevenue"} if argument == "mapping" else name
    with pytest.raises(ConfigError) as error:
        SnowflakeToSaaSOperator(**options)
    refused(name, error.value)


@pytest.mark.parametrize("argument", ["model", "state_table"])
def test_reverse_etl_checks_templated_names_before_any_connection(
    argument: str, nowhere_snowflake: str
) -> None:
    """A templated name is checked when the task runs: before the SaaS or Snowflake is reached."""
    operator = SnowflakeToSaaSOperator(
        task_id="sync",
        model="{{ params.model }}",
        key="ACCOUNT_KEY",
        mapping={"SCORE": "AnnualRevenue"},
        external_id="External_Id__c",
        conn_id="no_such_connection",
        target="Account",
        snowflake_conn_id=nowhere_snowflake,
        state_table="{{ params.state }}",
    )
    bad = 'x"; DROP TABLE t; --'
    operator.model = bad if argument == "model" else "SCORES"
    operator.state_table = bad if argument == "state_table" else "SYNC_STATE"
    with pytest.raises(AirflowFailException) as error:
        operator.execute(context())
    refused(bad, error.value)


@pytest.mark.parametrize("name", BAD_NAMES, ids=NAME_IDS)
@pytest.mark.parametrize("where", ["ingest table", "schedule_on_tables", "sync mapping", "sync key"])
def test_yaml_dag_configs_refuse_bad_names_at_parse_time(name: str, where: str, tmp_path: Path) -> None:
    path = tmp_path / "dag.yaml"
    if where == "ingest table":
        config = ingest_config("stripe")
        config["streams"] = [{"stream": "customers", "table": name}]
        build: Callable[[Path], Any] = ingest_dag
    else:
        config = yaml.safe_load((ROOT / "include" / "reverse_etl" / "account_scores.yaml").read_text())
        sync = config["syncs"][0]
        if where == "schedule_on_tables":
            config["schedule_on_tables"] = [name]
        elif where == "sync mapping":
            sync["mapping"] = {name: "Health_Score__c"}
        else:
            sync["key"] = name
        build = reverse_etl_dag
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError) as error:
        build(path)
    refused(name, error.value)
    assert str(path) in str(error.value)


@pytest.mark.parametrize("name", BAD_NAMES[:8], ids=NAME_IDS[:8])
def test_custom_stream_field_names_from_a_connection_are_refused(
    name: str, sandbox_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = json.loads(sandbox_env["AIRFLOW_CONN_SANDBOX_STRIPE"])
    streams = {
        "custom": {"source": "customers", "primary_key": ["id"], "fields": {"id": "string", name: "string"}}
    }
    conn["extra"] = {**conn["extra"], "streams": json.dumps(streams)}
    monkeypatch.setenv("AIRFLOW_CONN_CHAOS_FIELDS", json.dumps(conn))
    hook = hook_for("chaos_fields")
    with pytest.raises(ConfigError) as error:
        hook.get_conn()
    refused(name, error.value)
    assert "chaos_fields" in str(error.value)


# --------------------------------------------------------------------------------------------------
# Values in queries: a payload neither breaks a query nor widens it. Each test also sends the payload
# the way a connector that did not escape would, to show the emulator would have widened the result.


@pytest.fixture
def salesforce(sandbox_env: dict[str, str], admin: Admin) -> Iterator[Any]:
    streams = {
        "AccountByExternalId": {
            "source": "Account",
            "primary_key": ["External_Id__c"],
            "cursor": ["SystemModstamp", "External_Id__c"],
            "fields": {
                "Id": "string",
                "Name": "string",
                "External_Id__c": "string",
                "SystemModstamp": "timestamp",
            },
        }
    }
    hook = type(hook_for("sandbox_salesforce"))("sandbox_salesforce", streams=streams)
    with admin.restored("salesforce", "Account"):
        yield hook.get_conn()
        hook.close()


FAR = "2999-01-01T00:00:00Z"
SOQL_PAYLOADS = [
    "x' OR Name != '",
    "x\\' OR Name != '",
    "x\\\\' OR Name != \\'",
    "x'\nOR Name != '",
    "x'); DELETE FROM Account; --",
    "x') OR (Name != '",
]


@pytest.mark.parametrize("payload", SOQL_PAYLOADS)
def test_soql_values_stay_literals(payload: str, salesforce: Any) -> None:
    """The keyset resume of a read (`after` the last key) puts a record's key into SOQL."""
    soql = salesforce.soql(salesforce.stream("AccountByExternalId"), None, after=(FAR, payload))
    assert salesforce.client.get_json(f"{salesforce.api}/query", params={"q": soql})["totalSize"] == 0, soql


def test_unescaped_the_soql_payload_would_read_everything(salesforce: Any) -> None:
    soql = salesforce.soql(salesforce.stream("AccountByExternalId"), None, after=(FAR, "PAYLOAD"))
    unescaped = soql.replace("PAYLOAD", "x') OR (Name != '")
    widened = salesforce.client.get_json(f"{salesforce.api}/query", params={"q": unescaped})
    assert widened["totalSize"] > 0, unescaped


def test_a_salesforce_lookup_by_an_injected_external_id_finds_nothing(salesforce: Any) -> None:
    key = f"chaos-{uuid.uuid4().hex[:8]}"
    (written,) = salesforce.write(
        "Account", "upsert", [{"External_Id__c": key, "Name": "Chaos"}], "External_Id__c"
    )
    assert written.outcome is WriteOutcome.SUCCESS
    assert salesforce.lookup("Account", "External_Id__c", [key], ["Name"])[key]["Name"] == "Chaos"
    payloads = [f"{key}' OR Name != '", "x' OR Name != '", f"{key}?fields=Id", f"{key}#", "*", "%", "_"]
    assert salesforce.lookup("Account", "External_Id__c", payloads, ["Name"]) == {}


def netsuite_hook(record_type: str) -> ConnectorHook:
    from airflow_provider_integrations.connectors.base import load_catalog
    from airflow_provider_integrations.hooks.netsuite import NetSuiteHook

    catalog = yaml.safe_load(
        (ROOT / "airflow_provider_integrations" / "connectors" / "catalogs" / "netsuite.yaml").read_text()
    )["streams"]
    assert "customer" in load_catalog("netsuite.yaml")
    return NetSuiteHook(
        "sandbox_netsuite",
        streams={"probe": {**catalog["customer"], "options": {"record_type": record_type}}},
    )


SUITEQL_PAYLOADS = [
    "customer' OR recordtype != '",
    "customer'' OR ''x''=''x",
    "customer\\' OR 1=1 --",
    "customer'); DELETE FROM customer; --",
]


@pytest.fixture
def deletions(sandbox_env: dict[str, str], admin: Admin) -> Iterator[Window]:
    """Two customers and two transactions deleted inside the returned window."""
    with admin.restored("netsuite", "customer"), admin.restored("netsuite", "transaction"):
        start = datetime.now(UTC) - timedelta(seconds=2)
        admin.mutate("netsuite", "customer", delete=2)
        admin.mutate("netsuite", "transaction", delete=2)
        yield Window(start, datetime.now(UTC) + timedelta(seconds=2))


def deleted_in(record_type: str, window: Window) -> list[dict[str, Any]]:
    hook = netsuite_hook(record_type)
    try:
        return [r for r in hook.get_conn().read("probe", window) if r.get("_deleted")]
    finally:
        hook.close()


@pytest.mark.parametrize("payload", SUITEQL_PAYLOADS)
def test_suiteql_values_stay_literals(payload: str, deletions: Window) -> None:
    """The `deletedrecord` read puts the stream's record type into SuiteQL as a text literal."""
    assert len(deleted_in("customer", deletions)) == 2
    assert deleted_in(payload, deletions) == []


def test_unescaped_the_suiteql_payload_would_read_every_type(deletions: Window) -> None:
    """The query `_deleted` builds, with the payload pasted in as a connector that did not escape would."""
    hook = netsuite_hook("customer")
    client = hook.get_conn().client
    start, end = (
        f"TO_TIMESTAMP('{w.astimezone(UTC):%Y-%m-%d %H:%M:%S}', 'YYYY-MM-DD HH24:MI:SS')"
        for w in (deletions.start, deletions.end)
    )
    sql = (
        "SELECT recordid, deleteddate FROM deletedrecord WHERE recordtype = 'customer' OR recordtype != '' "
        f"AND deleteddate >= {start} AND deleteddate < {end} ORDER BY deleteddate, recordid"
    )
    body = client.request(
        "POST",
        "/services/rest/query/v1/suiteql",
        params={"limit": 1000, "offset": 0},
        json={"q": sql},
        headers={"Prefer": "transient"},
        idempotent=True,
    ).json()
    hook.close()
    assert body["totalResults"] >= 4


def test_netsuite_and_stripe_write_keys_cannot_redirect_a_write(
    sandbox_env: dict[str, str], admin: Admin
) -> None:
    """The external id goes into the record URL: `?`, `#`, `/`, `%` and quotes must not change which
    record is written (unescaped, `k?x=1` and `k#1` both upserted record `k`)."""
    base = f"chaos-{uuid.uuid4().hex[:6]}"
    keys = [f"{base}?x=1", f"{base}#1", f"{base} it's", f"{base}%41", f"{base}&a=b"]
    hook = hook_for("sandbox_netsuite")
    results = list(
        hook.get_conn().write(
            "customer", "upsert", [{"externalid": k, "companyname": "Chaos"} for k in keys], "externalid"
        )
    )
    hook.close()
    assert [(r.key, r.outcome) for r in results] == [(k, WriteOutcome.SUCCESS) for k in keys]
    written = admin.written("netsuite", "customer")
    assert base not in written, "no write landed on the record the key starts with"
    assert all(written[k]["externalid"] == k for k in keys)
    assert len({written[k]["id"] for k in keys}) == len(keys)

    hook = hook_for("sandbox_stripe")
    connector = hook.get_conn()
    customer = str(next(iter(connector.read("customers")))["id"])
    before = admin.written("stripe", "customers").get(customer)
    probes = [f"{customer}?metadata[hacked]=1", f"{customer}#x", f"{customer}/../{customer}"]
    results = list(
        connector.write("customers", "update", [{"id": k, "metadata": {"hacked": "1"}} for k in probes], "id")
    )
    hook.close()
    assert all(r.outcome is WriteOutcome.PERMANENT for r in results), results
    assert admin.written("stripe", "customers").get(customer) == before, "the real customer is untouched"


def servicenow_read(filters: dict[str, Any]) -> list[dict[str, Any]]:
    from airflow_provider_integrations.hooks.servicenow import ServiceNowHook

    catalog = yaml.safe_load(
        (ROOT / "airflow_provider_integrations" / "connectors" / "catalogs" / "servicenow.yaml").read_text()
    )["streams"]
    hook = ServiceNowHook(
        "sandbox_servicenow", streams={"probe": {**catalog["incident"], "options": {"filters": filters}}}
    )
    try:
        return list(hook.get_conn().read("probe"))
    finally:
        hook.close()


@pytest.fixture
def incidents(sandbox_env: dict[str, str], admin: Admin) -> Iterator[int]:
    with admin.sized("servicenow", "incident", 300):
        yield 300


@pytest.mark.parametrize(
    "value",
    ["x' OR 1=1", "software\\", 'so"ftware', "software OR category!=software", "software)--", "%", "*"],
)
def test_servicenow_filter_values_match_literally(value: str, incidents: int) -> None:
    assert servicenow_read({"category": value}) == []


def test_servicenow_filters_that_match_return_a_subset(incidents: int) -> None:
    software = servicenow_read({"category": "software"})
    assert 0 < len(software) < incidents
    assert {r["category"] for r in software} == {"software"}


@pytest.mark.parametrize(
    "value",
    [
        "software^ORcategory!=software",
        "software^NQcategory!=software",
        "software\ncategory!=software",
        "software\r",
        "javascript:gs.getUserID()",
        "  JavaScript:new GlideRecord('sys_user')",
    ],
)
def test_servicenow_values_that_would_change_the_query_are_refused_before_any_call(
    value: str, incidents: int, admin: Admin
) -> None:
    before = admin.counters()["requests"].get("servicenow", 0)
    with pytest.raises(ConfigError) as error:
        servicenow_read({"category": value})
    assert "servicenow encoded query value" in str(error.value) and "refused" in str(error.value)
    assert admin.counters()["requests"].get("servicenow", 0) == before


# --------------------------------------------------------------------------------------------------
# TLS: every hook verifies certificates. Without the sandbox's CA a connection fails on the
# certificate, before any request (so before any credential) reaches the server; extras that look like
# switches to turn verification off change nothing; with the CA it works.


@pytest.mark.parametrize("system", SYSTEMS)
def test_every_hook_verifies_tls_by_default(
    system: str, sandbox: Any, admin: Admin, sandbox_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(variable, raising=False)
    conn = admin.connection(sandbox, system)
    untrusted = {**conn, "extra": {k: v for k, v in conn["extra"].items() if k != "ca_bundle"}}
    switches = {
        "verify": False,
        "verify_ssl": False,
        "verify_tls": False,
        "insecure": True,
        "ssl_verify": "false",
    }
    sloppy = {**untrusted, "extra": {**untrusted["extra"], **switches}}
    for name, connection in (("untrusted", untrusted), ("sloppy", sloppy)):
        monkeypatch.setenv(f"AIRFLOW_CONN_CHAOS_TLS_{name.upper()}", json.dumps(connection))
        before = admin.counters()["requests"].get(system, 0)
        hook = hook_for(f"chaos_tls_{name}")
        ok, message = hook.test_connection()
        hook.close()
        assert not ok, name
        assert "ConfigError" in message and "TLS verification of https://127.0.0.1:" in message, message
        assert "CERTIFICATE_VERIFY_FAILED" in message and "ca_bundle" in message, message
        assert admin.counters()["requests"].get(system, 0) == before, "nothing reached the server"
        assert leaks(message) == []
    trusted = hook_for(f"sandbox_{system}")
    ok, message = trusted.test_connection()
    trusted.close()
    assert ok, message
