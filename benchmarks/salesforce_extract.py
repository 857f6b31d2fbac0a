"""Salesforce Account to S3 on the sandbox: our extract operator against the stock one and a plain loop.

Starts a private sandbox (moto S3 and the HTTPS SaaS emulator, TLS verified against the sandbox CA), grows
`salesforce/Account` to each size and extracts it to S3 with three contenders:

- **ours**: `SaaSToS3Operator(mode="full")` on the sandbox's Salesforce connection (OAuth password flow;
  REST query pages when the first page's `totalSize` is up to its `bulk_threshold`, a Bulk API 2.0
  query above it), writing Parquet parts and a manifest.
- **stock**: `SalesforceToS3Operator` (apache-airflow-providers-amazon with -salesforce), data path
  unmodified: `SalesforceHook.make_query` -> simple-salesforce `query_all` -> pandas -> file ->
  `S3Hook.load_file`. It writes CSV: its hook writes csv, json or ndjson, no Parquet. It authenticates
  by the hook's direct session (a session id and the connection's `instance_url` extra, no login call).
  The hook takes `session_id` as a constructor argument only, never from the connection, and the
  operator builds its hook from the connection id alone. The benchmark therefore swaps in a hook
  subclass that passes the session id. Nothing else changes.
- **plain**: simple-salesforce `Salesforce(session_id=, instance_url=).query_all` into a pandas DataFrame,
  `to_parquet`, boto3 `upload_file`: the loop a user would write.

All three select the same Account fields in the same order (our catalog's, `ORDER BY SystemModstamp, Id`).
Ours reads with queryAll, because its stream reports deletes; a resized dataset has no deleted records,
so all three read the same rows.
Each measurement runs in a fresh child process. The child imports what its contender needs, including
pandas, pyarrow and `S3Hook`, which the operators would otherwise import on first use (pyarrow imports
pandas on its first conversion). Then it reads its peak RSS (VmHWM) as the baseline, runs the extract (the
*seconds* and *CPU s* reported) and reads VmHWM again (the peak). `ru_maxrss` is not used, because
Linux carries the parent's peak into it across fork and exec. For stock and plain the parent fetches a
session token from the emulator's OAuth endpoint just before the child starts. So every contender's
count includes exactly one login. API calls are the emulator's request counter for Salesforce, reset
before each run. After each run the parent counts the rows and distinct Ids that landed in S3, then
deletes the objects. The script fails if a count differs from the size. A child that runs past
`--timeout` seconds, or dies, is recorded as a gap.

Prints a markdown table, writes it into RESULTS.md under "Salesforce extract to S3" and the rows plus
goals to results/salesforce_extract.json. `--profile` instead runs ours once per size under cProfile and
prints where the time goes.

    python benchmarks/salesforce_extract.py [sizes...] [--repeats N] [--timeout S] [--profile]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from importlib.metadata import version
from pathlib import Path
from typing import Any

from process_memory import peak_rss_mb
from results_file import write_json, write_section

ROOT = Path(__file__).resolve().parents[1]
HEADING = "## Salesforce extract to S3"
CONTENDERS = ("ours", "stock", "plain")
STOCK_CONN = "bench_stock_salesforce"
API_VERSION = "59.0"
GOAL_RSS_GROWTH_MB = 150.0
GOAL_SPEEDUP = 1.5
GOAL_SPEEDUP_SIZE = 100_000

Row = dict[str, Any]
Job = dict[str, Any]


def account_soql() -> str:
    """The SOQL ours runs for a full read of Account: the catalog's fields, in (cursor, Id) order."""
    from airflow_provider_integrations.connectors.base import load_catalog

    stream = load_catalog("salesforce.yaml")["Account"]
    order = ", ".join(stream.cursor or ("Id",))
    return f"SELECT {', '.join(stream.schema.names)} FROM {stream.source} ORDER BY {order}"


# Child side: one extract per process. Each `prepare_*` imports, builds and returns the timed work.


def prepare_ours(job: Job) -> Callable[[], None]:
    from types import SimpleNamespace

    import airflow.providers.amazon.aws.hooks.s3  # noqa: F401 - imported by execute() otherwise
    import pandas  # noqa: F401 - pyarrow imports it on its first conversion otherwise
    import pyarrow.parquet  # noqa: F401 - imported by PartWriter otherwise

    import airflow_provider_integrations.hooks.salesforce  # noqa: F401 - imported by hook_for() otherwise
    from airflow_provider_integrations.operators.extract import SaaSToS3Operator

    operator = SaaSToS3Operator(
        task_id="extract",
        conn_id="sandbox_salesforce",
        stream="Account",
        bucket=job["bucket"],
        aws_conn_id="sandbox_s3",
        prefix=job["key"],
        mode="full",
        schema_policy="ignore",  # the catalog's 14 fields, as the others read, whatever the org adds
        dlq_uri=job["dlq"],
    )
    ti = SimpleNamespace(dag_id="bench", task_id="extract", try_number=1, xcom_push=lambda **_: None)
    context: Any = {"ti": ti, "run_id": "bench"}

    def run() -> None:
        operator.execute(context)

    return run


