"""Dead-letter queue: entries that could not be delivered, with their reason, in one of three stores."""

from airflow_provider_integrations.core.dlq.entry import (
    DLQEntry,
    DLQFilter,
    DLQStatus,
    RunContext,
)
from airflow_provider_integrations.core.dlq.object_store import LocalDLQStore, S3DLQStore
from airflow_provider_integrations.core.dlq.redaction import Redactor, register_secret
from airflow_provider_integrations.core.dlq.sql_store import SqlDLQStore
from airflow_provider_integrations.core.dlq.store import DLQStore

__all__ = [
    "DLQEntry",
    "DLQFilter",
    "DLQStatus",
    "DLQStore",
    "LocalDLQStore",
    "Redactor",
    "RunContext",
    "S3DLQStore",
    "SqlDLQStore",
    "register_secret",
]
