"""Open the DLQ store a task should use, from one URI.

    /var/lib/airflow/dlq or file:///var/lib/airflow/dlq   local JSON Lines directory (the default)
    s3://bucket/prefix?aws_conn_id=aws_default           S3 objects, one per written batch
    sql://<conn_id>/<table>                              a table through a DB-API hook (Postgres, Snowflake)

Without a URI, `AIRFLOW_INTEGRATIONS_DLQ` decides, then `$AIRFLOW_HOME/dlq`.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from airflow_provider_integrations.core.dlq import DLQStore, LocalDLQStore, S3DLQStore, SqlDLQStore
from airflow_provider_integrations.core.errors import ConfigError


def default_dlq_uri() -> str:
    home = os.environ.get("AIRFLOW_HOME") or str(Path.home() / "airflow")
    return os.environ.get("AIRFLOW_INTEGRATIONS_DLQ") or str(Path(home) / "dlq")


def open_dlq(uri: str | None = None) -> DLQStore:
    uri = uri or default_dlq_uri()
    parts = urlsplit(uri)
    if parts.scheme in ("", "file"):
        return LocalDLQStore(parts.path if parts.scheme else uri)
    if parts.scheme == "s3":
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        conn_id = parse_qs(parts.query).get("aws_conn_id", ["aws_default"])[0]
        return S3DLQStore(
            S3Hook(aws_conn_id=conn_id).get_conn(), parts.netloc, parts.path.lstrip("/") or "dlq/"
        )
    if parts.scheme == "sql":
        from airflow.sdk import BaseHook

        hook = BaseHook.get_connection(parts.netloc).get_hook()
        table = parts.path.lstrip("/") or "dlq_entries"
        return SqlDLQStore(hook.get_conn(), table)
    raise ConfigError(f"DLQ URI {uri!r}: use a path, file://, s3:// or sql://<conn_id>/<table>")
