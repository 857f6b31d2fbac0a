"""One run of a reverse-ETL sync: plan, reconcile, deliver, record.

A :class:`SyncRun` holds what a run works with (the sync's spec, the destination, the warehouse, the
state table, the DLQ, the orchestrator's run context and the summary) and goes through the change plan a
page at a time. Per batch: rows refused before sending go to the DLQ; records a stopped run may have
delivered are read back from the destination and recorded without sending where they arrived; the rest
are marked in flight, sent (transient failures resent), and every outcome is recorded in the state table,
the DLQ and the summary. Where the destination runs large batches as asynchronous jobs, such a batch is
handed to a job and the run stops there (:class:`AsyncBatch`); once the job has finished,
:meth:`SyncRun.finish_async_batch` records its outcomes and :meth:`SyncRun.run` goes on with the rest.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_provider_integrations.core.dlq import DLQEntry, DLQStore, RunContext
from airflow_provider_integrations.core.errors import PermanentError
from airflow_provider_integrations.core.mapping import validate_mapping
from airflow_provider_integrations.core.reverse_etl.dead_letter import (
    OPERATION_PREFIX,
    DeadLetterPayload,
    ErrorClass,
    PayloadKind,
)
from airflow_provider_integrations.core.reverse_etl.delivery import Delivered, deliver
from airflow_provider_integrations.core.reverse_etl.destination import Destination
from airflow_provider_integrations.core.reverse_etl.plan import Row, Warehouse, read_plan
from airflow_provider_integrations.core.reverse_etl.settings import Endpoints, RunOptions
from airflow_provider_integrations.core.reverse_etl.spec import SyncSpec
from airflow_provider_integrations.core.reverse_etl.state import RecordOutcome, SyncState
from airflow_provider_integrations.core.reverse_etl.summary import SyncSummary
from airflow_provider_integrations.core.reverse_etl.triage import (
    KeyCounts,
    Rejection,
    arrived,
    refuse_if_too_many_rejected,
    triage,
)
from airflow_provider_integrations.core.sql import sync_state as sql
from airflow_provider_integrations.core.sql.sync_state import OutcomeStatus, PlanColumn
from airflow_provider_integrations.core.writes import WriteOutcome, WriteResult

log = logging.getLogger(__name__)
NO_ID = "no destination record is known for key {!r}: it was never synced, so it cannot be {}d"
ColumnTypes = Callable[[Any], Mapping[str, str]]
"""Column name -> type name, from a query's `cursor.description` (for the mapping check)."""


@dataclass(frozen=True)
class AsyncBatch:
    """A batch handed to an asynchronous job of the destination: the run stopped after submitting it."""

    job_id: str
    records: int


