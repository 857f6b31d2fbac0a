"""Salesforce sObject Collections: up to 200 records a call, one result per record."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from airflow_provider_integrations.connectors.base import WriteOutcome, WriteResult
from airflow_provider_integrations.connectors.salesforce_api import SYSTEM, refused_record
from airflow_provider_integrations.core.errors import ConfigError, PaginationError
from airflow_provider_integrations.core.http import HttpClient
from airflow_provider_integrations.core.url_paths import (
    SALESFORCE_ID,
    SALESFORCE_NAME,
    PathSegmentError,
    name_segment,
    segment,
)

BATCH = 200
OPERATIONS = ("insert", "update", "upsert", "delete")


def result_of(key: str, item: Mapping[str, Any]) -> WriteResult:
    """One per-record result of Collections (`{"id", "success", "errors", "created"}`) as a WriteResult."""
    if item.get("success"):
        return WriteResult(key, WriteOutcome.SUCCESS, item.get("id"), item.get("created"))
    errors = item.get("errors") or [{}]
    code = str(errors[0].get("statusCode", "UNKNOWN_ERROR"))
    message = "; ".join(str(e.get("message", "")) for e in errors)
    return refused_record(key, item.get("id"), code, message)


class CollectionsWriter:
    """Writes small batches through sObject Collections with `allOrNone: false`.

    Deletes send their records' Ids as one comma-separated `ids` parameter, so a record whose `Id` is
    not a Salesforce id fails alone (`INVALID_PATH_SEGMENT`) before the call instead of naming others.
    """

    bulk_above = 2_000

    def __init__(self, client: HttpClient, api: str) -> None:
        self.client = client
        self.api = api

    def write(
        self, target: str, operation: str, records: Sequence[Mapping[str, Any]], key_field: str
    ) -> Iterator[WriteResult]:
        if operation not in OPERATIONS:
            raise ConfigError(f"salesforce write operation must be one of {OPERATIONS}, got {operation!r}")
        for start in range(0, len(records), BATCH):
            batch = records[start : start + BATCH]
            keys = [str(r.get(key_field)) for r in batch]
            refused = _refused(batch, keys) if operation == "delete" else {}
            sendable = [r for i, r in enumerate(batch) if i not in refused]
            results = self._send(target, operation, sendable, key_field) if sendable else []
            if len(results) != len(sendable):
                raise PaginationError(
                    f"salesforce {operation} of {len(sendable)} {target} records returned {len(results)} "
                    "results"
                )
            answers = iter(results)
            for i, key in enumerate(keys):
                yield refused[i] if i in refused else result_of(key, next(answers))

    def _send(
        self, target: str, operation: str, batch: Sequence[Mapping[str, Any]], key_field: str
    ) -> list[dict[str, Any]]:
        base = f"{self.api}/composite/sobjects"
        if operation == "delete":
            ids = ",".join(str(r["Id"]) for r in batch)
            response = self.client.request("DELETE", base, params={"ids": ids, "allOrNone": "false"})
            return list(response.json())
        body = {
            "allOrNone": False,
            "records": [{"attributes": {"type": target}, **record} for record in batch],
        }
        if operation == "upsert":
            obj = name_segment(target, "upsert target", SALESFORCE_NAME, system=SYSTEM)
            field = name_segment(key_field, "upsert external id field", SALESFORCE_NAME, system=SYSTEM)
            response = self.client.request("PATCH", f"{base}/{obj}/{field}", json=body, idempotent=True)
        elif operation == "update":
            response = self.client.request("PATCH", base, json=body, idempotent=True)
        else:
            response = self.client.request("POST", base, json=body)
        return list(response.json())


def _refused(batch: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> dict[int, WriteResult]:
    """Results for the records of a delete whose `Id` is not a Salesforce id, by position."""
    refused: dict[int, WriteResult] = {}
    for i, (record, key) in enumerate(zip(batch, keys, strict=True)):
        try:
            segment(record.get("Id"), "Id", SALESFORCE_ID, system=SYSTEM)
        except PathSegmentError as error:
            refused[i] = WriteResult.failed(key, error)
    return refused
