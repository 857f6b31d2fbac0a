"""Shared by the fault-injection suite: the admin API, the sandbox's connections in the environment,
and the DAG-run fixtures of the operator tests (one migrated Airflow home for the whole suite)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.connectors.conftest import Admin
from tests.operators.conftest import (  # noqa: F401 - fixtures, shared with this folder
    airflow_home,
    run_ingest,
    snowflake_query,
    source_records,
)


@pytest.fixture(scope="session")
def admin(sandbox: Any) -> Admin:
    return Admin(sandbox)


@pytest.fixture
def sandbox_env(sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The sandbox's connections (`sandbox_<system>`, `sandbox_s3`, `sandbox_snowflake`) as env vars."""
    env = sandbox.env()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env
