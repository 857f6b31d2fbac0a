"""Snowflake hook: the stock hook, plus `protocol`, `host` and `port` taken from the connection.

The stock hook reads a custom host and port from the extras only and never passes `protocol`, so it
cannot reach a Snowflake endpoint over plain HTTP such as the sandbox's; on real Snowflake these
settings are simply absent and nothing changes.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.snowflake.hooks.snowflake import SnowflakeHook as StockSnowflakeHook

from airflow_provider_integrations.connection_secrets import protect_connection


class SnowflakeHook(StockSnowflakeHook):
    """Use wherever the stock `SnowflakeHook` fits; it also honours `protocol`, `host` and `port`."""

    def _get_conn_params(self) -> dict[str, Any]:
        params: dict[str, Any] = dict(super()._get_conn_params())
        conn = self.get_connection(self.get_conn_id())
        protect_connection(conn)
        extra = conn.extra_dejson
        if extra.get("protocol"):
            params["protocol"] = extra["protocol"]
        if conn.host and not extra.get("host"):
            params["host"] = conn.host
        if conn.port and not extra.get("port"):
            params["port"] = conn.port
        return params
