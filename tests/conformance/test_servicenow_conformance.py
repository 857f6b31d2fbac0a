"""The sandbox's ServiceNow stand-in against what ServiceNow documents and what real instances answered.

Sources (see fixtures/servicenow/NOTICE.md): the Table API reference's example responses and parameter
list, and error bodies recorded by open-source ServiceNow clients. Each test names the fixture it uses.
"""

from __future__ import annotations

import json
import re
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from integrations_sandbox.emulator.systems.servicenow import ServiceNow

FIXTURES = Path(__file__).parent / "fixtures" / "servicenow"
DOCUMENTED_TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture(scope="module")
def client(sandbox: Any) -> Iterator[httpx.Client]:
    conn = ServiceNow.connection(f"{sandbox.saas_url}/servicenow")
    tls = ssl.create_default_context(cafile=sandbox.ca_bundle)
    with httpx.Client(
        base_url=conn["host"], verify=tls, auth=(conn["login"], conn["password"]), timeout=60
    ) as http:
        yield http


def shape(value: Any) -> str:
    """What kind of value the Table API sends: text, or a reference object with link and value."""
    if isinstance(value, dict):
        return "reference" if set(value) == {"link", "value"} else f"object {sorted(value)}"
    return "text" if isinstance(value, str) else type(value).__name__


def get(client: httpx.Client, path: str, **params: Any) -> httpx.Response:
    response = client.get(f"/api/now/table/{path}", params=params)
    assert response.status_code == 200, response.text
    return response


def test_records_use_the_documented_value_shapes(client: httpx.Client) -> None:
    """table_get_incident_record.json, table_get_problem_list.json: values are text or {link, value}."""
    documented = [
        fixture("table_get_incident_record.json")["result"],
        *fixture("table_get_problem_list.json")["result"],
    ]
    assert {shape(v) for record in documented for v in record.values()} == {"text", "reference"}
    base = str(client.base_url).rstrip("/")
    for table in ("incident", "problem", "change_request", "u_vendor_contract", "x_acme_fleet_vehicle"):
        for record in get(client, table, sysparm_limit=20).json()["result"]:
            assert {shape(v) for v in record.values()} <= {"text", "reference"}, (table, record)
            for value in record.values():
                if isinstance(value, dict):
                    assert re.fullmatch(
                        rf"{re.escape(base)}/api/now/table/[a-z0-9_]+/{value['value']}", value["link"]
                    )
            for name in ("sys_created_on", "sys_updated_on"):
                assert DOCUMENTED_TIME.fullmatch(record[name]), (table, name, record[name])


def test_standard_fields_are_fields_the_documented_records_have(client: httpx.Client) -> None:
    """Every non-custom field of incident and problem is a field of the documented example records, and
    references in the documented records are references here too."""
    incident_doc = fixture("table_get_incident_record.json")["result"]
    problem_doc = fixture("table_get_problem_list.json")["result"][0]
    for table, documented in (("incident", incident_doc), ("problem", problem_doc)):
        (record,) = get(client, table, sysparm_limit=1).json()["result"]
        standard = {name for name in record if not name.startswith(("u_", "x_"))}
        assert standard <= set(documented), (table, sorted(standard - set(documented)))
        for name in standard:
            if shape(documented[name]) == "reference" and record[name] != "":
                assert shape(record[name]) == "reference", (table, name)


def test_single_and_list_answers_use_the_documented_envelopes(client: httpx.Client) -> None:
    listed = get(client, "incident", sysparm_limit=2).json()
    assert set(listed) == {"result"} and isinstance(listed["result"], list) and len(listed["result"]) == 2
    single = get(client, f"incident/{listed['result'][0]['sys_id']}").json()
    assert set(single) == {"result"} and single["result"] == listed["result"][0]