def prepare_stock(job: Job) -> Callable[[], None]:
    import pandas  # noqa: F401 - imported by SalesforceHook.object_to_df otherwise
    from airflow.providers.amazon.aws.transfers import salesforce_to_s3
    from airflow.providers.salesforce.hooks.salesforce import SalesforceHook

    class DirectSessionHook(SalesforceHook):
        """The stock hook in its direct-session mode, which only its constructor can select."""

        def __init__(self, salesforce_conn_id: str) -> None:
            super().__init__(salesforce_conn_id=salesforce_conn_id, session_id=job["session_id"])

    # Authentication only: the operator's execute() builds `SalesforceHook(salesforce_conn_id=...)`.
    salesforce_to_s3.SalesforceHook = DirectSessionHook  # type: ignore[attr-defined,assignment]
    operator = salesforce_to_s3.SalesforceToS3Operator(
        task_id="extract",
        salesforce_query=job["soql"],
        s3_bucket_name=job["bucket"],
        s3_key=f"{job['key']}/account.csv",
        salesforce_conn_id=STOCK_CONN,
        export_format="csv",
        aws_conn_id="sandbox_s3",
    )

    def run() -> None:
        operator.execute({})  # the stock operator reads nothing from its context

    return run


def prepare_plain(job: Job) -> Callable[[], None]:
    import boto3
    import pandas as pd
    import pyarrow  # noqa: F401 - pandas' Parquet engine
    from simple_salesforce.api import Salesforce

    s3 = json.loads(os.environ["AIRFLOW_CONN_SANDBOX_S3"])

    def run() -> None:
        sf = Salesforce(session_id=job["session_id"], instance_url=job["instance_url"], version=API_VERSION)
        records = sf.query_all(job["soql"])["records"]
        frame = pd.DataFrame.from_records(records, exclude=["attributes"])
        client = boto3.client(
            "s3",
            endpoint_url=s3["extra"]["endpoint_url"],
            region_name=s3["extra"]["region_name"],
            aws_access_key_id=s3["login"],
            aws_secret_access_key=s3["password"],
        )
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "account.parquet"
            frame.to_parquet(path, index=False)
            client.upload_file(str(path), job["bucket"], f"{job['key']}/account.parquet")

    return run


PREPARE: dict[str, Callable[[Job], Callable[[], None]]] = {
    "ours": prepare_ours,
    "stock": prepare_stock,
    "plain": prepare_plain,
}


def child(contender: str, job: Job) -> None:
    """In the fresh process: imports, baseline RSS, the timed extract, peak RSS; the last stdout line."""
    run = PREPARE[contender](job)
    baseline = peak_rss_mb()
    started, cpu = time.perf_counter(), time.process_time()
    if job["profile"]:
        import cProfile

        profiler = cProfile.Profile()
        profiler.runcall(run)
        profiler.dump_stats(job["profile"])
    else:
        run()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    result = {"seconds": seconds, "cpu_s": cpu, "baseline_mb": baseline, "peak_mb": peak_rss_mb()}
    print("RESULT " + json.dumps(result))


# Parent side: the sandbox, one child per measurement, the S3 check, the report.


