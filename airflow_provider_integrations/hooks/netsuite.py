"""NetSuite hook: connection type `integrations_netsuite` (token-based authentication)."""

from __future__ import annotations

from typing import Any

from airflow_provider_integrations.connection_types import NETSUITE
from airflow_provider_integrations.connectors.base import Stream
from airflow_provider_integrations.connectors.netsuite import NetSuiteConnector, NetSuiteSettings
from airflow_provider_integrations.core.errors import ConfigError
from airflow_provider_integrations.core.url_paths import NETSUITE_ACCOUNT, name_segment
from airflow_provider_integrations.hooks.base import ConnectorHook


class NetSuiteHook(ConnectorHook):
    """Reach a NetSuite account through SuiteQL and the REST record API with a TBA token."""

    connection_type = NETSUITE
    catalog = "netsuite.yaml"

    def build(
        self, conn: Any, extra: dict[str, Any], streams: dict[str, Stream], http: dict[str, Any]
    ) -> NetSuiteConnector:
        account = str(extra.get("account_id") or "")
        if not conn.host and not account:
            raise ConfigError(f"connection {self.conn_id!r} needs a host or an account_id")
        base_url = conn.host or _account_url(self.conn_id, account)
        settings = NetSuiteSettings(
            base_url=base_url,
            account_id=account,
            consumer_key=str(extra.get("consumer_key") or ""),
            consumer_secret=str(extra.get("consumer_secret") or ""),
            token_id=str(extra.get("token_id") or ""),
            token_secret=str(extra.get("token_secret") or ""),
            ca_bundle=extra.get("ca_bundle"),
        )
        return NetSuiteConnector.connect(settings, streams, **http)


def _account_url(conn_id: str, account: str) -> str:
    """The account's REST host (`1234567_SB1` -> `https://1234567-sb1.suitetalk.api.netsuite.com`)."""
    label = name_segment(account, f"connection {conn_id!r} account_id", NETSUITE_ACCOUNT)
    return f"https://{label.lower().replace('_', '-')}.suitetalk.api.netsuite.com"
