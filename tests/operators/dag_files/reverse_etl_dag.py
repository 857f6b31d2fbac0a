"""A DAG the reverse-ETL tests run with `dag.test()`: one deferrable sync whose large batches go to a
Salesforce Bulk API job waited on by the trigger. RETL_MODEL names the model table, RETL_DLQ the DLQ."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime

from airflow.sdk import dag

from airflow_provider_integrations.operators.reverse_etl import SnowflakeToSaaSOperator


@dag(dag_id="reverse_etl_test", schedule=None, start_date=datetime(2025, 1, 1, tzinfo=UTC), catchup=False)
def reverse_etl_test() -> None:
    SnowflakeToSaaSOperator(
        task_id="sync",
        model=os.environ.get("RETL_MODEL", "MISSING"),
        key="ACCOUNT_KEY",
        mapping={"ACCOUNT_NAME": "Name", "SCORE": "AnnualRevenue", "SEATS": "NumberOfEmployees"},
        external_id="External_Id__c",
        id_field="Id",
        conn_id="sandbox_salesforce",
        target="Account",
        snowflake_conn_id="sandbox_snowflake",
        dlq_uri=os.environ.get("RETL_DLQ"),
        batch_size=2500,
        deferrable=True,
        bulk_threshold=2000,
        poll_interval=0.5,
    )


DAG = reverse_etl_test()

if __name__ == "__main__":
    run = DAG.test()
    print("RUN_STATE", run.state)
    sys.exit(0 if run.state == "success" else 1)
