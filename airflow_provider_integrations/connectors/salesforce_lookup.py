"""Read records back by external id, so a sync can tell whether a batch in doubt already arrived."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from airflow_provider_integrations.connectors.salesforce_api import soql_name
from airflow_provider_integrations.core.errors import IntegrationError
from airflow_provider_integrations.core.http import HttpClient


def lookup(
    client: HttpClient, api: str, target: str, key_field: str, keys: Sequence[str], fields: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """The current `fields` (plus `Id`) of the `target` records whose `key_field` is in `keys`, by key.

    One `GET /sobjects/<target>/<key_field>/<key>` per key: this runs only for the records of a batch
    whose outcome a stopped run did not record, so it stays small."""
    names = ",".join(dict.fromkeys(soql_name(f) for f in ["Id", key_field, *fields]))
    base = f"{api}/sobjects/{soql_name(target)}/{soql_name(key_field)}"
    found: dict[str, dict[str, Any]] = {}
    for key in keys:
        try:
            record = client.get_json(f"{base}/{quote(key, safe='')}", params={"fields": names})
        except IntegrationError as error:
            if error.code == "NOT_FOUND":
                continue
            raise
        found[key] = {k: v for k, v in record.items() if k != "attributes"}
    return found
