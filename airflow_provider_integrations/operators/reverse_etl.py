"""Reverse ETL: push the new and changed rows of a Snowflake model into a SaaS object."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from airflow.sdk import Asset, BaseOperator, Context

from airflow_provider_integrations.connectors.base import Connector, WriteOutcome
from airflow_provider_integrations.connectors.delivery import Delivered, deliver
from airflow_provider_integrations.core.dlq import DLQEntry, DLQStore, RunContext
from airflow_provider_integrations.core.errors import ConfigError, PermanentError, TransientError
from airflow_provider_integrations.core.mapping import validate_mapping
from airflow_provider_integrations.core.reverse_etl import (
    KeyCounts,
    Rejection,
    SyncSpec,
    SyncSummary,
    arrived,
    refuse_if_too_many_rejected,
    triage,
)
from airflow_provider_integrations.core.sql import sync_state as sql
from airflow_provider_integrations.core.sql.identifiers import validate_identifier
from airflow_provider_integrations.dlq_config import open_dlq
from airflow_provider_integrations.hooks.registry import hook_for
from airflow_provider_integrations.hooks.snowflake_types import column_types
from airflow_provider_integrations.operators.extract import run_context
from airflow_provider_integrations.operators.outcomes import task_outcomes
from airflow_provider_integrations.triggers.salesforce_bulk import SalesforceBulkJobTrigger

log = logging.getLogger(__name__)
Row = dict[str, Any]


def destination_asset(conn_id: str, target: str) -> Asset:
    """The Airflow Asset a sync updates: the destination object behind a connection."""
    return Asset(f"integrations://{conn_id.lower()}/{target.lower()}")


def default_state_table(model: str, conn_id: str, target: str) -> str:
    """One state table per (model, destination): a table model by its name, a query by its digest."""
    source = (
        model if re.fullmatch(r"[A-Za-z0-9_.$]+", model) else hashlib.sha256(model.encode()).hexdigest()[:12]
    )
    return re.sub(r"[^A-Za-z0-9_]", "_", f"SYNC_STATE__{source}__{conn_id}__{target}").upper()[:255]


class SnowflakeToSaaSOperator(BaseOperator):
    """Sync a Snowflake model (a table or a query) into a destination object, sending only what changed.

    A state table in Snowflake remembers, per model key, the version last delivered and the
    destination's id, so unchanged rows cost no API call. `mode` is `upsert` (on `external_id`),
    `update`, `insert`, `mirror` (upsert, then delete destination records whose key left the model,
    refused when that is more than `max_delete_share` of what was delivered) or `delete`. Transient
    per-record failures are retried within the run and otherwise left for the next one; permanent ones go
    to the DLQ and are not sent again until the row changes or the entry is replayed. `dry_run` reports
    what would be sent and sends nothing. Rows go in batches of `batch_size`, each sent the way the
    connector chooses for its size (Salesforce: Collections up to 2,000 records, Bulk API 2.0 above).
    Returns the run's summary (XCom).

    Rows that cannot be sent are refused one by one into the DLQ with their reason, and the rest are
    delivered: a NULL key (`NullKey`, named `null-key:<row digest>`), a key the model holds more than
    once (`DuplicateKey`: every copy, none delivered), a value with no JSON form such as NaN or Infinity
    (`UnsendableValue`). They are refused again on every run while they stay bad, and sent once fixed;
    the summary counts them by reason (`rejected_reasons`), a dry run counts what it would refuse.

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
        if page_rows < 1:
            raise ConfigError(f"page_rows must be at least 1, got {page_rows}")
        self.model = model
        self.target = target
        self.conn_id = conn_id
        self.snowflake_conn_id = snowflake_conn_id
        self.state_table = state_table or default_state_table(model, conn_id, target)
        if "{{" not in self.model + self.state_table:  # templated names are checked when the task runs
            validate_identifier(self.state_table, "sync state table")
            sql.model_source(self.model)
        self.retry_backoff = retry_backoff
        self.dry_run = dry_run
        self.dlq_uri = dlq_uri
        self.deferrable = deferrable
        self.bulk_threshold = bulk_threshold
        self.poll_interval = poll_interval
        self.page_rows = page_rows
        self._system = ""

    def execute(self, context: Context) -> dict[str, Any]:
        self._context = context
        with task_outcomes():
            summary = self._sync(run_context(context))
        log.info("sync %s -> %s/%s: %s", self.model, self.conn_id, self.spec.target, summary.line())
        return summary.to_dict()

    def resume_bulk(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Back from the trigger: record the bulk job's per-record results, then sync what is left."""
        self._context = context
        progress = context["ti"].xcom_pull(task_ids=self.task_id, key=PROGRESS_KEY)
        summary = SyncSummary(**progress) if progress else SyncSummary(mode=self.spec.mode)
        with task_outcomes():
            self._finish_bulk(event, run_context(context), summary)
            summary = self._sync(run_context(context), summary)
        log.info("sync %s -> %s/%s: %s", self.model, self.conn_id, self.spec.target, summary.line())
        return summary.to_dict()

    def _finish_bulk(self, event: Mapping[str, Any], runs: RunContext, summary: SyncSummary) -> None:
        from airflow_provider_integrations.hooks.snowflake import SnowflakeHook

        job_id, status = str(event.get("job_id")), event.get("status")
        if status == "timeout":
            raise TransientError(f"bulk job {job_id} did not finish in time: {event.get('message')}")
        if status != "done":
            raise PermanentError(f"bulk job {job_id} ended {event.get('state')}: {event.get('message')}")
        hook = hook_for(self.conn_id)
        connector = hook.get_conn()
        conn = SnowflakeHook(snowflake_conn_id=self.snowflake_conn_id).get_conn()
        try:
            cursor = conn.cursor()
            cursor.execute(sql.batch_members(self.state_table), [job_id])
            hashes = {str(k): h for k, h in cursor.fetchall()}
            results = list(connector.bulk_results(job_id, self.spec.external_id, list(hashes)))
            failed = {r.key for r in results if r.outcome is WriteOutcome.PERMANENT}
            records = self._planned_records(conn, failed)
            delivered = [Delivered(r.key, records.get(r.key, {}), r, 1) for r in results]
            writer, dlq = _StateWriter(conn, self.state_table), open_dlq(self.dlq_uri)
            self._record(connector, delivered, [], hashes, self.spec.operation, writer, dlq, runs, summary)
        finally:
            conn.close()
            hook.close()

    def _planned_records(self, conn: Any, keys: set[str]) -> dict[str, dict[str, Any]]:
        """The records of `keys` as planned (for the DLQ entries of a bulk job's refused records)."""
        if not keys:
            return {}
        return {
            row["__KEY"]: self.spec.record(row, row["__KEY"], row.get("__DEST_ID"))
            for rows in self._rows(conn, self._changes())
            for row in rows
            if row["__KEY"] in keys and not row.get("__REJECT")
        }

    def _sync(self, runs: RunContext, summary: SyncSummary | None = None) -> SyncSummary:
        from airflow_provider_integrations.hooks.snowflake import SnowflakeHook

        # Names are refused before any connection is opened or any SQL runs.
        validate_identifier(self.state_table, "sync state table")
        sql.model_source(self.model)
        hook = hook_for(self.conn_id)
        connector = hook.get_conn()
        self._system = connector.system
        conn = SnowflakeHook(snowflake_conn_id=self.snowflake_conn_id).get_conn()
        try:
            cursor = conn.cursor()
            self._check_mapping(connector, cursor)
            cursor.execute(sql.create_state(self.state_table))
            summary = summary or SyncSummary(mode=self.spec.mode, dry_run=self.dry_run)
            # Refusals are found afresh on every pass (a resumed run plans again).
            summary.rejected, summary.rejected_reasons = 0, {}
            counts = KeyCounts(
                *(int(n) for n in self._row(cursor, sql.key_counts(self.model, self.spec.key)))
            )
            summary.model_rows = counts.rows
            refuse_if_too_many_rejected(counts.rejected(), counts.rows, self.spec.max_rejected_share)
            departed = self._departed(cursor, summary) if self.spec.mode == "mirror" else 0
            if self.dry_run:
                self._plan_only(conn, summary, departed)
                return summary
            dlq = open_dlq(self.dlq_uri)
            writer = _StateWriter(conn, self.state_table)
            for query in self._plan():
                self._send(connector, self._rows(conn, query), writer, dlq, runs, summary)
            if self.spec.mode != "delete":
                summary.unchanged = summary.model_rows - summary.planned - summary.rejected
            if departed:
                rows = self._rows(conn, sql.departed(self.model, self.state_table, self.spec.key))
                self._send(connector, rows, writer, dlq, runs, summary, deleting=True)
            return summary
        finally:
            conn.close()
            hook.close()

    def _check_mapping(self, connector: Connector, cursor: Any) -> None:
        """Before anything is sent: the mapping must fit the model's columns and the destination."""
        cursor.execute(sql.columns_of(self.model))
        description = connector.describe(self.spec.target)
        if description is None:
            log.warning(
                "%s gives no description of %s; the mapping is not checked",
                connector.system,
                self.spec.target,
            )
            return
        validate_mapping(
            description,
            self.spec.mapping,
            mode=self.spec.mode,
            external_id=self.spec.external_id,
            column_types=column_types(cursor.description),
        )

    def _plan(self) -> tuple[str, str]:
        """The plan: rows without a key (all refused), then the keyed rows to send (or delete)."""
        keyed = self._deletions() if self.spec.mode == "delete" else self._changes()
        return sql.null_keys(self.model, self.spec.key, self.spec.columns), keyed

    def _changes(self) -> str:
        only_new = self.spec.mode == "insert"
        return sql.changes(self.model, self.state_table, self.spec.key, self.spec.columns, only_new=only_new)

    def _deletions(self) -> str:
        return sql.deletions(self.model, self.state_table, self.spec.key)

    def _departed(self, cursor: Any, summary: SyncSummary) -> int:
        """Mirror's guard, checked before anything is sent."""
        departed = sql.departed(self.model, self.state_table, self.spec.key)
        gone = int(self._scalar(cursor, sql.count_of(departed)))
        delivered = int(self._scalar(cursor, sql.delivered_count(self.state_table)))
        if gone and gone > self.spec.max_delete_share * delivered:
            raise PermanentError(
                f"mirror sync to {self.spec.target} would delete {gone} of {delivered} delivered records, "
                f"more than max_delete_share={self.spec.max_delete_share}; refusing (check the model, or "
                "raise the share for this run)"
            )
        summary.would_delete = gone
        return gone

    def _plan_only(self, conn: Any, summary: SyncSummary, departed: int) -> None:
        """A dry run: the plan read and sorted as a real run sorts it, nothing sent or written."""
        for query in self._plan():
            for rows in self._rows(conn, query):
                sorted_rows = triage(rows, self.spec, self.spec.operation)
                for rejection in sorted_rows.rejected:
                    summary.reject(rejection.reason)
                destination_ids = {row["__KEY"]: row.get("__DEST_ID") for row in rows}
                for key, _ in [*sorted_rows.sendable, *sorted_rows.unknown]:
                    summary.planned += 1
                    if self.spec.mode == "delete":
                        summary.would_delete += 1
                    elif destination_ids[key] is None:
                        summary.would_insert += 1
                    else:
                        summary.would_update += 1
        if self.spec.mode != "delete":
            summary.unchanged = summary.model_rows - summary.planned - summary.rejected
        summary.would_delete = summary.would_delete if self.spec.mode == "delete" else departed
        refuse_if_too_many_rejected(
            summary.rejected_reasons, summary.model_rows, self.spec.max_rejected_share
        )

    @staticmethod
    def _row(cursor: Any, query: str) -> Any:
        cursor.execute(query)
        return cursor.fetchone()

    @classmethod
    def _scalar(cls, cursor: Any, query: str) -> Any:
        return cls._row(cursor, query)[0]

    def _rows(self, conn: Any, query: str) -> Iterator[list[Row]]:
        return read_plan(conn, query, page_rows=self.page_rows, batch_size=self.spec.batch_size)

    def _send(
        self,
        connector: Connector,
        batches: Iterator[list[Row]],
        writer: _StateWriter,
        dlq: DLQStore,
        runs: RunContext,
        summary: SyncSummary,
        *,
        deleting: bool = False,
    ) -> None:
        """Deliver each planned batch, then record every outcome: state, DLQ and the tally. A large batch
        to a system with bulk jobs, in a deferrable task, is submitted and waited on by a trigger."""
        spec = self.spec
        operation = "delete" if deleting else spec.operation

        def write(records: Sequence[Mapping[str, Any]]) -> Any:
            return connector.write(spec.target, operation, records, spec.external_id)

        for rows in batches:
            sorted_rows = triage(rows, spec, operation)
            self._reject(connector, sorted_rows.rejected, dlq, runs, summary)
            sendable, unknown = sorted_rows.sendable, sorted_rows.unknown
            summary.planned += 0 if deleting else len(sendable) + len(unknown)
            row_of = {row["__KEY"]: row for row in rows if not row.get("__REJECT")}
            hashes = {key: row.get("__HASH") for key, row in row_of.items()}
            doubtful = [(k, r) for k, r in sendable if row_of[k].get("__INFLIGHT") == hashes[k] and hashes[k]]
            settled = self._already_there(connector, doubtful)
            if settled:
                summary.reconciled += len(settled)
                writer.record([(k, hashes[k], d, "success", None, False) for k, d in settled.items()])
                sendable = [(k, r) for k, r in sendable if k not in settled]
            writer.inflight([(key, hashes[key]) for key, _ in sendable])
            unknown_reason = [(k, r, ("DestinationUnknown", NO_ID.format(k, operation))) for k, r in unknown]
            self._record(connector, [], unknown_reason, hashes, operation, writer, dlq, runs, summary)
            if self._defers(sendable, operation):
                self._submit_and_defer(connector, sendable, operation, writer, runs, summary)
            delivered = deliver(write, sendable, retries=spec.transient_retries, backoff=self.retry_backoff)
            summary.sent += len(sendable)
            self._record(connector, delivered, [], hashes, operation, writer, dlq, runs, summary)

    def _reject(
        self,
        connector: Connector,
        rejections: Sequence[Rejection],
        dlq: DLQStore,
        runs: RunContext,
        summary: SyncSummary,
    ) -> None:
        """Rows refused before sending: into the DLQ with their reason, counted; the state is left as it
        is, so they are refused again next run while they stay bad. Fails the run past the share."""
        if not rejections:
            return
        # The model row, not a record: nothing here can be replayed before the model is fixed.
        dlq.write(
            [
                self._dead_letter(
                    connector,
                    r.record_key,
                    r.row,
                    (r.reason, r.message),
                    runs,
                    self.spec.operation,
                    kind="row",
                )
                for r in rejections
            ]
        )
        for rejection in rejections:
            summary.reject(rejection.reason)
        refuse_if_too_many_rejected(
            summary.rejected_reasons, summary.model_rows, self.spec.max_rejected_share
        )

    def _record(
        self,
        connector: Connector,
        delivered: Sequence[Delivered],
        refused: Sequence[tuple[str, Mapping[str, Any], tuple[str, str]]],
        hashes: Mapping[str, str | None],
        operation: str,
        writer: _StateWriter,
        dlq: DLQStore,
        runs: RunContext,
        summary: SyncSummary,
    ) -> None:
        """Outcomes into the state table, permanent failures (and records refused unsent) into the DLQ."""
        dead = [self._dead_letter(connector, k, r, reason, runs, operation) for k, r, reason in refused]
        outcomes = [(k, hashes[k], None, "dead_letter", reason[1], False) for k, _, reason in refused]
        for item in delivered:
            result = item.result
            outcomes.append(_outcome(item, hashes[item.key], operation == "delete"))
            summary.retried += item.attempts > 1
            if result.outcome is WriteOutcome.SUCCESS:
                summary.succeeded += 1
                summary.deleted += operation == "delete"
            elif result.outcome is WriteOutcome.PERMANENT:
                reason = (result.code or "DestinationRejected", result.message or "")
                dead.append(self._dead_letter(connector, item.key, item.record, reason, runs, operation))
            else:
                summary.left_pending += 1
        for entry in dead:
            summary.failed_permanently += 1
            summary.dead_letter_reasons[entry.error_class] = (
                summary.dead_letter_reasons.get(entry.error_class, 0) + 1
            )
        dlq.write(dead)
        writer.record(outcomes)

    def _defers(self, sendable: Sequence[Any], operation: str) -> bool:
        return (
            self.deferrable
            and operation != "delete"
            and len(sendable) >= self.bulk_threshold
            and self._system in BULK_TRIGGERS
        )

    def _submit_and_defer(
        self,
        connector: Connector,
        sendable: Sequence[tuple[str, Mapping[str, Any]]],
        operation: str,
        writer: _StateWriter,
        runs: RunContext,
        summary: SyncSummary,
    ) -> None:
        job_id = connector.submit_bulk(
            self.spec.target, operation, [r for _, r in sendable], self.spec.external_id
        )
        if job_id is None:
            return
        writer.batch(job_id, [k for k, _ in sendable])
        summary.sent += len(sendable)
        self._context["ti"].xcom_push(key=PROGRESS_KEY, value=summary.to_dict())
        log.info(
            "sync %s: bulk job %s carries %d records; deferring", self.spec.target, job_id, len(sendable)
        )
        trigger = BULK_TRIGGERS[connector.system](
            conn_id=self.conn_id, job_id=job_id, poll_interval=self.poll_interval
        )
        self.defer(trigger=trigger, method_name="resume_bulk")

    def _already_there(
        self, connector: Connector, doubtful: Sequence[tuple[str, Mapping[str, Any]]]
    ) -> dict[str, str | None]:
        """Of the records a stopped run may have delivered, those the destination holds: key -> id.

        Where the destination cannot be read back, they are sent again (upserts make that harmless)."""
        if not doubtful:
            return {}
        fields = sorted({name.split(".")[0] for _, record in doubtful for name in record})
        found = connector.lookup(self.spec.target, self.spec.external_id, [k for k, _ in doubtful], fields)
        if found is None:
            return {}
        id_field = self.spec.id_field
        return {
            key: (str(found[key].get(id_field)) if id_field and found[key].get(id_field) else None)
            for key, record in doubtful
            if arrived(record, found.get(key))
        }

    def _dead_letter(
        self,
        connector: Connector,
        key: str,
        record: Mapping[str, Any],
        error: tuple[str, str],
        runs: RunContext,
        operation: str,
        *,
        kind: str = "record",
    ) -> DLQEntry:
        """An entry holding `record` under `kind` ("record": a destination record a replay can send;
        "row": a model row refused before sending) and the sync's settings."""
        return DLQEntry.create(
            system=connector.system,
            stream=self.spec.target,
            operation=f"reverse_etl.{self.spec.mode}",
            error=error,
            record_key=key,
            payload={kind: dict(record), "sync": self._sync_settings(operation)},
            context=runs,
        )

    def _sync_settings(self, operation: str) -> dict[str, str]:
        """What a DLQ replay needs to send an entry again through this sync."""
        return {
            "conn_id": self.conn_id,
            "target": self.spec.target,
            "operation": operation,
            "key_field": self.spec.external_id,
            "state_table": self.state_table,
            "snowflake_conn_id": self.snowflake_conn_id,
        }


PROGRESS_KEY = "sync_progress"
BULK_TRIGGERS = {"salesforce": SalesforceBulkJobTrigger}
NO_ID = "no destination record is known for key {!r}: it was never synced, so it cannot be {}d"


def read_plan(conn: Any, query: str, *, page_rows: int, batch_size: int) -> Iterator[list[Row]]:
    """A plan query's rows in batches, read from Snowflake a page at a time by (`__KEY`, `__COPY`)."""
    last: tuple[str, int] | None = None
    while True:
        # Each page's cursor is closed before the next: an open one keeps its whole result set.
        with conn.cursor() as cursor:
            cursor.execute(sql.page_of(query, page_rows), sql.page_after(last))
            names = [d.name.upper() for d in cursor.description]
            page = 0
            while batch := cursor.fetchmany(batch_size):
                rows = [dict(zip(names, values, strict=True)) for values in batch]
                last = (rows[-1]["__KEY"], rows[-1]["__COPY"])
                page += len(rows)
                yield rows
        if page < page_rows:
            return


def _outcome(item: Delivered, row_hash: str | None, deleted: bool) -> tuple[Any, ...]:
    result = item.result
    status = {WriteOutcome.SUCCESS: "success", WriteOutcome.PERMANENT: "dead_letter"}.get(
        result.outcome, "pending"
    )
    error = None if status == "success" else f"{result.code}: {result.message}"
    return (item.key, row_hash, result.destination_id, status, error, deleted)


class _StateWriter:
    """Writes outcomes into the sync-state table: a MERGE per status and thousand rows of a batch."""

    def __init__(self, conn: Any, table: str) -> None:
        self.cursor = conn.cursor()
        self.table = table

    def inflight(self, keyed_hashes: Sequence[tuple[str, str | None]]) -> None:
        self.record([(key, h, None, "inflight", None, False) for key, h in keyed_hashes])

    def batch(self, job_id: str, keys: Sequence[str]) -> None:
        for rows in sql.json_rows(((key,) for key in keys), ("K",)):
            self.cursor.execute(sql.mark_batch(self.table), [rows, job_id])

    def record(self, outcomes: Sequence[tuple[Any, ...]]) -> None:
        """Outcomes as (key, hash, destination id, status, error, deleted)."""
        for status in sql.OUTCOME_STATUSES:
            chosen = ((k, h, d, e, deleted) for k, h, d, st, e, deleted in outcomes if st == status)
            for rows in sql.json_rows(chosen):
                self.cursor.execute(sql.record_outcomes(self.table, status), [rows])
