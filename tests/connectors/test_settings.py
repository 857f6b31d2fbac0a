"""Every connector's settings keep their secrets out of `repr` (and so out of logs and tracebacks)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from airflow_provider_integrations.connectors.netsuite import NetSuiteSettings
from airflow_provider_integrations.connectors.salesforce_api import SalesforceSettings
from airflow_provider_integrations.connectors.servicenow import ServiceNowSettings
from airflow_provider_integrations.connectors.stripe import StripeSettings
from airflow_provider_integrations.connectors.workday import WorkdaySettings
from airflow_provider_integrations.core.dlq.redaction import is_sensitive_name


def value(name: str) -> str:
    return f"value-of-{name.replace('_', '-')}-7f3a"


SALESFORCE_CREDENTIALS = (
    "client_id", "client_secret", "username", "password", "security_token", "refresh_token", "private_key",
)  # fmt: skip

SETTINGS: dict[type[Any], dict[str, Any]] = {
    SalesforceSettings: {
        "login_url": "https://login.example.com",
        "auth": "password",
        **{name: value(name) for name in SALESFORCE_CREDENTIALS},
    },
    NetSuiteSettings: {
        "base_url": "https://1234567.suitetalk.api.netsuite.com",
        **{
            name: value(name)
            for name in ("account_id", "consumer_key", "consumer_secret", "token_id", "token_secret")
        },
    },
    StripeSettings: {"api_key": "sk_test_" + value("api_key")},
    WorkdaySettings: {
        "host": "https://wd2-impl-services1.workday.com",
        "tenant": "acme",
        **{name: value(name) for name in ("client_id", "client_secret", "refresh_token")},
    },
    ServiceNowSettings: {
        "instance_url": "https://acme.service-now.com",
        **{name: value(name) for name in ("username", "password", "client_id", "client_secret")},
    },
}


@pytest.mark.parametrize("kind", list(SETTINGS), ids=lambda kind: kind.__name__)
def test_repr_holds_no_secret(kind: type[Any]) -> None:
    settings = kind(**SETTINGS[kind])
    shown = repr(settings)
    secrets = {
        f.name: getattr(settings, f.name)
        for f in dataclasses.fields(settings)
        if is_sensitive_name(f.name) and getattr(settings, f.name)
    }
    assert secrets, "the settings hold secrets, so the test checks something"
    for name, secret in secrets.items():
        assert secret not in shown, f"{kind.__name__} shows {name} in its repr: {shown}"
    assert kind.__name__ in shown


def test_every_secret_field_is_given_a_value_above() -> None:
    """A secret field added to a settings class must be filled here, or its repr goes unchecked."""
    for kind, given in SETTINGS.items():
        secret_fields = {f.name for f in dataclasses.fields(kind) if is_sensitive_name(f.name)}
        assert secret_fields <= set(given), f"{kind.__name__}: give {sorted(secret_fields - set(given))}"