class Sandbox:
    """A running private sandbox and the parent's clients: emulator admin and OAuth, S3."""

    def __init__(self, info: Any, home: Path) -> None:
        import ssl

        import boto3
        import httpx

        self.info = info
        self.env = info.env()
        self.home = home
        self.http = httpx.Client(verify=ssl.create_default_context(cafile=info.ca_bundle), timeout=120)
        s3 = json.loads(self.env["AIRFLOW_CONN_SANDBOX_S3"])
        self.s3 = boto3.client(
            "s3",
            endpoint_url=s3["extra"]["endpoint_url"],
            region_name=s3["extra"]["region_name"],
            aws_access_key_id=s3["login"],
            aws_secret_access_key=s3["password"],
        )
        self.bucket = "bench-salesforce-extract"
        self.s3.create_bucket(Bucket=self.bucket)

    def resize(self, size: int) -> None:
        url = f"{self.info.admin_url}/datasets/salesforce/Account"
        self.http.put(url, json={"size": size}).raise_for_status()

    def reset_counters(self) -> None:
        self.http.post(f"{self.info.admin_url}/counters/reset").raise_for_status()

    def salesforce_calls(self) -> dict[str, int]:
        """Requests to the Salesforce emulator since the last reset, by method and endpoint."""
        calls = self.http.get(f"{self.info.admin_url}/counters").json()["calls"]
        return {k.removeprefix("salesforce "): v for k, v in calls.items() if k.startswith("salesforce ")}

    def session(self) -> tuple[str, str]:
        """A session token and instance URL from the emulator's OAuth endpoint (password flow)."""
        conn = json.loads(self.env["AIRFLOW_CONN_SANDBOX_SALESFORCE"])
        extra = conn["extra"]
        form = {
            "grant_type": "password",
            "client_id": extra["client_id"],
            "client_secret": extra["client_secret"],
            "username": conn["login"],
            "password": conn["password"] + extra["security_token"],
        }
        response = self.http.post(f"{conn['host']}/services/oauth2/token", data=form)
        response.raise_for_status()
        body = response.json()
        return str(body["access_token"]), str(body["instance_url"])

    def child_env(self, instance_url: str) -> dict[str, str]:
        stock = {"conn_type": "salesforce", "extra": {"instance_url": instance_url, "version": API_VERSION}}
        return {
            **os.environ,
            **self.env,
            f"AIRFLOW_CONN_{STOCK_CONN.upper()}": json.dumps(stock),
            "REQUESTS_CA_BUNDLE": self.info.ca_bundle,
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        }

    def count_and_remove(self, prefix: str) -> tuple[int, int]:
        """Rows and distinct Ids in the Parquet or CSV files under `prefix`, which are then deleted."""
        import pyarrow as pa
        import pyarrow.csv as pacsv
        import pyarrow.parquet as pq

        listed = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=f"{prefix}/").get("Contents", [])
        tables = []
        for item in listed:
            key = item["Key"]
            if key.endswith((".parquet", ".csv")):
                body = io.BytesIO(self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())
                if key.endswith(".csv"):  # the stock hook lower-cases column names
                    options = pacsv.ConvertOptions(include_columns=["id"])
                    tables.append(pacsv.read_csv(body, convert_options=options).rename_columns(["Id"]))
                else:
                    tables.append(pq.read_table(body, columns=["Id"]))
            self.s3.delete_object(Bucket=self.bucket, Key=key)
        if not tables:
            return 0, 0
        ids = pa.concat_tables(tables).column("Id")
        return len(ids), len(ids.unique())


def measure(box: Sandbox, contender: str, size: int, key: str, timeout: float, profile: str = "") -> Row:
    """One extract in a fresh child; its numbers, calls and landed rows, or a gap with the reason."""
    box.reset_counters()
    token, instance_url = box.session() if contender != "ours" else ("", "")
    job: Job = {"bucket": box.bucket, "key": key, "soql": account_soql(), "session_id": token,
                "instance_url": instance_url, "dlq": str(box.home / "dlq"), "profile": profile}  # fmt: skip
    command = [sys.executable, str(Path(__file__).resolve()), "--child", contender, json.dumps(job)]
    row: Row = {"size": size, "contender": contender}
    try:
        env = box.child_env(instance_url)
        proc = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        box.count_and_remove(key)
        return {**row, "gap": f"did not finish within {timeout:.0f} s, stopped"}
    calls = box.salesforce_calls()
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode or not lines:
        box.count_and_remove(key)
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1][:300]
        return {**row, "gap": f"exited {proc.returncode}: {tail}"}
    result = json.loads(lines[-1][len("RESULT ") :])
    records, distinct = box.count_and_remove(key)
    return {
        **row,
        "seconds": result["seconds"],
        "cpu_s": result["cpu_s"],
        "records_per_s": size / result["seconds"],
        "baseline_rss_mb": result["baseline_mb"],
        "peak_rss_mb": result["peak_mb"],
        "rss_growth_mb": result["peak_mb"] - result["baseline_mb"],
        "api_calls": sum(calls.values()),
        "bulk_api": int(any("/jobs/query" in k for k in calls)),
        "records_landed": records,
        "distinct_ids": distinct,
        "calls": calls,
    }


