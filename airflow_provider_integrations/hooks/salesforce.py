"""Salesforce hook: connection type `integrations_salesforce`."""

from __future__ import annotations

from typing import Any

from airflow_provider_integrations.connection_types import SALESFORCE
from airflow_provider_integrations.connectors.base import Stream
from airflow_provider_integrations.connectors.salesforce import SalesforceConnector
from airflow_provider_integrations.connectors.salesforce_api import SalesforceSettings
from airflow_provider_integrations.core.errors import ConfigError
from airflow_provider_integrations.hooks.base import ConnectorHook, given

SETTING_KINDS = {
    "security_token": str,
    "auth": str,
    "api_version": str,
    "budget_share": float,
    "bulk_threshold": int,
}


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
                client_id=str(extra.get("client_id") or ""),
                **given(
                    SETTING_KINDS,
                    login_url=extra.get("auth_url") or conn.host,
                    client_secret=extra.get("client_secret"),
                    username=conn.login,
                    password=conn.password,
                    security_token=extra.get("security_token"),
                    refresh_token=extra.get("refresh_token"),
                    private_key=extra.get("private_key"),
                    auth=extra.get("auth"),
                    api_version=extra.get("api_version"),
                    budget_share=extra.get("budget_share"),
                    bulk_threshold=extra.get("bulk_threshold"),
                    ca_bundle=extra.get("ca_bundle"),
                ),
            )
        except ValueError as error:
            raise ConfigError(f"connection {self.conn_id!r}: {error}") from None
        return SalesforceConnector.connect(settings, streams, **http)
