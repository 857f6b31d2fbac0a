"""The Salesforce emulator against responses recorded from real orgs (fixtures/salesforce, see NOTICE.md):
restforce's recorded REST responses and the REST API guide's Composite Batch example.

Shapes are compared, not values: every key a recorded response has is in the emulator's answer, with the
same JSON type wherever both are non-null, recursively.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from integrations_sandbox.emulator.systems.salesforce import Salesforce

FIXTURES = Path(__file__).parent / "fixtures" / "salesforce"
VERSION = "59.0"


def recorded(name: str) -> Any:
    path = FIXTURES / ("rest_api_guide" if name.startswith("composite") else "restforce") / f"{name}.json"
    return json.loads(path.read_text())


def kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return type(value).__name__


def shape_differences(ours: Any, theirs: Any, path: str = "$") -> list[str]:
    """Where `ours` lacks a key of `theirs` or holds another JSON type (nulls match any type)."""
    if ours is None or theirs is None:
        return []
    if kind(ours) != kind(theirs):
        return [f"{path}: {kind(ours)} where the recording has {kind(theirs)}"]
    if isinstance(theirs, dict):
        missing = [f"{path}.{key}: missing" for key in theirs if key not in ours]
        nested = [
            d
            for key in theirs
            if key in ours
            for d in shape_differences(ours[key], theirs[key], f"{path}.{key}")
        ]
        return missing + nested
    if isinstance(theirs, list) and theirs and ours:
        return [d for item in ours for d in shape_differences(item, theirs[0], f"{path}[]")]
    return []


@pytest.fixture(scope="module")
def api(sandbox: Any) -> Iterator[httpx.Client]:
    conn = Salesforce.connection(f"{sandbox.saas_url}/salesforce")
    extra = conn["extra"]
    form = {
        "grant_type": "password",
        "client_id": extra["client_id"],
        "client_secret": extra["client_secret"],
        "username": conn["login"],
        "password": conn["password"] + extra["security_token"],
    }
    with httpx.Client(verify=ssl.create_default_context(cafile=sandbox.ca_bundle), timeout=60) as client:
        token = client.post(f"{conn['host']}/services/oauth2/token", data=form).json()["access_token"]
        client.headers["Authorization"] = f"Bearer {token}"
        client.base_url = httpx.URL(f"{conn['host']}/services/data/v{VERSION}/")
        yield client


def test_describe_global_has_the_recorded_shape(api: httpx.Client) -> None:
    ours = api.get("sobjects").json()
    assert shape_differences(ours, recorded("describe_sobjects_success_response")) == []


def test_every_object_describe_has_the_recorded_shape(api: httpx.Client) -> None:
    theirs = recorded("sobject_describe_success_response")
    field_keys = set().union(*(set(f) for f in theirs["fields"]))
    checked = 0
    for summary in api.get("sobjects").json()["sobjects"]:
        response = api.get(f"sobjects/{summary['name']}/describe")
        if response.status_code == 403:
            continue
        ours = response.json()
        assert shape_differences({**ours, "fields": []}, {**theirs, "fields": []}) == [], summary["name"]
        for field in ours["fields"]:
            assert field_keys <= set(field), (summary["name"], field["name"], field_keys - set(field))
            assert shape_differences(field, theirs["fields"][0]) == [], (summary["name"], field["name"])
        checked += 1
    assert checked >= 30


def test_query_pages_have_the_recorded_shape(api: httpx.Client) -> None:
    first = api.get("query", params={"q": "SELECT Id, Name, IsDeleted, CreatedDate FROM Account"}).json()
    page = recorded("query_paginated_first_page_response")
    assert shape_differences({**first, "records": []}, {**page, "records": []}) == []
    assert shape_differences(first["records"][0]["attributes"], page["records"][0]["attributes"]) == []
    assert first["nextRecordsUrl"].startswith(f"/services/data/v{VERSION}/query/")
    theirs = recorded("query_success_response")
    soql = "SELECT Id, Owner.Name, Segments__c FROM Account WHERE OwnerId != null LIMIT 2"
    ours = api.get("query", params={"q": soql}).json()
    assert (
        shape_differences(
            {k: ours[k] for k in ("totalSize", "done")}, {k: theirs[k] for k in ("totalSize", "done")}
        )
        == []
    )
    record, their_record = ours["records"][0], theirs["records"][0]
    assert shape_differences(record["attributes"], their_record["attributes"]) == []
    parent = {k: v for k, v in their_record["ParentWhizbang__r"].items() if k in ("attributes", "Name")}
    assert shape_differences(record["Owner"], parent) == []


def test_errors_have_the_recorded_shape(api: httpx.Client) -> None:
    bad_query = api.get("query", params={"q": "SELECT Nope FROM Account"})
    assert bad_query.status_code == 400
    assert shape_differences(bad_query.json(), recorded("query_error_response")) == []
    missing = api.get("sobjects/Nope__c/describe")
    assert missing.status_code == 404
    assert shape_differences(missing.json(), recorded("sobject_describe_error_response")) == []


def test_replication_resources_have_the_recorded_shape(api: httpx.Client) -> None:
    window = {"start": "2025-01-01T00:00:00Z", "end": "2025-01-01T01:00:00Z"}
    updated = api.get("sobjects/Account/updated", params=window).json()
    assert set(updated) == set(recorded("get_updated_success_response"))
    assert shape_differences(updated, recorded("get_updated_success_response")) == []
    deleted = api.get("sobjects/Account/deleted", params=window).json()
    assert set(deleted) == set(recorded("get_deleted_success_response"))
    assert shape_differences(deleted, recorded("get_deleted_success_response")) == []


def test_composite_batch_has_the_documented_shape(api: httpx.Client) -> None:
    # A record of its own: other tests of this sandbox read the generated Accounts.
    created = api.post("sobjects/Account", json={"Name": "Composite batch conformance"}).json()
    url = f"v{VERSION}/sobjects/Account/{created['id']}"
    body = {
        "batchRequests": [
            {"method": "PATCH", "url": url, "richInput": {"Name": "NewName"}},
            {"method": "GET", "url": f"{url}?fields=Name,BillingPostalCode"},
        ]
    }
    ours = api.post("composite/batch", json=body).json()
    assert [r["statusCode"] for r in ours["results"]] == [204, 200]
    assert ours["results"][1]["result"]["Name"] == "NewName"
    assert shape_differences(ours, recorded("composite_batch_response")) == []
