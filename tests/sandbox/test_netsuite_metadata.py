"""The NetSuite emulator's date preferences, REST metadata catalog and schema changes, over HTTPS."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
import requests

from tests.sandbox.test_netsuite import ID_BASE, NsClient, Tba, error_of

CATALOG = "/services/rest/record/v1/metadata-catalog"
TS = "'YYYY-MM-DD HH24:MI:SS'"


@pytest.fixture(scope="module")
def ns(sandbox: Any) -> Iterator[NsClient]:
    client = NsClient(f"{sandbox.saas_url}/netsuite", sandbox.admin_url, sandbox.ca_bundle)
    yield client
    client.http.close()


def change(ns: NsClient, **body: Any) -> requests.Response:
    return ns.http.post(f"{ns.admin}/schema/netsuite", json=body, timeout=30)


def schema_of(ns: NsClient, record_type: str, accept: str = "application/schema+json") -> requests.Response:
    return ns.http.get(
        f"{ns.base}{CATALOG}/{record_type}", headers={"Accept": accept}, auth=Tba(), timeout=30
    )


def us_style(when: datetime, with_time: bool = True) -> str:
    """NetSuite's default US preferences: `M/D/YYYY` and `h:mm a`."""
    text = f"{when.month}/{when.day}/{when.year}"
    if with_time:
        text += f" {when.hour % 12 or 12}:{when.minute:02d} {'am' if when.hour < 12 else 'pm'}"
    return text


def test_dates_follow_the_account_preferences_unless_the_query_formats_them(ns: NsClient) -> None:
    q = (
        f"SELECT id, lastmodifieddate, TO_CHAR(lastmodifieddate, {TS}) AS modified, trandate, "
        f"TO_CHAR(trandate, 'YYYY-MM-DD') FROM transaction WHERE id >= {ID_BASE + 500} ORDER BY id"
    )
    rows = ns.page(q, 20)["items"]
    assert len(rows) == 20
    for row in rows:
        modified = datetime.strptime(row["modified"], "%Y-%m-%d %H:%M:%S")
        assert row["lastmodifieddate"] == us_style(modified)
        assert row["trandate"] == us_style(datetime.strptime(row["expr1"], "%Y-%m-%d"), with_time=False)
    try:
        assert change(ns, action="set_preferences", date_format="D.M.YYYY", time_format="H:mm").ok
        [row] = ns.page(f"SELECT lastmodifieddate, TO_CHAR(lastmodifieddate, {TS}) AS iso FROM item", 1)[
            "items"
        ]
        iso = datetime.strptime(row["iso"], "%Y-%m-%d %H:%M:%S")
        assert row["lastmodifieddate"] == f"{iso.day}.{iso.month}.{iso.year} {iso.hour}:{iso.minute:02d}"
    finally:
        assert change(ns, action="set_preferences", date_format="M/D/YYYY", time_format="h:mm a").ok
    refused = change(ns, action="set_preferences", date_format="YY-M-D")
    assert refused.status_code == 400 and "date_format must be one of" in refused.text
    assert error_of(ns.suiteql("SELECT TO_CHAR(lastmodifieddate, 'YYYY-QQ') AS x FROM item")) == (
        400,
        "INVALID_PARAMETER",
    )
    assert "ORA-01821" in ns.suiteql("SELECT TO_CHAR(lastmodifieddate, 'YYYY-QQ') AS x FROM item").text
    assert error_of(ns.suiteql(f"SELECT TO_CHAR(email, {TS}) AS x FROM customer")) == (
        400,
        "INVALID_PARAMETER",
    )
    unmatched = ns.suiteql(f"SELECT id FROM item WHERE lastmodifieddate > TO_TIMESTAMP('5/12/2026', {TS})")
    assert error_of(unmatched) == (400, "INVALID_PARAMETER") and "ORA-01861" in unmatched.text


