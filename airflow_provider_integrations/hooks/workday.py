"""Workday hook: connection type `integrations_workday` (OAuth2 refresh token of an API client)."""

from __future__ import annotations

from typing import Any

from airflow_provider_integrations.connection_types import WORKDAY
from airflow_provider_integrations.connectors.base import Stream
from airflow_provider_integrations.connectors.workday import WorkdayConnector, WorkdaySettings
from airflow_provider_integrations.core.errors import ConfigError
from airflow_provider_integrations.hooks.base import ConnectorHook


class WorkdayHook(ConnectorHook):
    """Reach a Workday tenant's REST API with an API client's id, secret and refresh token.

    Extras: `tenant`, `client_id`, `client_secret`, `refresh_token`, and optionally
    `rate_limit_per_second` to pace calls below the tenant's request rate.
    """

    connection_type = WORKDAY
    catalog = "workday.yaml"

    def build(
        self, conn: Any, extra: dict[str, Any], streams: dict[str, Stream], http: dict[str, Any]
    ) -> WorkdayConnector:
        if not conn.host:
            raise ConfigError(f"connection {self.conn_id!r} needs a host (the Workday REST base URL)")
        rate = extra.get("rate_limit_per_second")
        try:
            rate_limit = float(rate) if rate not in (None, "") else None
        except (TypeError, ValueError):
            raise ConfigError(
                f"connection {self.conn_id!r}: rate_limit_per_second must be a number, got {rate!r}"
            ) from None
        settings = WorkdaySettings(
            host=conn.host,
            tenant=str(extra.get("tenant") or ""),
            client_id=str(extra.get("client_id") or ""),
            client_secret=str(extra.get("client_secret") or ""),
            refresh_token=str(extra.get("refresh_token") or ""),
            ca_bundle=extra.get("ca_bundle"),
            rate_limit_per_second=rate_limit,
        )
        http = {k: v for k, v in http.items() if k != "rate_limit_per_second"}
        return WorkdayConnector.connect(settings, streams, **http)
