"""The Stripe emulator, spoken to by the official `stripe` library over verified TLS."""

from __future__ import annotations

import json
import ssl
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import stripe
from integrations_sandbox.emulator.app import EmulatorState
from integrations_sandbox.emulator.data import BASE_TIME
from integrations_sandbox.emulator.systems.stripe import Stripe
from integrations_sandbox.emulator.systems.stripe_paging import ListQuery

CUSTOMERS = 2000


@pytest.fixture(scope="module")
def conn(sandbox: Any) -> dict[str, Any]:
    """The Airflow connection the sandbox publishes for Stripe."""
    conn: dict[str, Any] = json.loads(sandbox.env()["AIRFLOW_CONN_SANDBOX_STRIPE"])
    return conn


@pytest.fixture(autouse=True)
def trust_sandbox_ca(sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # The stripe library verifies TLS against `stripe.ca_bundle_path` on every request.
    monkeypatch.setattr(stripe, "ca_bundle_path", sandbox.ca_bundle)


@pytest.fixture
def admin(sandbox: Any) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.admin_url, verify=tls(sandbox)) as client:
        yield client


def tls(sandbox: Any) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=sandbox.ca_bundle)


def client(conn: dict[str, Any], key: str | None = None, retries: int = 0) -> stripe.StripeClient:
    return stripe.StripeClient(
        key or conn["password"],
        base_addresses={"api": conn["extra"]["api_base"]},
        http_client=stripe.RequestsClient(),
        max_network_retries=retries,
    )


def raw(sandbox: Any, conn: dict[str, Any]) -> httpx.Client:
    return httpx.Client(
        base_url=conn["extra"]["api_base"],
        verify=tls(sandbox),
        headers={"Authorization": f"Bearer {conn['password']}"},
    )


def live_size(admin: httpx.Client, stream: str) -> int:
    return int(admin.get("/datasets").json()[f"stripe/{stream}"]["live"])


def counters(admin: httpx.Client) -> dict[str, Any]:
    return dict(admin.get("/counters").json())


def test_connection_holds_a_secret_key_a_read_only_key_and_a_webhook_secret(conn: dict[str, Any]) -> None:
    assert conn["conn_type"] == "integrations_stripe"
    assert conn["password"].startswith("sk_test_") and len(conn["password"]) >= 8
    assert conn["extra"]["restricted_key"].startswith("rk_test_")
    assert conn["extra"]["webhook_secret"].startswith("whsec_")
    assert conn["extra"]["stripe_version"] == "2024-06-20"
    assert conn["host"] == conn["extra"]["api_base"]


def test_auto_paging_returns_every_customer_once_newest_first(
    conn: dict[str, Any], admin: httpx.Client
) -> None:
    customers = list(client(conn).v1.customers.list(params={"limit": 100}).auto_paging_iter())
    ids = [c.id for c in customers]
    assert len(ids) == len(set(ids)) == live_size(admin, "customers")
    assert [(c.created, c.id) for c in customers] == sorted(
        ((c.created, c.id) for c in customers), reverse=True
    )
    first = customers[0]
    assert first.object == "customer" and first.livemode is False and first.id.startswith("cus_")
    assert "@" in first.email and isinstance(first.metadata.to_dict(), dict)


