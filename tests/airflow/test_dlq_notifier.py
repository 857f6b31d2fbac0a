"""DeadLetterNotifier: in a real `dag.test()` run every failed try becomes exactly one DLQ entry, with
its context and input and without secrets; the callback is idempotent and never raises."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_integrations.core.dlq import LocalDLQStore
from airflow_provider_integrations.notifiers.dlq import DeadLetterNotifier, default_task_args
from tests.operators.conftest import airflow_home  # noqa: F401 - the fixture, shared

DAG_FILES = Path(__file__).parent / "dag_files"
PASSWORD = "pw-Very-Secret-4711"
API_KEY = "key-Very-Secret-0815"
SECRET_CONN = {
    "conn_type": "http",
    "host": "api.example.com",
    "login": "svc-integrations",
    "password": PASSWORD,
    "extra": {"api_key": API_KEY},
}


@pytest.fixture(scope="module")
def failed_run(airflow_home: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:  # noqa: F811
    """One run of dlq_notifier_dag.py: its run id, task states and the DLQ directory it wrote."""
    dlq = tmp_path_factory.mktemp("notifier") / "dlq"
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAG_FILES),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW_CONN_NOTIFIER_SECRET": json.dumps(SECRET_CONN),
        "DLQ_TEST_DIR": str(dlq),
    }
    result = subprocess.run(
        [sys.executable, str(DAG_FILES / "dlq_notifier_dag.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    line = next((x for x in result.stdout.splitlines() if x.startswith("RUN ")), None)
    assert line, result.stdout[-3000:] + result.stderr[-3000:]
    _, run_id, state, states = line.split(" ", 3)
    return {"run_id": run_id, "state": state, "states": states, "dlq": dlq}


def stored_lines(dlq: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for f in sorted(dlq.rglob("*.jsonl")) for x in f.read_text().splitlines() if x]


def test_each_failed_try_is_one_entry_with_its_context_and_input(failed_run: dict[str, Any]) -> None:
    assert failed_run["state"] == "failed"
    assert "'flaky': 'success:3'" in failed_run["states"], "retried twice, then succeeded"
    assert "'broken': 'failed:3'" in failed_run["states"]
    lines = stored_lines(failed_run["dlq"])
    tries = sorted((x["task_id"], x["try_number"]) for x in lines)
    expected = [("broken", 1), ("broken", 2), ("broken", 3), ("flaky", 1), ("flaky", 2), ("leaky", 1)]
    assert tries == expected, "one stored line per failed try, none for the successful one"

    entries = {(e.task_id, e.try_number): e for e in LocalDLQStore(failed_run["dlq"]).find()}
    assert sorted(entries) == expected
    flaky = entries[("flaky", 2)]
    assert (flaky.system, flaky.stream, flaky.operation, flaky.error_class) == (
        "airflow",
        "Account",
        "task_failure",
        "RuntimeError",
    )
    assert flaky.message == "could not load s3://raw/salesforce/Account/20250304/manifest.json on try 2"
    assert (flaky.dag_id, flaky.run_id, flaky.status.value) == (
        "dlq_notifier_test",
        failed_run["run_id"],
        "new",
    )
    assert flaky.payload is not None
    assert flaky.payload["input"]["manifest_uri"] == "s3://raw/salesforce/Account/20250304/manifest.json", (
        "the rendered template field, not the template"
    )
    assert flaky.payload["operator"] == "FailingOperator"
    assert "/dags/dlq_notifier_test/runs/" in flaky.payload["log_url"]
    assert flaky.payload["log_url"].endswith("/tasks/flaky?try_number=2")
    assert entries[("broken", 3)].stream == "customers"
    assert len({e.id for e in entries.values()}) == 6


def test_no_secret_of_a_connection_reaches_the_dlq(failed_run: dict[str, Any]) -> None:
    leaky = next(x for x in stored_lines(failed_run["dlq"]) if x["task_id"] == "leaky")
    assert leaky["message"].endswith("(login failed for password=***)")
    # Airflow's masker hid it first; the store also redacts the name "credential".
    assert leaky["payload"]["input"]["credential"] == "***REDACTED***"
    for path in failed_run["dlq"].rglob("*"):
        if path.is_file():
            text = path.read_text()
            assert PASSWORD not in text and API_KEY not in text, path


def context(ti: Any, error: BaseException | None) -> dict[str, Any]:
    return {"ti": ti, "task": ti.task, "run_id": ti.run_id, "exception": error}


def fake_ti(try_number: int = 1) -> SimpleNamespace:
    options = {"window": timedelta(hours=1), "client_secret": "abc-123-xyz"}
    task = SimpleNamespace(template_fields=("stream", "options"), stream="Invoice__c", options=options)
    return SimpleNamespace(
        dag_id="d",
        task_id="t",
        run_id="manual__1",
        try_number=try_number,
        map_index=-1,
        log_url="http://airflow/dags/d/runs/manual__1/tasks/t",
        task=task,
    )


def test_a_callback_run_twice_stores_one_entry(tmp_path: Path) -> None:
    notifier = DeadLetterNotifier(str(tmp_path))
    ti = fake_ti()
    notifier(context(ti, ValueError("first")))
    notifier(context(ti, ValueError("first")))
    notifier(context(fake_ti(try_number=2), ValueError("first")))
    entries = LocalDLQStore(tmp_path).find()
    assert sorted(e.try_number or 0 for e in entries) == [1, 2]
    assert len(list(tmp_path.rglob("*.jsonl"))) == 2
    payload = entries[0].payload
    assert payload is not None
    assert payload["input"]["options"] == {"window": "1:00:00", "client_secret": "***REDACTED***"}


def test_a_failing_callback_logs_and_never_raises(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    DeadLetterNotifier("ftp://nowhere/dlq")(context(fake_ti(), ValueError("boom")))
    DeadLetterNotifier("{{ no_such_function() }}")(context(fake_ti(), ValueError("boom")))
    DeadLetterNotifier(str(tmp_path))({"run_id": "r"})
    assert caplog.text.count("could not write the task failure to the DLQ") == 2
    assert not list(tmp_path.rglob("*.jsonl"))


def test_a_failure_without_an_exception_is_still_recorded(tmp_path: Path) -> None:
    DeadLetterNotifier(str(tmp_path))(context(fake_ti(), None))
    (entry,) = LocalDLQStore(tmp_path).find()
    assert entry.error_class == "TaskFailed"


def test_default_task_args_are_accepted_by_airflow(tmp_path: Path) -> None:
    from airflow.sdk import DAG, BaseOperator
    from airflow.serialization.serialized_objects import DagSerialization

    args = default_task_args(str(tmp_path), retries=4)
    assert args["on_retry_callback"] is args["on_failure_callback"]
    with DAG("args", schedule=None, start_date=datetime(2025, 1, 1, tzinfo=UTC), default_args=args) as dag:
        task = BaseOperator(task_id="t")
    assert (task.retries, task.retry_exponential_backoff, task.max_retry_delay) == (
        4,
        2.0,
        timedelta(minutes=30),
    )
    scheduled = DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag)).get_task("t")
    assert scheduled.retry_exponential_backoff == 2.0
    assert scheduled.execution_timeout == timedelta(hours=2)
