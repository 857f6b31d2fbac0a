"""SalesforceBulkJobTrigger: serialized without secrets, run against real jobs in the sandbox, and used by a
deferrable operator in a `dag.test()` run whose task defers and resumes."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from airflow.sdk._shared.module_loading import import_string
from airflow.sdk.serde import deserialize, serialize

from airflow_provider_integrations.connection_types import CONNECTION_TYPES
from airflow_provider_integrations.connectors.base import Connector
from airflow_provider_integrations.connectors.salesforce import SalesforceConnector
from airflow_provider_integrations.connectors.salesforce_bulk import BulkWriter
from airflow_provider_integrations.core.errors import ConfigError, PermanentError, TransientError
from airflow_provider_integrations.hooks.registry import hook_for
from airflow_provider_integrations.hooks.salesforce import SalesforceHook
from airflow_provider_integrations.triggers.async_batches import TRIGGERS, batch_trigger, finished_job
from airflow_provider_integrations.triggers.salesforce_bulk import SalesforceBulkJobTrigger
from tests.connectors.conftest import Admin
from tests.operators.conftest import airflow_home  # noqa: F401 - the fixture, shared

DAG_FILES = Path(__file__).parent / "dag_files"
CONN_ID = "sandbox_salesforce"


@pytest.fixture(scope="module")
def admin(sandbox: Any) -> Admin:
    return Admin(sandbox)


@pytest.fixture
def connections(sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The sandbox's connections as AIRFLOW_CONN_* variables, read through the normal hook path."""
    env = {k: v for k, v in sandbox.env().items() if k.startswith("AIRFLOW_CONN_")}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def secrets(connections: dict[str, str]) -> list[str]:
    conn = json.loads(connections["AIRFLOW_CONN_SANDBOX_SALESFORCE"])
    extra = conn["extra"]
    found = [conn["password"], *(extra[k] for k in ("client_secret", "security_token", "refresh_token"))]
    found.append(extra["private_key"].splitlines()[1])
    assert all(len(s) >= 5 for s in found)
    return found


@pytest.fixture
def writer(connections: dict[str, str]) -> Iterator[BulkWriter]:
    hook = SalesforceHook(CONN_ID)
    connector = hook.get_conn()
    assert isinstance(connector, SalesforceConnector)
    yield BulkWriter(connector.client, connector.api)
    hook.close()


def submit(writer: BulkWriter, prefix: str, n: int = 50, **extra_fields: Any) -> str:
    records = [
        {"External_Id__c": f"{prefix}-{i:04d}", "Name": f"{prefix} {i}", **extra_fields} for i in range(n)
    ]
    return writer.submit("Account", "upsert", records, "External_Id__c")


async def collect(trigger: SalesforceBulkJobTrigger) -> list[Any]:
    return [event async for event in trigger.run()]


def run_trigger(trigger: SalesforceBulkJobTrigger) -> tuple[dict[str, Any], float]:
    """The one event the trigger yields (it must be exactly one) and how long it took."""
    started = time.monotonic()
    events = asyncio.run(collect(trigger))
    assert len(events) == 1, events
    return dict(events[0].payload), time.monotonic() - started


def assert_no_secret(text: str, secrets: list[str]) -> None:
    leaked = [s[:6] + "..." for s in secrets if s in text]
    assert not leaked, f"secrets leaked: {leaked}"


def test_serialize_round_trips_without_secrets(secrets: list[str]) -> None:
    trigger = SalesforceBulkJobTrigger(CONN_ID, "750000000000001AAA", poll_interval=5, timeout=600)
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_integrations.triggers.salesforce_bulk.SalesforceBulkJobTrigger"
    # Through Airflow's own serde, as the trigger's kwargs are stored and read back.
    stored = deserialize(serialize(kwargs))
    rebuilt = import_string(classpath)(**stored)
    assert isinstance(rebuilt, SalesforceBulkJobTrigger)
    assert rebuilt.serialize() == (classpath, kwargs)
    assert set(kwargs) == {"conn_id", "job_id", "poll_interval", "timeout", "deadline"}
    assert abs(kwargs["deadline"] - (time.time() + 600)) < 5, "the deadline is fixed when deferring"
    assert_no_secret(json.dumps(kwargs), secrets)


def test_every_destination_declaring_asynchronous_batches_has_a_trigger_and_only_those() -> None:
    for kind in CONNECTION_TYPES:
        importlib.import_module(f"airflow_provider_integrations.connectors.{kind.system}")
    systems = {connector.system for connector in Connector.__subclasses__()}
    assert systems == {kind.system for kind in CONNECTION_TYPES}
    declaring = {connector.system for connector in Connector.__subclasses__() if connector.async_batches}
    assert declaring == set(TRIGGERS) == {"salesforce"}


