"""One line of configuration -> extract -> load (COPY + MERGE) for a stream, as an Airflow task group."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import Asset, TaskGroup

from airflow_provider_integrations.operators.extract import DEFAULT_MODE, SaaSToS3Operator
from airflow_provider_integrations.operators.freshness import SnowflakeFreshnessCheckOperator
from airflow_provider_integrations.operators.load import S3ToSnowflakeMergeOperator


def table_asset(target_table: str) -> Asset:
    """The Airflow Asset a load updates, so other DAGs can be scheduled on the table."""
    return Asset(f"snowflake-table://{target_table.lower()}")


def ingest_stream(
    *,
    conn_id: str,
    stream: str,
    target_table: str,
    bucket: str,
    aws_conn_id: str = "aws_default",
    snowflake_conn_id: str = "snowflake_default",
    mode: str = DEFAULT_MODE,
    lookback: timedelta = timedelta(0),
    delete_mode: str = "soft",
    schema_policy: str = "add",
    freshness_sla: timedelta | None = None,
    prefix: str = "raw",
    dlq_uri: str | None = None,
    group_id: str | None = None,
    task_defaults: dict[str, Any] | None = None,
    catalog: str | None = None,
) -> TaskGroup:
    """A task group `extract >> load [>> freshness]` for one stream; the load's outlet is the target
    table's Asset. With `freshness_sla`, a check warns when the table's newest load is older than that.
    With `catalog` (a discovered catalog file's absolute path, docs/catalogs.md), the extract takes the
    stream from that file; `schema_policy` rules both the extract's drift check and the load's columns."""
    defaults = task_defaults or {}
    with TaskGroup(group_id=group_id or f"{stream.lower()}") as group:
        extract = SaaSToS3Operator(
            task_id="extract",
            conn_id=conn_id,
            stream=stream,
            bucket=bucket,
            aws_conn_id=aws_conn_id,
            prefix=prefix,
            mode=mode,
            lookback=lookback,
            dlq_uri=dlq_uri,
            catalog=catalog,
            schema_policy=schema_policy,
            **defaults,
        )
        load = S3ToSnowflakeMergeOperator(
            task_id="load",
            manifest_uri=extract.output,
            target_table=target_table,
            snowflake_conn_id=snowflake_conn_id,
            aws_conn_id=aws_conn_id,
            delete_mode=delete_mode,
            schema_policy=schema_policy,
            outlets=[table_asset(target_table)],
            **defaults,
        )
        if freshness_sla is not None:
            load >> SnowflakeFreshnessCheckOperator(
                task_id="freshness",
                table=target_table,
                sla=freshness_sla,
                snowflake_conn_id=snowflake_conn_id,
                **defaults,
            )
    return group
