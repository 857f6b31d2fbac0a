"""The sync-state table: per model key, what was last delivered, what is parked, what is in flight."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from airflow_provider_integrations.core.reverse_etl.delivery import Delivered
from airflow_provider_integrations.core.reverse_etl.plan import Warehouse
from airflow_provider_integrations.core.sql import sync_state as sql
from airflow_provider_integrations.core.sql.sync_state import OutcomeStatus
from airflow_provider_integrations.core.writes import WriteOutcome

_STATUS = {WriteOutcome.SUCCESS: OutcomeStatus.SUCCESS, WriteOutcome.PERMANENT: OutcomeStatus.DEAD_LETTER}


@dataclass(frozen=True)
class RecordOutcome:
    """What the state records of one key after a send: the version (`row_hash`) and what became of it."""

    key: str
    row_hash: str | None
    status: OutcomeStatus
    destination_id: str | None = None
    error: str | None = None
    deleted: bool = False

    @classmethod
    def of(cls, item: Delivered, row_hash: str | None, *, deleted: bool = False) -> RecordOutcome:
        """A delivered record's outcome: delivered, parked (a permanent failure) or pending (transient)."""
        result = item.result
        status = _STATUS.get(result.outcome, OutcomeStatus.PENDING)
        error = None if status is OutcomeStatus.SUCCESS else f"{result.code}: {result.message}"
        return cls(item.key, row_hash, status, result.destination_id, error, deleted)


class SyncState:
    """One sync's state table on a warehouse connection. Outcomes are written as a MERGE per status and
    thousand rows, so a batch costs a few statements."""

    def __init__(self, warehouse: Warehouse, table: str) -> None:
        self.cursor = warehouse.cursor()
        self.table = table

    def create(self) -> None:
        self.cursor.execute(sql.create_state(self.table))

    def inflight(self, keyed_hashes: Iterable[tuple[str, str | None]]) -> None:
        """Mark versions about to be sent, so a run stopped mid-send can tell what may have arrived."""
        self.record(RecordOutcome(key, h, OutcomeStatus.INFLIGHT) for key, h in keyed_hashes)

    def record(self, outcomes: Iterable[RecordOutcome]) -> None:
        outcomes = list(outcomes)
        for status in OutcomeStatus:
            rows = (
                (o.key, o.row_hash, o.destination_id, o.error, o.deleted)
                for o in outcomes
                if o.status is status
            )
            for chunk in sql.json_rows(rows):
                self.cursor.execute(sql.record_outcomes(self.table, status), [chunk])

    def mark_batch(self, job_id: str, keys: Sequence[str]) -> None:
        """Record which asynchronous job carries in-flight keys."""
        for rows in sql.json_rows(((key,) for key in keys), ("K",)):
            self.cursor.execute(sql.mark_batch(self.table), [rows, job_id])

    def batch_members(self, job_id: str) -> dict[str, str | None]:
        """The keys an asynchronous job carries, with the versions in flight."""
        self.cursor.execute(sql.batch_members(self.table), [job_id])
        return {str(key): row_hash for key, row_hash in self.cursor.fetchall()}

    def parked(self, keys: Sequence[str]) -> dict[str, str]:
        """The parked version (`FAILED_HASH`) of each of `keys` that has one."""
        found: dict[str, str] = {}
        for start in range(0, len(keys), 1000):
            chunk = list(keys[start : start + 1000])
            self.cursor.execute(sql.parked_failures(self.table, len(chunk)), chunk)
            found.update({str(key): str(row_hash) for key, row_hash in self.cursor.fetchall()})
        return found