def test_a_sync_waits_on_the_trigger_of_its_destination_and_reads_its_event(
    connections: dict[str, str],
) -> None:
    salesforce, stripe = hook_for(CONN_ID), hook_for("sandbox_stripe")
    try:
        trigger = batch_trigger(salesforce.get_conn(), CONN_ID, "750000000000001AAA", 0.5)
        assert isinstance(trigger, SalesforceBulkJobTrigger)
        assert (trigger.conn_id, trigger.job_id, trigger.poll_interval) == (
            CONN_ID,
            "750000000000001AAA",
            0.5,
        )
        with pytest.raises(ConfigError, match="stripe declares no asynchronous batches"):
            batch_trigger(stripe.get_conn(), "sandbox_stripe", "job", 0.5)
    finally:
        salesforce.close()
        stripe.close()
    assert (
        finished_job({"status": "done", "job_id": "750A", "state": "JobComplete", "message": "ok"}) == "750A"
    )
    with pytest.raises(TransientError, match="did not finish in time"):
        finished_job({"status": "timeout", "job_id": "750A", "state": "InProgress", "message": "late"})
    with pytest.raises(PermanentError, match="ended Failed: broken"):
        finished_job({"status": "failed", "job_id": "750A", "state": "Failed", "message": "broken"})


def test_the_provider_declares_the_trigger() -> None:
    from airflow.providers_manager import ProvidersManager

    declared = {(t.package_name, t.trigger_class_name) for t in ProvidersManager().trigger}
    module = "airflow_provider_integrations.triggers.salesforce_bulk"
    assert ("airflow-provider-integrations", module) in declared


