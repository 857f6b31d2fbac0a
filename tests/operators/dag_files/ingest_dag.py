"""A DAG the ingest tests run with `dag.test()`; what it loads comes from INGEST_SPEC (JSON).

One item per stream: system, stream, table, and optionally mode, lookback_hours, delete_mode,
schema_policy and part_rows (rows per Parquet part the extract writes).
"""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime, timedelta

from airflow.sdk import dag

from airflow_provider_integrations.operators.extract import SaaSToS3Operator
from airflow_provider_integrations.operators.ingest_group import ingest_stream

SPEC = json.loads(os.environ.get("INGEST_SPEC", "[]"))


@dag(
    dag_id="ingest_test",
    schedule=timedelta(hours=1),
    start_date=datetime(2025, 1, 1, tzinfo=UTC),
    catchup=False,
    default_args={"retries": 0},
)
def ingest_test() -> None:
    for item in SPEC:
        group = ingest_stream(
            conn_id=f"sandbox_{item['system']}",
            stream=item["stream"],
            target_table=item["table"],
            bucket=os.environ.get("INGEST_BUCKET", "raw"),
            aws_conn_id="sandbox_s3",
            snowflake_conn_id="sandbox_snowflake",
            mode=item.get("mode", "incremental"),
            lookback=timedelta(hours=item.get("lookback_hours", 0)),
            delete_mode=item.get("delete_mode", "soft"),
            schema_policy=item.get("schema_policy", "add"),
            dlq_uri=os.environ.get("INGEST_DLQ"),
            group_id=f"{item['system']}_{item['stream'].lower()}",
        )
        if "part_rows" in item:
            extract = group.get_child_by_label("extract")
            assert isinstance(extract, SaaSToS3Operator)
            extract.part_rows = item["part_rows"]


DAG = ingest_test()

if __name__ == "__main__":
    # run_after fixes the run id, so running a date again is a retry of that run, as when Airflow retries.
    logical_date = datetime.fromisoformat(os.environ["INGEST_LOGICAL_DATE"])
    run = DAG.test(logical_date=logical_date, run_after=logical_date)
    print("RUN_STATE", run.state)
    sys.exit(0 if run.state == "success" else 1)
