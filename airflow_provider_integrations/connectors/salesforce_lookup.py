"""Read records back by external id, so a sync can tell whether a batch in doubt already arrived."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_provider_integrations.connectors.salesforce_api import SYSTEM, soql_name
from airflow_provider_integrations.core.errors import IntegrationError
from airflow_provider_integrations.core.http import HttpClient
from airflow_provider_integrations.core.url_paths import (
    SALESFORCE_EXTERNAL_ID,
    SALESFORCE_ID,
    SALESFORCE_NAME,
    PathSegmentError,
    name_segment,
    segment,
)


def lookup(
    client: HttpClient, api: str, target: str, key_field: str, keys: Sequence[str], fields: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """The current `fields` (plus `Id`) of the `target` records whose `key_field` is in `keys`, by key.

    One `GET /sobjects/<target>/<key_field>/<key>` per key: this runs only for the records of a batch
    whose outcome a stopped run did not record, so it stays small. A key that no record can have in
    a path (not an id when `key_field` is `Id`; `.`, `..`, empty or with a control character) is not
    found, and not asked for."""
    names = ",".join(dict.fromkeys(soql_name(f) for f in ["Id", key_field, *fields]))
    obj = name_segment(target, "lookup target", SALESFORCE_NAME, system=SYSTEM)
    field = name_segment(key_field, "lookup key field", SALESFORCE_NAME, system=SYSTEM)
    base = f"{api}/sobjects/{obj}/{field}"
    shape = SALESFORCE_ID if key_field.casefold() == "id" else SALESFORCE_EXTERNAL_ID
    found: dict[str, dict[str, Any]] = {}
    for key in keys:
        try:
            path = f"{base}/{segment(key, key_field, shape, system=SYSTEM)}"
        except PathSegmentError:
            continue
        try:
            record = client.get_json(path, params={"fields": names})
        except IntegrationError as error:
            if error.code == "NOT_FOUND":
                continue
            raise
        found[key] = {k: v for k, v in record.items() if k != "attributes"}
    return found
