"""Replay dead letters: re-deliver parked reverse-ETL records and record the outcome in the DLQ and the
sync state."""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from airflow.sdk import BaseOperator, Context

from airflow_provider_integrations.core.dlq import DLQEntry, DLQFilter, DLQStatus, DLQStore
from airflow_provider_integrations.core.errors import ConfigError
from airflow_provider_integrations.core.reverse_etl.dead_letter import (
    OPERATION_PREFIX,
    DeadLetterPayload,
    ErrorClass,
    PayloadKind,
    SyncSettings,
)
from airflow_provider_integrations.core.reverse_etl.delivery import deliver
from airflow_provider_integrations.core.reverse_etl.state import RecordOutcome, SyncState
from airflow_provider_integrations.core.watermark import parse_timestamp
from airflow_provider_integrations.core.writes import WriteOutcome
from airflow_provider_integrations.dlq_config import open_dlq
from airflow_provider_integrations.hooks.registry import hook_for
from airflow_provider_integrations.operators.outcomes import task_outcomes

log = logging.getLogger(__name__)
NOT_REPLAYABLE = {
    "extract": "fix_at_source",
    "task_failure": "rerun_task",
}
REASONS = {
    "fix_at_source": "the record broke the stream's schema: fix it in the source; the next extract reads it",
    "rerun_task": "a failed task, not a record: clear the task in Airflow to run it again",
    "no_destination_id": "the key was never synced, so there is no destination record to update or delete",
    "resent_by_sync": "a failed deletion: every run of the sync sends it again until it succeeds",
    "fix_in_model": "a model row refused before sending (NULL or duplicated key, unsendable value): fix it "
    "in the model; the next sync sends it",
    "malformed": "the entry lacks the record, its key or the sync settings",
    "unknown_operation": "no replay is known for this operation",
}
_LOOKUP_LIMIT = 100_000


@dataclass
class ReplayReport:
    """Entry ids by what the replay did with them."""

    selected: int = 0
    replayed: list[str] = field(default_factory=list)
    failed_again: list[str] = field(default_factory=list)
    superseded: list[str] = field(default_factory=list)
    skipped: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def to_dict(self) -> dict[str, Any]:
        return {
            "selected": self.selected,
            "replayed": self.replayed,
            "failed_again": self.failed_again,
            "superseded": self.superseded,
            "skipped": {reason: ids for reason, ids in sorted(self.skipped.items())},
            "skip_reasons": {reason: REASONS[reason] for reason in sorted(self.skipped)},
        }

    def line(self) -> str:
        skipped = ", ".join(f"{r} {len(ids)}" for r, ids in sorted(self.skipped.items())) or "none"
        return (
            f"{self.selected} entries: replayed {len(self.replayed)}, failed again {len(self.failed_again)}, "
            f"superseded {len(self.superseded)}, skipped: {skipped}"
        )


