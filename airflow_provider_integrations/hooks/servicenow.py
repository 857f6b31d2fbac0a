"""ServiceNow hook: connection type `integrations_servicenow` (basic auth, or OAuth with a client id)."""

from __future__ import annotations

from typing import Any

from airflow_provider_integrations.connection_types import SERVICENOW
from airflow_provider_integrations.connectors.base import Stream
from airflow_provider_integrations.connectors.servicenow import ServiceNowConnector, ServiceNowSettings
from airflow_provider_integrations.core.errors import ConfigError
from airflow_provider_integrations.hooks.base import ConnectorHook


class ServiceNowHook(ConnectorHook):
    """Reach a ServiceNow instance as an integration user.

    The login and password sign in with basic auth; with `client_id` (and `client_secret`) in the extra
    they go through the instance's OAuth endpoint instead and calls carry bearer tokens.
    """

    connection_type = SERVICENOW
    catalog = "servicenow.yaml"

    def build(
        self, conn: Any, extra: dict[str, Any], streams: dict[str, Stream], http: dict[str, Any]
    ) -> ServiceNowConnector:
        host = str(conn.host or "").strip()
        if not host:
            raise ConfigError(f"connection {self.conn_id!r} needs the instance URL as its host")
        if "://" not in host:
            host = f"https://{host}"
        settings = ServiceNowSettings(
            instance_url=host,
            username=str(conn.login or ""),
            password=str(conn.password or ""),
            client_id=str(extra.get("client_id") or "") or None,
            client_secret=str(extra.get("client_secret") or "") or None,
            ca_bundle=extra.get("ca_bundle"),
        )
        return ServiceNowConnector.connect(settings, streams, **http)
