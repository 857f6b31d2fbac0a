"""`make demo`: the DAG package end to end on the sandbox, with faults on.

0. A fresh start, whatever an earlier demo left: a sandbox still running under `.sandbox/` (a killed
   demo's keeps running, in its own session) is stopped, and the Airflow database, the Snowflake
   database and the DLQ it used are removed, so no run, row or change of an earlier demo is reused.
1. The sandbox (S3, Snowflake, the five SaaS APIs) comes up under `.sandbox/` with 429s, 5xx answers and
   1% poison records on every system.
2. Each system's catalog is discovered from its own metadata (`catalog discover`, into
   `.sandbox/catalogs/`) and compared with the catalog the ingest DAGs read (`include/catalogs/`,
   committed from the same command): streams and fields per system are printed.
3. Every ingest DAG (dags/ingest_*.py) runs: a full load first; then the sources change records
   (updates, inserts, and deletes where the system reports them, at one shared timestamp) and every
   ingest DAG runs again, incrementally. Runs are dated as a scheduler dates them: each at the moment
   it starts, never ahead of the clock. (Deletes in systems without a delete feed, such as Workday,
   reach Snowflake with the next full load.) Before the second round an admin adds a custom field to
   Salesforce Account: the second round extracts it, adds its column and records the change in
   `_INTEGRATIONS_SCHEMA_CHANGES`.
4. The reverse-ETL DAG (health scores -> Salesforce Account) runs twice: the second run sends nothing.
5. A summary table: rows per Snowflake table against what the source holds minus its poison records,
   duplicates, the changes the second round read, reverse-ETL outcomes, DLQ entries by reason. Exit 0
   only if nothing was lost or duplicated and the second round read every change.

Ports: `--s3-port`, `--snowflake-port`, `--saas-port` (0 picks free ones); `make demo PORTS="..."`.
The sandbox's Snowflake database and the DLQ stay under `.sandbox/` (for `make ui`); the summary goes
to `.sandbox/demo-report.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SANDBOX = Path(".sandbox").resolve()
STATE = ("airflow", "snowflake", "dlq", "sandbox.env", "demo-report.json")
"""What a demo leaves under .sandbox/ and the next one starts without (tls/ and logs/ are kept)."""

FAULTS = {"seed": 7, "rate_429": 0.03, "rate_5xx": 0.03, "retry_after": 0.05, "poison_rate": 0.01}
SIZES = {"salesforce": 400, "netsuite": 300, "stripe": 300, "workday": 200, "servicenow": 300}
SYSTEMS = tuple(SIZES)
CHANGES = {"update": 6, "insert": 3, "same_timestamp": True}
NEW_FIELD = {"action": "add_field", "object": "Account", "field": "Demo_Tier__c", "type": "string"}
"""The custom field an admin adds to Salesforce Account between the two rounds."""


def main(argv: list[str] | None = None) -> int:
    from integrations_sandbox import runner

    parser = argparse.ArgumentParser(prog="make demo", description=__doc__.split("\n\n")[0])
    runner.add_port_options(parser)
    args = parser.parse_args(argv)
    ports = runner.chosen_ports(args)

    phase("a fresh start")
    fresh_start()
    os.environ.update(
        {
            "AIRFLOW_HOME": str(SANDBOX / "airflow"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW_INTEGRATIONS_DLQ": str(SANDBOX / "dlq"),
        }
    )
    try:
        info = runner.up(SANDBOX, ports=ports, sizes=SIZES, faults={system: FAULTS for system in SYSTEMS})
    except (runner.PortBusyError, ValueError) as error:
        print(f"make demo: error: {error}", file=sys.stderr)
        return 2
    os.environ.update(info.env())
    try:
        report = run_demo(info)
    finally:
        runner.down(SANDBOX)
    (SANDBOX / "demo-report.json").write_text(json.dumps(report, indent=2, default=str))
    print_report(report)
    return 0 if report["ok"] else 1


def phase(name: str) -> None:
    """A progress line; also what the interruption test watches for."""
    print(f"== demo: {name}", flush=True)


def fresh_start() -> None:
    """Stop a sandbox an interrupted demo left running and remove the state it left: never reuse it."""
    from integrations_sandbox import runner

    if runner.down(SANDBOX):
        print(f"  stopped the sandbox an earlier demo left running under {SANDBOX}", flush=True)
    for name in STATE:
        path = SANDBOX / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def run_demo(info: Any) -> dict[str, Any]:
    import boto3
    import httpx
    import snowflake.connector
    import yaml
    from integrations_sandbox import stores

    from airflow_provider_integrations.connectors.base import load_catalog

    admin = httpx.Client(base_url=info.admin_url, verify=info.ca_bundle, timeout=60)
    s3 = boto3.client(
        "s3",
        endpoint_url=info.s3_url,
        region_name=stores.S3_REGION,
        aws_access_key_id=stores.S3_ACCESS_KEY,
        aws_secret_access_key=stores.S3_SECRET_KEY,
    )
    ingest = [yaml.safe_load((ROOT / "include" / "ingest" / f"{s}.yaml").read_text()) for s in SYSTEMS]
    for bucket in {str(config["bucket"]) for config in ingest}:
        s3.create_bucket(Bucket=bucket)
    migrate()

    phase("discover every system's catalog")
    catalogs = discover(ingest)
    phase("round 1: every ingest DAG, a full load")
    runs = [run_dag(f"ingest_{system}") for system in SYSTEMS]
    phase("the sources change records")
    before = source_snapshot(ingest)
    for config in ingest:
        catalog = load_catalog(f"{config['system']}.yaml")
        for stream in config["streams"]:
            deletes = 2 if catalog[stream["stream"]].deletes else 0
            path = f"/datasets/{config['system']}/{stream['stream']}/mutate"
            admin.post(path, json={**CHANGES, "delete": deletes}).raise_for_status()
    admin.post("/schema/salesforce", json=NEW_FIELD).raise_for_status()
    print(f"  added the custom field Account.{NEW_FIELD['field']} in Salesforce", flush=True)
    phase("round 2: every ingest DAG again, incrementally")
    second_round = [run_dag(f"ingest_{system}") for system in SYSTEMS]
    runs += second_round
    phase("reverse ETL: scores -> Salesforce Account, twice")
    runs += [run_dag("reverse_etl_account_scores")]
    runs += [run_dag("reverse_etl_account_scores")]
    phase("summary")
    conn = snowflake.connector.connect(**info.snowflake_kwargs())
    try:
        report = summarize(ingest, conn, runs, before, second_round, s3)
        report["catalogs"] = catalogs
        report["new_field"] = new_field_landed(conn)
        report["ok"] = (
            report["ok"]
            and all(c["discovered"] and c["matches_committed"] for c in catalogs.values())
            and report["new_field"]["rows_with_values"] > 0
            and report["new_field"]["change_rows"] == 1
        )
        return report
    finally:
        conn.close()


def discover(ingest: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """`catalog discover` for each system into .sandbox/catalogs/, then `catalog diff` of the live
    system against the committed catalog its ingest DAG reads."""
    found = {}
    for config in ingest:
        system, conn_id = config["system"], config["connections"]["source"]
        output = SANDBOX / "catalogs" / f"{system}.yaml"
        discovered = catalog_command(
            "discover", "--conn-id", conn_id, "-o", str(output), "--skip-inaccessible"
        )
        committed = (ROOT / "include" / "ingest" / config["catalog"]).resolve()
        compared = catalog_command("diff", "--conn-id", conn_id, str(committed), "--skip-inaccessible")
        print(f"  {discovered[1].splitlines()[-1] if discovered[1] else system}", flush=True)
        found[system] = {
            "discovered": discovered[0] == 0,
            "matches_committed": compared[0] == 0,
            "summary": discovered[1],
            "diff": compared[1],
        }
        if compared[0] != 0:
            print(f"  {system}: the live system differs from {committed.name}:\n{compared[1]}", flush=True)
    return found


def catalog_command(*args: str) -> tuple[int, str]:
    """`python -m airflow_provider_integrations catalog <args>`, in this process: its exit code and output."""
    import contextlib
    import io

    from airflow_provider_integrations.cli import main as cli

    output = io.StringIO()
    with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
        code = cli(["catalog", *args])
    return code, output.getvalue().strip()


def new_field_landed(conn: Any) -> dict[str, Any]:
    """The custom field added between the rounds: its column's values and its schema-change row."""
    column = NEW_FIELD["field"].upper()
    cursor = conn.cursor()
    values = cursor.execute(f'SELECT COUNT("{column}") FROM "SALESFORCE_ACCOUNT"').fetchone()[0]  # noqa: S608
    changes = cursor.execute(
        'SELECT COUNT(*) FROM "_INTEGRATIONS_SCHEMA_CHANGES" WHERE "TARGET_TABLE" = %s AND "FIELD" = %s',
        ("SALESFORCE_ACCOUNT", NEW_FIELD["field"]),
    ).fetchone()[0]
    return {"field": f"Account.{NEW_FIELD['field']}", "rows_with_values": values, "change_rows": changes}


