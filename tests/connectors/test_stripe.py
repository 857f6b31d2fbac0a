"""The Stripe connector against the sandbox's Stripe emulator."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from airflow_provider_integrations.connectors.base import Stream, WriteOutcome, load_catalog
from airflow_provider_integrations.connectors.stripe import StripeConnector, StripeSettings
from airflow_provider_integrations.core.errors import ConfigError, RecordError
from airflow_provider_integrations.core.http import RetryPolicy
from airflow_provider_integrations.core.schema import FieldType
from airflow_provider_integrations.core.watermark import Window
from tests.connectors.conftest import PATH_BREAKERS, Admin

FAST = RetryPolicy(max_attempts=8, base_delay=0.01, max_delay=0.05, deadline=60)


@pytest.fixture(scope="module")
def admin(sandbox: Any) -> Admin:
    return Admin(sandbox)


@pytest.fixture
def stripe(sandbox: Any, admin: Admin) -> Iterator[StripeConnector]:
    conn = admin.connection(sandbox, "stripe")
    settings = StripeSettings(
        api_key=conn["password"],
        api_base=conn["extra"]["api_base"],
        stripe_version=conn["extra"]["stripe_version"],
        ca_bundle=sandbox.ca_bundle,
    )
    with StripeConnector.connect(settings, load_catalog("stripe.yaml"), retry=FAST) as connector:
        yield connector


def test_check_reaches_the_account(stripe: StripeConnector) -> None:
    assert "reached Stripe" in stripe.check()


def test_full_read_returns_every_record_once(stripe: StripeConnector, admin: Admin) -> None:
    with admin.sized("stripe", "charges", 1234):
        ids = [r["id"] for r in stripe.read("charges")]
    assert len(ids) == 1234 == len(set(ids))


def test_faults_are_survived_with_exact_counts(stripe: StripeConnector, admin: Admin) -> None:
    with (
        admin.sized("stripe", "invoices", 2500),
        admin.faults("stripe", seed=3, rate_429=0.15, rate_5xx=0.1, retry_after=0.01, rate_reset=0.05),
    ):
        ids = [r["id"] for r in stripe.read("invoices")]
    assert len(ids) == 2500 == len(set(ids))
    assert stripe.client.calls > 25


def test_poison_records_break_the_schema_by_name(stripe: StripeConnector, admin: Admin) -> None:
    schema = stripe.stream("charges").schema
    bad = []
    with admin.sized("stripe", "charges", 3000), admin.faults("stripe", seed=8, poison_rate=0.01):
        for record in stripe.read("charges"):
            try:
                schema.validate(record)
            except RecordError as error:
                bad.append(str(error))
    assert 10 <= len(bad) <= 60
    assert all(("amount" in b) or ("currency" in b) for b in bad)


def test_incremental_read_follows_events(stripe: StripeConnector, admin: Admin) -> None:
    start = datetime.now(UTC) - timedelta(seconds=5)
    with admin.restored("stripe", "customers"), admin.restored("stripe", "subscriptions"):
        changed = admin.mutate("stripe", "customers", update=7, delete=2)
        admin.mutate("stripe", "subscriptions", update=3)
        end = datetime.now(UTC) + timedelta(seconds=5)
        records = list(stripe.read("customers", Window(start, end)))
    assert changed == {"updated": 7, "inserted": 0, "deleted": 2}
    assert {r["object"] for r in records} == {"customer"}, "customer.* also matches subscription events"
    assert sum(1 for r in records if r["_deleted"]) == 2
    assert len({r["id"] for r in records}) == 9
    assert all(start.timestamp() - 1 <= r["_changed_at"] < end.timestamp() for r in records)


def test_a_window_older_than_30_days_falls_back_to_a_full_read(
    stripe: StripeConnector, admin: Admin, caplog: pytest.LogCaptureFixture
) -> None:
    old = Window(datetime.now(UTC) - timedelta(days=40), datetime.now(UTC) - timedelta(days=39))
    with admin.sized("stripe", "subscriptions", 300):
        records = list(stripe.read("subscriptions", old))
    assert len(records) == 300
    assert "30 days" in caplog.text


def test_writes_have_idempotency_keys_and_per_record_outcomes(stripe: StripeConnector, admin: Admin) -> None:
    customers = [r["id"] for r, _ in zip(stripe.read("customers"), range(40), strict=False)]
    changes = [{"id": c, "metadata": {"segment": "enterprise"}} for c in customers]
    with admin.faults("stripe", seed=4, write_permanent_rate=0.1):
        results = list(stripe.write("customers", "update", changes))
    assert [r.key for r in results] == customers
    permanent = [r for r in results if r.outcome is WriteOutcome.PERMANENT]
    assert 1 <= len(permanent) <= 12
    assert all(r.code and r.message for r in permanent)
    succeeded = [r.key for r in results if r.outcome is WriteOutcome.SUCCESS]
    assert len(succeeded) + len(permanent) == 40

    before = admin.counters()["writes"]["stripe/customers"]
    again = list(stripe.write("customers", "update", changes[:5]))
    after = admin.counters()["writes"]["stripe/customers"]
    replayed = [r.key for r in again if r.outcome is WriteOutcome.SUCCESS]
    assert all(after[k] == before[k] for k in replayed), "an identical retry must replay, not write again"


def test_ids_that_would_change_the_path_fail_alone_and_create_nothing(
    stripe: StripeConnector, admin: Admin
) -> None:
    """`POST /v1/customers/.` leaves the client as `POST /v1/customers`: a create reported as an update."""
    good = [r["id"] for r, _ in zip(stripe.read("customers"), range(3), strict=False)]
    keys = [good[0], *PATH_BREAKERS[:4], good[1], *PATH_BREAKERS[4:], good[2]]
    records = [{"id": key, "metadata": {"segment": "path-checked"}} for key in keys]
    before = admin.written("stripe", "customers")

    results = list(stripe.write("customers", "update", records))

    assert [r.key for r in results] == keys
    for result in results:
        if result.key in good:
            assert (result.outcome, result.destination_id) == (WriteOutcome.SUCCESS, result.key)
        else:
            assert (result.outcome, result.code) == (WriteOutcome.PERMANENT, "INVALID_PATH_SEGMENT")
            assert result.message and result.message.startswith("id ")
    assert set(admin.written("stripe", "customers")) - set(before) <= set(good), "no customer was created"


def test_an_id_of_another_object_type_is_refused_before_it_is_sent(stripe: StripeConnector) -> None:
    charge = next(iter(stripe.read("charges")))["id"]
    [result] = stripe.write("customers", "update", [{"id": charge, "name": "Not a customer"}])
    assert (result.outcome, result.code) == (WriteOutcome.PERMANENT, "INVALID_PATH_SEGMENT")
    assert "is not a Stripe cus_ id" in (result.message or "")


def test_a_full_read_lands_canceled_subscriptions(stripe: StripeConnector, admin: Admin) -> None:
    """Stripe lists canceled subscriptions only when asked (`status=all`): a full load must ask."""
    with admin.sized("stripe", "subscriptions", 300), admin.restored("stripe", "subscriptions"):
        canceled = admin.mutate("stripe", "subscriptions", delete=4)
        records = list(stripe.read("subscriptions"))
        old = Window(datetime.now(UTC) - timedelta(days=40), datetime.now(UTC) - timedelta(days=39))
        fallback = list(stripe.read("subscriptions", old))
    assert canceled["deleted"] == 4
    assert len(records) == 300 == len({r["id"] for r in records})
    statuses = [r["status"] for r in records]
    assert statuses.count("canceled") >= 4, "subscriptions canceled at the source must land"
    assert len(fallback) == 300


INGESTED = ("customers", "charges", "invoices", "subscriptions")


def test_discovery_lists_the_pinned_versions_objects_without_a_call(stripe: StripeConnector) -> None:
    before = stripe.client.calls
    streams = stripe.list_streams()
    described = {d.name: d for d in stripe.describe_streams(streams)}
    assert stripe.client.calls == before, "Stripe has no metadata API: discovery reads the shipped file"
    assert set(INGESTED) <= set(streams) and len(streams) > 30
    subscriptions = described["subscriptions"]
    assert subscriptions.options == {"event_object": "customer.subscription"}
    assert not subscriptions.deletes, "a canceled subscription is still there"
    assert described["customers"].deletes
    assert described["balance_transactions"].cursor is None, "no events: full reads only"
    for description in described.values():
        metadata = description.field_named("metadata")
        assert metadata is None or metadata.type is FieldType.JSON


def test_described_streams_cover_the_hand_written_catalog(stripe: StripeConnector) -> None:
    declared = load_catalog("stripe.yaml")
    for described in stripe.describe_streams(INGESTED):
        stream = declared[described.name]
        assert (described.primary_key, described.cursor) == (stream.primary_key, stream.cursor)
        assert described.options["event_object"] == stream.options["event_object"]
        assert described.deletes == stream.deletes
        for field in stream.schema.fields:
            found = described.field_named(field.name)
            assert found is not None, f"{described.name}.{field.name} is not described"
            assert found.type is field.type, f"{described.name}.{field.name}: {found.type} != {field.type}"


def test_a_discovered_stream_validates_what_the_emulator_serves(
    stripe: StripeConnector, admin: Admin
) -> None:
    for described in stripe.describe_streams(INGESTED):
        schema = Stream.from_config(described.name, described.to_config()).schema
        with admin.sized("stripe", described.name, 250):
            records = list(stripe.read(described.name))
        assert len(records) == 250
        for record in records:
            assert schema.validate(record).extra == {}, "every served field is described"


def test_discovery_refuses_unknown_names_and_versions(stripe: StripeConnector) -> None:
    with pytest.raises(ConfigError, match="closest: subscriptions"):
        list(stripe.describe_streams(["subscription"]))
    other = StripeConnector(stripe.client, {}, version="2026-10-28.endive")
    with pytest.raises(ConfigError, match="no description of Stripe API version"):
        other.list_streams()


def test_incremental_records_come_in_the_pinned_versions_shape(sandbox: Any, admin: Admin) -> None:
    """Events carry the account's default version (2024-06-20 here); a connector pinned to another
    version must not land records of two shapes."""
    conn = admin.connection(sandbox, "stripe")
    settings = StripeSettings(
        api_key=conn["password"],
        api_base=conn["extra"]["api_base"],
        stripe_version="2026-10-28.endive",
        ca_bundle=sandbox.ca_bundle,
    )
    start = datetime.now(UTC) - timedelta(seconds=5)
    with (
        StripeConnector.connect(settings, load_catalog("stripe.yaml"), retry=FAST) as endive,
        admin.restored("stripe", "subscriptions"),
    ):
        admin.mutate("stripe", "subscriptions", update=3, delete=1)
        records = list(endive.read("subscriptions", Window(start, datetime.now(UTC) + timedelta(seconds=5))))
    assert len(records) == 4 and not any(r["_deleted"] for r in records), "canceled is not deleted"
    assert sum(r["status"] == "canceled" for r in records) >= 1
    for record in records:
        assert "current_period_end" not in record, "2024-06-20 shape in a 2026-10-28.endive sync"
        assert "current_period_end" in record["items"]["data"][0]