class DLQReplayOperator(BaseOperator):
    """Send parked reverse-ETL records again, e.g. after the destination or the mapping was fixed.

    Selects entries by `entry_ids` (a list, or its rendered text such as `{{ dag_run.conf.entry_ids }}`),
    `system`, `stream`, `status` (default `new`; `None` for any), `since` and `limit`; all are templated.
    Each reverse-ETL entry's record goes through its connection again (transient failures retried).
    On success the entry becomes `replayed` and the sync state records the parked version as delivered,
    so the next sync does not send the row again, yet sends it once the row changes. On another failure
    the entry stays `new` with the new error as its note, and the state keeps the row parked.

    An entry is `superseded` (marked `resolved`, nothing sent) when a newer dead letter exists for its
    key or the state no longer holds a parked failure for it: a later sync dealt with the key, and
    sending the older record would overwrite newer data. Entries that are not replayed (schema
    rejections at extract: fix the source; model rows refused before sending: fix the model; task
    failures: clear the task; failed deletions: every sync run sends them again) are reported with the
    reason and left as they are. Returns the entry ids by outcome and the reasons (XCom); payloads are
    never logged.
    """

    template_fields: Sequence[str] = ("entry_ids", "system", "stream", "status", "since", "limit", "dlq_uri")

    def __init__(
        self,
        *,
        entry_ids: Sequence[str] | str | None = None,
        system: str | None = None,
        stream: str | None = None,
        status: str | None = "new",
        since: datetime | str | None = None,
        limit: int | str = 1000,
        dlq_uri: str | None = None,
        transient_retries: int = 3,
        retry_backoff: float = 1.0,
        batch_size: int = 200,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.entry_ids = entry_ids
        self.system = system
        self.stream = stream
        self.status = status
        self.since = since
        self.limit = limit
        self.dlq_uri = dlq_uri
        self.transient_retries = transient_retries
        self.retry_backoff = retry_backoff
        self.batch_size = batch_size

    def execute(self, context: Context) -> dict[str, Any]:
        ti = context["ti"]
        note = f"replayed by {ti.dag_id}/{ti.task_id}/{context['run_id']}"
        with task_outcomes(), open_dlq(self.dlq_uri) as store:
            report = self._replay_all(store, note)
        log.info("DLQ replay: %s", report.line())
        return report.to_dict()

    def _replay_all(self, store: DLQStore, note: str) -> ReplayReport:
        """Replay the selected entries, grouped by the sync that wrote them."""
        report = ReplayReport()
        entries = store.find(self._filter(), limit=int(_blank_to_none(self.limit) or 1000))
        report.selected = len(entries)
        groups: dict[SyncSettings, list[DLQEntry]] = defaultdict(list)
        records: dict[str, Mapping[str, Any]] = {}
        for entry in entries:
            payload, reason = _classify(entry)
            if payload is None or payload.record is None:
                report.skipped[reason].append(entry.id)
            else:
                groups[payload.sync].append(entry)
                records[entry.id] = payload.record
        for sync, members in groups.items():
            self._replay(store, sync, members, records, report, note)
        return report

    def _filter(self) -> DLQFilter:
        status = _blank_to_none(self.status)
        since = _blank_to_none(self.since)
        ids = _ids(self.entry_ids)
        return DLQFilter(
            system=_blank_to_none(self.system),
            stream=_blank_to_none(self.stream),
            status=DLQStatus(status) if status else None,
            since=parse_timestamp(since, "since", naive_is_utc=True) if since else None,
            ids=frozenset(ids) if ids is not None else None,
        )

    def _replay(
        self,
        store: DLQStore,
        sync: SyncSettings,
        entries: list[DLQEntry],
        records: Mapping[str, Mapping[str, Any]],
        report: ReplayReport,
        note: str,
    ) -> None:
        """Send `entries` (their `records` by entry id) again through `sync`; record what happened."""
        from airflow_provider_integrations.hooks.snowflake import SnowflakeHook

        current, stale = _newest_per_key(store, entries)
        conn = SnowflakeHook(snowflake_conn_id=sync.snowflake_conn_id).get_conn()
        hook = hook_for(sync.conn_id)
        try:
            state = SyncState(conn, sync.state_table)
            parked = state.parked([str(e.record_key) for e in current])
            stale += [e for e in current if str(e.record_key) not in parked]
            current = [e for e in current if str(e.record_key) in parked]
            if stale:
                store.mark(
                    [e.id for e in stale],
                    DLQStatus.RESOLVED,
                    "superseded: a newer dead letter or a later sync holds this key; nothing sent",
                )
                report.superseded += [e.id for e in stale]
            connector = hook.get_conn()

            def write(records: Sequence[Mapping[str, Any]]) -> Any:
                return connector.write(sync.target, sync.operation, records, sync.key_field)

            for start in range(0, len(current), self.batch_size):
                batch = {str(e.record_key): e for e in current[start : start + self.batch_size]}
                sent = [(key, records[e.id]) for key, e in batch.items()]
                delivered = deliver(write, sent, retries=self.transient_retries, backoff=self.retry_backoff)
                done = [d for d in delivered if d.result.outcome is WriteOutcome.SUCCESS]
                if done:
                    deleted = sync.operation == "delete"
                    state.record(RecordOutcome.of(d, parked[d.key], deleted=deleted) for d in done)
                    store.mark([batch[d.key].id for d in done], DLQStatus.REPLAYED, note)
                    report.replayed += [batch[d.key].id for d in done]
                for item in delivered:
                    if item.result.outcome is not WriteOutcome.SUCCESS:
                        result = item.result
                        failure = f"replay failed ({result.outcome.value}): {result.code}: {result.message}"
                        store.mark([batch[item.key].id], DLQStatus.NEW, failure)
                        report.failed_again.append(batch[item.key].id)
        finally:
            conn.close()
            hook.close()


def _classify(entry: DLQEntry) -> tuple[DeadLetterPayload | None, str]:
    """The payload (its record and sync) an entry replays, or why it is not replayed."""
    if not entry.operation.startswith(OPERATION_PREFIX):
        return None, NOT_REPLAYABLE.get(entry.operation, "unknown_operation")
    if entry.error_class == ErrorClass.DESTINATION_UNKNOWN:
        return None, "no_destination_id"
    payload = DeadLetterPayload.from_dict(entry.payload)
    if payload is not None and payload.kind is PayloadKind.ROW:
        return None, "fix_in_model"
    if not entry.record_key or payload is None or payload.record is None:
        return None, "malformed"
    if payload.sync.operation == "delete":
        return None, "resent_by_sync"
    return payload, ""


def _newest_per_key(store: DLQStore, entries: list[DLQEntry]) -> tuple[list[DLQEntry], list[DLQEntry]]:
    """(current, stale): an entry is stale when a newer dead letter of the same key exists, selected or not
    (the newer one holds a later version of the row)."""
    first = entries[0]
    since = min(e.created_at for e in entries)
    others = store.find(DLQFilter(system=first.system, stream=first.stream, since=since), limit=_LOOKUP_LIMIT)
    state_table = DeadLetterPayload.state_table_of(first.payload)
    newest: dict[str, DLQEntry] = {}
    for entry in [*entries, *others]:
        same_sync = (
            entry.operation.startswith(OPERATION_PREFIX)
            and DeadLetterPayload.state_table_of(entry.payload) == state_table
        )
        key = str(entry.record_key)
        if same_sync and (
            key not in newest or (entry.created_at, entry.id) > (newest[key].created_at, newest[key].id)
        ):
            newest[key] = entry
    current = [e for e in entries if newest[str(e.record_key)].id == e.id]
    return current, [e for e in entries if newest[str(e.record_key)].id != e.id]


def _blank_to_none(value: Any) -> Any:
    """Rendered templates give '' or 'None' for an absent value."""
    return None if value is None or (isinstance(value, str) and value.strip() in ("", "None")) else value


def _ids(value: Iterable[str] | str | None) -> list[str] | None:
    """Entry ids from a list or from its rendered text (`['a', 'b']`, JSON or comma-separated)."""
    value = _blank_to_none(value)
    if value is None:
        return None
    if isinstance(value, str):
        return re.findall(r"[A-Za-z0-9][A-Za-z0-9_.:-]*", value)
    if not all(isinstance(v, str) for v in value):
        raise ConfigError("entry_ids must be a list of DLQ entry ids")
    return list(value)
