"""Reverse ETL into Salesforce Account on the sandbox: API calls for a 1% change, and memory at 1M rows.

Starts a private sandbox and builds a scores model in Snowflake (fakesnow). Every sync runs
`SnowflakeToSaaSOperator` in a fresh Python process, timed from outside, which reports its own peak RSS
and the RSS it had after imports. The emulator's counters give the API calls.

1. First sync of a `size`-row model (every row new), then a second sync after 1% of rows changed: it
   must send exactly those rows, in at most ceil(changed / 200) + a constant calls (200 records per
   sObject Collections call). Against it,
   a naive full re-send: the same operator with a fresh state table, which sends every row again.
2. Memory: a dry run (the whole change plan read and classified, nothing sent) over 100k and 1M-row
   models, and the real first sync of both; peak RSS growth from 100k to 1M shows whether the model
   is read in bounded pages.

    python benchmarks/reverse_etl.py [size] [large]   # default 100000 1000000

Prints a markdown table, writes it into RESULTS.md under "Reverse ETL" and the numbers to
results/reverse_etl.json.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from process_memory import peak_rss_mb
from results_file import write_json, write_section

HERE = Path(__file__).resolve().parent
HEADING = "## Reverse ETL"
MAPPING = {"ACCOUNT_NAME": "Name", "SCORE": "AnnualRevenue", "SEATS": "NumberOfEmployees"}
COLLECTION_SIZE = 200  # records per sObject Collections call
CALL_ALLOWANCE = 5


def child(options: dict[str, Any]) -> None:
    """One sync in this process; prints its summary, wall time and memory as JSON."""
    from airflow_provider_integrations.operators.reverse_etl import SnowflakeToSaaSOperator

    base = peak_rss_mb()
    operator = SnowflakeToSaaSOperator(
        task_id="sync",
        key="ACCOUNT_KEY",
        mapping=MAPPING,
        external_id="External_Id__c",
        id_field="Id",
        conn_id="sandbox_salesforce",
        target="Account",
        snowflake_conn_id="sandbox_snowflake",
        **options,
    )
    ti = SimpleNamespace(dag_id="bench_reverse_etl", task_id="sync", try_number=1)
    started = time.perf_counter()
    summary = operator.execute({"ti": ti, "run_id": f"bench__{uuid.uuid4().hex[:6]}"})  # type: ignore[arg-type]
    seconds = time.perf_counter() - started
    print(json.dumps({"summary": summary, "seconds": seconds, "rss_base_mb": base, "rss_mb": peak_rss_mb()}))


class Bench:
    """The sandbox, a Snowflake connection to build models, and the emulator's counters."""

    def __init__(self, info: Any, dlq: Path) -> None:
        import httpx
        import snowflake.connector

        self.info, self.dlq = info, dlq
        self.env = {**os.environ, **info.env()}
        self.sf = snowflake.connector.connect(**info.snowflake_kwargs())
        self.admin = httpx.Client(base_url=info.admin_url, verify=info.ca_bundle, timeout=120)

    def sql(self, statement: str) -> list[tuple[Any, ...]]:
        cursor = self.sf.cursor()
        cursor.execute(statement)
        return list(cursor.fetchall())

    def model(self, rows: int) -> str:
        table = f"SCORES_{uuid.uuid4().hex[:6]}".upper()
        columns = "ACCOUNT_KEY VARCHAR, ACCOUNT_NAME VARCHAR, SCORE NUMBER(12,2), SEATS INT"
        self.sql(f'CREATE TABLE "{table}" ({columns})')
        self.sql(
            f"INSERT INTO \"{table}\" SELECT '{table[-6:].lower()}-' || LPAD(TO_VARCHAR(i), 7, '0'), "
            f"'Account ' || i, i * 10.5, i % 500 "
            f"FROM (SELECT SEQ4() AS i FROM TABLE(GENERATOR(ROWCOUNT => {rows})))"
        )
        return table

    def calls(self) -> int:
        counters = self.admin.get("/counters").json()["calls"]
        return sum(n for name, n in counters.items() if name.startswith("salesforce "))

    def writes(self) -> dict[str, int]:
        return dict(self.admin.get("/counters").json()["writes"].get("salesforce/Account", {}))

    def sync(self, label: str, **options: Any) -> dict[str, Any]:
        options = {"dlq_uri": str(self.dlq), **options}
        before = self.calls()
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, __file__, "--child", json.dumps(options)],
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - started
        if done.returncode:
            raise SystemExit(f"FAIL {label}: the sync exited {done.returncode}\n{done.stderr[-3000:]}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        result.update(label=label, wall=wall, api_calls=self.calls() - before)
        print(
            f"{label}: {result['summary']['sent']:,} sent, {result['api_calls']} calls, "
            f"{result['seconds']:.1f} s, peak RSS {result['rss_mb']:.0f} MB",
            flush=True,
        )
        return result


def measure(bench: Bench, size: int, large: int) -> dict[str, Any]:
    table = bench.model(size)
    first = bench.sync(f"first sync, {size:,} rows", model=table)
    bench.sql(f'UPDATE "{table}" SET SCORE = SCORE + 1 WHERE MOD(SEATS, 100) = 7')
    changed = {r[0] for r in bench.sql(f'SELECT ACCOUNT_KEY FROM "{table}" WHERE MOD(SEATS, 100) = 7')}
    writes_before = bench.writes()
    second = bench.sync(f"second sync, {len(changed):,} changed", model=table)
    writes_after = bench.writes()
    written = {k for k, n in writes_after.items() if n != writes_before.get(k, 0)}
    once = all(writes_after[k] == writes_before.get(k, 0) + 1 for k in written)
    naive = bench.sync(f"naive full re-send, {size:,} rows", model=table, state_table=f"NAIVE_{table}")

    big = bench.model(large)
    memory = [
        bench.sync(f"dry run, {size:,} rows", model=table, state_table=f"DRY_{table}", dry_run=True),
        bench.sync(f"dry run, {large:,} rows", model=big, dry_run=True),
        first,
        bench.sync(f"first sync, {large:,} rows", model=big),
    ]
    growth_dry = memory[1]["rss_mb"] - memory[0]["rss_mb"]
    growth_sync = memory[3]["rss_mb"] - memory[2]["rss_mb"]
    allowed = math.ceil(len(changed) / COLLECTION_SIZE) + CALL_ALLOWANCE
    goals = {
        "second run sends exactly the changed rows": {
            "threshold": len(changed),
            "value": second["summary"]["sent"],
            "met": second["summary"]["sent"] == len(changed) and written == changed and once,
        },
        "second run API calls": {
            "threshold": allowed,
            "value": second["api_calls"],
            "met": second["api_calls"] <= allowed,
        },
        f"RSS growth, sync {size:,} -> {large:,} rows (MB)": {
            "threshold": 150,
            "value": round(growth_sync, 1),
            "met": growth_sync < 150 and memory[3]["summary"]["succeeded"] == large,
        },
    }
    return {
        "size": size,
        "large": large,
        "changed": len(changed),
        "runs": {"first": first, "second": second, "naive": naive},
        "memory": memory,
        "growth_dry_mb": growth_dry,
        "growth_sync_mb": growth_sync,
        "goals": goals,
    }


def table(result: dict[str, Any]) -> str:
    runs, naive = result["runs"], result["runs"]["naive"]
    lines = [
        f"Measured {date.today()} on the project machine, `benchmarks/reverse_etl.py {result['size']} "
        f"{result['large']}`: a scores model (key, name, score, seats) upserted into the emulated Salesforce "
        "Account on `External_Id__c` with the operator's defaults (batches of 10,000 rows; Collections of "
        f"{COLLECTION_SIZE} records up to 2,000, a Bulk API 2.0 job above). Each sync is a fresh process; "
        "API calls are the emulator's counters.",
        "",
        "| Run | Sent | API calls | Seconds | Peak RSS (MB) | Calls / naive |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for run in (runs["first"], runs["second"], naive):
        ratio = run["api_calls"] / naive["api_calls"] if naive["api_calls"] else float("nan")
        lines.append(
            f"| {run['label']} | {run['summary']['sent']:,} | {run['api_calls']:,} | {run['seconds']:.1f} "
            f"| {run['rss_mb']:.0f} | {ratio:.3f} |"
        )
    lines += ["", "| Memory run | Rows planned | Seconds | RSS after imports (MB) | Peak RSS (MB) |"]
    lines.append("| --- | --- | --- | --- | --- |")
    for run in result["memory"]:
        planned = run["summary"].get("planned", 0)
        lines.append(
            f"| {run['label']} | {planned:,} | {run['seconds']:.1f} | {run['rss_base_mb']:.0f} "
            f"| {run['rss_mb']:.0f} |"
        )
    lines += ["", "| Goal | Threshold | Measured | Met |", "| --- | --- | --- | --- |"]
    for name, goal in result["goals"].items():
        lines.append(f"| {name} | {goal['threshold']} | {goal['value']} | {'yes' if goal['met'] else 'no'} |")
    lines.append("")
    lines.append(
        f"Peak RSS growth from {result['size']:,} to {result['large']:,} rows: dry run "
        f"{result['growth_dry_mb']:+.0f} MB, real sync {result['growth_sync_mb']:+.0f} MB."
    )
    return "\n".join(lines)


def main() -> int:
    from integrations_sandbox import runner

    size = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    large = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
    with tempfile.TemporaryDirectory() as tmp:
        ports = {name: runner.free_port() for name in ("s3", "snowflake", "saas")}
        info = runner.up(Path(tmp), ports=ports)
        try:
            result = measure(Bench(info, Path(tmp) / "dlq"), size, large)
        finally:
            runner.down(Path(tmp))
    block = table(result)
    print(block)
    write_section("reverse_etl", HEADING, block)
    write_json("reverse_etl", result)
    missed = [name for name, goal in result["goals"].items() if not goal["met"]]
    for name in missed:
        print(f"FAIL goal not met: {name}")
    return 1 if missed else 0


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child(json.loads(sys.argv[2]))
    else:
        sys.exit(main())
