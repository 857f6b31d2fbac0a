"""`make demo`: the DAG package end to end on the sandbox, with faults on.

1. The sandbox (S3, Snowflake, the five SaaS APIs) comes up under `.sandbox/` with 429s, 5xx answers and
   1% poison records on every system.
2. Every ingest DAG (dags/ingest_*.py) runs: a full load first; then the sources change records
   (updates, inserts, and deletes where the system reports them, at one shared timestamp) and every
   ingest DAG runs again, incrementally. (Deletes in systems without a delete feed, such as Workday,
   reach Snowflake with the next full load.)
3. The reverse-ETL DAG (health scores -> Salesforce Account) runs twice: the second run sends nothing.
4. A summary table: rows per Snowflake table against what the source holds minus its poison records,
   duplicates, reverse-ETL outcomes, DLQ entries by reason. Exit 0 only if nothing was lost or duplicated.

The sandbox's Snowflake database and the DLQ stay under `.sandbox/`; the summary goes to
`.sandbox/demo-report.json`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SANDBOX = Path(".sandbox").resolve()
os.environ.update(
    {
        "AIRFLOW_HOME": str(SANDBOX / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW_INTEGRATIONS_DLQ": str(SANDBOX / "dlq"),
    }
)

import json  # noqa: E402
import runpy  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
from typing import Any  # noqa: E402

import boto3  # noqa: E402
import httpx  # noqa: E402
import snowflake.connector  # noqa: E402
import yaml  # noqa: E402

from airflow_provider_integrations.connectors.base import load_catalog  # noqa: E402
from airflow_provider_integrations.core.dlq import LocalDLQStore  # noqa: E402
from airflow_provider_integrations.sandbox import runner, stores  # noqa: E402

FAULTS = {"seed": 7, "rate_429": 0.03, "rate_5xx": 0.03, "retry_after": 0.05, "poison_rate": 0.01}
SIZES = {"salesforce": 400, "netsuite": 300, "stripe": 300, "workday": 200, "servicenow": 300}
SYSTEMS = tuple(SIZES)
CHANGES = {"update": 6, "insert": 3, "same_timestamp": True}


def main() -> int:
    info = runner.up(SANDBOX, sizes=SIZES, faults={system: FAULTS for system in SYSTEMS})
    os.environ.update(info.env())
    try:
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
            if bucket not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
                s3.create_bucket(Bucket=bucket)
        migrate()

        first = datetime.now(UTC)
        runs = [run_dag(f"ingest_{system}", first) for system in SYSTEMS]
        time.sleep(1)
        for config in ingest:
            catalog = load_catalog(f"{config['system']}.yaml")
            for stream in config["streams"]:
                deletes = 2 if catalog[stream["stream"]].deletes else 0
                path = f"/datasets/{config['system']}/{stream['stream']}/mutate"
                admin.post(path, json={**CHANGES, "delete": deletes}).raise_for_status()
        runs += [run_dag(f"ingest_{system}", first + timedelta(hours=1)) for system in SYSTEMS]
        runs += [run_dag("reverse_etl_account_scores", first + timedelta(hours=1, minutes=5))]
        runs += [run_dag("reverse_etl_account_scores", first + timedelta(hours=1, minutes=10))]

        conn = snowflake.connector.connect(**info.snowflake_kwargs())
        report = summarize(ingest, conn, runs)
        conn.close()
    finally:
        runner.down(SANDBOX)
    (SANDBOX / "demo-report.json").write_text(json.dumps(report, indent=2, default=str))
    print_report(report)
    return 0 if report["ok"] else 1


def migrate() -> None:
    airflow = Path(sys.executable).parent / "airflow"
    subprocess.run([str(airflow), "db", "migrate"], check=True, capture_output=True, timeout=600)  # noqa: S603


def run_dag(dag_id: str, logical_date: datetime) -> dict[str, Any]:
    """One DAG run in this process, as the scheduler would start it; returns its state per task."""
    path = next(p for p in (ROOT / "dags").glob("*.py") if dag_id.removeprefix("ingest_") in p.stem)
    dag = runpy.run_path(str(path))["dag"]
    started = time.monotonic()
    run = dag.test(logical_date=logical_date)
    tasks = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    print(f"  {dag_id:32} {run.state:8} {len(tasks)} tasks in {time.monotonic() - started:5.1f} s")
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


def summarize(ingest: list[dict[str, Any]], conn: Any, runs: list[dict[str, Any]]) -> dict[str, Any]:
    from airflow_provider_integrations.hooks.registry import hook_for

    dead = LocalDLQStore(SANDBOX / "dlq").find(limit=100_000)
    tables = []
    for config in ingest:
        hook = hook_for(config["connections"]["source"])
        connector = hook.get_conn()
        for item in config["streams"]:
            stream = connector.stream(item["stream"])
            key = stream.primary_key[0]
            live = {
                str(r[key])
                for r in connector.read(stream.name)
                if not (r.get("_deleted") or r.get("IsDeleted"))
            }
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
                }
            )
        hook.close()
    reverse = reverse_etl_outcomes(conn, runs)
    reasons = Counter(f"{e.operation}: {e.error_class}" for e in dead)
    ok = (
        all(r["state"] == "success" for r in runs)
        and all(t["missing"] == 0 and t["unexpected"] == 0 and t["duplicated"] == 0 for t in tables)
        and reverse["model_rows"] == reverse["delivered"] + reverse["dead_lettered"] + reverse["pending"]
        and reverse["second_run_sent"] == 0
    )
    return {"ok": ok, "runs": runs, "tables": tables, "reverse_etl": reverse, "dlq": dict(reasons)}


def reverse_etl_outcomes(conn: Any, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Every model row accounted for: delivered, parked in the DLQ or pending; the second run sent nothing."""
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
    )
    for t in report["tables"]:
        print(
            f"{t['table']:28} {t['source_live']:7} {t['poison_in_dlq']:7} {t['landed']:7} {t['missing']:8} "
            f"{t['unexpected']:6} {t['duplicated']:6}"
        )
    reverse = report["reverse_etl"]
    print(
        f"\nreverse ETL (scores -> Salesforce Account): {reverse['model_rows']} model rows: "
        f"{reverse['delivered']} delivered, {reverse['dead_lettered']} in the DLQ, "
        f"{reverse['pending']} pending; "
        f"the second run sent {reverse['second_run_sent']}"
    )
    print("\nDLQ entries by reason:")
    for reason, count in sorted(report["dlq"].items()):
        print(f"  {count:5}  {reason}")
    verdict = "nothing lost, nothing duplicated" if report["ok"] else "SOMETHING WAS LOST OR DUPLICATED"
    print(f"\n{verdict}; report in {SANDBOX / 'demo-report.json'}")


if __name__ == "__main__":
    sys.exit(main())
