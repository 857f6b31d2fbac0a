"""Three tasks for the distributed-deployment proof (tests/deploy): run them on the Celery worker.

`dead_letter` uses this package (`dlq_config.open_dlq`) inside the worker: it writes a DLQ entry to
`AIRFLOW_INTEGRATIONS_DLQ` (set by the test) and reads it back, so the provider is importable there.
"""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime

from airflow.sdk import dag, get_current_context, task


@dag(dag_id="deploy_check", schedule=None, start_date=datetime(2026, 1, 1, tzinfo=UTC), catchup=False)
def deploy_check():
    @task
    def prepare() -> dict:
        context = get_current_context()
        conf = context["dag_run"].conf or {}
        return {
            "record_key": str(conf.get("record_key", "R-1")),
            "pid": os.getpid(),
            "host": socket.gethostname(),
        }

    @task
    def dead_letter(prepared: dict) -> dict:
        from airflow_provider_integrations.core.dlq import DLQEntry, DLQFilter, RunContext
        from airflow_provider_integrations.dlq_config import default_dlq_uri, open_dlq

        context = get_current_context()
        ti = context["ti"]
        run = RunContext(dag_id=ti.dag_id, task_id=ti.task_id, run_id=ti.run_id, try_number=ti.try_number)
        store = open_dlq()
        entry = DLQEntry.create(
            system="deploy",
            stream="check",
            operation="upsert",
            record_key=prepared["record_key"],
            payload={"id": prepared["record_key"], "password": "not-to-be-stored"},
            error=("RecordError", "written by the Celery worker"),
            context=run,
        )
        store.write([entry])
        mine = [e for e in store.find(DLQFilter(system="deploy")) if e.run_id == ti.run_id]
        assert [e.id for e in mine] == [entry.id], mine
        return {"uri": default_dlq_uri(), "entry_id": entry.id, "payload": dict(mine[0].payload or {})}

    @task
    def verify(prepared: dict, written: dict) -> str:
        assert written["payload"]["id"] == prepared["record_key"]
        assert written["payload"]["password"] != "not-to-be-stored", "the DLQ must redact secrets"
        return written["entry_id"]

    prepared = prepare()
    verify(prepared, dead_letter(prepared))


deploy_check()
