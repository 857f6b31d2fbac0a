"""Find the hook for a connection from its type, so operators take just a connection id."""

from __future__ import annotations

import importlib
import os

from airflow.sdk import BaseHook

from airflow_provider_integrations.connection_types import CONNECTION_TYPES
from airflow_provider_integrations.core.errors import ConfigError
from airflow_provider_integrations.hooks.base import ConnectorHook


def hook_for(conn_id: str, catalog_file: str | os.PathLike[str] | None = None) -> ConnectorHook:
    """The system hook for `conn_id`, chosen by the connection's type (`integrations_<system>`); with
    `catalog_file`, its streams are that discovered catalog's (see `ConnectorHook`)."""
    conn_type = BaseHook.get_connection(conn_id).conn_type
    for kind in CONNECTION_TYPES:
        if kind.conn_type == conn_type:
            module = importlib.import_module(f"airflow_provider_integrations.hooks.{kind.system}")
            hook: ConnectorHook = getattr(module, kind.hook)(conn_id, catalog_file=catalog_file)
            return hook
    known = ", ".join(k.conn_type for k in CONNECTION_TYPES)
    raise ConfigError(
        f"connection {conn_id!r} has type {conn_type!r}; extract operators need one of: {known}"
    )