def migrate() -> None:
    airflow = Path(sys.executable).parent / "airflow"
    subprocess.run([str(airflow), "db", "migrate"], check=True, capture_output=True, timeout=600)  # noqa: S603


def run_dag(dag_id: str) -> dict[str, Any]:
    """One DAG run in this process, dated as the scheduler dates a run: at the moment it starts.

    `dag.test()` records the logical date as the run's start, so a date ahead of the clock would be a
    start in the future, which no scheduler makes."""
    import runpy

    path = next(p for p in (ROOT / "dags").glob("*.py") if dag_id.removeprefix("ingest_") in p.stem)
    dag = runpy.run_path(str(path))["dag"]
    started = time.monotonic()
    now = datetime.now(UTC)
    run = dag.test(logical_date=now, run_after=now)
    tasks = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    print(
        f"  {dag_id:32} {run.state:8} {len(tasks)} tasks in {time.monotonic() - started:5.1f} s", flush=True
    )
    return {"dag_id": dag_id, "state": str(run.state), "tasks": tasks, "results": results(dag_id, run.run_id)}


def results(dag_id: str, run_id: str) -> dict[str, Any]:
    """What each task of a run returned (its XCom)."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(
            select(XComModel).where(
                XComModel.dag_id == dag_id, XComModel.run_id == run_id, XComModel.key == "return_value"
            )
        ).all()
        return {row.task_id: XComModel.deserialize_value(row) for row in rows}


def source_snapshot(ingest: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every record each source serves now (deleted ones too), by table and key."""
    from airflow_provider_integrations.hooks.registry import hook_for

    snapshot = {}
    for config in ingest:
        hook = hook_for(config["connections"]["source"])
        connector = hook.get_conn()
        for item in config["streams"]:
            stream = connector.stream(item["stream"])
            key = stream.primary_key[0]
            snapshot[item["table"]] = {str(r[key]): r for r in connector.read(stream.name)}
        hook.close()
    return snapshot


