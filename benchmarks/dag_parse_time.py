"""How long each DAG file in dags/ takes to parse, side by side with an empty DAG, as the dag-processor does.

Every measurement is a fresh Python process (no warm import caches) that builds
`DagBag(dag_folder=<file>, safe_mode=False)`; it times the DagBag construction alone and, from outside,
the whole process (interpreter start and Airflow's own imports included). Repetitions are interleaved
across files so background load falls on all of them alike. The child counts socket connect attempts
(parsing should open none). Exits 1 with a FAIL line on import errors, missing DAGs or a connection.
Prints a markdown table and writes it into RESULTS.md under "DAG parse time".

    python benchmarks/dag_parse_time.py [repeats]   # default 7
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from importlib.metadata import version
from pathlib import Path
from typing import Any

from results_file import write_section

ROOT = Path(__file__).resolve().parents[1]
HEADING = "## DAG parse time"
REPEATS = int(sys.argv[1]) if len(sys.argv) > 1 else 7

EMPTY_DAG = """\
from datetime import UTC, datetime

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG

with DAG(dag_id="empty", schedule=None, start_date=datetime(2026, 1, 1, tzinfo=UTC)):
    EmptyOperator(task_id="noop")
"""

# Runs in the fresh child; the last stdout line is the result.
CHILD = """\
import json, socket, sys, time
started = time.perf_counter()
connects = []
def _count(original):
    def connect(self, address, *args):
        connects.append(repr(address))
        return original(self, address, *args)
    return connect
socket.socket.connect = _count(socket.socket.connect)
socket.socket.connect_ex = _count(socket.socket.connect_ex)
from airflow.dag_processing.dagbag import DagBag
imported = time.perf_counter()
bag = DagBag(dag_folder=sys.argv[1], safe_mode=False)
parsed = time.perf_counter()
print("RESULT " + json.dumps({"import_s": imported - started, "parse_s": parsed - imported,
    "dags": sorted(bag.dags), "tasks": sum(len(d.tasks) for d in bag.dags.values()),
    "errors": bag.import_errors, "connects": connects}))
"""


def run_child(path: Path, env: dict[str, str], home: Path) -> dict[str, Any]:
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(path)], env=env, cwd=home, capture_output=True, text=True
    )
    wall = time.perf_counter() - started
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode or not lines:
        sys.exit(f"FAIL: parsing {path.name} crashed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
    return {**json.loads(lines[-1][len("RESULT ") :]), "wall_s": wall}


Rows = dict[str, list[dict[str, Any]]]
EMPTY = "(empty DAG)"


def med(rows: Rows, name: str, key: str) -> float:
    return statistics.median(r[key] for r in rows[name])


def table(rows: Rows) -> str:
    out = [
        "| DAG file | DAGs / tasks | Parse median (s) | Parse min (s) | Parse / empty "
        "| Process median (s) | Process min (s) | Process / empty | Connects |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, runs in rows.items():
        parse, wall = [r["parse_s"] for r in runs], [r["wall_s"] for r in runs]
        out.append(
            f"| {name} | {len(runs[0]['dags'])} / {runs[0]['tasks']} | {statistics.median(parse):.3f} "
            f"| {min(parse):.3f} | {med(rows, name, 'parse_s') / med(rows, EMPTY, 'parse_s'):.1f} "
            f"| {statistics.median(wall):.2f} | {min(wall):.2f} "
            f"| {med(rows, name, 'wall_s') / med(rows, EMPTY, 'wall_s'):.2f} "
            f"| {max(len(r['connects']) for r in runs)} |"
        )
    return "\n".join(out)


def main() -> int:
    files = sorted((ROOT / "dags").glob("*.py"))
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        empty = home / "empty_dag" / "empty.py"
        empty.parent.mkdir()
        empty.write_text(EMPTY_DAG)
        env = {**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
        targets = {EMPTY: empty, **{f"dags/{f.name}": f for f in files}}
        rows: Rows = {name: [] for name in targets}
        for i in range(REPEATS):
            for name, path in targets.items():
                rows[name].append(run_child(path, env, home))
            print(f"round {i + 1}/{REPEATS} done", file=sys.stderr)
        databases = [p.name for p in home.rglob("*.db")]

    failures = []
    for name, runs in rows.items():
        errors = {k: v for r in runs for k, v in r["errors"].items()}
        if errors:
            failures.append(f"FAIL: {name} has import errors: {errors}")
        elif not runs[0]["dags"]:
            failures.append(f"FAIL: {name} defines no DAG")
        if any(r["connects"] for r in runs):
            failures.append(f"FAIL: parsing {name} opened a network connection: {runs[0]['connects']}")

    slowest = max((n for n in rows if n != EMPTY), key=lambda n: med(rows, n, "parse_s"))
    connects = sum(len(r["connects"]) for runs in rows.values() for r in runs)
    summary = (
        f"Median Airflow import (`from airflow.dag_processing.dagbag import DagBag`, in the child): "
        f"{statistics.median(r['import_s'] for runs in rows.values() for r in runs):.2f} s. "
        f"Slowest file: {slowest}, {med(rows, slowest, 'parse_s'):.3f} s to parse against "
        f"{med(rows, EMPTY, 'parse_s'):.3f} s for the empty DAG "
        f"(+{med(rows, slowest, 'parse_s') - med(rows, EMPTY, 'parse_s'):.3f} s). "
        f"Network connect attempts while parsing: {connects}. "
        f"Database files created in AIRFLOW_HOME: {', '.join(databases) or 'none'} (DagBag needs no db)."
    )
    block = (
        f"Measured {date.today().isoformat()} on the project machine (2 cores, Python "
        f"{sys.version.split()[0]}, Airflow {version('apache-airflow')}), `benchmarks/dag_parse_time.py "
        f"{REPEATS}`: {REPEATS} fresh processes per file, interleaved. *Parse* is `DagBag(dag_folder=<file>, "
        f"safe_mode=False)` alone; *Process* is the child's whole wall time (interpreter start, Airflow's "
        f"imports, parse, exit).\n\n{table(rows)}\n\n{summary}"
    )
    print(block)
    for line in failures:
        print(line)
    if failures:
        return 1
    write_section("dag_parse_time", HEADING, block)
    return 0


if __name__ == "__main__":
    sys.exit(main())