def summarise(runs: list[Row]) -> list[Row]:
    """One row per (size, contender): median seconds and CPU, highest RSS and call count."""
    rows = []
    for size in dict.fromkeys(r["size"] for r in runs):
        for contender in CONTENDERS:
            mine = [r for r in runs if r["size"] == size and r["contender"] == contender]
            done = [r for r in mine if "gap" not in r]
            if not done:
                rows.append({"size": size, "contender": contender, "runs": 0, "gap": mine[0]["gap"]})
                continue
            seconds = statistics.median(r["seconds"] for r in done)
            rows.append(
                {
                    "size": size,
                    "contender": contender,
                    "runs": len(done),
                    "seconds": seconds,
                    "seconds_min": min(r["seconds"] for r in done),
                    "seconds_max": max(r["seconds"] for r in done),
                    "cpu_s": statistics.median(r["cpu_s"] for r in done),
                    "records_per_s": size / seconds,
                    "baseline_rss_mb": max(r["baseline_rss_mb"] for r in done),
                    "peak_rss_mb": max(r["peak_rss_mb"] for r in done),
                    "rss_growth_mb": max(r["rss_growth_mb"] for r in done),
                    "api_calls": max(r["api_calls"] for r in done),
                    "bulk_api": max(r["bulk_api"] for r in done),
                }
            )
    for row in rows:
        ours = next(r for r in rows if r["size"] == row["size"] and r["contender"] == "ours")
        if "seconds" in row and "seconds" in ours:
            row["ratio_vs_ours"] = row["seconds"] / ours["seconds"]
    return rows


def goals(rows: list[Row]) -> dict[str, dict[str, Any]]:
    def find(size: int, contender: str) -> Row:
        return next((r for r in rows if r["size"] == size and r["contender"] == contender), {})

    def goal(text: str, threshold: float, measured: float | None, met: bool) -> dict[str, Any]:
        return {"goal": text, "threshold": threshold, "measured": measured, "met": met}

    small, large = find(10_000, "ours"), find(1_000_000, "ours")
    measured = "seconds" in small and "seconds" in large
    growth = large["peak_rss_mb"] - small["peak_rss_mb"] if measured else None
    speedup = find(GOAL_SPEEDUP_SIZE, "stock").get("ratio_vs_ours")
    extra_calls = [
        r["api_calls"] - find(r["size"], "stock")["api_calls"]
        for r in rows
        if r["contender"] == "ours" and "api_calls" in r and "api_calls" in find(r["size"], "stock")
    ]
    worst = max(extra_calls, default=None)
    return {
        "ours_rss_growth_10k_to_1m_mb": goal(
            "ours: peak RSS at 1M minus peak RSS at 10k (MB), below",
            GOAL_RSS_GROWTH_MB,
            growth,
            growth is not None and growth < GOAL_RSS_GROWTH_MB,
        ),
        "ours_speedup_vs_stock_at_100k": goal(
            "stock seconds / ours seconds at 100k, at least",
            GOAL_SPEEDUP,
            speedup,
            speedup is not None and speedup >= GOAL_SPEEDUP,
        ),
        "ours_extra_api_calls_vs_stock": goal(
            "ours API calls minus stock API calls at the worst size, at most",
            0,
            worst,
            worst is not None and worst <= 0,
        ),
    }


