"""The core HTTP client keeps TLS verification on and trusts the sandbox through its CA bundle."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_integrations.core.errors import ConfigError
from airflow_provider_integrations.core.http import HttpClient, HttpSettings


def test_client_trusts_the_sandbox_through_its_ca_bundle(sandbox: Any) -> None:
    settings = HttpSettings(base_url=sandbox.saas_url, system="sandbox", ca_bundle=sandbox.ca_bundle)
    with HttpClient(settings) as client:
        assert client.get_json("/__admin/health")["ok"] is True


def test_an_untrusted_certificate_fails_at_once_with_a_clear_message(sandbox: Any) -> None:
    settings = HttpSettings(base_url=sandbox.saas_url, system="sandbox")
    with HttpClient(settings) as client, pytest.raises(ConfigError) as err:
        client.get_json("/__admin/health")
    assert "TLS verification" in str(err.value) and "ca_bundle" in str(err.value)
    assert client.calls == 1
