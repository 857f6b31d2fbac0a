"""Fixtures shared by the whole suite, and how `pytest` spreads it over workers (pytest-xdist).

The suite runs on one worker per core (`-n auto --dist loadscope` in pyproject's addopts); a run of single
files or test ids stays in this process. Each worker has its own session fixtures: its own sandbox (data
dir and free ports), its own migrated Airflow home and its own API server, all under the worker's own
temporary directory. A scope (`scope_of`) runs whole on one worker: a module, so that its module fixtures
are built once, or one of `SHARED_SCOPES`. The longest scopes are handed out first, so that no long test
starts last while the other worker idles.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from xdist.scheduler import LoadScopeScheduling

from tests.scripted_http import ScriptedHttpServer

SHARED_SCOPES = {
    # One `airflow api-server` (the session fixture `airflow_api`) for every plugin test.
    "tests/plugins/": "airflow_api",
    # Full Celery deployments on the machine's PostgreSQL and Redis: one at a time, so that two never
    # compete for the two cores (their waits are timed) nor meet on a Redis database.
    "tests/deploy/test_celery_deployment.py": "distributed",
    "tests/deploy/test_celery_real_dags.py": "distributed",
    "tests/airflow/test_bulk_trigger.py::test_the_real_triggerer": "distributed",
}
"""Test id prefixes whose tests run on one worker, one after another."""

LONGEST_FIRST = (
    "tests/chaos/test_demo_interrupted.py",
    "distributed",
    "tests/operators/test_ingest_systems.py",
    "tests/operators/test_ingest_policies.py",
    "tests/operators/test_ingest.py",
    "tests/test_demo.py",
    "tests/chaos/test_circuit_breaker.py",
    "tests/chaos/test_ingest_chaos.py",
    "tests/operators/test_reverse_etl.py",
    "airflow_api",
    "tests/chaos/test_security.py",
    "tests/airflow/test_bulk_trigger.py",
)
"""Scopes from the longest down (measured with --durations), handed out first; the rest follow in order."""


def scope_of(nodeid: str) -> str:
    """The scope a test runs in: a shared one it belongs to, else its module."""
    shared = (scope for prefix, scope in SHARED_SCOPES.items() if nodeid.startswith(prefix))
    return next(shared, nodeid.split("::")[0])


class ScopeScheduling(LoadScopeScheduling):
    """`--dist loadscope` with the scopes of `scope_of` (xdist's own `xdist_group` marks are lost on
    pytest 9, which no longer reads the test ids they rewrite)."""

    def _split_scope(self, nodeid: str) -> str:
        return scope_of(nodeid)


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> LoadScopeScheduling | None:
    return ScopeScheduling(config, log) if config.getoption("dist") == "loadscope" else None


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto`: one worker per core for the suite or a folder; none (this process) for files or ids."""
    if config.args and all(Path(arg.split("::")[0]).is_file() for arg in config.args):
        return 0
    return os.cpu_count() or 1


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Longest scopes first (xdist hands scopes out in collection order with --no-loadscope-reorder)."""
    rank = {scope: i for i, scope in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(scope_of(item.nodeid), len(rank)))


@pytest.fixture
def http_server() -> Iterator[ScriptedHttpServer]:
    with ScriptedHttpServer() as server:
        yield server


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """moto's S3 server on a free local port, spoken to over real HTTP."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(moto_url: str) -> Iterator[tuple[Any, str]]:
    """A fresh bucket on the moto server and a boto3 client pointed at it."""
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=moto_url,
        region_name="us-east-1",
        aws_access_key_id="sandbox-access-key",
        aws_secret_access_key="sandbox-secret-key",
    )
    bucket = f"test-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    yield client, bucket


@pytest.fixture
def pg_conn() -> Iterator[Any]:
    """A connection to the machine's real PostgreSQL (database `test`)."""
    import psycopg2

    dsn = os.environ.get("TEST_POSTGRES_DSN", "host=127.0.0.1 port=5432 dbname=test")
    conn = psycopg2.connect(dsn)
    try:
        yield conn
    finally:
        conn.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def fakesnow_kwargs() -> Iterator[dict[str, Any]]:
    """fakesnow's server: Snowflake's wire protocol on a local port, for snowflake-connector-python."""
    import fakesnow
    from integrations_sandbox import fakesnow_fixes

    fakesnow_fixes.apply()
    with fakesnow.server() as kwargs:
        yield kwargs


@pytest.fixture
def snowflake_conn(fakesnow_kwargs: dict[str, Any]) -> Iterator[Any]:
    import snowflake.connector

    conn = snowflake.connector.connect(**fakesnow_kwargs)
    with conn.cursor() as cursor:
        cursor.execute("CREATE DATABASE IF NOT EXISTS TESTS")
        cursor.execute("CREATE SCHEMA IF NOT EXISTS TESTS.PUBLIC")
        cursor.execute("USE SCHEMA TESTS.PUBLIC")
    try:
        yield conn
    finally:
        conn.close()


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The whole sandbox (moto S3, fakesnow, SaaS emulator), started once per test session."""
    from integrations_sandbox import runner

    data_dir = tmp_path_factory.mktemp("sandbox")
    for attempt in range(3):
        try:
            info = runner.up(data_dir, ports={"s3": 0, "snowflake": 0, "saas": 0}, seed=1234)
            break
        except runner.PortBusyError:  # another worker's server took a port between its choice and `up`
            if attempt == 2:
                raise
    try:
        yield info
    finally:
        runner.down(data_dir)
