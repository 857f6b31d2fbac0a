"""The ServiceNow emulator's data dictionary (sys_db_object, sys_dictionary), display values, documented
name-value filters and what it does with a query naming a field the table lacks."""

from __future__ import annotations

import ssl
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from integrations_sandbox.emulator.systems.servicenow import ServiceNow

Record = dict[str, Any]


@pytest.fixture(scope="module")
def client(sandbox: Any) -> Iterator[httpx.Client]:
    conn = ServiceNow.connection(f"{sandbox.saas_url}/servicenow")
    tls = ssl.create_default_context(cafile=sandbox.ca_bundle)
    auth = (conn["login"], conn["password"])
    with httpx.Client(base_url=conn["host"], verify=tls, auth=auth, timeout=60) as http:
        yield http


@pytest.fixture(scope="module")
def admin(sandbox: Any) -> Iterator[httpx.Client]:
    tls = ssl.create_default_context(cafile=sandbox.ca_bundle)
    with httpx.Client(base_url=sandbox.admin_url, verify=tls, timeout=60) as http:
        yield http


def rows(client: httpx.Client, table: str, **params: Any) -> list[Record]:
    response = client.get(f"/api/now/table/{table}", params=params)
    assert response.status_code == 200, response.text
    return list(response.json()["result"])


def test_sys_db_object_lists_tables_with_their_super_class_and_scope(client: httpx.Client) -> None:
    tables = {r["name"]: r for r in rows(client, "sys_db_object", sysparm_exclude_reference_link="true")}
    assert {
        "task",
        "incident",
        "problem",
        "change_request",
        "u_vendor_contract",
        "x_acme_fleet_vehicle",
    } <= set(tables)
    task = tables["task"]
    for child in ("incident", "problem", "change_request"):
        assert tables[child]["super_class"] == task["sys_id"]
    assert task["super_class"] == "" and task["is_extendable"] == "true"
    assert (
        tables["incident"]["sys_scope"] == "global" and tables["u_vendor_contract"]["sys_scope"] == "global"
    )
    assert len(tables["x_acme_fleet_vehicle"]["sys_scope"]) == 32
    linked = rows(client, "sys_db_object", sysparm_query="name=incident")[0]["super_class"]
    assert linked == {
        "link": f"{str(client.base_url).rstrip('/')}/api/now/table/sys_db_object/{task['sys_id']}",
        "value": task["sys_id"],
    }


def test_sys_dictionary_defines_a_field_on_the_table_that_introduces_it(client: httpx.Client) -> None:
    def entries(table: str) -> dict[str, Record]:
        query = f"name={table}^elementISNOTEMPTY"
        found = rows(client, "sys_dictionary", sysparm_query=query, sysparm_exclude_reference_link="true")
        return {r["element"]: r for r in found}

    task, incident = entries("task"), entries("incident")
    assert {"number", "state", "assigned_to", "sys_id", "sys_updated_on"} <= set(task)
    assert "number" not in incident and "sys_id" not in incident
    assert {"category", "caller_id", "u_vendor_ticket", "u_outage_minutes"} <= set(incident)
    assert (
        incident["caller_id"]["internal_type"] == "reference"
        and incident["caller_id"]["reference"] == "sys_user"
    )
    assert task["opened_at"]["internal_type"] == "glide_date_time"
    assert task["sys_id"]["primary"] == "true" and task["number"]["max_length"] == "40"
    collection = rows(client, "sys_dictionary", sysparm_query="name=incident^elementISEMPTY")
    assert [r["internal_type"]["value"] for r in collection] == ["collection"]


def test_records_carry_every_field_their_dictionary_chain_defines(client: httpx.Client) -> None:
    fields = {
        r["element"]
        for table in ("task", "incident")
        for r in rows(client, "sys_dictionary", sysparm_query=f"name={table}^elementISNOTEMPTY")
    }
    (incident,) = rows(client, "incident", sysparm_limit=1)
    assert set(incident) == fields
    assert incident["sys_class_name"] == "incident"
    vehicle = rows(client, "x_acme_fleet_vehicle", sysparm_limit=3)
    assert len(vehicle) == 3 and all(len(v["vin"]) > 0 or v["vin"] == "" for v in vehicle)


