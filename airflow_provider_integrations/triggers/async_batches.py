"""The Airflow side of a destination's asynchronous batches (`Connector.async_batches`): the trigger that
waits in the triggerer for a job of each system that runs them, and what the trigger's event means."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow.triggers.base import BaseTrigger

from airflow_provider_integrations.connectors.salesforce import SalesforceConnector
from airflow_provider_integrations.core.errors import ConfigError, PermanentError, TransientError
from airflow_provider_integrations.core.reverse_etl.destination import Destination
from airflow_provider_integrations.triggers.salesforce_bulk import SalesforceBulkJobTrigger

TRIGGERS: dict[str, type[BaseTrigger]] = {SalesforceConnector.system: SalesforceBulkJobTrigger}
"""By system: the trigger class, made with (conn_id, job_id, poll_interval), whose event is
`{"status": "done" | "failed" | "timeout", "job_id", "state", "message"}`."""


def batch_trigger(destination: Destination, conn_id: str, job_id: str, poll_interval: float) -> BaseTrigger:
    """The trigger that waits for job `job_id` of `destination`, reached through `conn_id`."""
    trigger = TRIGGERS.get(destination.system) if destination.async_batches else None
    if trigger is None:
        raise ConfigError(f"{destination.system} declares no asynchronous batches a trigger can wait for")
    return trigger(conn_id=conn_id, job_id=job_id, poll_interval=poll_interval)


def finished_job(event: Mapping[str, Any]) -> str:
    """The id of the job a trigger saw finish; a wait that timed out is transient (a retry waits
    again), a job that failed or could not be polled is permanent."""
    job_id, status = str(event.get("job_id")), event.get("status")
    if status == "timeout":
        raise TransientError(f"bulk job {job_id} did not finish in time: {event.get('message')}")
    if status != "done":
        raise PermanentError(f"bulk job {job_id} ended {event.get('state')}: {event.get('message')}")
    return job_id
