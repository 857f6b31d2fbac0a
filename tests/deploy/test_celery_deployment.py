"""The distributed deployment, natively: api-server, scheduler, dag-processor and a Celery worker on the
machine's PostgreSQL and Redis run a three-task DAG, and every task is executed by the Celery worker.

Uses `scripts/distributed.py` (the same module as `python scripts/distributed.py --dags-folder ...`).
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import psycopg2
import pytest

ROOT = Path(__file__).resolve().parents[2]
DAGS = Path(__file__).resolve().parent / "dag_files"


def _load_distributed() -> ModuleType:
    spec = importlib.util.spec_from_file_location("deploy_distributed", ROOT / "scripts" / "distributed.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


distributed = _load_distributed()


@dataclass
class Deployment:
    result: Any
    queue: str
    worker_name: str
    database: str
    pg_user: str
    process_groups: list[int]
    dlq_dir: Path
    logs_dir: Path


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    dlq_dir = tmp_path_factory.mktemp("dlq")
    work_dir = tmp_path_factory.mktemp("deploy")
    with distributed.DistributedAirflow(
        DAGS, work_dir=work_dir, extra_env={"AIRFLOW_INTEGRATIONS_DLQ": str(dlq_dir)}
    ) as airflow:
        result = airflow.run_dag("deploy_check", conf={"record_key": "R-42"}, timeout=75)
        groups = [proc.pid for proc in airflow.processes.values()]
        print(result.table(), json.dumps(result.timings), sep="\n")
    return Deployment(
        result=result,
        queue=airflow.queue,
        worker_name=airflow.worker_name,
        database=airflow.database,
        pg_user=str(airflow.pg_user),
        process_groups=groups,
        dlq_dir=dlq_dir,
        logs_dir=airflow.logs_dir,
    )


def test_the_run_and_every_task_succeed(deployment: Deployment) -> None:
    result = deployment.result
    assert result.state == "success", f"{result.table()}\nlogs: {deployment.logs_dir}"
    assert [t.task_id for t in result.tasks] == ["prepare", "dead_letter", "verify"]
    assert all(t.state == "success" for t in result.tasks), result.table()
    assert result.succeeded


def test_every_task_ran_on_the_celery_worker(deployment: Deployment) -> None:
    result = deployment.result
    for task in result.tasks:
        # The scheduler handed it to the CeleryExecutor, on this deployment's own queue ...
        assert task.scheduler_executor == "CeleryExecutor", task
        assert task.executor is None, "no per-task executor override: the deployment's default ran it"
        assert task.queue == deployment.queue, task
        # ... which sent a Celery task that our worker, by name, received and finished.
        assert task.external_executor_id, task
        assert task.celery_status == "SUCCESS", task
        assert task.celery_worker == deployment.worker_name, task
        assert task.in_worker_log, task
        assert task.pid and task.hostname, task
    assert len({t.external_executor_id for t in result.tasks}) == 3
    assert result.ran_on_celery_worker


def test_the_provider_package_worked_inside_the_worker(deployment: Deployment) -> None:
    files = list((deployment.dlq_dir / "entries").rglob("*.jsonl"))
    assert len(files) == 1, files
    entries = [json.loads(line) for line in files[0].read_text().splitlines() if line.strip()]
    assert len(entries) == 1
    entry = entries[0]
    assert entry["dag_id"] == "deploy_check" and entry["task_id"] == "dead_letter"
    assert entry["run_id"] == deployment.result.run_id
    assert entry["record_key"] == "R-42", "the run's conf reached the worker"
    assert entry["payload"]["password"] != "not-to-be-stored"


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
    assert (deployment.logs_dir / "celery-worker.log").stat().st_size > 0, "logs stay for debugging"


def test_cli_names_a_missing_dags_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = distributed.main(["--dags-folder", str(tmp_path / "missing"), "--dag-id", "x"])
    assert code == 2
    assert "does not exist" in capsys.readouterr().err
