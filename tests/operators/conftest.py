from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
import snowflake.connector
from integrations_sandbox import stores

DAG_FILES = Path(__file__).parent / "dag_files"
INGEST_DAG = DAG_FILES / "ingest_dag.py"


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated Airflow metadata database (SQLite) for `dag.test()` runs."""
    return migrated_airflow_home(tmp_path_factory.mktemp("airflow_home"))


def migrated_airflow_home(home: Path) -> Path:
    """`home` as an AIRFLOW_HOME with a migrated SQLite metadata database."""
    env = {**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    airflow = Path(sys.executable).parent / "airflow"
    subprocess.run([str(airflow), "db", "migrate"], env=env, check=True, capture_output=True, timeout=300)
    return home


@pytest.fixture
def run_ingest(
    sandbox: Any, airflow_home: Path, tmp_path: Path
) -> Iterator[Callable[[list[dict[str, Any]], datetime], subprocess.CompletedProcess[str]]]:
    """Run the ingest DAG once for a logical date; each test gets its own bucket and DLQ.

    `extra_env` adds to or overrides the run's environment (e.g. a connection with custom streams).
    """
    bucket = f"raw-{uuid.uuid4().hex[:8]}"
    s3_client(sandbox).create_bucket(Bucket=bucket)

    def environment(
        spec: list[dict[str, Any]], logical_date: datetime, extra_env: dict[str, str] | None = None
    ) -> dict[str, str]:
        return {
            **os.environ,
            **sandbox.env(),
            "AIRFLOW_HOME": str(airflow_home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAG_FILES),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "INGEST_SPEC": json.dumps(spec),
            "INGEST_BUCKET": bucket,
            "INGEST_DLQ": str(tmp_path / "dlq"),
            "INGEST_LOGICAL_DATE": logical_date.isoformat(),
            **(extra_env or {}),
        }

    def run(
        spec: list[dict[str, Any]], logical_date: datetime, extra_env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(INGEST_DAG)],
            env=environment(spec, logical_date, extra_env),
            capture_output=True,
            text=True,
            timeout=600,
        )

    run.environment = environment  # type: ignore[attr-defined]
    run.bucket = bucket  # type: ignore[attr-defined]
    run.dlq = tmp_path / "dlq"  # type: ignore[attr-defined]
    yield run


def s3_client(sandbox: Any) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=sandbox.s3_url,
        region_name=stores.S3_REGION,
        aws_access_key_id=stores.S3_ACCESS_KEY,
        aws_secret_access_key=stores.S3_SECRET_KEY,
    )


@pytest.fixture
def snowflake_query(sandbox: Any) -> Iterator[Callable[[str], list[tuple[Any, ...]]]]:
    conn = snowflake.connector.connect(**sandbox.snowflake_kwargs())

    def query(statement: str) -> list[tuple[Any, ...]]:
        cursor = conn.cursor()
        cursor.execute(statement)
        return list(cursor.fetchall())

    yield query
    conn.close()


@pytest.fixture
def source_records(
    sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> Callable[[str, str], list[dict[str, Any]]]:
    """Everything a system serves for a stream right now, read through its hook (deletes included)."""
    from airflow_provider_integrations.hooks.registry import hook_for

    for name, value in sandbox.env().items():
        monkeypatch.setenv(name, value)

    def read(system: str, stream: str) -> list[dict[str, Any]]:
        hook = hook_for(f"sandbox_{system}")
        try:
            return list(hook.get_conn().read(stream))
        finally:
            hook.close()

    return read