class SyncRun:
    """One run of a sync of `spec` from the warehouse into `destination`: see the module's docstring.

    `open_dlq` is called once, when the run first needs the DLQ (never in a dry run); `column_types`
    reads the model's column types for the mapping check; `summary` carries on a run resumed after an
    asynchronous batch.
    """

    def __init__(
        self,
        spec: SyncSpec,
        endpoints: Endpoints,
        destination: Destination,
        warehouse: Warehouse,
        runs: RunContext,
        *,
        open_dlq: Callable[[], DLQStore],
        column_types: ColumnTypes,
        options: RunOptions | None = None,
        summary: SyncSummary | None = None,
    ) -> None:
        self.spec = spec
        self.endpoints = endpoints
        self.destination = destination
        self.warehouse = warehouse
        self.runs = runs
        self.options = options or RunOptions()
        self.summary = summary or SyncSummary(mode=spec.mode, dry_run=self.options.dry_run)
        self.state = SyncState(warehouse, endpoints.state_table)
        self._open_dlq = open_dlq
        self._dlq: DLQStore | None = None
        self._column_types = column_types

    def run(self) -> AsyncBatch | None:
        """Check, plan, send and record the whole model; None when done (the tally in `summary`), or the
        asynchronous batch the run stopped at."""
        summary, spec = self.summary, self.spec
        cursor = self.warehouse.cursor()
        self._check_mapping(cursor)
        self.state.create()
        # Refusals are found afresh on every pass (a resumed run plans again).
        summary.rejected, summary.rejected_reasons = 0, {}
        cursor.execute(sql.key_counts(self.endpoints.model, spec.key))
        counts = KeyCounts(*(int(n) for n in cursor.fetchone()))
        summary.model_rows = counts.rows
        refuse_if_too_many_rejected(counts.rejected(), counts.rows, spec.max_rejected_share)
        departed = self._departed(cursor) if spec.mode == "mirror" else 0
        if self.options.dry_run:
            self._plan_only(departed)
            return None
        self._dead_letters()  # opened before anything is sent: a DLQ that cannot be opened stops the run
        for query in self._plan():
            for rows in self._rows(query):
                if batch := self._send(rows, spec.operation):
                    return batch
        if spec.mode != "delete":
            summary.unchanged = summary.model_rows - summary.planned - summary.rejected
        if departed:
            for rows in self._rows(sql.departed(self.endpoints.model, self.endpoints.state_table, spec.key)):
                self._send(rows, "delete")
        return None

    def finish_async_batch(self, job_id: str) -> None:
        """Record the per-record outcomes of a finished asynchronous job this sync started."""
        hashes = self.state.batch_members(job_id)
        results = list(self.destination.bulk_results(job_id, self.spec.external_id, list(hashes)))
        records = self._planned_records({r.key for r in results if r.outcome is WriteOutcome.PERMANENT})
        delivered = [Delivered(r.key, records.get(r.key, {}), r, 1) for r in results]
        self._dead_letters()
        self._record(delivered, hashes, self.spec.operation)

    def _check_mapping(self, cursor: Any) -> None:
        """Before anything is sent: the mapping must fit the model's columns and the destination."""
        cursor.execute(sql.columns_of(self.endpoints.model))
        description = self.destination.describe(self.spec.target)
        if description is None:
            log.warning(
                "%s gives no description of %s; the mapping is not checked",
                self.destination.system,
                self.spec.target,
            )
            return
        validate_mapping(
            description,
            self.spec.mapping,
            mode=self.spec.mode,
            external_id=self.spec.external_id,
            column_types=self._column_types(cursor.description),
        )

    def _plan(self) -> tuple[str, str]:
        """The plan: rows without a key (all refused), then the keyed rows to send (or delete)."""
        model, state, spec = self.endpoints.model, self.endpoints.state_table, self.spec
        if spec.mode == "delete":
            keyed = sql.deletions(model, state, spec.key)
        else:
            keyed = sql.changes(model, state, spec.key, spec.columns, only_new=spec.mode == "insert")
        return sql.null_keys(model, spec.key, spec.columns), keyed

    def _rows(self, query: str) -> Iterator[list[Row]]:
        return read_plan(
            self.warehouse, query, page_rows=self.options.page_rows, batch_size=self.spec.batch_size
        )

    def _departed(self, cursor: Any) -> int:
        """Mirror's guard, checked before anything is sent."""
        spec = self.spec
        departed = sql.departed(self.endpoints.model, self.endpoints.state_table, spec.key)
        cursor.execute(sql.count_of(departed))
        gone = int(cursor.fetchone()[0])
        cursor.execute(sql.delivered_count(self.endpoints.state_table))
        delivered = int(cursor.fetchone()[0])
        if gone and gone > spec.max_delete_share * delivered:
            raise PermanentError(
                f"mirror sync to {spec.target} would delete {gone} of {delivered} delivered records, "
                f"more than max_delete_share={spec.max_delete_share}; refusing (check the model, or "
                "raise the share for this run)"
            )
        self.summary.would_delete = gone
        return gone

    def _plan_only(self, departed: int) -> None:
        """A dry run: the plan read and sorted as a real run sorts it, nothing sent or written."""
        summary, spec = self.summary, self.spec
        for query in self._plan():
            for rows in self._rows(query):
                sorted_rows = triage(rows, spec, spec.operation)
                for rejection in sorted_rows.rejected:
                    summary.reject(rejection.reason)
                destination_ids = {row[PlanColumn.KEY]: row.get(PlanColumn.DEST_ID) for row in rows}
                for key, _ in [*sorted_rows.sendable, *sorted_rows.unknown]:
                    summary.planned += 1
                    if spec.mode == "delete":
                        summary.would_delete += 1
                    elif destination_ids[key] is None:
                        summary.would_insert += 1
                    else:
                        summary.would_update += 1
        if spec.mode != "delete":
            summary.unchanged = summary.model_rows - summary.planned - summary.rejected
        summary.would_delete = summary.would_delete if spec.mode == "delete" else departed
        refuse_if_too_many_rejected(summary.rejected_reasons, summary.model_rows, spec.max_rejected_share)

    def _send(self, rows: list[Row], operation: str) -> AsyncBatch | None:
        """Deliver one planned batch and record every outcome; a batch large enough for an asynchronous
        job of a destination that runs them is submitted instead (the run stops there)."""
        summary, deleting = self.summary, operation == "delete"
        sorted_rows = triage(rows, self.spec, operation)
        self._reject(sorted_rows.rejected)
        sendable, unknown = sorted_rows.sendable, sorted_rows.unknown
        summary.planned += 0 if deleting else len(sendable) + len(unknown)
        row_of = {row[PlanColumn.KEY]: row for row in rows if not row.get(PlanColumn.REJECT)}
        hashes = {key: row.get(PlanColumn.HASH) for key, row in row_of.items()}
        settled = self._already_there(
            [(k, r) for k, r in sendable if hashes[k] and row_of[k].get(PlanColumn.INFLIGHT) == hashes[k]]
        )
        if settled:
            summary.reconciled += len(settled)
            self.state.record(
                RecordOutcome(k, hashes[k], OutcomeStatus.SUCCESS, d) for k, d in settled.items()
            )
            sendable = [(k, r) for k, r in sendable if k not in settled]
        self.state.inflight((key, hashes[key]) for key, _ in sendable)
        self._refuse_unknown(unknown, hashes, operation)
        if not deleting and (batch := self._submit(sendable, operation)):
            return batch
        delivered = deliver(
            self._writer(operation),
            sendable,
            retries=self.spec.transient_retries,
            backoff=self.options.retry_backoff,
        )
        summary.sent += len(sendable)
        self._record(delivered, hashes, operation)
        return None

    def _writer(self, operation: str) -> Callable[[Sequence[Mapping[str, Any]]], Iterable[WriteResult]]:
        def write(records: Sequence[Mapping[str, Any]]) -> Iterable[WriteResult]:
            return self.destination.write(self.spec.target, operation, records, self.spec.external_id)

        return write

    def _submit(self, sendable: Sequence[tuple[str, Mapping[str, Any]]], operation: str) -> AsyncBatch | None:
        threshold = self.options.async_batch_from
        if threshold is None or len(sendable) < threshold or not self.destination.async_batches:
            return None
        job_id = self.destination.submit_bulk(
            self.spec.target, operation, [r for _, r in sendable], self.spec.external_id
        )
        if job_id is None:
            return None
        self.state.mark_batch(job_id, [k for k, _ in sendable])
        self.summary.sent += len(sendable)
        return AsyncBatch(job_id, len(sendable))

    def _already_there(self, doubtful: Sequence[tuple[str, Mapping[str, Any]]]) -> dict[str, str | None]:
        """Of the records a stopped run may have delivered, those the destination holds: key -> id.

        Where the destination cannot be read back, they are sent again (upserts make that harmless)."""
        if not doubtful:
            return {}
        fields = sorted({name.split(".")[0] for _, record in doubtful for name in record})
        spec = self.spec
        found = self.destination.lookup(spec.target, spec.external_id, [k for k, _ in doubtful], fields)
        if found is None:
            return {}
        id_field = spec.id_field
        return {
            key: (str(found[key].get(id_field)) if id_field and found[key].get(id_field) else None)
            for key, record in doubtful
            if arrived(record, found.get(key))
        }

    def _reject(self, rejections: Sequence[Rejection]) -> None:
        """Rows refused before sending: into the DLQ with their reason, counted; the state is left as it
        is, so they are refused again next run while they stay bad. Fails the run past the share."""
        if not rejections:
            return
        # The model row, not a record: nothing here can be replayed before the model is fixed.
        self._write_dead(
            self._dead_letter(
                r.record_key, r.row, (r.reason, r.message), self.spec.operation, PayloadKind.ROW
            )
            for r in rejections
        )
        for rejection in rejections:
            self.summary.reject(rejection.reason)
        refuse_if_too_many_rejected(
            self.summary.rejected_reasons, self.summary.model_rows, self.spec.max_rejected_share
        )

    def _refuse_unknown(
        self,
        unknown: Sequence[tuple[str, Mapping[str, Any]]],
        hashes: Mapping[str, str | None],
        operation: str,
    ) -> None:
        """Updates and deletions by id of keys never synced: nothing to send them to."""
        dead, outcomes = [], []
        for key, record in unknown:
            message = NO_ID.format(key, operation)
            dead.append(self._dead_letter(key, record, (ErrorClass.DESTINATION_UNKNOWN, message), operation))
            outcomes.append(RecordOutcome(key, hashes[key], OutcomeStatus.DEAD_LETTER, error=message))
        self._park(dead, outcomes)

    def _record(
        self, delivered: Sequence[Delivered], hashes: Mapping[str, str | None], operation: str
    ) -> None:
        """Delivered records' outcomes into the state and the tally, permanent failures into the DLQ."""
        summary, deleting = self.summary, operation == "delete"
        dead, outcomes = [], []
        for item in delivered:
            result = item.result
            outcomes.append(RecordOutcome.of(item, hashes[item.key], deleted=deleting))
            summary.retried += item.attempts > 1
            if result.outcome is WriteOutcome.SUCCESS:
                summary.succeeded += 1
                summary.deleted += deleting
            elif result.outcome is WriteOutcome.PERMANENT:
                reason = (result.code or ErrorClass.DESTINATION_REJECTED, result.message or "")
                dead.append(self._dead_letter(item.key, item.record, reason, operation))
            else:
                summary.left_pending += 1
        self._park(dead, outcomes)

    def _park(self, dead: Sequence[DLQEntry], outcomes: Sequence[RecordOutcome]) -> None:
        """Dead letters counted and written, then the outcomes recorded in the state."""
        for entry in dead:
            self.summary.failed_permanently += 1
            reasons = self.summary.dead_letter_reasons
            reasons[entry.error_class] = reasons.get(entry.error_class, 0) + 1
        self._write_dead(dead)
        self.state.record(outcomes)

    def _dead_letters(self) -> DLQStore:
        if self._dlq is None:
            self._dlq = self._open_dlq()
        return self._dlq

    def _write_dead(self, entries: Iterable[DLQEntry]) -> None:
        self._dead_letters().write(entries)

    def _dead_letter(
        self,
        key: str,
        content: Mapping[str, Any],
        error: tuple[str, str],
        operation: str,
        kind: PayloadKind = PayloadKind.RECORD,
    ) -> DLQEntry:
        """An entry holding a destination record (or a refused model row) and the sync's settings."""
        payload = DeadLetterPayload(self.endpoints.settings(self.spec, operation), content, kind)
        return DLQEntry.create(
            system=self.destination.system,
            stream=self.spec.target,
            operation=f"{OPERATION_PREFIX}{self.spec.mode}",
            error=(str(error[0]), error[1]),
            record_key=key,
            payload=payload.to_dict(),
            context=self.runs,
        )

    def _planned_records(self, keys: set[str]) -> dict[str, dict[str, Any]]:
        """The records of `keys` as planned (for the DLQ entries of an asynchronous job's refusals)."""
        if not keys:
            return {}
        model, state, spec = self.endpoints.model, self.endpoints.state_table, self.spec
        changes = sql.changes(model, state, spec.key, spec.columns, only_new=spec.mode == "insert")
        return {
            row[PlanColumn.KEY]: spec.record(row, row[PlanColumn.KEY], row.get(PlanColumn.DEST_ID))
            for rows in self._rows(changes)
            for row in rows
            if row[PlanColumn.KEY] in keys and not row.get(PlanColumn.REJECT)
        }
