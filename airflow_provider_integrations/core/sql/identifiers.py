"""Identifier validation: only plain names reach SQL text; values always travel as bound parameters."""

from __future__ import annotations

import re

from airflow_provider_integrations.core.errors import ConfigError

_PART = r"[A-Za-z_][A-Za-z0-9_$]{0,254}"
_QUALIFIED = re.compile(rf"{_PART}(\.{_PART}){{0,2}}")


def validate_identifier(name: str, what: str = "identifier") -> str:
    """Return `name` if it is a plain, optionally dotted (db.schema.table) SQL name; raise otherwise."""
    if not isinstance(name, str) or not _QUALIFIED.fullmatch(name):
        raise ConfigError(
            f"{what} {name!r} is not a valid SQL name: use letters, digits, _ and $, "
            "starting with a letter or _, optionally qualified as schema.table or db.schema.table"
        )
    return name
