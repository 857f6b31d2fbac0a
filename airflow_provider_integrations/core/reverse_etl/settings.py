"""Where a sync reads and writes, and how a run goes: set once per task, checked before anything runs."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from airflow_provider_integrations.core.errors import ConfigError
from airflow_provider_integrations.core.reverse_etl.dead_letter import SyncSettings
from airflow_provider_integrations.core.reverse_etl.spec import SyncSpec
from airflow_provider_integrations.core.sql import sync_state as sql
from airflow_provider_integrations.core.sql.identifiers import validate_identifier


def default_state_table(model: str, conn_id: str, target: str) -> str:
    """One state table per (model, destination): a table model by its name, a query by its digest."""
    source = (
        model if re.fullmatch(r"[A-Za-z0-9_.$]+", model) else hashlib.sha256(model.encode()).hexdigest()[:12]
    )
    return re.sub(r"[^A-Za-z0-9_]", "_", f"SYNC_STATE__{source}__{conn_id}__{target}").upper()[:255]


@dataclass(frozen=True)
class Endpoints:
    """Where a sync reads and writes: the model (a table or one SELECT), the state table, and the
    connections a DLQ replay of its records opens again. The names are checked when it is made, before
    any connection is opened."""

    model: str
    state_table: str
    conn_id: str
    snowflake_conn_id: str

    def __post_init__(self) -> None:
        validate_identifier(self.state_table, "sync state table")
        sql.model_source(self.model)

    def settings(self, spec: SyncSpec, operation: str) -> SyncSettings:
        """What a replay of this sync's dead letters needs."""
        return SyncSettings(
            conn_id=self.conn_id,
            target=spec.target,
            operation=operation,
            key_field=spec.external_id,
            state_table=self.state_table,
            snowflake_conn_id=self.snowflake_conn_id,
        )


@dataclass(frozen=True)
class RunOptions:
    """How a run goes: the plan is read `page_rows` rows at a time; a resend waits `retry_backoff`
    seconds first (doubling); `dry_run` sends and writes nothing; a batch of at least `async_batch_from`
    records goes to an asynchronous job where the destination runs them (None: never)."""

    page_rows: int = 50_000
    retry_backoff: float = 1.0
    dry_run: bool = False
    async_batch_from: int | None = None

    def __post_init__(self) -> None:
        if self.page_rows < 1:
            raise ConfigError(f"page_rows must be at least 1, got {self.page_rows}")
