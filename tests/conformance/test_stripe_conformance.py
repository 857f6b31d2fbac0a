"""The Stripe emulator against Stripe's own OpenAPI description (fixtures/stripe, see its README).

Every object the emulator serves, in each API version it claims, validates against the description's
schema for that version, with no field the description lacks; every documented parameter of each
emulated endpoint is accepted; errors have the documented shape.
"""

from __future__ import annotations

import copy
import json
import ssl
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from tests.connectors.conftest import Admin

SUBSET = Path(__file__).parent / "fixtures" / "stripe" / "stripe_spec_subset.json"
PINNED = "2024-06-20"
LATEST = "2026-10-28.endive"
STREAMS = {
    "customers": "customer",
    "charges": "charge",
    "invoices": "invoice",
    "subscriptions": "subscription",
}


@cache
def spec() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SUBSET.read_text())
    return loaded


def convert(node: Any) -> Any:
    """OpenAPI 3.0 to JSON Schema, as far as the description uses it: `nullable`, `$ref`, extensions."""
    if isinstance(node, list):
        return [convert(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {
        key: convert(value)
        for key, value in node.items()
        if not key.startswith("x-") and key not in ("nullable", "format", "$ref")
    }
    if "$ref" in node:
        converted["$ref"] = "#/$defs/" + node["$ref"].rsplit("/", 1)[1]
    if "properties" in node:
        converted["additionalProperties"] = False
    if node.get("nullable"):
        return {"anyOf": [converted, {"type": "null"}]}
    return converted


@cache
def definitions(version: str) -> dict[str, Any]:
    """Every schema of the subset, with the fields `version` adds or removes (from its fixtures)."""
    schemas = copy.deepcopy(spec()["schemas"])
    for name, change in spec()["versions"][version]["changes"].items():
        if name not in schemas:
            continue
        schema = schemas[name]
        for field in change["removed"]:
            schema["properties"].pop(field, None)
        schema["required"] = [f for f in schema.get("required", []) if f not in change["removed"]]
        schema["properties"].update(change["added"])
    return {name: convert(schema) for name, schema in schemas.items()}


def validator(version: str, schema: str) -> jsonschema.Draft202012Validator:
    root = {"$defs": definitions(version), "$ref": f"#/$defs/{schema}"}
    return jsonschema.Draft202012Validator(root)


def conforms(version: str, schema: str, body: Any) -> None:
    errors = sorted(validator(version, schema).iter_errors(body), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(
        f"{schema} {'.'.join(map(str, e.absolute_path))}: {e.message[:300]}" for e in errors[:10]
    )


@pytest.fixture(scope="module")
def http(sandbox: Any) -> Iterator[httpx.Client]:
    conn = json.loads(sandbox.env()["AIRFLOW_CONN_SANDBOX_STRIPE"])
    context = ssl.create_default_context(cafile=sandbox.ca_bundle)
    headers = {"Authorization": f"Bearer {conn['password']}"}
    with httpx.Client(base_url=conn["extra"]["api_base"], verify=context, headers=headers) as client:
        yield client


@pytest.fixture(scope="module")
def recent_changes(sandbox: Any) -> Iterator[None]:
    """Changes within Stripe's 30 days of events, so /v1/events has something of every kind to show."""
    admin = Admin(sandbox)
    with (
        admin.restored("stripe", "customers"),
        admin.restored("stripe", "charges"),
        admin.restored("stripe", "invoices"),
        admin.restored("stripe", "subscriptions"),
    ):
        admin.mutate("stripe", "customers", update=3, insert=2, delete=1)
        admin.mutate("stripe", "charges", update=3, insert=2)
        admin.mutate("stripe", "invoices", update=3, insert=2, delete=1)
        admin.mutate("stripe", "subscriptions", update=3, insert=2, delete=1)
        yield


def get(http: httpx.Client, path: str, version: str = PINNED, **params: Any) -> Any:
    response = http.get(path, params=params, headers={"Stripe-Version": version})
    assert response.status_code == 200, response.text
    assert response.headers["Stripe-Version"] == version
    return response.json()


@pytest.mark.parametrize("version", [PINNED, LATEST])
@pytest.mark.parametrize("stream", list(STREAMS))
def test_listed_and_retrieved_objects_validate(http: httpx.Client, stream: str, version: str) -> None:
    page = get(
        http, f"/v1/{stream}", version, limit=100, **({"status": "all"} if stream == "subscriptions" else {})
    )
    assert page["object"] == "list" and len(page["data"]) == 100
    for record in page["data"]:
        conforms(version, STREAMS[stream], record)
    one = get(http, f"/v1/{stream}/{page['data'][0]['id']}", version)
    conforms(version, STREAMS[stream], one)


@pytest.mark.parametrize("version", [PINNED, LATEST])
def test_version_shapes_follow_the_fixtures_of_that_version(http: httpx.Client, version: str) -> None:
    """Fields a version removes are gone; fields it adds that the emulator serves are in place."""
    examples = spec()["versions"][version]["examples"]
    for stream, name in STREAMS.items():
        record = get(http, f"/v1/{stream}", version, limit=1)["data"][0]
        assert set(record) <= set(examples[name]), f"{name}: {set(record) - set(examples[name])}"
    subscription = get(http, "/v1/subscriptions", version, limit=1)["data"][0]
    item = subscription["items"]["data"][0]
    if version == LATEST:
        assert "current_period_end" not in subscription and "current_period_end" in item
    else:
        assert "current_period_end" in subscription and "current_period_end" not in item


@pytest.mark.parametrize(
    ("stream", "expand"),
    [
        ("charges", ["customer"]),
        ("invoices", ["customer", "subscription"]),
        ("subscriptions", ["customer"]),
    ],
)
def test_expansions_return_the_objects_and_validate(
    http: httpx.Client, stream: str, expand: list[str]
) -> None:
    plain = get(http, f"/v1/{stream}", limit=5)["data"]
    expanded = get(http, f"/v1/{stream}", limit=5, **{"expand[]": [f"data.{f}" for f in expand]})["data"]
    for before, after in zip(plain, expanded, strict=True):
        conforms(PINNED, STREAMS[stream], after)
        for field in expand:
            if before[field] is not None:
                assert after[field]["id"] == before[field]
                assert after[field]["object"] in ("customer", "invoice", "subscription")
    one = get(http, f"/v1/{stream}/{plain[0]['id']}", **{"expand[]": expand})
    assert all(one[f] is None or isinstance(one[f], dict) for f in expand)
    refused = http.get(f"/v1/{stream}", params={"expand[]": "data.nonsense"})
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "expand"
    conforms(PINNED, "error", refused.json())


@pytest.mark.usefixtures("recent_changes")
def test_events_validate_with_their_objects(http: httpx.Client) -> None:
    page = get(http, "/v1/events", limit=100)
    assert {event["type"].rsplit(".", 1)[0] for event in page["data"]} >= {
        "customer",
        "invoice",
        "customer.subscription",
    }
    for event in page["data"]:
        conforms(PINNED, "event", event)
        conforms(PINNED, event["data"]["object"]["object"], event["data"]["object"])


def sample(parameter: dict[str, Any], ids: dict[str, str]) -> list[tuple[str, str]]:
    """A valid value for one documented query parameter, encoded as the stripe library encodes it."""
    name, schema = parameter["name"], parameter["schema"]
    if name in ("starting_after", "ending_before"):
        return [(name, ids["self"])]
    if name in ids:
        return [(name, ids[name])]
    if name == "expand":
        return [("expand[]", f"data.{field}") for field in ids["expandable"]]
    if name in ("created", "due_date", "current_period_end", "current_period_start"):
        return [(f"{name}[gte]", "0"), (f"{name}[lt]", "4102444800")]
    if name == "types":
        return [("types[]", "customer.created"), ("types[]", "charge.succeeded")]
    if name == "automatic_tax":
        return [("automatic_tax[enabled]", "false")]
    if schema.get("type") == "boolean":
        return [(name, "true")]
    if schema.get("type") == "integer":
        return [(name, "10")]
    if "enum" in schema:
        return [(name, schema["enum"][0])]
    return [(name, "not_there")]


LISTS = ["/v1/customers", "/v1/charges", "/v1/invoices", "/v1/subscriptions", "/v1/events"]
EXPANDABLE = {
    "/v1/customers": ["default_source", "test_clock"],
    "/v1/charges": ["customer", "invoice"],
    "/v1/invoices": ["customer", "subscription"],
    "/v1/subscriptions": ["customer", "latest_invoice"],
    "/v1/events": [],
}


@pytest.mark.usefixtures("recent_changes")
@pytest.mark.parametrize("path", LISTS)
def test_every_documented_list_parameter_is_accepted(http: httpx.Client, path: str) -> None:
    first = get(http, path, limit=1)["data"][0]
    ids = {
        "self": first["id"],
        "customer": first.get("customer") or "cus_none",
        "subscription": first.get("subscription") or "sub_none",
        "price": first["items"]["data"][0]["price"]["id"] if path.endswith("subscriptions") else "price_none",
        "expandable": EXPANDABLE[path],
    }
    if path.endswith("customers"):
        ids["email"] = first["email"]
    parameters = spec()["endpoints"][f"GET {path}"]["parameters"]
    assert parameters
    for parameter in parameters:
        query = sample(parameter, ids)
        response = http.get(path, params=query)
        assert response.status_code == 200, f"{parameter['name']}: {response.text}"


@pytest.mark.parametrize("path", ["/v1/customers", "/v1/charges", "/v1/invoices", "/v1/subscriptions"])
def test_every_documented_retrieve_parameter_is_accepted(http: httpx.Client, path: str) -> None:
    first = get(http, path, limit=1)["data"][0]
    endpoint = next(key for key in spec()["endpoints"] if key.startswith(f"GET {path}/{{"))
    for parameter in spec()["endpoints"][endpoint]["parameters"]:
        query = [("expand[]", field) for field in EXPANDABLE[path]] if parameter["name"] == "expand" else []
        response = http.get(f"{path}/{first['id']}", params=query)
        assert response.status_code == 200, f"{parameter['name']}: {response.text}"


FORM_SAMPLES = {
    "address": {"address[city]": "Lisbon", "address[country]": "PT"},
    "balance": {"balance": "150"},
    "invoice_settings": {"invoice_settings[footer]": "Thank you"},
    "metadata": {"metadata[source]": "conformance"},
    "next_invoice_sequence": {"next_invoice_sequence": "7"},
    "preferred_locales": {"preferred_locales[0]": "pt"},
    "shipping": {"shipping[name]": "Ada", "shipping[address][line1]": "1 Rua"},
    "cash_balance": {"cash_balance[settings][reconciliation_mode]": "automatic"},
    "tax": {"tax[ip_address]": "127.0.0.1"},
    "tax_id_data": {"tax_id_data[0][type]": "eu_vat", "tax_id_data[0][value]": "PT123456789"},
    "tax_exempt": {"tax_exempt": "exempt"},
    "expand": {"expand[]": "tax_ids"},
    "email": {"email": "conformance@example.com"},
}


@pytest.mark.parametrize("method", ["POST /v1/customers", "POST /v1/customers/{customer}"])
def test_every_documented_customer_write_parameter_is_recognised(http: httpx.Client, method: str) -> None:
    """Accepted where the sandbox can apply it; a parameter naming an object the sandbox holds none of
    (a coupon, a card) is refused as Stripe refuses an unknown id, never as an unknown parameter."""
    customer = get(http, "/v1/customers", limit=1)["data"][0]["id"]
    path = "/v1/customers" if method.endswith("customers") else f"/v1/customers/{customer}"
    form = spec()["endpoints"][method]["form"]
    assert form
    for name in form:
        body = FORM_SAMPLES.get(name, {name: f"{name}_not_there"})
        response = http.post(path, data=body)
        if response.status_code == 200:
            honoured = {
                "balance": 150,
                "next_invoice_sequence": 7,
                "email": "conformance@example.com",
                "tax_exempt": "exempt",
            }
            if name in honoured:
                assert response.json()[name] == honoured[name]
            conforms(PINNED, "customer", response.json())
        else:
            error = response.json()["error"]
            assert (response.status_code, error["code"], error["param"]) == (400, "resource_missing", name), (
                name
            )
            conforms(PINNED, "error", response.json())


def test_subscriptions_list_leaves_canceled_out_unless_asked(http: httpx.Client) -> None:
    default = [s["status"] for s in get(http, "/v1/subscriptions", limit=100)["data"]]
    every = [s["status"] for s in get(http, "/v1/subscriptions", limit=100, status="all")["data"]]
    canceled = get(http, "/v1/subscriptions", limit=100, status="canceled")["data"]
    assert "canceled" not in default and "canceled" in every
    assert canceled and {s["status"] for s in canceled} == {"canceled"}
    retrieved = get(http, f"/v1/subscriptions/{canceled[0]['id']}")
    assert retrieved["status"] == "canceled" and retrieved["canceled_at"] is not None
    conforms(PINNED, "subscription", retrieved)
    refused = http.get("/v1/subscriptions", params={"status": "gone"})
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "status"


def test_filters_are_honoured(http: httpx.Client) -> None:
    charge = get(http, "/v1/charges", limit=1)["data"][0]
    mine = get(http, "/v1/charges", limit=100, customer=charge["customer"])["data"]
    assert mine and {c["customer"] for c in mine} == {charge["customer"]}
    paid = get(http, "/v1/invoices", limit=100, status="paid")["data"]
    assert paid and {i["status"] for i in paid} == {"paid"}
    customer = get(http, "/v1/customers", limit=1)["data"][0]
    same_email = get(http, "/v1/customers", email=customer["email"], limit=100)["data"]
    assert customer["id"] in {c["id"] for c in same_email}
    assert {c["email"] for c in same_email} == {customer["email"]}
    assert get(http, "/v1/customers", test_clock="clock_none")["data"] == []


def test_only_draft_invoices_can_be_deleted(http: httpx.Client, sandbox: Any) -> None:
    with Admin(sandbox).restored("stripe", "invoices"):
        draft_deleted_as_stripe_does(http)


def draft_deleted_as_stripe_does(http: httpx.Client) -> None:
    invoices = get(http, "/v1/invoices", limit=100)["data"]
    draft = next(i for i in invoices if i["status"] == "draft")
    final = next(i for i in invoices if i["status"] != "draft")
    refused = http.delete(f"/v1/invoices/{final['id']}")
    assert refused.status_code == 400
    conforms(PINNED, "error", refused.json())
    deleted = http.delete(f"/v1/invoices/{draft['id']}")
    assert deleted.status_code == 200
    conforms(PINNED, "deleted_invoice", deleted.json())
    again = http.get(f"/v1/invoices/{draft['id']}")
    conforms(PINNED, "deleted_invoice", again.json())
    events = get(http, "/v1/events", type="invoice.deleted", limit=100)["data"]
    gone = next(e for e in events if e["data"]["object"]["id"] == draft["id"])
    assert gone["data"]["object"]["status"] == "draft"


def test_the_subscription_in_a_deleted_event_is_canceled(http: httpx.Client, sandbox: Any) -> None:
    admin = Admin(sandbox)
    with admin.restored("stripe", "subscriptions"):
        assert admin.mutate("stripe", "subscriptions", delete=2)["deleted"] == 2
        events = get(http, "/v1/events", type="customer.subscription.deleted", limit=10)["data"]
    assert len(events) >= 2
    for event in events:
        assert event["data"]["object"]["status"] == "canceled"
        conforms(PINNED, "subscription", event["data"]["object"])


@pytest.mark.parametrize(
    ("request_args", "status"),
    [
        ({"url": "/v1/customers/cus_missing"}, 404),
        ({"url": "/v1/customers", "params": {"updated": "1"}}, 400),
        ({"url": "/v1/customers", "params": {"limit": "1000"}}, 400),
        ({"url": "/v1/customers", "headers": {"Stripe-Version": "2099-01-01"}}, 400),
        ({"url": "/v1/customers", "headers": {"Authorization": "Bearer sk_test_wrong"}}, 401),
        ({"url": "/v1/nothing_here"}, 404),
    ],
)
def test_errors_have_the_documented_shape(
    http: httpx.Client, request_args: dict[str, Any], status: int
) -> None:
    response = http.get(**request_args)
    assert response.status_code == status
    conforms(PINNED, "error", response.json())


def test_the_check_refuses_what_the_description_does_not_allow(http: httpx.Client) -> None:
    """The converted schema is strict: an unknown field, a missing required one, a wrong type all fail."""
    record = get(http, "/v1/subscriptions", limit=1)["data"][0]
    for broken in (
        {**record, "quantity": 3},
        {key: value for key, value in record.items() if key != "status"},
        {**record, "created": "yesterday"},
        {**record, "items": {**record["items"], "total_count": 1}},
    ):
        assert list(validator(PINNED, "subscription").iter_errors(broken))
    assert list(validator(LATEST, "subscription").iter_errors(record)), "2024-06-20 is not the latest shape"
