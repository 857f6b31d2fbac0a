"""A connection's secrets, hidden wherever this process could show them: logs and dead-letter entries.

Airflow masks a connection's password and its extra as one whole JSON string, so a secret extra such as
`client_secret` or `token_secret` would still show when it appears by itself. When a hook reads its
connection, each secret (the password and every extra whose name is sensitive, at any depth) is
registered with Airflow's secrets masker and with the DLQ redactor.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from airflow_provider_integrations.core.dlq import register_secret
from airflow_provider_integrations.core.dlq.redaction import is_sensitive_name


def connection_secrets(password: str | None, extra: Mapping[str, Any]) -> list[str]:
    """The password and the string values of secret-named extras, nested ones included."""
    found = [password] if password else []
    return found + [value for _, value in _secret_extras(extra)]


def protect_connection(conn: Any) -> None:
    """Register `conn`'s secrets (an Airflow Connection) with the log masker and the DLQ redactor."""
    from airflow.sdk.log import mask_secret

    for secret in connection_secrets(conn.password, conn.extra_dejson):
        register_secret(secret)
        mask_secret(secret)


def _secret_extras(extra: Mapping[str, Any], secret: bool = False) -> Iterator[tuple[str, str]]:
    for key, value in extra.items():
        hidden = secret or is_sensitive_name(str(key))
        if isinstance(value, Mapping):
            yield from _secret_extras(value, hidden)
        elif isinstance(value, str) and value and hidden:
            yield str(key), value