def round_two_reads(s3: Any, second_round: list[dict[str, Any]]) -> dict[tuple[str, str], set[str]]:
    """The keys each stream's second-round extract read: written to its Parquet parts or refused to the
    DLQ (its manifest's rejected keys), by (system, stream)."""
    import io

    import pyarrow.parquet as pq

    from airflow_provider_integrations.core.records import Manifest

    read: dict[tuple[str, str], set[str]] = {}
    for run in second_round:
        for task_id, uri in run["results"].items():
            if not task_id.endswith(".extract"):
                continue
            manifest = Manifest.from_json(s3_object(s3, str(uri)))
            keys = set(manifest.rejected_keys)
            for part in manifest.files:
                body = s3_object(s3, part.key)
                column = pq.read_table(io.BytesIO(body), columns=[manifest.primary_key[0]]).column(0)
                keys.update(str(value) for value in column.to_pylist())
            read[(manifest.system, manifest.stream)] = keys
    return read


def s3_object(s3: Any, uri: str) -> bytes:
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def summarize(
    ingest: list[dict[str, Any]],
    conn: Any,
    runs: list[dict[str, Any]],
    before: dict[str, dict[str, Any]],
    second_round: list[dict[str, Any]],
    s3: Any,
) -> dict[str, Any]:
    from airflow_provider_integrations.core.dlq import LocalDLQStore
    from airflow_provider_integrations.hooks.registry import hook_for

    dead = LocalDLQStore(SANDBOX / "dlq").find(limit=100_000)
    after = source_snapshot(ingest)
    read = round_two_reads(s3, second_round)
    tables = []
    for config in ingest:
        connector = hook_for(config["connections"]["source"]).get_conn()
        for item in config["streams"]:
            stream = connector.stream(item["stream"])
            key = stream.primary_key[0]
            now, then = after[item["table"]], before[item["table"]]
            live = {k for k, r in now.items() if not (r.get("_deleted") or r.get("IsDeleted"))}
            changed = {k for k in set(now) | set(then) if now.get(k) != then.get(k)}
            poison = {
                str(e.record_key) for e in dead if (e.system, e.stream) == (config["system"], stream.name)
            }
            rows = (
                conn.cursor()
                .execute(
                    f'SELECT "{key.upper()}", COALESCE("_DELETED", FALSE) FROM "{item["table"]}"'  # noqa: S608
                )
                .fetchall()
            )
            keys = Counter(str(r[0]) for r in rows if not r[1])
            expected = live - poison
            second = read.get((config["system"], stream.name), set())
            tables.append(
                {
                    "table": item["table"],
                    "source_live": len(live),
                    "poison_in_dlq": len(poison & live),
                    "expected": len(expected),
                    "landed": len(keys),
                    "missing": len(expected - set(keys)),
                    "unexpected": len(set(keys) - expected),
                    "duplicated": sum(n - 1 for n in keys.values() if n > 1),
                    "changed": len(changed),
                    "read_in_round_2": len(second),
                    "changes_not_read": len(changed - second) if stream.incremental else 0,
                }
            )
    reverse = reverse_etl_outcomes(conn, runs)
    reasons = Counter(f"{e.operation}: {e.error_class}" for e in dead)
    ok = (
        all(r["state"] == "success" for r in runs)
        and all(t["missing"] == 0 and t["unexpected"] == 0 and t["duplicated"] == 0 for t in tables)
        and all(t["changed"] > 0 and t["changes_not_read"] == 0 for t in tables)
        and reverse["model_rows"] == reverse["delivered"] + reverse["dead_lettered"] + reverse["pending"]
        and reverse["second_run_sent"] == 0
    )
    return {"ok": ok, "runs": runs, "tables": tables, "reverse_etl": reverse, "dlq": dict(reasons)}