def test_display_values_true_false_and_all(client: httpx.Client) -> None:
    params = {"sysparm_limit": 1, "sysparm_fields": "caller_id,state,sys_updated_on,u_outage_minutes"}
    (raw,) = rows(client, "incident", **params)
    (shown,) = rows(client, "incident", sysparm_display_value="true", **params)
    (both,) = rows(client, "incident", sysparm_display_value="all", **params)
    (plain,) = rows(
        client, "incident", sysparm_display_value="true", sysparm_exclude_reference_link="true", **params
    )
    name = client.get(f"/api/now/table/sys_user/{raw['caller_id']['value']}").json()["result"]["name"]
    assert shown["caller_id"] == {"display_value": name, "link": raw["caller_id"]["link"]}
    assert plain["caller_id"] == name
    assert both["caller_id"] == {
        "display_value": name,
        "value": raw["caller_id"]["value"],
        "link": raw["caller_id"]["link"],
    }
    labels = {"1": "New", "2": "In Progress", "3": "On Hold", "6": "Resolved", "7": "Closed"}
    assert shown["state"] == labels[raw["state"]] and both["state"] == {
        "display_value": labels[raw["state"]],
        "value": raw["state"],
    }
    assert shown["sys_updated_on"] == raw["sys_updated_on"]
    assert set(shown) == set(params["sysparm_fields"].split(","))


def test_a_condition_on_an_unknown_field_is_ignored_unless_the_property_says_no_rows(
    client: httpx.Client,
) -> None:
    everything = int(
        client.get("/api/now/table/problem", params={"sysparm_limit": 1}).headers["x-total-count"]
    )
    typo = client.get("/api/now/table/problem", params={"sysparm_query": "stat=1", "sysparm_limit": 1})
    assert int(typo.headers["x-total-count"]) == everything
    mixed = client.get(
        "/api/now/table/problem", params={"sysparm_query": "stat=1^state=1", "sysparm_limit": 1}
    )
    state_1 = client.get("/api/now/table/problem", params={"sysparm_query": "state=1", "sysparm_limit": 1})
    assert mixed.headers["x-total-count"] == state_1.headers["x-total-count"] != str(everything)
    created = client.post(
        "/api/now/table/sys_properties", json={"name": "glide.invalid_query.returns_no_rows", "value": "true"}
    )
    assert created.status_code == 201
    try:
        typo = client.get("/api/now/table/problem", params={"sysparm_query": "stat=1", "sysparm_limit": 1})
        assert typo.headers["x-total-count"] == "0" and typo.json()["result"] == []
        valid = client.get("/api/now/table/problem", params={"sysparm_query": "state=1", "sysparm_limit": 1})
        assert valid.headers["x-total-count"] == state_1.headers["x-total-count"]
    finally:
        sys_id = created.json()["result"]["sys_id"]
        assert client.delete(f"/api/now/table/sys_properties/{sys_id}").status_code == 204


def test_name_value_pairs_filter_as_documented(client: httpx.Client) -> None:
    by_pair = client.get("/api/now/table/incident", params={"active": "true", "sysparm_limit": 5})
    by_query = client.get(
        "/api/now/table/incident", params={"sysparm_query": "active=true", "sysparm_limit": 5}
    )
    assert by_pair.headers["x-total-count"] == by_query.headers["x-total-count"]
    assert [r["sys_id"] for r in by_pair.json()["result"]] == [r["sys_id"] for r in by_query.json()["result"]]
    assert all(r["active"] == "true" for r in by_pair.json()["result"])


def test_a_table_the_user_may_not_read_answers_403_in_servicenows_shape(client: httpx.Client) -> None:
    response = client.get("/api/now/table/u_payroll_adjustment")
    assert response.status_code == 403
    assert response.json() == {
        "error": {
            "message": "Operation Failed",
            "detail": "ACL Exception Read Failed due to security constraints",
        },
        "status": "failure",
    }


def test_added_tables_and_fields_serve_generated_values_and_can_be_mutated(
    client: httpx.Client, admin: httpx.Client
) -> None:
    table = f"x_acme_fleet_trip_{uuid.uuid4().hex[:6]}"
    body = {"action": "add_object", "object": table, "records": 12, "fields": {"odometer": "integer"}}
    described = admin.post("/schema/servicenow", json=body)
    assert described.status_code == 200, described.text
    assert described.json()["fields"]["odometer"] == "integer"
    trips = rows(client, table, sysparm_limit=100)
    assert len(trips) == 12 and {"odometer", "sys_id", "sys_updated_on"} <= set(trips[0])
    assert admin.post(f"/datasets/servicenow/{table}/mutate", json={"insert": 3}).status_code == 200
    assert len(rows(client, table, sysparm_limit=100)) == 15
    dictionary = rows(client, "sys_dictionary", sysparm_query=f"name={table}^element=odometer")
    assert [r["internal_type"]["value"] for r in dictionary] == ["integer"]