def test_every_documented_get_parameter_is_accepted_and_honoured(client: httpx.Client) -> None:
    """table_get_parameters.json: each documented query parameter and value is accepted; those that
    change what comes back are honoured."""
    documented = fixture("table_get_parameters.json")
    for name, values in documented["query_parameters"].items():
        for value in values:
            get(client, "incident", **{name: value, "sysparm_limit": 2})
    base = {"sysparm_limit": 3}
    assert [
        set(r) for r in get(client, "incident", sysparm_fields="number,sys_id", **base).json()["result"]
    ] == [{"number", "sys_id"}] * 3
    first = get(client, "incident", sysparm_limit=2).json()["result"]
    second = get(client, "incident", sysparm_limit=1, sysparm_offset=1).json()["result"]
    assert second == first[1:]
    assert "x-total-count" not in get(client, "incident", sysparm_no_count="true", **base).headers
    assert "link" not in get(client, "incident", sysparm_suppress_pagination_header="true", **base).headers
    plain = get(client, "incident", sysparm_exclude_reference_link="true", **base).json()["result"]
    assert all(isinstance(v, str) for record in plain for v in record.values())
    shown = get(client, "incident", sysparm_display_value="all", sysparm_fields="state", **base).json()[
        "result"
    ]
    assert all(set(r["state"]) == {"display_value", "value"} for r in shown)
    query = get(client, "incident", sysparm_query="active=true^ORDERBYDESCnumber", **base).json()["result"]
    assert all(r["active"] == "true" for r in query)
    assert [r["number"] for r in query] == sorted((r["number"] for r in query), reverse=True)
    pairs = get(client, "incident", **documented["name_value_pairs"], **base)
    assert all(r["active"] == "true" for r in pairs.json()["result"])


def test_paging_headers_are_the_documented_ones(client: httpx.Client) -> None:
    """table_get_parameters.json: X-Total-Count, and Link with first/prev/next/last carrying
    sysparm_offset and sysparm_limit."""
    documented = fixture("table_get_parameters.json")
    response = get(client, "incident", sysparm_limit=100, sysparm_offset=200)
    assert int(response.headers["x-total-count"]) > 300
    links = dict((rel, url) for url, rel in re.findall(r'<([^>]+)>;rel="([a-z]+)"', response.headers["link"]))
    assert set(links) == set(documented["link_relations"])
    offsets = {rel: int(re.search(r"sysparm_offset=(\d+)", url).group(1)) for rel, url in links.items()}  # type: ignore[union-attr]
    assert (offsets["first"], offsets["prev"], offsets["next"]) == (0, 100, 300)
    assert all("sysparm_limit=100" in url for url in links.values())


def test_invalid_fields_and_query_parts_are_ignored_as_documented(client: httpx.Client) -> None:
    """table_get_parameters.json: invalid sysparm_fields are ignored; an invalid part of a query is
    ignored and the valid part runs."""
    fields = get(client, "incident", sysparm_limit=2, sysparm_fields="number,no_such_field").json()["result"]
    assert [set(r) for r in fields] == [{"number"}] * 2
    valid = get(client, "incident", sysparm_limit=1, sysparm_query="active=true")
    mixed = get(client, "incident", sysparm_limit=1, sysparm_query="no_such_field=1^active=true")
    assert mixed.headers["x-total-count"] == valid.headers["x-total-count"]


def test_error_bodies_match_recorded_ones(client: httpx.Client, sandbox: Any) -> None:
    """recorded_errors.json: a missing record (404) and missing credentials (401)."""
    recorded = fixture("recorded_errors.json")
    missing = client.get("/api/now/table/incident/0123456789abcdef0123456789abcdef")
    assert missing.status_code == recorded["record_not_found"]["status"]
    assert missing.json() == recorded["record_not_found"]["body"]
    conn = ServiceNow.connection(f"{sandbox.saas_url}/servicenow")
    tls = ssl.create_default_context(cafile=sandbox.ca_bundle)
    anonymous = httpx.get(f"{conn['host']}/api/now/table/incident", verify=tls, timeout=60)
    assert anonymous.status_code == recorded["not_authenticated"]["status"]
    assert anonymous.json() == recorded["not_authenticated"]["body"]