def table(rows: list[Row]) -> str:
    out = [
        "| Size | Contender | Seconds | CPU s | Records/s | Peak RSS (MB) | RSS growth (MB) | API calls "
        "| Seconds / ours |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        if "gap" in r:
            out.append(f"| {r['size']:,} | {r['contender']} | gap: {r['gap']} | | | | | | |")
            continue
        spread = f" ({r['seconds_min']:.2f}-{r['seconds_max']:.2f})" if r["runs"] > 1 else ""
        api = f"{r['api_calls']}" + (" (Bulk API 2.0)" if r["bulk_api"] else "")
        ratio = f"{r['ratio_vs_ours']:.2f}" if "ratio_vs_ours" in r else "n/a"
        out.append(
            f"| {r['size']:,} | {r['contender']} | {r['seconds']:.2f}{spread} | {r['cpu_s']:.2f} "
            f"| {r['records_per_s']:,.0f} | {r['peak_rss_mb']:.0f} | {r['rss_growth_mb']:.0f} | {api} "
            f"| {ratio} |"
        )
    return "\n".join(out)


def report(args: argparse.Namespace, rows: list[Row], found: dict[str, dict[str, Any]]) -> str:
    bulk_sizes = [f"{r['size']:,}" for r in rows if r["contender"] == "ours" and r.get("bulk_api")]
    bulk = f"Bulk API at {', '.join(bulk_sizes)}" if bulk_sizes else "REST at every size here"
    goal_lines = "\n".join(
        f"- {g['goal']} {g['threshold']}: "
        f"{'not measured' if g['measured'] is None else format(g['measured'], '.2f')}, "
        f"**{'met' if g['met'] else 'not met'}**"
        for g in found.values()
    )
    return (
        f"Measured {date.today().isoformat()} on the project machine ({os.cpu_count()} cores, shared with "
        f"the emulator; Python {sys.version.split()[0]}, Airflow {version('apache-airflow')}, "
        f"apache-airflow-providers-salesforce {version('apache-airflow-providers-salesforce')}, "
        f"simple-salesforce {version('simple-salesforce')}, pandas {version('pandas')}, pyarrow "
        f"{version('pyarrow')}), `benchmarks/salesforce_extract.py {' '.join(map(str, args.sizes))} "
        f"--repeats {args.repeats}`: Salesforce Account from the sandbox emulator (HTTPS) to moto S3, "
        f"the same fields in the same order for all, one fresh process per run. *ours* is "
        f"`SaaSToS3Operator` (Parquet parts and a manifest; REST query pages, or, when the first page's "
        f"`totalSize` is above its `bulk_threshold`, a Bulk API 2.0 query: {bulk}). *stock* is "
        f"`SalesforceToS3Operator`, "
        f"writing CSV (its hook has no Parquet) and authenticated by direct session. *plain* is "
        f"simple-salesforce `query_all` -> pandas -> Parquet -> boto3. *Seconds* is the extract alone, "
        f"imports excluded (median of the runs, with the range in brackets). *CPU s* is the child's own "
        f"CPU time in the extract; the rest is waiting on the emulator and S3. *Peak RSS* is the child's "
        f"VmHWM, and *growth* is that peak minus the VmHWM after imports. *API calls* counts every request "
        f"the emulator saw, with one OAuth login per contender. Every run landed exactly `size` rows with "
        f"distinct Ids in S3 (checked after each run).\n\n{table(rows)}\n\nGoals:\n\n{goal_lines}"
    )


def run_all(box: Sandbox, sizes: list[int], repeats: int, timeout: float) -> list[Row]:
    """Every (size, repeat, contender); the contenders' order rotates so background load falls alike."""
    runs = []
    for size in sizes:
        box.resize(size)
        for repeat in range(repeats):
            for contender in CONTENDERS[repeat % 3 :] + CONTENDERS[: repeat % 3]:
                row = measure(box, contender, size, f"bench/{size}/{contender}/{repeat}", timeout)
                runs.append({**row, "repeat": repeat})
                shown = {k: v for k, v in row.items() if k != "calls"}
                print(json.dumps(shown), file=sys.stderr)
    return runs


def profile(box: Sandbox, sizes: list[int], timeout: float) -> None:
    """Ours once per size under cProfile: the top functions by own time and by cumulative time."""
    import pstats

    for size in sizes:
        box.resize(size)
        with tempfile.NamedTemporaryFile(suffix=".prof") as stats_file:
            row = measure(box, "ours", size, f"profile/{size}", timeout, profile=stats_file.name)
            print(f"\n## ours at {size:,} records under cProfile: {row.get('seconds', row.get('gap'))}")
            if "gap" not in row:
                stats = pstats.Stats(stats_file.name)
                stats.sort_stats("tottime").print_stats(25)
                stats.sort_stats("cumulative").print_stats(40)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=1, help="runs per size and contender (median)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds before a run is a gap")
    parser.add_argument("--profile", action="store_true", help="profile ours with cProfile instead")
    parser.add_argument("--child", nargs=2, metavar=("CONTENDER", "JOB"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], json.loads(args.child[1]))
        return 0

    from integrations_sandbox import runner

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "sandbox"
        info = runner.up(data, ports={name: runner.free_port() for name in ("s3", "snowflake", "saas")})
        try:
            home = Path(tmp) / "airflow_home"
            home.mkdir()
            box = Sandbox(info, home)
            if args.profile:
                profile(box, args.sizes, args.timeout)
                return 0
            runs = run_all(box, args.sizes, args.repeats, args.timeout)
        finally:
            runner.down(data)

    rows = summarise(runs)
    found = goals(rows)
    block = report(args, rows, found)
    print(block)
    write_json("salesforce_extract", {"rows": rows, "runs": runs, "goals": found})
    failures = [
        f"FAIL: {r['contender']} at {r['size']:,} landed {r['records_landed']:,} rows "
        f"({r['distinct_ids']:,} distinct Ids) in S3"
        for r in runs
        if "gap" not in r and not r["records_landed"] == r["distinct_ids"] == r["size"]
    ]
    for line in failures:
        print(line)
    if failures:
        return 1
    write_section("salesforce_extract", HEADING, block)
    return 0


if __name__ == "__main__":
    sys.exit(main())
