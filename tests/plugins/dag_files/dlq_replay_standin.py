"""Stand-in for the replay DAG, for the plugin tests only: the id the page triggers, nothing replayed."""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import dag, task


@dag(
    dag_id="integrations_dlq_replay",
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
)
def integrations_dlq_replay() -> None:
    @task
    def replay(**context: object) -> None:
        print(context["dag_run"].conf)  # type: ignore[attr-defined]

    replay()


integrations_dlq_replay()
