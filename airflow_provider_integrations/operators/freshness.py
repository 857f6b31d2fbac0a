"""Check that a Snowflake table holds recent data: its newest timestamp against an SLA."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_integrations.core.errors import ConfigError
from airflow_provider_integrations.core.sql.snowflake import quote
from airflow_provider_integrations.operators.outcomes import task_outcomes

log = logging.getLogger(__name__)
ON_STALE = ("warn", "fail")


class SnowflakeFreshnessCheckOperator(BaseOperator):
    """Measure a table's freshness: the age of `MAX(column)` against `sla`.

    `column` defaults to `_LOADED_AT`, the time the ingest load merged a row; use `_CHANGED_AT` to
    measure how recent the source's own changes are. An empty table counts as stale. When stale,
    `on_stale="fail"` fails the task (no retries: waiting does not make data fresher), `"warn"` logs a
    warning and succeeds. Timestamps without a zone are taken as UTC, dates as their midnight.
    Returns `{"table", "newest", "age_seconds", "sla_seconds", "fresh"}` (XCom).
    """

    template_fields: Sequence[str] = ("table", "column")

    def __init__(
        self,
        *,
        table: str,
        sla: timedelta,
        column: str = "_LOADED_AT",
        on_stale: str = "warn",
        snowflake_conn_id: str = "snowflake_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if on_stale not in ON_STALE:
            raise ConfigError(f"on_stale must be one of {ON_STALE}, got {on_stale!r}")
        if sla <= timedelta(0):
            raise ConfigError(f"sla must be positive, got {sla}")
        self.table = table
        self.column = column
        self.sla = sla
        self.on_stale = on_stale
        self.snowflake_conn_id = snowflake_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        with task_outcomes():
            newest = self._newest()
        now = datetime.now(UTC)
        age = (now - newest).total_seconds() if newest else None
        fresh = age is not None and age <= self.sla.total_seconds()
        status = {
            "table": self.table,
            "newest": newest.isoformat() if newest else None,
            "age_seconds": age,
            "sla_seconds": self.sla.total_seconds(),
            "fresh": fresh,
        }
        if fresh:
            log.info(
                "%s is fresh: newest %s %s, %.0f s old, SLA %s",
                self.table,
                self.column,
                newest,
                age,
                self.sla,
            )
            return status
        held = "it is empty"
        if newest is not None and age is not None:
            held = f"newest {self.column} is {newest.isoformat()}, {timedelta(seconds=round(age))} old"
        message = f"{self.table} is stale: {held}; the SLA is {self.sla}"
        if self.on_stale == "fail":
            raise AirflowFailException(message)
        log.warning(message)
        return status

    def _newest(self) -> datetime | None:
        from airflow_provider_integrations.hooks.snowflake import SnowflakeHook

        # quote() validates both names, so only plain identifiers reach the SQL text
        query = f"SELECT MAX({quote(self.column)}) FROM {quote(self.table)}"  # noqa: S608
        conn = SnowflakeHook(snowflake_conn_id=self.snowflake_conn_id).get_conn()
        try:
            cursor = conn.cursor()
            cursor.execute(query)
            row = cursor.fetchone()
        finally:
            conn.close()
        return _as_utc(row[0] if row else None, f"{self.table}.{self.column}")


def _as_utc(value: Any, what: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    raise ConfigError(f"{what} holds {type(value).__name__} values, not timestamps")
