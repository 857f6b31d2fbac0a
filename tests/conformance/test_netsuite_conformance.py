"""The NetSuite stand-in against Oracle's documented examples (fixtures/netsuite, sources in NOTICE.md):
SuiteQL collections, error bodies, the metadata catalog and a record type's JSON Schema, compared key by
key and type by type; and SuiteQL's dates, which follow the account's date preferences."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.sandbox.test_netsuite import NsClient, Tba, error_of

FIXTURES = Path(__file__).parent / "fixtures" / "netsuite"
CATALOG = "/services/rest/record/v1/metadata-catalog"


def documented(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def shape_differences(example: Any, served: Any, path: str = "$") -> list[str]:
    """Where `served` lacks a key of the documented `example`, or holds another JSON type there (lists:
    every served element against the example's first)."""
    if isinstance(example, dict):
        if not isinstance(served, dict):
            return [f"{path}: expected an object, got {type(served).__name__}"]
        problems = [f"{path}.{key}: missing" for key in example if key not in served]
        for key in example:
            if key in served:
                problems += shape_differences(example[key], served[key], f"{path}.{key}")
        return problems
    if isinstance(example, list):
        if not isinstance(served, list):
            return [f"{path}: expected an array, got {type(served).__name__}"]
        if not example:
            return []
        return [
            p for i, item in enumerate(served) for p in shape_differences(example[0], item, f"{path}[{i}]")
        ]
    kinds = (
        (bool,) if isinstance(example, bool) else (int, float) if isinstance(example, int | float) else (str,)
    )
    if isinstance(served, bool) and kinds != (bool,):
        return [f"{path}: expected {type(example).__name__}, got bool"]
    return [] if isinstance(served, kinds) else [f"{path}: expected {type(example).__name__}, got {served!r}"]


@pytest.fixture(scope="module")
def ns(sandbox: Any) -> Iterator[NsClient]:
    client = NsClient(f"{sandbox.saas_url}/netsuite", sandbox.admin_url, sandbox.ca_bundle)
    yield client
    client.http.close()


def test_a_suiteql_page_has_the_documented_collection_shape(ns: NsClient) -> None:
    served = ns.page("SELECT email, id FROM customer ORDER BY id", 2)
    assert shape_differences(documented("suiteql_response.json"), served) == []
    assert {link["rel"] for link in served["links"]} == {"next", "last", "self"}
    assert served["count"] == len(served["items"]) == 2 and served["hasMore"] is True
    assert all(
        isinstance(value, str) for item in served["items"] for k, value in item.items() if k != "links"
    )


@pytest.mark.parametrize(
    ("request_kind", "status", "code"),
    [
        ("unsigned", 401, "INVALID_LOGIN"),
        ("bad query", 400, "INVALID_PARAMETER"),
        ("no prefer", 400, "INVALID_HEADER"),
    ],
)
def test_errors_have_the_documented_shape(ns: NsClient, request_kind: str, status: int, code: str) -> None:
    if request_kind == "unsigned":
        response = ns.http.post(
            f"{ns.base}/services/rest/query/v1/suiteql", json={"q": "SELECT id FROM customer"}
        )
    elif request_kind == "bad query":
        response = ns.suiteql("SELECT nothing FROM customer")
    else:
        response = ns.suiteql("SELECT id FROM customer", prefer=False)
    assert shape_differences(documented("error_response.json"), response.json()) == []
    assert error_of(response) == (status, code)
    assert (
        response.json()["type"]
        == f"https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.{1 if status == 400 else 2}"
    )


def test_the_metadata_catalog_has_the_documented_shape(ns: NsClient) -> None:
    served = ns.http.get(f"{ns.base}{CATALOG}", auth=Tba(), timeout=30).json()
    assert shape_differences(documented("metadata_catalog.json"), served) == []
    example_links = documented("metadata_catalog.json")["items"][0]["links"]
    for item in served["items"]:
        assert [(link["rel"], link["mediaType"]) for link in item["links"]] == [
            (link["rel"], link["mediaType"]) for link in example_links
        ]


def test_a_record_schema_describes_fields_as_documented(ns: NsClient) -> None:
    example = documented("record_schema.json")["properties"]
    properties = ns.http.get(
        f"{ns.base}{CATALOG}/customer", headers={"Accept": "application/schema+json"}, auth=Tba(), timeout=30
    ).json()["properties"]
    custom = properties["custentity_credit_score"]
    assert set(custom) == set(example["custentity_integer"])
    assert (custom["type"], custom["format"], custom["x-ns-custom-field"]) == ("integer", "int64", True)
    employee = ns.http.get(
        f"{ns.base}{CATALOG}/employee", headers={"Accept": "application/schema+json"}, auth=Tba(), timeout=30
    ).json()["properties"]
    assert {
        k: v for k, v in employee["custentity_badge_date"].items() if k != "x-ns-custom-field"
    }.keys() == set(example["startDate"])
    assert employee["custentity_badge_date"]["format"] == example["startDate"]["format"]


def test_suiteql_dates_follow_the_default_us_preferences_as_documented(ns: NsClient) -> None:
    """`10/05/2018 10:15 am`: month/day/year and a 12-hour time without seconds, as the help center shows."""
    items = ns.page("SELECT createddate, trandate FROM transaction", 50)["items"]
    assert all(re.fullmatch(r"\d{1,2}/\d{1,2}/\d{4} \d{1,2}:\d{2} (am|pm)", i["createddate"]) for i in items)
    assert all(re.fullmatch(r"\d{1,2}/\d{1,2}/\d{4}", i["trandate"]) for i in items)