def reverse_etl_outcomes(conn: Any, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Every model row accounted for: delivered, parked in the DLQ or pending; the second run sent nothing."""
    import yaml

    from airflow_provider_integrations.core.sql.sync_state import model_count
    from airflow_provider_integrations.operators.reverse_etl import default_state_table

    config = yaml.safe_load((ROOT / "include" / "reverse_etl" / "account_scores.yaml").read_text())
    sync = config["syncs"][0]
    state = default_state_table(sync["model"], sync["conn_id"], sync["target"])
    statuses = dict(
        conn.cursor().execute(f'SELECT LAST_STATUS, COUNT(*) FROM "{state}" GROUP BY 1').fetchall()  # noqa: S608
    )
    return {
        "model_rows": conn.cursor().execute(model_count(sync["model"])).fetchone()[0],
        "delivered": statuses.get("success", 0),
        "dead_lettered": statuses.get("dead_letter", 0),
        "pending": statuses.get("pending", 0),
        "first_run": runs[-2]["results"].get(sync["task_id"]),
        "second_run_sent": (runs[-1]["results"].get(sync["task_id"]) or {}).get("sent"),
    }


def print_report(report: dict[str, Any]) -> None:
    print(
        f"\n{'table':28} {'source':>7} {'poison':>7} {'landed':>7} {'missing':>8} {'extra':>6} {'dupes':>6}"
        f" {'changed':>8} {'read 2nd':>9} {'unread':>7}"
    )
    for t in report["tables"]:
        print(
            f"{t['table']:28} {t['source_live']:7} {t['poison_in_dlq']:7} {t['landed']:7} {t['missing']:8} "
            f"{t['unexpected']:6} {t['duplicated']:6} {t['changed']:8} {t['read_in_round_2']:9} "
            f"{t['changes_not_read']:7}"
        )
    reverse = report["reverse_etl"]
    print(
        f"\nreverse ETL (scores -> Salesforce Account): {reverse['model_rows']} model rows: "
        f"{reverse['delivered']} delivered, {reverse['dead_lettered']} in the DLQ, "
        f"{reverse['pending']} pending; "
        f"the second run sent {reverse['second_run_sent']}"
    )
    new = report["new_field"]
    print(
        f"\nschema change: {new['field']} added mid-demo landed in SALESFORCE_ACCOUNT with values on "
        f"{new['rows_with_values']} rows; rows in _INTEGRATIONS_SCHEMA_CHANGES: {new['change_rows']}"
    )
    print("\nDLQ entries by reason:")
    for reason, count in sorted(report["dlq"].items()):
        print(f"  {count:5}  {reason}")
    verdict = (
        "nothing lost, nothing duplicated, every change read"
        if report["ok"]
        else "SOMETHING WAS LOST, DUPLICATED OR NOT READ"
    )
    print(f"\n{verdict}; report in {SANDBOX / 'demo-report.json'}")


if __name__ == "__main__":
    sys.exit(main())
