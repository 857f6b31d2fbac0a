"""The sandbox comes up with one call, and its parts speak their real protocols."""

from __future__ import annotations

import io
import json
import shlex
from typing import Any

import boto3
import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import snowflake.connector

from airflow_provider_integrations.sandbox import stores


def s3_client(sandbox: Any) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=sandbox.s3_url,
        region_name=stores.S3_REGION,
        aws_access_key_id=stores.S3_ACCESS_KEY,
        aws_secret_access_key=stores.S3_SECRET_KEY,
    )


def test_env_file_has_a_connection_per_system_and_loads_in_a_shell(sandbox: Any) -> None:
    from pathlib import Path

    lines = (Path(sandbox.data_dir) / "sandbox.env").read_text().splitlines()
    env = dict(line.split("=", 1) for line in lines)
    for name in ("S3", "SNOWFLAKE", "SALESFORCE", "STRIPE", "NETSUITE", "WORKDAY", "SERVICENOW"):
        conn = json.loads(shlex.split(env[f"AIRFLOW_CONN_SANDBOX_{name}"])[0])
        assert conn["conn_type"]
    assert shlex.split(env["SANDBOX_CA_BUNDLE"])[0].endswith("ca.pem")
    assert shlex.split(env["SANDBOX_ADMIN_URL"])[0] == sandbox.admin_url


def test_admin_api_answers_over_verified_tls(sandbox: Any) -> None:
    response = httpx.get(f"{sandbox.admin_url}/health", verify=sandbox.ca_bundle)
    assert response.json()["ok"] is True
    assert response.json()["seed"] == 1234


def test_snowflake_copies_parquet_from_the_sandbox_s3(sandbox: Any) -> None:
    client = s3_client(sandbox)
    client.create_bucket(Bucket="stage-test")
    table = pa.table({"ID": ["a", "b", "c"], "AMOUNT": [1, 2, 3]})
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    client.put_object(Bucket="stage-test", Key="runs/1/part-0.parquet", Body=buffer.getvalue())

    conn = snowflake.connector.connect(**sandbox.snowflake_kwargs())
    cursor = conn.cursor()
    cursor.execute("CREATE TABLE IF NOT EXISTS copy_test (ID VARCHAR, AMOUNT INTEGER)")
    cursor.execute("CREATE OR REPLACE STAGE copy_stage URL='s3://stage-test/runs/'")
    cursor.execute(
        "COPY INTO copy_test FROM @copy_stage FILES=('1/part-0.parquet') "
        "FILE_FORMAT=(TYPE=PARQUET) MATCH_BY_COLUMN_NAME=CASE_INSENSITIVE"
    )
    results = cursor.fetchall()
    assert [(r[1], r[3]) for r in results] == [("LOADED", 3)]
    cursor.execute("SELECT ID, AMOUNT FROM copy_test ORDER BY ID")
    assert cursor.fetchall() == [("a", 1), ("b", 2), ("c", 3)]
    conn.close()
