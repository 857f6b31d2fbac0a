"""Ingest under a hostile network, with the run killed (SIGKILL) in the middle of an extract and run again.

The fault profile gives 10% 429/503 answers, connection resets and 1% poison records on both systems.
The poison records are found independently of our validation: by reading each stream with poison off
and on and comparing. The retried run must leave every target equal to the source minus the poison,
with no duplicate primary key, every poison record in the DLQ once with its reason, and a further run
must change nothing.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from contextlib import ExitStack
from datetime import UTC, datetime
from typing import Any

from airflow_provider_integrations.core.dlq import LocalDLQStore
from tests.connectors.conftest import Admin
from tests.operators.conftest import INGEST_DAG, s3_client

SIZE = 3000
POISON = {"seed": 23, "poison_rate": 0.01}
NETWORK = {"rate_429": 0.05, "rate_5xx": 0.05, "rate_reset": 0.03, "retry_after": 0.2}
STREAMS = {  # (system, stream): (primary key, a business field to compare)
    ("salesforce", "Account"): ("Id", "Name"),
    ("stripe", "customers"): ("id", "email"),
}
KILLED = ("stripe", "customers")


def read_source(source: Any, admin: Admin, system: str, stream: str, **profile: Any) -> dict[str, Any]:
    """Every record the system serves for the stream now (deleted ones too), by key."""
    key = STREAMS[(system, stream)][0]
    with admin.faults(system, **profile):
        return {str(r[key]): r for r in source(system, stream)}


def deleted(record: dict[str, Any]) -> bool:
    return bool(record.get("IsDeleted") or record.get("_deleted"))


def test_ingest_killed_mid_extract_and_retried_under_faults_loses_and_duplicates_nothing(
    run_ingest: Any, admin: Admin, snowflake_query: Any, source_records: Any, sandbox: Any
) -> None:
    suffix = uuid.uuid4().hex[:6].upper()
    tables = {s: f"CHAOS_{s[0]}_{s[1]}_{suffix}".upper() for s in STREAMS}
    spec = [
        {
            "system": system,
            "stream": stream,
            "table": tables[(system, stream)],
            "mode": "full",
            "part_rows": 500,
        }
        for system, stream in STREAMS
    ]
    logical_date = datetime.now(UTC).replace(microsecond=0)
    with ExitStack() as stack:
        for system, stream in STREAMS:
            stack.enter_context(admin.sized(system, stream, SIZE))
        clean = {s: read_source(source_records, admin, *s) for s in STREAMS}
        poisoned = {s: read_source(source_records, admin, *s, **POISON) for s in STREAMS}
        poison = {s: {k for k in clean[s] if poisoned[s].get(k) != clean[s][k]} for s in STREAMS}
        assert all(0 < len(keys) < SIZE * 0.03 for keys in poison.values()), poison

        for system, _ in STREAMS:
            stack.enter_context(admin.faults(system, **POISON, **NETWORK))
        killed = kill_mid_extract(run_ingest, spec, logical_date, admin, sandbox)
        assert killed, "parts of the killed extract were already on S3"

        result = run_ingest(spec, logical_date)
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
        calls = admin.counters()["calls"]
        faulted = {s: sum(n for k, n in calls.items() if k.startswith(f"{s} ")) for s, _ in STREAMS}
        assert all(n > 0 for n in faulted.values())

        entries = LocalDLQStore(run_ingest.dlq).find(limit=10_000)
        for (system, stream), table in tables.items():
            key, field = STREAMS[(system, stream)]
            rows = snowflake_query(f'SELECT "{key.upper()}", "{field.upper()}", "_DELETED" FROM "{table}"')
            source = clean[(system, stream)]
            assert len(rows) == len({r[0] for r in rows}), f"{table}: duplicate primary keys"
            assert {str(r[0]): bool(r[2]) for r in rows} == {
                k: deleted(r) for k, r in source.items() if k not in poison[(system, stream)]
            }, f"{system}/{stream}: the target is the source minus the poison records"
            assert all(r[1] == source[str(r[0])][field] for r in rows)
            dead = [e for e in entries if (e.system, e.stream) == (system, stream)]
            assert sorted(str(e.record_key) for e in dead) == sorted(poison[(system, stream)]), (
                f"{system}/{stream}: every poison record in the DLQ, once"
            )
            assert all(e.error_class == "RecordError" and e.message and e.payload for e in dead), (
                "with reasons"
            )

        before = {t: snapshot(snowflake_query, t) for t in tables.values()}
        again = run_ingest(spec, logical_date)
        assert again.returncode == 0, again.stdout[-4000:] + again.stderr[-4000:]
        assert {t: snapshot(snowflake_query, t) for t in tables.values()} == before, (
            "a re-run changes nothing"
        )
        assert len(LocalDLQStore(run_ingest.dlq).find(limit=10_000)) == len(entries)


def kill_mid_extract(run_ingest: Any, spec: list[dict[str, Any]], logical_date: datetime, admin: Admin,
                     sandbox: Any) -> list[str]:  # fmt: skip
    """Start the DAG run and SIGKILL it once the killed stream's extract is past a third of its records;
    returns the Parquet parts it had written by then."""
    env = run_ingest.environment(spec, logical_date)
    name = "/".join(KILLED)
    start = admin.counters()["records_served"].get(name, 0)
    child = subprocess.Popen([sys.executable, str(INGEST_DAG)], env=env, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while child.poll() is None and time.monotonic() < deadline:
        if admin.counters()["records_served"].get(name, 0) - start >= SIZE // 3:
            break
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL, "the run was killed mid-extract"
    listed = s3_client(sandbox).list_objects_v2(Bucket=run_ingest.bucket, Prefix="raw/")
    return [o["Key"] for o in listed.get("Contents", []) if "/customers/" in o["Key"] and "part-" in o["Key"]]


def snapshot(query: Any, table: str) -> list[tuple[Any, ...]]:
    return sorted(query(f'SELECT * FROM "{table}"'), key=repr)
