"""Workday -> S3 -> Snowflake, configured by include/ingest/workday.yaml."""

from pathlib import Path

from airflow_provider_integrations.dag_config import ingest_dag

dag = ingest_dag(Path(__file__).parents[1] / "include" / "ingest" / "workday.yaml")
