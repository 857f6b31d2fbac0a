"""Wait for a Salesforce Bulk API 2.0 ingest job in the triggerer instead of on a worker."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.sdk.exceptions import AirflowNotFoundException
from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_integrations.connectors.salesforce import SalesforceConnector
from airflow_provider_integrations.connectors.salesforce_bulk import BulkJobState, BulkWriter
from airflow_provider_integrations.core.errors import ConfigError, IntegrationError, TransientError
from airflow_provider_integrations.hooks.base import ConnectorHook
from airflow_provider_integrations.hooks.registry import hook_for


class SalesforceBulkJobTrigger(BaseTrigger):
    """Fires once, when a Bulk API 2.0 ingest job ends or `timeout` seconds have passed.

    A deferrable operator submits the job, defers with this trigger and reads the results in the method
    it resumes in; take the job id from the event, which carries everything the resumed method needs::

        def execute(self, context):
            writer = BulkWriter(connector.client, connector.api)  # connector = SalesforceHook(...).get_conn()
            job_id = writer.submit("Account", "upsert", rows, "External_Id__c")
            self.defer(trigger=SalesforceBulkJobTrigger(self.conn_id, job_id), method_name="finish")

        def finish(self, context, event):
            if event["status"] != "done":
                raise AirflowException(event["message"])
            results = writer.results(event["job_id"], "External_Id__c", keys)  # a new writer, same keys

    The event's payload is::

        {"status": "done" | "failed" | "timeout", "job_id": ..., "state": ..., "message": ...}

    `state` is the job's last state seen (None if none could be read). "failed" means the job failed or
    was aborted, or the job cannot be polled at all (credentials refused, connection missing or not a
    Salesforce one, job unknown); `message` says which. Transient HTTP errors are retried by the
    connector's client; if they outlast its retries, polling goes on until the timeout.

    Only the connection id is stored with the trigger: the triggerer reads the connection (and its
    secrets) itself, through the same hook a worker uses. `deadline` is set from `timeout` when the
    trigger is made and serialized with it, so a triggerer restart does not extend the wait.
    """

    def __init__(
        self,
        conn_id: str,
        job_id: str,
        poll_interval: float = 10.0,
        timeout: float = 3600.0,
        deadline: float | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        if poll_interval <= 0 or timeout <= 0:
            raise ConfigError(f"poll_interval and timeout must be positive, got {poll_interval}, {timeout}")
        self.conn_id = conn_id
        self.job_id = job_id
        self.poll_interval = float(poll_interval)
        self.timeout = float(timeout)
        self.deadline = float(deadline) if deadline is not None else time.time() + self.timeout

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "conn_id": self.conn_id,
                "job_id": self.job_id,
                "poll_interval": self.poll_interval,
                "timeout": self.timeout,
                "deadline": self.deadline,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        yield TriggerEvent(await self._wait())  # type: ignore[no-untyped-call]

    async def _wait(self) -> dict[str, Any]:
        hook: ConnectorHook | None = None
        writer: BulkWriter | None = None
        state: BulkJobState | None = None
        last_error: TransientError | None = None
        logged: str | None = None
        try:
            while True:
                try:
                    # Reading the connection and every API call block (HTTP, retries that sleep), so they
                    # run in a thread: the triggerer's event loop serves many triggers at once.
                    if writer is None:
                        hook, opened = await asyncio.to_thread(self._open)
                        writer = opened
                    state = await asyncio.to_thread(writer.state, self.job_id)
                    last_error = None
                except TransientError as error:
                    last_error = error
                    self.log.warning("bulk job %s: poll failed after retries (%s)", self.job_id, error)
                except (IntegrationError, AirflowNotFoundException) as error:
                    return self._event(
                        "failed",
                        state,
                        f"cannot poll bulk job {self.job_id} through connection {self.conn_id!r}: "
                        f"{type(error).__name__}: {error}",
                    )
                if state is not None and state.finished:
                    return self._finished(state)
                left = self.deadline - time.time()
                if left <= 0:
                    message = f"bulk job {self.job_id} still {state.state if state else 'unknown'} "
                    message += f"after waiting {self.timeout:.0f}s"
                    if last_error is not None:
                        message += f"; the last poll failed: {last_error}"
                    return self._event("timeout", state, message)
                if state is not None and state.state != logged:
                    logged = state.state
                    self.log.info(
                        "bulk job %s is %s; polling every %gs", self.job_id, logged, self.poll_interval
                    )
                await asyncio.sleep(min(self.poll_interval, left))
        finally:
            if hook is not None:
                hook.close()

    def _finished(self, state: BulkJobState) -> dict[str, Any]:
        if state.done:
            processed = "?" if state.records_processed is None else state.records_processed
            failed = "?" if state.records_failed is None else state.records_failed
            message = f"bulk job {self.job_id} complete: {processed} records processed, {failed} failed"
            return self._event("done", state, message)
        reason = state.error_message or "no message"
        return self._event("failed", state, f"bulk job {self.job_id} ended {state.state}: {reason}")

    def _open(self) -> tuple[ConnectorHook, BulkWriter]:
        hook = hook_for(self.conn_id)
        try:
            connector = hook.get_conn()
            if not isinstance(connector, SalesforceConnector):
                raise ConfigError(f"connection {self.conn_id!r} is not a Salesforce connection")
        except BaseException:
            hook.close()
            raise
        return hook, BulkWriter(connector.client, connector.api)

    def _event(self, status: str, state: BulkJobState | None, message: str) -> dict[str, Any]:
        log = self.log.info if status == "done" else self.log.warning
        log("%s", message)
        return {
            "status": status,
            "job_id": self.job_id,
            "state": state.state if state else None,
            "message": message,
        }
