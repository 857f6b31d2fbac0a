"""Salesforce hook: connection type `integrations_salesforce`."""

from __future__ import annotations

from typing import Any

from airflow_provider_integrations.connection_types import SALESFORCE
from airflow_provider_integrations.connectors.base import Stream
from airflow_provider_integrations.connectors.salesforce import SalesforceConnector
from airflow_provider_integrations.connectors.salesforce_api import SalesforceSettings
from airflow_provider_integrations.core.errors import ConfigError
from airflow_provider_integrations.hooks.base import ConnectorHook


class SalesforceHook(ConnectorHook):
    """Reach a Salesforce org with a connected app: username-password, refresh-token or JWT-bearer flow.

    Reads pick REST or Bulk API 2.0 by size; the API budget guard stops a task before the configured
    share of the org's daily API requests is spent.
    """

    connection_type = SALESFORCE
    catalog = "salesforce.yaml"

    def build(
        self, conn: Any, extra: dict[str, Any], streams: dict[str, Stream], http: dict[str, Any]
    ) -> SalesforceConnector:
        try:
            settings = SalesforceSettings(
                login_url=extra.get("auth_url") or conn.host or "https://login.salesforce.com",
                client_id=str(extra.get("client_id") or ""),
                client_secret=extra.get("client_secret"),
                username=conn.login,
                password=conn.password,
                security_token=str(extra.get("security_token") or ""),
                refresh_token=extra.get("refresh_token"),
                private_key=extra.get("private_key"),
                auth=str(extra.get("auth") or "password"),
                api_version=str(extra.get("api_version") or "59.0"),
                budget_share=float(extra.get("budget_share") or 0.9),
                bulk_threshold=int(extra.get("bulk_threshold") or 50_000),
                ca_bundle=extra.get("ca_bundle"),
            )
        except ValueError as error:
            raise ConfigError(f"connection {self.conn_id!r}: {error}") from None
        return SalesforceConnector.connect(settings, streams, **http)
