"""Hooks: Airflow connections become connectors; forms and test_connection work for every system."""

from __future__ import annotations

import importlib
import json
from typing import Any

import pytest

from airflow_provider_integrations.get_provider_info import get_provider_info
from airflow_provider_integrations.hooks.base import ConnectorHook


def hook_classes() -> list[type[ConnectorHook]]:
    classes = []
    for entry in get_provider_info()["connection-types"]:
        module, _, name = entry["hook-class-name"].rpartition(".")
        cls = getattr(importlib.import_module(module), name)
        assert cls.conn_type == entry["connection-type"]
        classes.append(cls)
    return classes


@pytest.mark.parametrize("hook_class", hook_classes(), ids=lambda c: c.conn_type)
def test_connection_forms_are_declared_for_airflow(hook_class: type[ConnectorHook]) -> None:
    from airflow.providers_manager import ProvidersManager
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    manager = ProvidersManager()
    widgets = manager.connection_form_widgets
    assert f"extra__{hook_class.conn_type}__ca_bundle" in widgets
    assert f"extra__{hook_class.conn_type}__streams" in widgets
    assert hook_class.conn_type in manager.field_behaviours
    hook_info = ProvidersManagerTaskRuntime().hooks[hook_class.conn_type]
    assert hook_info is not None and hook_info.hook_name.endswith("(integrations)")


@pytest.fixture
def sandbox_connections(sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, dict[str, Any]]:
    connections = {}
    for name, value in sandbox.env().items():
        if name.startswith("AIRFLOW_CONN_"):
            monkeypatch.setenv(name, value)
            connections[name.removeprefix("AIRFLOW_CONN_").lower()] = json.loads(value)
    return connections


@pytest.mark.parametrize("hook_class", hook_classes(), ids=lambda c: c.conn_type)
def test_test_connection_succeeds_on_the_sandbox(
    hook_class: type[ConnectorHook], sandbox_connections: Any
) -> None:
    system = hook_class.conn_type.removeprefix("integrations_")
    hook = hook_class(f"sandbox_{system}")
    ok, message = hook.test_connection()
    hook.close()
    assert ok, message


@pytest.mark.parametrize("hook_class", hook_classes(), ids=lambda c: c.conn_type)
def test_test_connection_names_a_bad_secret_without_showing_it(
    hook_class: type[ConnectorHook], sandbox_connections: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    system = hook_class.conn_type.removeprefix("integrations_")
    conn = dict(sandbox_connections[f"sandbox_{system}"])
    if conn.get("password"):
        wrong = conn["password"][:8] + "-wrong-secret-0000"
        conn["password"] = wrong
    else:
        extra = dict(conn["extra"])
        secret_name = next(k for k in extra if "secret" in k)
        wrong = extra[secret_name][:8] + "-wrong-secret-0000"
        extra[secret_name] = wrong
        conn["extra"] = extra
    monkeypatch.setenv("AIRFLOW_CONN_BROKEN", json.dumps(conn))
    hook = hook_class("broken")
    ok, message = hook.test_connection()
    hook.close()
    assert not ok
    assert "Auth" in message or "auth" in message or "refused" in message
    assert wrong not in message


@pytest.mark.parametrize("hook_class", hook_classes(), ids=lambda c: c.conn_type)
def test_every_secret_of_a_connection_is_hidden_from_logs_and_the_dlq(
    hook_class: type[ConnectorHook], sandbox_connections: Any, tmp_path: Any
) -> None:
    from airflow.sdk._shared.secrets_masker import redact

    from airflow_provider_integrations.connection_secrets import connection_secrets
    from airflow_provider_integrations.core.dlq import DLQEntry, LocalDLQStore

    system = hook_class.conn_type.removeprefix("integrations_")
    conn = sandbox_connections[f"sandbox_{system}"]
    secrets = connection_secrets(conn.get("password"), conn.get("extra") or {})
    assert secrets, f"the sandbox's {system} connection holds secrets"
    hook = hook_class(f"sandbox_{system}")
    hook.get_conn()
    hook.close()
    for number, secret in enumerate(secrets):
        said = f"the server echoed {secret} in its answer"
        assert secret not in redact(said), system  # each secret by itself, not only the whole extra
        store = LocalDLQStore(tmp_path / f"{system}-{number}")
        store.write(
            [
                DLQEntry.create(
                    system=system,
                    stream="s",
                    operation="read",
                    record_key="k",
                    payload={"note": said},
                    error=("Rejected", said),
                )
            ]
        )
        [stored] = store.find()
        assert secret not in json.dumps(stored.to_json()), system


@pytest.mark.parametrize(
    ("system", "conn", "defaulted"),
    [
        (
            "salesforce",
            {"conn_type": "integrations_salesforce", "login": "u@example.com", "password": "pass-word-1",
             "extra": {"client_id": "client-1"}},
            ("login_url", "auth", "api_version", "budget_share", "bulk_threshold", "security_token"),
        ),
        (
            "stripe",
            {"conn_type": "integrations_stripe", "password": "sk_test_defaults_0001"},
            ("api_base", "stripe_version"),
        ),
    ],
)  # fmt: skip
def test_a_connection_that_leaves_a_setting_out_gets_the_settings_default(
    system: str,
    conn: dict[str, Any],
    defaulted: tuple[str, ...],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Defaults are declared once, on the connector's settings class; the hook adds none of its own."""
    import dataclasses

    from airflow_provider_integrations.hooks.salesforce import SalesforceConnector, SalesforceHook
    from airflow_provider_integrations.hooks.stripe import StripeConnector, StripeHook

    hook_class, connector = {
        "salesforce": (SalesforceHook, SalesforceConnector),
        "stripe": (StripeHook, StripeConnector),
    }[system]
    built: list[Any] = []
    monkeypatch.setattr(
        connector, "connect", classmethod(lambda cls, settings, *_, **__: built.append(settings))
    )
    monkeypatch.setenv("AIRFLOW_CONN_DEFAULTS", json.dumps(conn))

    hook_class("defaults").get_conn()

    (settings,) = built
    declared = {f.name: f.default for f in dataclasses.fields(settings)}
    for name in defaulted:
        assert getattr(settings, name) == declared[name] != dataclasses.MISSING, name
