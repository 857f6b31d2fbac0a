"""Re-deliver dead letters: triggered from the Dead letters page or by hand, with params to choose entries."""

from datetime import UTC, datetime

from airflow.sdk import DAG, Param

from airflow_provider_integrations.notifiers.dlq import default_task_args
from airflow_provider_integrations.operators.dlq_replay import DLQReplayOperator

with DAG(
    dag_id="integrations_dlq_replay",
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    default_args=default_task_args(retries=1),
    params={
        "entry_ids": Param(None, type=["null", "array"], description="DLQ entry ids (all matching if empty)"),
        "system": Param(None, type=["null", "string"]),
        "stream": Param(None, type=["null", "string"]),
        "status": Param("new", type="string", enum=["new", "replayed", "resolved"]),
    },
    tags=["integrations"],
) as dag:
    DLQReplayOperator(
        task_id="replay",
        entry_ids="{{ params.entry_ids }}",
        system="{{ params.system }}",
        stream="{{ params.stream }}",
        status="{{ params.status }}",
    )