def test_created_windows_partition_the_customers_exactly(conn: dict[str, Any]) -> None:
    stripe_client = client(conn)
    everything = list(stripe_client.v1.customers.list(params={"limit": 100}).auto_paging_iter())
    stamps = sorted({c.created for c in everything})
    low, high = stamps[len(stamps) // 3], stamps[2 * len(stamps) // 3]

    def window(created: dict[str, int]) -> list[str]:
        pages = stripe_client.v1.customers.list(params={"limit": 100, "created": created})
        return [c.id for c in pages.auto_paging_iter()]

    parts = [window({"lt": low}), window({"gte": low, "lt": high}), window({"gte": high})]
    assert all(parts) and [i for part in reversed(parts) for i in part] == [c.id for c in everything]
    assert window({"gt": low, "lte": high}) == [c.id for c in everything if low < c.created <= high]


def test_starting_after_and_ending_before_page_both_ways(conn: dict[str, Any]) -> None:
    customers = client(conn).v1.customers
    ids = [c.id for c in customers.list(params={"limit": 30}).data]
    first = customers.list(params={"limit": 5})
    second = customers.list(params={"limit": 5, "starting_after": first.data[-1].id})
    assert [c.id for c in first.data] == ids[:5] and [c.id for c in second.data] == ids[5:10]
    back = customers.list(params={"limit": 5, "ending_before": second.data[0].id})
    assert [c.id for c in back.data] == ids[:5] and back.has_more is False
    middle = customers.list(params={"limit": 3, "ending_before": ids[7]})
    assert [c.id for c in middle.data] == ids[4:7] and middle.has_more is True
    walked_back = [
        c.id for c in customers.list(params={"limit": 4, "ending_before": ids[20]}).auto_paging_iter()
    ]
    assert walked_back == ids[:20][::-1]


def test_limit_is_bounded_to_one_through_a_hundred(conn: dict[str, Any]) -> None:
    customers = client(conn).v1.customers
    assert len(customers.list().data) == 10
    assert len(customers.list(params={"limit": 100}).data) == 100
    for limit in (0, 101):
        with pytest.raises(stripe.InvalidRequestError) as refused:
            customers.list(params={"limit": limit})
        assert refused.value.http_status == 400 and refused.value.param == "limit"
    with pytest.raises(stripe.InvalidRequestError, match="one of these parameters"):
        customers.list(params={"starting_after": "cus_x", "ending_before": "cus_y"})


@pytest.mark.parametrize(
    ("stream", "prefix", "money"),
    [("charges", "ch_", "amount"), ("invoices", "in_", "amount_due"), ("subscriptions", "sub_", None)],
)
def test_other_lists_carry_typed_ids_and_realistic_fields(
    conn: dict[str, Any], stream: str, prefix: str, money: str | None
) -> None:
    page = getattr(client(conn).v1, stream).list(params={"limit": 100})
    assert len(page.data) == 100 and page.has_more is True and page.url == f"/v1/{stream}"
    for record in page.data:
        assert record.id.startswith(prefix) and record.customer.startswith("cus_")
        assert isinstance(record.created, int) and record.livemode is False
        if money:
            assert isinstance(record[money], int) and isinstance(record.currency, str)
    statuses = Counter(record.status for record in page.data)
    assert len(statuses) > 1


def test_retrieve_returns_the_listed_record_and_404s_an_unknown_id(conn: dict[str, Any]) -> None:
    stripe_client = client(conn)
    listed = stripe_client.v1.customers.list(params={"limit": 1}).data[0]
    assert stripe_client.v1.customers.retrieve(listed.id).to_dict() == listed.to_dict()
    with pytest.raises(stripe.InvalidRequestError) as missing:
        stripe_client.v1.customers.retrieve("cus_0000000000nope")
    assert missing.value.http_status == 404 and missing.value.code == "resource_missing"


def test_update_replays_for_the_same_key_and_refuses_other_parameters(
    conn: dict[str, Any], admin: httpx.Client
) -> None:
    stripe_client = client(conn)
    target = stripe_client.v1.customers.list(params={"limit": 10}).data[7].id
    key = f"test-{uuid.uuid4()}"
    params: Any = {"name": "Replay Tester", "metadata": {"source": "reverse-etl"}}
    writes_before = counters(admin)["writes"].get("stripe/customers", {}).get(target, 0)

    first = stripe_client.v1.customers.update(target, params=params, options={"idempotency_key": key})
    again = stripe_client.v1.customers.update(target, params=params, options={"idempotency_key": key})

    assert first.name == again.name == "Replay Tester" and again.metadata["source"] == "reverse-etl"
    assert first.last_response is not None and again.last_response is not None
    assert "Idempotent-Replayed" not in first.last_response.headers
    assert again.last_response.headers["Idempotent-Replayed"] == "true"
    assert counters(admin)["writes"]["stripe/customers"][target] == writes_before + 1
    with pytest.raises(stripe.IdempotencyError) as conflict:
        stripe_client.v1.customers.update(target, params={"name": "Other"}, options={"idempotency_key": key})
    assert conflict.value.http_status == 400
    assert counters(admin)["writes"]["stripe/customers"][target] == writes_before + 1

    cleared = stripe_client.v1.customers.update(target, params={"metadata": {"source": ""}})
    assert "source" not in cleared.metadata and cleared.metadata["crm_id"].startswith("CRM-")
    assert stripe_client.v1.customers.retrieve(target).name == "Replay Tester"


def test_restricted_key_reads_but_cannot_write_and_a_wrong_key_is_masked(conn: dict[str, Any]) -> None:
    read_only = client(conn, conn["extra"]["restricted_key"])
    target = read_only.v1.customers.list(params={"limit": 1}).data[0].id
    with pytest.raises(stripe.PermissionError):
        read_only.v1.customers.update(target, params={"name": "Nope"})

    wrong = "sk_test_thisKeyIsNotTheSandboxKey9876"
    with pytest.raises(stripe.AuthenticationError) as refused:
        client(conn, wrong).v1.customers.list()
    message = str(refused.value.user_message)
    assert refused.value.http_status == 401 and message.startswith("Invalid API Key provided: sk_test_")
    assert wrong not in message and "IsNotTheSandbox" not in message and message.endswith("9876")
    assert refused.value.json_body["error"]["type"] == "invalid_request_error"


def test_basic_auth_and_the_stripe_version_header(sandbox: Any, conn: dict[str, Any]) -> None:
    with httpx.Client(base_url=conn["extra"]["api_base"], verify=tls(sandbox)) as http:
        basic = http.get(
            "/v1/customers", auth=(conn["password"], ""), headers={"Stripe-Version": "2026-10-28.endive"}
        )
        assert basic.status_code == 200 and basic.headers["Stripe-Version"] == "2026-10-28.endive"
        assert basic.headers["Request-Id"].startswith("req_")
        assert http.get("/v1/customers").status_code == 401
    with raw(sandbox, conn) as http:
        assert http.get("/v1/customers").headers["Stripe-Version"] == "2024-06-20"
        for version in ("yesterday", "2099-01-01"):
            refused = http.get("/v1/customers", headers={"Stripe-Version": version})
            assert refused.status_code == 400
            assert refused.json()["error"] == {
                "type": "invalid_request_error",
                "message": f"Invalid Stripe API version: {version}",
            }
        unknown = http.get("/v1/customers", params={"updated[gte]": 1})
        assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "parameter_unknown"
    library = client(conn).v1.customers.list(params={"limit": 1})
    assert library.last_response is not None
    assert library.last_response.headers["Stripe-Version"] == stripe.api_version


def test_created_customer_is_newest_and_logged_as_an_event(conn: dict[str, Any]) -> None:
    stripe_client = client(conn)
    created = stripe_client.v1.customers.create(params={"email": "new.customer@example.com", "name": "New"})
    assert created.email == "new.customer@example.com" and created.phone is None
    assert stripe_client.v1.customers.list(params={"limit": 1}).data[0].id == created.id
    events = stripe_client.v1.events.list(params={"type": "customer.created", "limit": 100}).data
    assert created.id in {event.data.object.id for event in events}
    with pytest.raises(stripe.InvalidRequestError) as invalid:
        stripe_client.v1.customers.create(params={"email": "not an email"})
    assert invalid.value.code == "email_invalid" and invalid.value.param == "email"


def test_events_show_admin_changes_and_only_the_last_thirty_days(
    conn: dict[str, Any], admin: httpx.Client
) -> None:
    events = client(conn).v1.events

    def customer_events() -> dict[str, Any]:
        found = events.list(params={"type": "customer.*", "limit": 100}).auto_paging_iter()
        return {event.id: event for event in found}

    before = customer_events()
    try:
        changed = admin.post(
            "/datasets/stripe/customers/mutate", json={"update": 3, "insert": 2, "delete": 1}
        )
        assert changed.json() == {"updated": 3, "inserted": 2, "deleted": 1}
        after = customer_events()
        new = [after[i] for i in set(after) - set(before)]
        assert Counter(e.type for e in new) == {
            "customer.updated": 3,
            "customer.created": 2,
            "customer.deleted": 1,
        }
        assert all(e.data.previous_attributes for e in new if e.type == "customer.updated")
        deleted = next(e for e in new if e.type == "customer.deleted").data.object.id
        assert client(conn).v1.customers.retrieve(deleted).deleted is True
        cutoff = time.time() - timedelta(days=30).total_seconds()
        assert all(event.created >= cutoff for event in after.values())
        newest = events.list(params={"limit": 100}).data
        assert [(e.created, e.id) for e in newest] == sorted(
            ((e.created, e.id) for e in newest), reverse=True
        )
        assert events.retrieve(newest[0].id).id == newest[0].id
        since = [e.id for e in newest if e.created >= newest[2].created]
        assert [
            e.id for e in events.list(params={"limit": 100, "created": {"gte": newest[2].created}}).data
        ] == since
        older = events.list(params={"limit": 2, "ending_before": newest[4].id})
        assert [e.id for e in older.data] == [newest[2].id, newest[3].id] and older.has_more is True
    finally:
        admin.put("/datasets/stripe/customers", json={"size": CUSTOMERS})


def test_events_of_base_records_age_out_after_thirty_days() -> None:
    system = Stripe(EmulatorState(seed=3, sizes={"stripe": 30}))
    system.clock = lambda: (BASE_TIME + timedelta(days=10)).timestamp()
    recent = system.feed.page(ListQuery(limit=100, types=("customer.created",)))[0]
    assert len(recent) == 30 and recent[0]["data"]["object"]["id"] > recent[-1]["data"]["object"]["id"]
    system.clock = lambda: (BASE_TIME + timedelta(days=31)).timestamp()
    assert system.feed.page(ListQuery(limit=100))[0] == []


def test_webhook_example_verifies_with_the_stripe_library(sandbox: Any, conn: dict[str, Any]) -> None:
    secret = conn["extra"]["webhook_secret"]
    with raw(sandbox, conn) as http:
        signed = http.get("/__webhook_example", params={"type": "customer.updated"}).json()
        stale = http.get("/__webhook_example", params={"timestamp": int(time.time()) - 400}).json()
    assert signed["header_name"] == "Stripe-Signature"
    event = stripe.Webhook.construct_event(signed["payload"], signed["header"], secret)
    assert event.type == "customer.updated" and event.data.object.object == "customer"
    tampered = signed["payload"].replace('"customer.updated"', '"customer.deleted"')
    with pytest.raises(stripe.SignatureVerificationError, match="expected signature"):
        stripe.Webhook.construct_event(tampered, signed["header"], secret)
    with pytest.raises(stripe.SignatureVerificationError, match="tolerance"):
        stripe.Webhook.construct_event(stale["payload"], stale["header"], secret)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(signed["payload"], signed["header"], "whsec_someoneElsesSecret")


def test_fault_profiles_surface_as_stripe_errors(conn: dict[str, Any], admin: httpx.Client) -> None:
    target = client(conn).v1.customers.list(params={"limit": 10}).data[9].id
    endpoint = "stripe GET /v1/customers"
    writes = counters(admin)["writes"].get("stripe/customers", {}).get(target, 0)
    try:
        admin.put("/faults/stripe", json={"rate_429": 1.0, "retry_after": 2})
        calls = counters(admin)["calls"].get(endpoint, 0)
        with pytest.raises(stripe.RateLimitError) as limited:
            client(conn, retries=2).v1.customers.list()
        assert limited.value.http_status == 429 and limited.value.json_body["error"]["code"] == "rate_limit"
        assert limited.value.headers["Retry-After"] == "2"
        assert counters(admin)["calls"][endpoint] == calls + 1  # Stripe sends no Stripe-Should-Retry here

        admin.put("/faults/stripe", json={"rate_429": 0.0, "rate_5xx": 1.0})
        with pytest.raises(stripe.APIError) as unavailable:
            client(conn, retries=1).v1.customers.list()
        assert unavailable.value.http_status == 500 and counters(admin)["calls"][endpoint] == calls + 3

        admin.put("/faults/stripe", json={"rate_5xx": 0.0, "write_transient_rate": 1.0})
        with pytest.raises(stripe.RateLimitError) as locked:
            client(conn, retries=2).v1.customers.update(target, params={"name": "Locked"})
        assert locked.value.json_body["error"]["code"] == "lock_timeout"
        assert counters(admin)["writes"]["stripe/customers"][target] == writes + 3  # Stripe-Should-Retry

        admin.put("/faults/stripe", json={"write_transient_rate": 0.0, "write_permanent_rate": 1.0})
        with pytest.raises(stripe.InvalidRequestError) as permanent:
            client(conn, retries=2).v1.customers.update(target, params={"name": "Refused"})
        assert permanent.value.http_status == 400 and permanent.value.code == "customer_tax_location_invalid"
        assert counters(admin)["writes"]["stripe/customers"][target] == writes + 4
    finally:
        admin.delete("/faults/stripe")


def test_poison_records_and_expired_cursors(conn: dict[str, Any], admin: httpx.Client) -> None:
    try:
        admin.put("/faults/stripe", json={"poison_rate": 0.1, "seed": 11})
        charges = client(conn).v1.charges.list(params={"limit": 100}).data
        poisoned = [c for c in charges if not isinstance(c.amount, int)]
        assert 0 < len(poisoned) < 30 and all(c.currency is None for c in poisoned)
        admin.put("/faults/stripe", json={"poison_rate": 0.0, "rate_expired_cursor": 1.0})
        first = client(conn).v1.customers.list(params={"limit": 2})
        with pytest.raises(stripe.InvalidRequestError) as expired:
            first.next_page()
        assert expired.value.param == "starting_after" and expired.value.code == "resource_missing"
    finally:
        admin.delete("/faults/stripe")


def test_listing_a_hundred_thousand_customers_100_per_page(
    sandbox: Any, conn: dict[str, Any], admin: httpx.Client
) -> None:
    size = 100_000
    try:
        admin.put("/datasets/stripe/customers", json={"size": size})
        served = counters(admin)["records_served"].get("stripe/customers", 0)
        seen, previous, after = 0, None, None
        started = time.perf_counter()
        with raw(sandbox, conn) as http:
            while True:
                params: dict[str, Any] = {"limit": 100, **({"starting_after": after} if after else {})}
                page = http.get("/v1/customers", params=params).json()
                ids = [record["id"] for record in page["data"]]
                assert previous is None or previous > ids[0]
                assert ids == sorted(ids, reverse=True)
                seen, previous, after = seen + len(ids), ids[-1], ids[-1]
                if not page["has_more"]:
                    break
        rate = seen / (time.perf_counter() - started)
        print(f"stripe emulator: {seen} customers at {rate:,.0f} records/s (100 per page, HTTPS)")
        assert seen == size
        assert counters(admin)["records_served"]["stripe/customers"] - served == size
        assert rate > 2000
    finally:
        admin.put("/datasets/stripe/customers", json={"size": CUSTOMERS})


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/v1/customers/%2E", "resource_missing"),
        ("/v1/customers/%2E%2E", "resource_missing"),
        ("/v1/customers/cus_a%0Ab", "resource_missing"),
        ("/v1/customers/cus_a%2Fb", None),
        ("/v1/customers/", None),
    ],
)
def test_a_customer_path_naming_no_customer_is_a_404_in_stripes_shape(
    sandbox: Any, conn: dict[str, Any], path: str, code: str | None
) -> None:
    """As Stripe: an unknown id is `resource_missing`; a path no route knows is an unrecognized URL."""
    with raw(sandbox, conn) as http:
        for method in ("GET", "POST"):
            answer = http.request(method, path, content=b"name=x" if method == "POST" else None)
            assert answer.status_code == 404, (method, path)
            error = answer.json()["error"]
            assert error["type"] == "invalid_request_error"
            assert error.get("code") == code if code else "Unrecognized request URL" in error["message"]
