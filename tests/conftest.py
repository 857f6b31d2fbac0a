from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.scripted_http import ScriptedHttpServer


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
    ports = {"s3": _free_port(), "snowflake": _free_port(), "saas": _free_port()}
    info = runner.up(data_dir, ports=ports, seed=1234)
    try:
        yield info
    finally:
        runner.down(data_dir)
