"""Account health scores from Snowflake into Salesforce (include/reverse_etl/account_scores.yaml)."""

from pathlib import Path

from airflow_provider_integrations.dag_config import reverse_etl_dag

dag = reverse_etl_dag(Path(__file__).parents[1] / "include" / "reverse_etl" / "account_scores.yaml")
