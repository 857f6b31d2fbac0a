"""The DLQ replay DAG of the package (`dags/dlq_replay.py`, `integrations_dlq_replay`) end to end: real
reverse-ETL dead letters (a Snowflake model synced into the emulated Salesforce while it refuses some
records for good) are re-delivered by a run of the DAG itself, `dag.test()` with the entry ids in the
run's conf, once the fault is gone. Only the chosen entries are sent (once each) and marked replayed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from airflow_provider_integrations.core.dlq import DLQStatus, LocalDLQStore
from tests.connectors.conftest import Admin
from tests.operators.conftest import airflow_home, snowflake_query  # noqa: F401 - fixtures, shared
from tests.operators.test_reverse_etl import (  # noqa: F401 - fixtures, shared
    admin,
    model,
    sandbox_env,
    sync,
    writes,
)

ROOT = Path(__file__).resolve().parents[2]
DAG_FILE = ROOT / "dags" / "dlq_replay.py"
DAG_ID = "integrations_dlq_replay"
FAULTS = {"seed": 11, "write_permanent_rate": 0.2}
CHOSEN = 3

# Runs in a subprocess so that Airflow reads AIRFLOW_HOME (its metadata database) and the connections
# from the environment the test gives it; prints the run's state, task states and the replay's XCom.
RUN_DAG = """
import json, os, runpy, sys

dag = runpy.run_path(os.environ["REPLAY_DAG_FILE"])["dag"]
run = dag.test(run_conf=json.loads(os.environ["REPLAY_CONF"]))

from airflow.models.xcom import XComModel
from airflow.utils.session import create_session
from sqlalchemy import select

with create_session() as session:
    rows = session.scalars(
        select(XComModel).where(
            XComModel.dag_id == run.dag_id, XComModel.run_id == run.run_id, XComModel.key == "return_value"
        )
    ).all()
    xcom = {row.task_id: XComModel.deserialize_value(row) for row in rows}
    tasks = {ti.task_id: str(ti.state) for ti in run.get_task_instances(session=session)}
    conf = dict(run.conf or {})
print("REPLAY_RESULT " + json.dumps(
    {"dag_id": run.dag_id, "run_id": run.run_id, "state": str(run.state), "conf": conf, "tasks": tasks,
     "xcom": xcom}
))
sys.exit(0 if run.state == "success" else 1)
"""


def run_replay_dag(
    sandbox: Any, home: Path, dlq: Path, conf: dict[str, Any]
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    env = {
        **os.environ,
        **sandbox.env(),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW_INTEGRATIONS_DLQ": str(dlq),
        "REPLAY_DAG_FILE": str(DAG_FILE),
        "REPLAY_CONF": json.dumps(conf),
    }
    done = subprocess.run(
        [sys.executable, "-c", RUN_DAG], env=env, capture_output=True, text=True, timeout=240, cwd=ROOT
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("REPLAY_RESULT ")]
    result = json.loads(lines[-1].removeprefix("REPLAY_RESULT ")) if lines else {}
    return done, result


def test_the_replay_dag_redelivers_the_chosen_dead_letters_once(
    sandbox: Any,
    airflow_home: Path,  # noqa: F811
    model: Any,  # noqa: F811
    admin: Admin,  # noqa: F811
    tmp_path: Path,
) -> None:
    dlq = tmp_path / "dlq"
    table = model(60)
    with admin.faults("salesforce", **FAULTS):
        first = sync(table, dlq)
    store = LocalDLQStore(dlq)
    dead = store.find()
    assert len(dead) == first["failed_permanently"] > CHOSEN, first
    assert all(e.operation == "reverse_etl.upsert" and e.status is DLQStatus.NEW for e in dead)
    chosen = sorted(dead, key=lambda e: e.id)[:CHOSEN]
    others = {e.id: e for e in dead if e not in chosen}
    chosen_keys = {str(e.record_key) for e in chosen}
    before = writes(admin)

    # The fault profile is gone (admin.faults removed it): the DAG's run re-delivers the chosen entries.
    done, result = run_replay_dag(sandbox, airflow_home, dlq, {"entry_ids": [e.id for e in chosen]})
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert (result["dag_id"], result["state"], result["tasks"]) == (DAG_ID, "success", {"replay": "success"})
    assert result["conf"] == {"entry_ids": [e.id for e in chosen]}
    report = result["xcom"]["replay"]
    assert report["selected"] == CHOSEN, "only the entries named in the run's conf were selected"
    assert sorted(report["replayed"]) == sorted(e.id for e in chosen)
    assert (report["failed_again"], report["superseded"], report["skipped"]) == ([], [], {})

    after = {e.id: e for e in store.find()}
    assert set(after) == {e.id for e in dead}, "no entry added or lost"
    for entry in chosen:
        replayed = after[entry.id]
        assert replayed.status is DLQStatus.REPLAYED, replayed
        assert (replayed.status_note or "").startswith(f"replayed by {DAG_ID}/replay/{result['run_id']}")
    for entry_id, entry in others.items():
        assert after[entry_id] == entry, "entries not chosen are untouched"

    now = writes(admin)
    assert {k for k in now if now[k] != before.get(k, 0)} == chosen_keys, "only the chosen records were sent"
    assert all(now[k] == before[k] + 1 for k in chosen_keys), "each chosen record was sent exactly once"
    written = admin.written("salesforce", "Account")
    for entry in chosen:
        assert entry.payload is not None
        record = entry.payload["record"]
        stored = next(r for r in written.values() if r.get("External_Id__c") == entry.record_key)
        assert {k: stored[k] for k in record} == record, "the parked version arrived"

    # The sync state knows the replayed versions arrived; the other rows stay parked until they change.
    assert sync(table, dlq)["sent"] == 0
    assert writes(admin) == now
