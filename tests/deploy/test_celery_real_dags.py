"""The distributed deployment runs a real DAG of the package on the sandbox: `dags/ingest_stripe.py`
(include/ingest/stripe.yaml, 4 streams, 12 tasks) is parsed by the dag-processor from the repository's
own `dags/` folder, triggered through the API, scheduled by the CeleryExecutor and executed by the Celery
worker, which reads the emulated Stripe API over HTTPS, writes Parquet to the sandbox's S3, COPYs and
MERGEs into the sandbox's Snowflake and parks poison records in the DLQ.

Uses `scripts/distributed.py` (api-server, scheduler, dag-processor, Celery worker on the machine's
PostgreSQL and Redis), as tests/deploy/test_celery_deployment.py does.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import psycopg2
import pytest
import snowflake.connector
import yaml

from airflow_provider_integrations.connectors.base import load_catalog
from airflow_provider_integrations.core.dlq import LocalDLQStore
from tests.connectors.conftest import Admin
from tests.operators.conftest import s3_client

ROOT = Path(__file__).resolve().parents[2]
DAG_ID = "ingest_stripe"
CONFIG = yaml.safe_load((ROOT / "include" / "ingest" / "stripe.yaml").read_text())
CATALOG = load_catalog("stripe.yaml")
TABLES = {item["stream"]: item["table"] for item in CONFIG["streams"]}
SIZE = 300  # records per stream, so that the run stays short (the defaults are 1,000 to 5,000)
FAULTS = {"seed": 11, "poison_rate": 0.03}


def _load_distributed() -> ModuleType:
    name = "deploy_distributed"
    if name in sys.modules:  # test_celery_deployment.py loaded it already
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / "distributed.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


distributed = _load_distributed()


@dataclass
class Deployment:
    result: Any
    runs: list[tuple[str, str]]  # (run_id, run_type) of every run of the DAG in the deployment
    queue: str
    worker_name: str
    database: str
    pg_user: str
    process_groups: list[int]
    logs_dir: Path
    dlq_dir: Path
    served: dict[str, int]  # records the emulator served during the run, by "stripe/<stream>"
    before: dict[str, set[str]]  # live keys each table held before the run (empty in a fresh sandbox)
    source: dict[str, set[str]]  # live keys the emulator serves, by stream
    seconds: float


def _served(admin: Admin) -> dict[str, int]:
    return dict(admin.counters()["records_served"])


def _live_table_keys(conn: Any, table: str, key: str) -> tuple[set[str], int]:
    """(live keys, rows per key beyond the first) of a table; (empty, 0) if there is no such table."""
    try:
        rows = (
            conn.cursor()
            .execute(f'SELECT "{key.upper()}", COALESCE("_DELETED", FALSE) FROM "{table}"')
            .fetchall()
        )
    except snowflake.connector.errors.ProgrammingError as error:
        if "does not exist" in str(error):
            return set(), 0
        raise
    keys = [str(r[0]) for r in rows]
    return {k for k, r in zip(keys, rows, strict=True) if not r[1]}, len(keys) - len(set(keys))


def _source_keys(sandbox: Any) -> dict[str, set[str]]:
    """The live keys the emulated Stripe serves now, per stream, read through the package's hook."""
    from airflow_provider_integrations.hooks.registry import hook_for

    with pytest.MonkeyPatch.context() as patch:
        for name, value in sandbox.env().items():
            patch.setenv(name, value)
        hook = hook_for(CONFIG["connections"]["source"])
        try:
            connector = hook.get_conn()
            return {
                stream: {
                    str(r[CATALOG[stream].primary_key[0]])
                    for r in connector.read(stream)
                    if not (r.get("_deleted") or r.get("IsDeleted"))
                }
                for stream in TABLES
            }
        finally:
            hook.close()


