"""Salesforce sObject describe as a :class:`DestinationDescription`, for checking a sync's mapping."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_integrations.connectors.salesforce_api import SYSTEM
from airflow_provider_integrations.core.errors import PermanentError
from airflow_provider_integrations.core.http import HttpClient
from airflow_provider_integrations.core.mapping import DestinationDescription, DestinationField
from airflow_provider_integrations.core.url_paths import SALESFORCE_NAME, name_segment


def describe_sobject(client: HttpClient, api: str, sobject: str) -> DestinationDescription:
    """`GET <api>/sobjects/<sobject>/describe`: every field with its type and whether this user may
    create and update it. A field can match records in an upsert when it is an external id or, on
    standard objects, an idLookup field (`Id` always is). An unknown object is a ConfigError."""
    obj = name_segment(sobject, "sObject", SALESFORCE_NAME, system=SYSTEM)
    body = client.get_json(f"{api}/sobjects/{obj}/describe")
    listed = body.get("fields") if isinstance(body, Mapping) else None
    if not isinstance(listed, list):
        raise PermanentError(f"describe of {sobject} answered without a field list", system=SYSTEM)
    fields = [_field(item) for item in listed if isinstance(item, Mapping)]
    return DestinationDescription(
        target=str(body.get("name") or sobject), fields={f.name: f for f in fields}, system=SYSTEM
    )


def _field(item: Mapping[str, Any]) -> DestinationField:
    return DestinationField(
        name=str(item["name"]),
        type=str(item.get("type", "")),
        createable=bool(item.get("createable")),
        updateable=bool(item.get("updateable")),
        external_id=bool(item.get("externalId") or item.get("idLookup")),
        nillable=bool(item.get("nillable")),
    )