def test_run_waits_for_a_real_job_and_fires_done(
    writer: BulkWriter,
    admin: Admin,
    secrets: list[str],
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    with admin.faults("salesforce", seed=31, write_permanent_rate=0.1):
        job_id = submit(writer, "TRIG-DONE", 200)
    payload, took = run_trigger(SalesforceBulkJobTrigger(CONN_ID, job_id, poll_interval=0.2, timeout=60))
    assert payload["status"] == "done" and payload["job_id"] == job_id and payload["state"] == "JobComplete"
    failed = writer.state(job_id).records_failed
    assert failed and f"200 records processed, {failed} failed" in payload["message"]
    logs = caplog.text + "".join(capfd.readouterr())  # Airflow's structlog writes to stdout
    print(f"done event after {took:.2f}s: {payload}")
    assert f"bulk job {job_id} is InProgress" in logs, "the job was still running at the first poll"
    assert_no_secret(json.dumps(payload) + logs, secrets)


def status_calls(admin: Admin) -> int:
    calls = admin.counters()["calls"]
    return sum(
        n for name, n in calls.items() if name.startswith("salesforce GET") and "/jobs/ingest/{id}" in name
    )


def test_polling_does_not_block_the_event_loop_and_survives_an_outage(
    writer: BulkWriter, admin: Admin, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    job_id = submit(writer, "TRIG-SLOW")
    trigger = SalesforceBulkJobTrigger(CONN_ID, job_id, poll_interval=0.1, timeout=60)
    before = status_calls(admin)
    gaps: list[float] = []

    async def ticker() -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.01)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    async def scenario() -> list[Any]:
        ticking = asyncio.create_task(ticker())
        waiting = asyncio.create_task(collect(trigger))
        # Every call is slow until the first status call is answered; then the API answers 503 for a
        # second, so the next poll must be retried by the client. Admin calls block: run them in threads.
        while await asyncio.to_thread(status_calls, admin) == before:
            await asyncio.sleep(0.05)
        outage = admin.faults("salesforce", down=True)
        await asyncio.to_thread(outage.__enter__)
        await asyncio.sleep(1.0)
        await asyncio.to_thread(outage.__exit__, None, None, None)
        try:
            return await waiting
        finally:
            ticking.cancel()

    with admin.faults("salesforce", rate_slow=1.0, slow_seconds=0.3):
        started = time.monotonic()
        events = asyncio.run(scenario())
        took = time.monotonic() - started
    print(f"slow API, then 1 s down: done after {took:.2f}s, longest event-loop gap {max(gaps):.3f}s")
    assert [e.payload["status"] for e in events] == ["done"]
    assert took > 1.3, "calls were slow, then failing"
    assert max(gaps) < 0.2, "the loop kept running while the trigger waited for HTTP"
    logs = caplog.text + "".join(capfd.readouterr())
    assert "attempt 1 failed (salesforce: SERVER_UNAVAILABLE" in logs and "retrying in" in logs, (
        "the client retried the poll"
    )


def test_a_failed_job_fires_failed_with_its_message(writer: BulkWriter) -> None:
    job_id = submit(writer, "TRIG-FAIL", 3, No_Such_Field__c="x")
    payload, _ = run_trigger(SalesforceBulkJobTrigger(CONN_ID, job_id, poll_interval=0.1))
    assert payload["status"] == "failed" and payload["state"] == "Failed"
    assert "No_Such_Field__c" in payload["message"] and job_id in payload["message"]


def test_an_aborted_job_fires_failed(writer: BulkWriter) -> None:
    job_id = submit(writer, "TRIG-ABORT", 3)
    writer.job.client.request("PATCH", f"{writer.job.base}/{job_id}", json={"state": "Aborted"})
    payload, _ = run_trigger(SalesforceBulkJobTrigger(CONN_ID, job_id, poll_interval=0.1))
    assert (payload["status"], payload["state"]) == ("failed", "Aborted")
    assert "ended Aborted" in payload["message"]


def test_a_job_that_never_ends_times_out(writer: BulkWriter) -> None:
    # An ingest job whose upload is never closed stays Open.
    job_id = writer.job.create({"object": "Account", "operation": "insert", "contentType": "CSV"})
    payload, took = run_trigger(SalesforceBulkJobTrigger(CONN_ID, job_id, poll_interval=0.2, timeout=1))
    assert (payload["status"], payload["state"]) == ("timeout", "Open")
    assert 0.9 < took < 5 and "still Open" in payload["message"]
    _, kwargs = SalesforceBulkJobTrigger(CONN_ID, job_id, timeout=3600).serialize()
    restarted = SalesforceBulkJobTrigger(**{**kwargs, "deadline": time.time() - 1})
    assert run_trigger(restarted)[0]["status"] == "timeout", "a restart does not extend the deadline"


def test_refused_credentials_and_bad_connections_fire_failed_clearly(
    connections: dict[str, str],
    secrets: list[str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    conn = json.loads(connections["AIRFLOW_CONN_SANDBOX_SALESFORCE"])
    wrong = conn["password"] + "-wrong-0001"
    monkeypatch.setenv("AIRFLOW_CONN_BROKEN_SF", json.dumps({**conn, "password": wrong}))
    cases = {
        "broken_sf": "AuthError",
        "no_such_connection": "isn't defined",
        "sandbox_stripe": "is not a Salesforce connection",
    }
    for conn_id, expected in cases.items():
        payload, took = run_trigger(
            SalesforceBulkJobTrigger(conn_id, "750000000000001AAA", poll_interval=0.1)
        )
        assert payload["status"] == "failed" and payload["state"] is None, payload
        print(payload["message"])
        assert expected in payload["message"] and conn_id in payload["message"], payload
        assert took < 10, "a configuration error is not retried"
        assert_no_secret(json.dumps(payload), [*secrets, wrong])
    unknown, _ = run_trigger(SalesforceBulkJobTrigger(CONN_ID, "750000000000999AAA", poll_interval=0.1))
    assert unknown["status"] == "failed" and "NOT_FOUND" in unknown["message"]
    logs = caplog.text + "".join(capfd.readouterr())
    assert "AuthError" in logs, "the trigger logs why it gave up"
    assert_no_secret(logs, [*secrets, wrong])


@pytest.mark.parametrize("connection_in", ["env", "database"])
def test_a_deferrable_operator_defers_and_resumes_in_dag_test(
    sandbox: Any,
    admin: Admin,
    airflow_home: Path,  # noqa: F811 - the fixture imported above
    secrets: list[str],
    connection_in: str,
) -> None:
    prefix = f"DEFER-{uuid.uuid4().hex[:6].upper()}"
    env = {
        **os.environ,
        **sandbox.env(),
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAG_FILES),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "BULK_PREFIX": prefix,
        "BULK_COUNT": "400",
    }
    if connection_in == "database":
        # Only in the metadata database: the task and the trigger read it through Airflow's API.
        env["BULK_CONN_ID"] = "bulk_db_salesforce"
        env["BULK_CONN_JSON"] = env["AIRFLOW_CONN_SANDBOX_SALESFORCE"]
    with admin.faults("salesforce", seed=41, write_permanent_rate=0.05, write_transient_rate=0.05):
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, str(DAG_FILES / "bulk_defer_dag.py")],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        took = time.monotonic() - started
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    print(f"dag.test() run with the connection in {connection_in}: {took:.1f}s")

    lines = output.splitlines()

    def first(text: str) -> int:
        return next(i for i, line in enumerate(lines) if text in line)

    job_id = lines[first("BULK_SUBMITTED")].split()[-1]
    order = [
        first("BULK_SUBMITTED"),
        first("Pausing task as DEFERRED"),
        first("new_state=deferred"),
        first("[DAG TEST] running trigger in line"),
        first(f"bulk job {job_id} complete"),
        first("BULK_EVENT"),
        first("BULK_COUNTS"),
    ]
    assert order == sorted(order), "submit, defer, trigger fires, resume, results: in that order"
    event = json.loads(lines[first("BULK_EVENT")].partition(" ")[2])
    assert event["status"] == "done" and event["job_id"] == job_id
    counts = json.loads(lines[first("BULK_COUNTS")].partition(" ")[2])
    assert sum(counts.values()) == 400 and counts["success"] < 400 and counts["permanent"] > 0
    assert (
        len([k for k in admin.written("salesforce", "Account") if k.startswith(prefix)]) == counts["success"]
    )
    assert "RUN_STATE success" in output
    assert_no_secret(output, secrets)


def _load_distributed() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "scripts" / "distributed.py"
    spec = importlib.util.spec_from_file_location("deploy_distributed", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_real_triggerer_waits_with_the_connection_from_the_database(
    sandbox: Any, admin: Admin, secrets: list[str], tmp_path: Path
) -> None:
    """api-server, scheduler, dag-processor, Celery worker and `airflow triggerer` on PostgreSQL and Redis
    (scripts/distributed.py); the connection exists only in the metadata database, so the triggerer
    reads it through the Execution API from the trigger's worker thread."""
    distributed = _load_distributed()
    env = sandbox.env()
    conn = json.loads(env.pop("AIRFLOW_CONN_SANDBOX_SALESFORCE"))
    prefix = f"RT-{uuid.uuid4().hex[:6].upper()}"  # External_Id__c holds 20 characters
    extra_env = {**env, "BULK_CONN_ID": "bulk_db_salesforce", "BULK_PREFIX": prefix, "BULK_COUNT": "300"}
    with distributed.DistributedAirflow(
        DAG_FILES, work_dir=tmp_path, extra_env=extra_env, triggerer=True
    ) as airflow:
        airflow._api(
            "POST",
            "/api/v2/connections",
            json={
                "connection_id": "bulk_db_salesforce",
                "conn_type": conn["conn_type"],
                "host": conn["host"],
                "login": conn["login"],
                "password": conn["password"],
                "extra": json.dumps(conn["extra"]),
            },
        )
        result = airflow.run_dag("bulk_defer_test", timeout=120)
        xcom = dict(airflow._query("SELECT task_id, value FROM xcom WHERE dag_id = 'bulk_defer_test'"))
    print(result.table(), json.dumps(result.timings), sep="\n")
    assert result.state == "success", f"{result.table()}\nlogs: {tmp_path}"
    assert [(t.task_id, t.state, t.try_number) for t in result.tasks] == [
        ("upsert", "success", 1),
        ("report", "success", 1),
    ]
    assert xcom["upsert"] == {"success": 300}

    task_logs = tmp_path / "airflow_home" / "logs" / "dag_id=bulk_defer_test"
    (task_log,) = task_logs.glob("run_id=*/task_id=upsert/attempt=1.log")
    (trigger_log,) = task_logs.glob("run_id=*/task_id=upsert/attempt=1.log.trigger.*.log")
    task_text, trigger_text = task_log.read_text(), trigger_log.read_text()
    job_id = task_text.split("BULK_SUBMITTED ", 1)[1].split('"', 1)[0]
    assert task_text.index("Pausing task as DEFERRED") < task_text.index("BULK_EVENT")
    assert f"bulk job {job_id} complete: 300 records processed" in trigger_text
    assert "Trigger fired event" in trigger_text
    everything = "".join(p.read_text(errors="replace") for p in tmp_path.rglob("*.log"))
    assert_no_secret(everything, secrets)


def test_a_job_id_that_is_not_a_salesforce_id_fires_failed_without_a_request(
    connections: dict[str, str], admin: Admin
) -> None:
    """Once in a path, `../../sobjects/Account` would read the Account description as a job status."""

    def api_calls() -> int:
        return sum(n for name, n in admin.counters()["calls"].items() if name.startswith("salesforce GET"))

    before = api_calls()
    payload, took = run_trigger(
        SalesforceBulkJobTrigger(CONN_ID, "../../sobjects/Account", poll_interval=0.1, timeout=5)
    )
    assert payload["status"] == "failed" and "bulk job id" in payload["message"], payload
    assert api_calls() == before and took < 5
