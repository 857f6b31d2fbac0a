"""Reverse ETL: push the new and changed rows of a Snowflake model into a SaaS object."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from contextlib import ExitStack, closing
from typing import Any

from airflow.sdk import Asset, BaseOperator, Context

from airflow_provider_integrations.core.errors import ConfigError
from airflow_provider_integrations.core.reverse_etl.run import SyncRun
from airflow_provider_integrations.core.reverse_etl.settings import Endpoints, RunOptions
from airflow_provider_integrations.core.reverse_etl.settings import default_state_table as default_state_table
from airflow_provider_integrations.core.reverse_etl.spec import SyncSpec
from airflow_provider_integrations.core.reverse_etl.summary import SyncSummary
from airflow_provider_integrations.dlq_config import open_dlq
from airflow_provider_integrations.hooks.registry import hook_for
from airflow_provider_integrations.hooks.snowflake_types import column_types
from airflow_provider_integrations.operators.extract import run_context
from airflow_provider_integrations.operators.outcomes import task_outcomes
from airflow_provider_integrations.triggers.async_batches import batch_trigger, finished_job

log = logging.getLogger(__name__)
PROGRESS_KEY = "sync_progress"


def destination_asset(conn_id: str, target: str) -> Asset:
    """The Airflow Asset a sync updates: the destination object behind a connection."""
    return Asset(f"integrations://{conn_id.lower()}/{target.lower()}")


class SnowflakeToSaaSOperator(BaseOperator):
    """Sync a Snowflake model (a table or a query) into a destination object, sending only what changed.

    A state table in Snowflake remembers each key's delivered version and destination id; transient
    failures are resent, permanent ones and bad rows (NULL or duplicated keys, NaN) go to the DLQ with
    their reason. Returns the run's summary (XCom). The full guide: docs/reverse-etl.md.

    :param model: the table, or one SELECT statement, to sync (templated).
    :param key: the model column that identifies a row (unique and not NULL).
    :param mapping: model column -> destination field (dots make nested fields).
    :param external_id: the destination field holding the model's key (the upsert key).
    :param conn_id: the destination connection.
    :param target: the destination object (Salesforce `Account`, Stripe `customers`...).
    :param mode: `upsert`, `update`, `insert`, `mirror` or `delete`.
    :param snowflake_conn_id: the Snowflake connection the model and the state table live in.
    :param state_table: the sync-state table (default `SYNC_STATE__<model>__<conn_id>__<target>`).
    :param id_field: the destination's record id field, to update or delete by id (Salesforce `Id`).
    :param batch_size: rows planned, sent and recorded together (1 to 10,000).
    :param max_delete_share: mirror mode refuses to delete more than this share of what it delivered.
    :param max_rejected_share: the task fails when more than this share (0 to 1) of the model's rows
        are refused; NULL and duplicated keys are counted before anything is sent.
    :param transient_retries: resends of a transiently failing record within the run.
    :param retry_backoff: the first wait before a resend, in seconds (doubling).
    :param dry_run: report what would be sent, refused and deleted; send nothing.
    :param dlq_uri: where dead letters go (a directory, `s3://...` or `sql://...`).
    :param deferrable: hand large batches to a bulk job waited on by a trigger, freeing the worker.
    :param bulk_threshold: the smallest batch a deferrable task sends as a bulk job.
    :param poll_interval: seconds between the trigger's checks of a bulk job.
    :param page_rows: the plan is read from Snowflake in pages of this many rows (bounds memory).
    """

    template_fields: Sequence[str] = ("model", "dlq_uri", "state_table")

    def __init__(
        self,
        *,
        model: str,
        key: str,
        mapping: Mapping[str, str],
        external_id: str,
        conn_id: str,
        target: str,
        mode: str = "upsert",
        snowflake_conn_id: str = "snowflake_default",
        state_table: str | None = None,
        id_field: str | None = None,
        batch_size: int = 10_000,
        max_delete_share: float = 0.1,
        max_rejected_share: float = 0.1,
        transient_retries: int = 3,
        retry_backoff: float = 1.0,
        dry_run: bool = False,
        dlq_uri: str | None = None,
        deferrable: bool = False,
        bulk_threshold: int = 2_000,
        poll_interval: float = 10.0,
        page_rows: int = 50_000,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("outlets", [destination_asset(conn_id, target)])
        super().__init__(**kwargs)
        if not isinstance(mapping, Mapping):
            raise ConfigError(f"mapping must map model columns to destination fields, got {mapping!r}")
        self.spec = SyncSpec(
            target=target,
            key=key,
            mapping=dict(mapping),
            external_id=external_id,
            mode=mode,
            id_field=id_field,
            batch_size=batch_size,
            max_delete_share=max_delete_share,
            transient_retries=transient_retries,
            max_rejected_share=max_rejected_share,
        )
        self.options = RunOptions(page_rows, retry_backoff, dry_run, bulk_threshold if deferrable else None)
        self.model, self.conn_id, self.snowflake_conn_id = model, conn_id, snowflake_conn_id
        self.state_table = state_table or default_state_table(model, conn_id, target)
        self.dlq_uri, self.poll_interval = dlq_uri, poll_interval
        if "{{" not in self.model + self.state_table:  # templated names are checked when the task runs
            self._endpoints()

    def execute(self, context: Context) -> dict[str, Any]:
        return self._sync(context, SyncSummary(mode=self.spec.mode, dry_run=self.options.dry_run))

    def resume_bulk(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Back from the trigger: record the bulk job's per-record results, then sync what is left."""
        progress = context["ti"].xcom_pull(task_ids=self.task_id, key=PROGRESS_KEY)
        summary = SyncSummary(**progress) if progress else SyncSummary(mode=self.spec.mode)
        return self._sync(context, summary, event)

    def _sync(self, context: Context, summary: SyncSummary, event: Mapping[str, Any] | None = None) -> Any:
        from airflow_provider_integrations.hooks.snowflake import SnowflakeHook

        with task_outcomes(), ExitStack() as opened:
            job_id = finished_job(event) if event is not None else None
            endpoints = self._endpoints()  # names are refused before any connection is opened
            hook = hook_for(self.conn_id)
            opened.callback(hook.close)
            destination = hook.get_conn()
            warehouse = opened.enter_context(
                closing(SnowflakeHook(snowflake_conn_id=self.snowflake_conn_id).get_conn())
            )
            run = SyncRun(
                self.spec,
                endpoints,
                destination,
                warehouse,
                run_context(context),
                open_dlq=lambda: opened.enter_context(open_dlq(self.dlq_uri)),
                column_types=column_types,
                options=self.options,
                summary=summary,
            )
            if job_id is not None:
                run.finish_async_batch(job_id)
            if batch := run.run():
                context["ti"].xcom_push(key=PROGRESS_KEY, value=summary.to_dict())
                log.info(
                    "sync %s: bulk job %s (%d records); deferring",
                    self.spec.target,
                    batch.job_id,
                    batch.records,
                )
                trigger = batch_trigger(destination, self.conn_id, batch.job_id, self.poll_interval)
                self.defer(trigger=trigger, method_name="resume_bulk")
        log.info("sync %s -> %s/%s: %s", self.model, self.conn_id, self.spec.target, summary.line())
        return summary.to_dict()

    def _endpoints(self) -> Endpoints:
        return Endpoints(self.model, self.state_table, self.conn_id, self.snowflake_conn_id)
