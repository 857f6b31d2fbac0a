"""Task callbacks: a failed try of a task becomes a dead-letter entry."""

from airflow_provider_integrations.notifiers.dlq import DeadLetterNotifier, default_task_args

__all__ = ["DeadLetterNotifier", "default_task_args"]