@pytest.fixture(scope="module")
def deployment(sandbox: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    started = time.monotonic()
    admin = Admin(sandbox)
    s3 = s3_client(sandbox)
    bucket = str(CONFIG["bucket"])
    if bucket not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
        s3.create_bucket(Bucket=bucket)
    dlq_dir = tmp_path_factory.mktemp("dlq")
    work_dir = tmp_path_factory.mktemp("deploy-real")
    extra_env = {
        **sandbox.env(),
        "AIRFLOW_INTEGRATIONS_DLQ": str(dlq_dir),
        # Only the run the test triggers: unpausing an @hourly DAG would also start a scheduled run.
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
    }
    warehouse = snowflake.connector.connect(**sandbox.snowflake_kwargs())
    with ExitStack() as stack:
        stack.callback(warehouse.close)
        for stream in TABLES:
            stack.enter_context(admin.sized("stripe", stream, SIZE))
        stack.enter_context(admin.faults("stripe", **FAULTS))
        before = {
            stream: _live_table_keys(warehouse, table, CATALOG[stream].primary_key[0])[0]
            for stream, table in TABLES.items()
        }
        served_before = _served(admin)
        with distributed.DistributedAirflow(ROOT / "dags", work_dir=work_dir, extra_env=extra_env) as airflow:
            result = airflow.run_dag(DAG_ID, timeout=150)
            groups = [proc.pid for proc in airflow.processes.values()]
            conn = psycopg2.connect(
                host=airflow.pg_host, port=airflow.pg_port, user=airflow.pg_user, dbname=airflow.database
            )
            try:
                with conn.cursor() as cur:
                    cur.execute("SELECT run_id, run_type FROM dag_run WHERE dag_id = %s", (DAG_ID,))
                    runs = [(str(r[0]), str(r[1])) for r in cur.fetchall()]
            finally:
                conn.close()
        now = _served(admin)
        served = {k: now[k] - served_before.get(k, 0) for k in now if now[k] != served_before.get(k, 0)}
        source = _source_keys(sandbox)
    seconds = time.monotonic() - started
    print(result.table(), json.dumps(result.timings), f"fixture total {seconds:.1f} s", sep="\n")
    yield Deployment(
        result=result,
        runs=runs,
        queue=airflow.queue,
        worker_name=airflow.worker_name,
        database=airflow.database,
        pg_user=str(airflow.pg_user),
        process_groups=groups,
        logs_dir=airflow.logs_dir,
        dlq_dir=dlq_dir,
        served=served,
        before=before,
        source=source,
        seconds=seconds,
    )


@pytest.fixture(scope="module")
def landed(sandbox: Any, deployment: Deployment) -> Iterator[dict[str, tuple[set[str], int]]]:
    """(live keys, duplicated keys) per stream's table after the run."""
    conn = snowflake.connector.connect(**sandbox.snowflake_kwargs())
    try:
        yield {
            stream: _live_table_keys(conn, table, CATALOG[stream].primary_key[0])
            for stream, table in TABLES.items()
        }
    finally:
        conn.close()


def poison(deployment: Deployment, stream: str) -> set[str]:
    entries = LocalDLQStore(deployment.dlq_dir).find(limit=100_000)
    return {
        str(e.record_key)
        for e in entries
        if (e.system, e.stream, e.operation) == ("stripe", stream, "extract")
    }


def test_the_triggered_run_of_the_real_dag_succeeds_with_all_its_tasks(deployment: Deployment) -> None:
    result = deployment.result
    assert result.state == "success", f"{result.table()}\nlogs: {deployment.logs_dir}"
    expected = {f"{stream}.{step}" for stream in TABLES for step in ("extract", "load", "freshness")}
    assert {t.task_id for t in result.tasks} == expected
    assert len(result.tasks) == 12
    assert all(t.state == "success" and t.try_number == 1 for t in result.tasks), result.table()
    assert result.succeeded
    assert deployment.runs == [(result.run_id, "manual")], "one run: the one the API triggered"


def test_every_task_ran_on_the_celery_worker(deployment: Deployment) -> None:
    result = deployment.result
    for task in result.tasks:
        assert task.scheduler_executor == "CeleryExecutor", task
        assert task.executor is None, task
        assert task.queue == deployment.queue, task
        assert task.external_executor_id and task.celery_status == "SUCCESS", task
        assert task.celery_worker == deployment.worker_name, task
        assert task.in_worker_log and task.pid and task.hostname, task
    assert len({t.external_executor_id for t in result.tasks}) == 12
    assert result.ran_on_celery_worker


def test_the_worker_read_every_record_once_and_parked_the_poison_ones(deployment: Deployment) -> None:
    assert deployment.served == {f"stripe/{stream}": SIZE for stream in TABLES}, (
        "a full load: the emulator served every record of each stream exactly once"
    )
    for stream in TABLES:
        parked = poison(deployment, stream)
        assert parked, f"{stream}: the fault profile makes poison records and they reach the DLQ"
        assert parked <= deployment.source[stream]


def test_each_table_holds_what_the_source_serves_minus_poison(
    deployment: Deployment, landed: dict[str, tuple[set[str], int]]
) -> None:
    for stream, table in TABLES.items():
        source, parked, before = (
            deployment.source[stream],
            poison(deployment, stream),
            deployment.before[stream],
        )
        assert len(source) == SIZE
        keys, duplicated = landed[stream]
        assert duplicated == 0, f"{table}: duplicate keys"
        expected = source - parked
        assert expected <= keys, f"{table}: {len(expected - keys)} source records missing"
        # A fresh sandbox has no such table before the run, and then the table is exactly the source minus
        # poison. In a sandbox an earlier test loaded the same table into, the full load soft-deletes keys
        # the source no longer has but keeps rows whose new version was rejected (poison) as they were.
        assert keys - expected <= parked & before, f"{table}: keys the source does not serve as loadable"
        if not before:
            assert keys == expected, table


def test_everything_is_stopped_and_the_database_dropped(deployment: Deployment) -> None:
    for group in deployment.process_groups:
        with pytest.raises(ProcessLookupError):
            os.killpg(group, 0)
    conn = psycopg2.connect(host="127.0.0.1", port=5432, user=deployment.pg_user, dbname="postgres")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (deployment.database,))
            assert cur.fetchone() == (0,)
    finally:
        conn.close()