def test_the_metadata_catalog_lists_record_types_with_their_media_types(ns: NsClient) -> None:
    response = ns.http.get(f"{ns.base}{CATALOG}", auth=Tba(), timeout=30)
    assert response.status_code == 200
    items = {item["name"]: item for item in response.json()["items"]}
    assert {"customer", "transaction", "item", "employee", "customrecord_contract"} <= set(items)
    links = items["customer"]["links"]
    assert [link["mediaType"] for link in links] == [
        "application/json",
        "application/swagger+json",
        "application/schema+json",
    ]
    assert all(link["href"] == f"{ns.base}{CATALOG}/customer" for link in links)
    selected = ns.http.get(f"{ns.base}{CATALOG}", params={"select": "customer,item"}, auth=Tba(), timeout=30)
    assert [item["name"] for item in selected.json()["items"]] == ["customer", "item"]
    unknown = ns.http.get(f"{ns.base}{CATALOG}", params={"select": "vendorx"}, auth=Tba(), timeout=30)
    assert error_of(unknown) == (400, "INVALID_PARAMETER")
    unsigned = ns.http.get(f"{ns.base}{CATALOG}", timeout=30)
    assert error_of(unsigned) == (401, "INVALID_LOGIN")


def test_a_record_type_is_described_as_json_schema(ns: NsClient) -> None:
    response = schema_of(ns, "customer")
    assert response.status_code == 200 and response.headers["content-type"].startswith(
        "application/schema+json"
    )
    properties = response.json()["properties"]
    assert properties["companyName"] == {"title": "CompanyName", "type": "string", "nullable": True}
    assert (
        properties["lastModifiedDate"]["format"] == "date-time" and properties["lastModifiedDate"]["readOnly"]
    )
    assert properties["custentity_region"]["x-ns-custom-field"] is True
    assert properties["custentity_credit_score"]["type"] == "integer"
    assert (
        properties["addressBook"]["type"] == "object" and "items" in properties["addressBook"]["properties"]
    )
    assert schema_of(ns, "transaction").json()["properties"]["entity"]["properties"]["id"]["type"] == "string"
    assert error_of(schema_of(ns, "vendorx")) == (404, "INVALID_RCRD_TYPE")
    assert error_of(schema_of(ns, "customer", accept="application/swagger+json")) == (406, "INVALID_HEADER")


def test_schema_changes_show_in_suiteql_and_the_catalog_at_once(ns: NsClient) -> None:
    record_type = f"customrecord_t{uuid.uuid4().hex[:8]}"
    field = "custrecord_score"
    added = change(ns, action="add_object", object=record_type, size=40)
    assert added.status_code == 200 and "lastModified" in added.json()["properties"]
    assert ns.page(f"SELECT id FROM {record_type}")["totalResults"] == 40
    assert change(ns, action="add_field", object=record_type, field=field, type="number").ok
    assert schema_of(ns, record_type).json()["properties"][field]["type"] == "number"
    values = [row[field] for row in ns.page(f"SELECT id, {field} FROM {record_type} ORDER BY id")["items"]]
    assert len(values) == 40 and all("." in value for value in values)
    assert change(ns, action="change_type", object=record_type, field=field, type="integer").ok
    values = [row[field] for row in ns.page(f"SELECT {field} FROM {record_type}")["items"]]
    assert all(value.isdigit() for value in values)
    assert change(ns, action="remove_field", object=record_type, field=field).ok
    assert field not in schema_of(ns, record_type).json()["properties"]
    assert error_of(ns.suiteql(f"SELECT {field} FROM {record_type}")) == (400, "INVALID_PARAMETER")

    for bad, reason in [
        (
            {"action": "add_field", "object": "customer", "field": "companyname", "type": "string"},
            "custentity_",
        ),
        (
            {"action": "add_field", "object": "customer", "field": "custbody_x", "type": "string"},
            "custentity_",
        ),
        (
            {"action": "add_field", "object": "customer", "field": "custentity_x", "type": "blob"},
            "type must be",
        ),
        ({"action": "remove_field", "object": "customer", "field": "custentity_nothere"}, "no custom field"),
        ({"action": "add_object", "object": "vendor2"}, "customrecord_"),
        ({"action": "add_object", "object": record_type}, "already exists"),
        ({"action": "drop", "object": "customer"}, "action must be"),
    ]:
        refused = change(ns, **bad)
        assert refused.status_code == 400 and reason in refused.text, (bad, refused.text)
