"""A DAG the trigger tests run with `dag.test()`: a deferrable bulk upsert that waits in the trigger.

BULK_CONN_ID names the Salesforce connection, BULK_PREFIX and BULK_COUNT the records to upsert. With
BULK_CONN_JSON set, that connection is stored in the metadata database (and only there) first, so the
task and the trigger both read it through Airflow's API rather than from an environment variable.
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from airflow.sdk import BaseOperator, dag, task

from airflow_provider_integrations.connectors.salesforce import SalesforceConnector
from airflow_provider_integrations.connectors.salesforce_bulk import BulkWriter
from airflow_provider_integrations.hooks.salesforce import SalesforceHook
from airflow_provider_integrations.triggers.salesforce_bulk import SalesforceBulkJobTrigger

CONN_ID = os.environ.get("BULK_CONN_ID", "sandbox_salesforce")
PREFIX = os.environ.get("BULK_PREFIX", "DEFER")
COUNT = int(os.environ.get("BULK_COUNT", "100"))
KEY = "External_Id__c"


def records() -> list[dict[str, Any]]:
    return [{KEY: f"{PREFIX}-{i:05d}", "Name": f"{PREFIX} {i}"} for i in range(COUNT)]


class DeferredBulkUpsert(BaseOperator):
    """Submits a bulk upsert, frees its worker while the triggerer waits, then reads the results."""

    def __init__(self, *, conn_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.conn_id = conn_id

    def _writer(self) -> tuple[SalesforceHook, BulkWriter]:
        hook = SalesforceHook(self.conn_id)
        connector = hook.get_conn()
        assert isinstance(connector, SalesforceConnector)
        return hook, BulkWriter(connector.client, connector.api)

    def execute(self, context: Any) -> None:
        hook, writer = self._writer()
        try:
            job_id = writer.submit("Account", "upsert", records(), KEY)
        finally:
            hook.close()
        print(f"BULK_SUBMITTED {job_id}", flush=True)
        self.defer(
            trigger=SalesforceBulkJobTrigger(self.conn_id, job_id, poll_interval=0.2, timeout=120),
            method_name="finish",
        )

    def finish(self, context: Any, event: dict[str, Any]) -> dict[str, int]:
        # dag.test() resumes with only the event (the real triggerer adds it to defer()'s kwargs), so
        # everything needed afterwards travels in the event.
        print(f"BULK_EVENT {json.dumps(event)}", flush=True)
        if event["status"] != "done":
            raise RuntimeError(event["message"])
        hook, writer = self._writer()
        try:
            keys = [r[KEY] for r in records()]
            counts = Counter(r.outcome.value for r in writer.results(event["job_id"], KEY, keys))
        finally:
            hook.close()
        return dict(counts)


@dag(dag_id="bulk_defer_test", schedule=None, start_date=datetime(2025, 1, 1, tzinfo=UTC), catchup=False)
def bulk_defer_test() -> None:
    @task
    def report(counts: dict[str, int]) -> None:
        print(f"BULK_COUNTS {json.dumps(counts, sort_keys=True)}", flush=True)

    report(DeferredBulkUpsert(task_id="upsert", conn_id=CONN_ID).output)  # type: ignore[arg-type]


DAG = bulk_defer_test()


def store_connection_in_db(conn_id: str, conn_json: str) -> None:
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session

    data = json.loads(conn_json)
    with create_session() as session:
        session.query(Connection).filter(Connection.conn_id == conn_id).delete()
        session.add(
            Connection(
                conn_id=conn_id,
                conn_type=data["conn_type"],
                host=data.get("host"),
                login=data.get("login"),
                password=data.get("password"),
                extra=json.dumps(data.get("extra") or {}),
            )
        )


if __name__ == "__main__":
    if os.environ.get("BULK_CONN_JSON"):
        store_connection_in_db(CONN_ID, os.environ["BULK_CONN_JSON"])
    run = DAG.test()
    with_states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    print("RUN_STATE", run.state, json.dumps({k: str(v) for k, v in with_states.items()}), flush=True)
    sys.exit(0 if run.state == "success" else 1)
