"""Our Snowflake hook reaches the sandbox's Snowflake through an ordinary Airflow connection."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_integrations.hooks.snowflake import SnowflakeHook


def test_hook_passes_protocol_host_and_port(sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_SANDBOX_SNOWFLAKE", sandbox.env()["AIRFLOW_CONN_SANDBOX_SNOWFLAKE"])
    hook = SnowflakeHook(snowflake_conn_id="sandbox_snowflake")
    params = hook._get_conn_params()
    assert params["protocol"] == "http" and params["port"] == sandbox.snowflake_port
    assert hook.get_first("SELECT 41 + 1") == (42,)
