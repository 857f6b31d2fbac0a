"""Salesforce discovery: describeGlobal and batched describes, against recorded responses and the sandbox."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_integrations.connectors import salesforce as salesforce_module
from airflow_provider_integrations.connectors.base import Stream, load_catalog
from airflow_provider_integrations.connectors.salesforce import SalesforceConnector
from airflow_provider_integrations.connectors.salesforce_discovery import (
    BULK_UNSUPPORTED,
    DescribeFailed,
    describe_stream,
)
from airflow_provider_integrations.core.catalog import StreamDescription
from airflow_provider_integrations.core.errors import ConfigError
from airflow_provider_integrations.core.schema import FieldType
from tests.connectors.conftest import PATH_BREAKERS, Admin
from tests.connectors.test_salesforce import FAST, settings_for

RECORDED = Path(__file__).parent / "fixtures" / "salesforce_discovery"


def recorded(name: str) -> Any:
    return json.loads((RECORDED / name).read_text())


# Recorded responses (restforce's test suite, see fixtures/salesforce_discovery/NOTICE).


def test_a_recorded_describe_maps_every_field_with_its_salesforce_type() -> None:
    body = recorded("restforce_sobject_describe_success_response.json")
    description = describe_stream(body, "Whizbang")
    listed = {f["name"]: f for f in body["fields"]}
    assert {f.name for f in description.fields} == set(listed), "every field of the describe is extracted"
    for field in description.fields:
        assert field.source_type == listed[field.name]["type"]
        assert field.custom is listed[field.name]["custom"]
    types = {f.name: f.type for f in description.fields}
    assert types["Id"] is types["OwnerId"] is types["Picklist_Multiselect_Field"] is FieldType.STRING
    assert types["Checkbox_Field"] is FieldType.BOOLEAN
    assert types["Currency_Field"] is types["Percent_Field"] is types["Number_Field"] is FieldType.NUMBER
    assert types["Date_Field"] is FieldType.DATE and types["SystemModstamp"] is FieldType.TIMESTAMP
    assert description.cursor == ("SystemModstamp", "Id") and description.deletes
    assert description.primary_key == ("Id",) and not description.not_extracted
    assert description.field_named("Id").required and not description.field_named("Name").required


def test_a_recorded_describe_becomes_a_stream_the_connector_can_read() -> None:
    description = describe_stream(recorded("restforce_sobject_describe_success_response.json"), "Whizbang")
    stream = Stream.from_config(description.name, description.to_config())
    assert stream.source == "Whizbang" and stream.cursor == ("SystemModstamp", "Id") and stream.deletes
    assert stream.schema.names == tuple(f.name for f in description.fields)
    assert {f.name: f.source_type for f in stream.schema.fields}["TextAreaRich_Field"] == "textarea"


def test_compound_binary_hidden_and_unknown_fields_are_listed_with_their_reason() -> None:
    def field(name: str, kind: str, **more: Any) -> dict[str, Any]:
        return {"name": name, "type": kind, "nillable": True, "custom": False, **more}

    body = {
        "name": "Attachment",
        "custom": False,
        "fields": [
            field("Id", "id", nillable=False),
            field("Body", "base64"),
            field("Site__c", "location", custom=True),
            field("Site__Latitude__s", "double", compoundFieldName="Site__c", custom=True),
            field("Site__Longitude__s", "double", compoundFieldName="Site__c", custom=True),
            field("Old__c", "string", deprecatedAndHidden=True),
            field("Odd__c", "someNewType"),
            field("Score__c", "double", calculated=True, custom=True),
            field("CreatedDate", "datetime"),
        ],
    }
    description = describe_stream(body, "Attachment")
    assert [f.name for f in description.fields] == [
        "Id",
        "Site__Latitude__s",
        "Site__Longitude__s",
        "Score__c",
        "CreatedDate",
    ]
    reasons = description.not_extracted
    assert set(reasons) == {"Body", "Site__c", "Old__c", "Odd__c"}
    assert (
        "base64" in reasons["Body"]
        and "deprecated" in reasons["Old__c"]
        and "someNewType" in reasons["Odd__c"]
    )
    assert "Site__Latitude__s, Site__Longitude__s" in reasons["Site__c"]
    assert description.cursor == ("CreatedDate", "Id") and not description.deletes
    assert description.options == {"read_api": "rest", "calculated_fields": ["Score__c"]}
    assert "Attachment" in BULK_UNSUPPORTED


def test_an_object_without_timestamps_is_read_in_full() -> None:
    body = {"name": "Thing__c", "custom": True, "fields": [{"name": "Id", "type": "id"}]}
    description = describe_stream(body, "Thing__c")
    assert description.cursor is None and description.custom
    assert Stream.from_config("Thing__c", description.to_config()).incremental is False


# The sandbox's Salesforce.


@pytest.fixture(scope="module")
def admin(sandbox: Any) -> Admin:
    return Admin(sandbox)


@pytest.fixture
def sf(sandbox: Any, admin: Admin) -> Iterator[SalesforceConnector]:
    with connect(sandbox, admin) as connector:
        yield connector


def connect(sandbox: Any, admin: Admin, streams: dict[str, Stream] | None = None, **settings: Any) -> Any:
    return SalesforceConnector.connect(settings_for(sandbox, admin, **settings), streams or {}, retry=FAST)


def calls(admin: Admin, fragment: str) -> int:
    counted = admin.counters()["calls"].items()
    return sum(n for key, n in counted if key.startswith("salesforce") and key.endswith(fragment))


def discover_all(sf: SalesforceConnector) -> tuple[dict[str, StreamDescription], dict[str, Exception]]:
    """Every listed object's description, and the objects Salesforce refused to describe."""
    described: dict[str, StreamDescription] = {}
    try:
        for description in sf.describe_streams(sf.list_streams()):
            described[description.name] = description
    except DescribeFailed as failed:
        return described, dict(failed.failures)
    return described, {}


def test_discovery_costs_one_list_call_and_one_batch_per_25_objects(
    sf: SalesforceConnector, admin: Admin
) -> None:
    listed_before, batch_before = calls(admin, "/sobjects"), calls(admin, "/composite/batch")
    names = sf.list_streams()
    described, refused = {}, {}
    try:
        for description in sf.describe_streams(names):
            described[description.name] = description
    except DescribeFailed as failed:
        refused = failed.failures
    assert calls(admin, "/sobjects") - listed_before == 1
    assert calls(admin, "/composite/batch") - batch_before == math.ceil(len(names) / 25) >= 2
    assert len(names) >= 30 and {"Account", "Contact", "Opportunity"} <= set(described)
    assert set(described) | set(refused) == set(names), "every listed object is described or refused"
    assert sum(1 for d in described.values() if d.custom and d.name.endswith("__c")) >= 3


def test_only_objects_that_can_be_replicated_are_listed(sf: SalesforceConnector) -> None:
    body = sf.client.get_json(f"{sf.api}/sobjects")
    every = {o["name"]: o for o in body["sobjects"]}
    listed = set(sf.list_streams())
    flags = ("queryable", "retrieveable", "replicateable")
    for name, entry in every.items():
        can = all(entry[f] for f in flags) and not entry.get("deprecatedAndHidden")
        assert (name in listed) is can, name
    assert listed < set(every), "the sandbox's org has objects that cannot be replicated"
    assert any(every[name]["custom"] for name in listed)


def test_inaccessible_objects_fail_by_name_and_the_others_are_described(sf: SalesforceConnector) -> None:
    described, refused = discover_all(sf)
    assert refused, "the sandbox's org has an object its user may not read"
    for name, error in refused.items():
        assert name not in described
        assert getattr(error, "code", None) == "INSUFFICIENT_ACCESS" and name in str(error)
    one = next(iter(refused))
    with pytest.raises(DescribeFailed) as alone:
        list(sf.describe_streams([one, "Account"]))
    assert alone.value.code == "INSUFFICIENT_ACCESS" and one in str(alone.value)
    assert set(alone.value.failures) == {one}


@pytest.mark.parametrize("bad", [*PATH_BREAKERS, "Account/describe", "Acc ount", "Ünïcode__c"])
def test_bad_object_names_are_refused_before_any_call(
    sf: SalesforceConnector, admin: Admin, bad: str
) -> None:
    before = calls(admin, "/composite/batch")
    with pytest.raises(ConfigError) as err:
        sf.describe_streams(["Account", bad])
    assert "Salesforce object name" in str(err.value)
    assert calls(admin, "/composite/batch") == before


def test_an_unknown_object_is_reported_by_name(sf: SalesforceConnector) -> None:
    with pytest.raises(DescribeFailed) as err:
        list(sf.describe_streams(["No_Such_Object__c"]))
    assert set(err.value.failures) == {"No_Such_Object__c"} and "No_Such_Object__c" in str(err.value)


def test_discovered_account_is_read_with_every_field(
    sandbox: Any, sf: SalesforceConnector, admin: Admin
) -> None:
    account = next(iter(sf.describe_streams(["Account"])))
    live = sf.client.get_json(f"{sf.api}/sobjects/Account/describe")["fields"]
    assert len(account.fields) >= 60
    assert {f.name for f in account.fields} | set(account.not_extracted) == {f["name"] for f in live}
    assert (
        "BillingAddress" in account.not_extracted
        and "BillingStreet" in account.not_extracted["BillingAddress"]
    )
    assert account.field_named("BillingStreet") is not None and account.field_named("BillingAddress") is None
    assert account.cursor == ("SystemModstamp", "Id") and account.deletes
    custom = [f.name for f in account.fields if f.custom]
    assert custom
    stream = Stream.from_config("Account", account.to_config())
    read: dict[str, dict[str, dict[str, Any]]] = {}
    with admin.sized("salesforce", "Account", 300):
        for api, threshold in (("rest", 10**9), ("bulk", 0)):
            with connect(sandbox, admin, {"Account": stream}, bulk_threshold=threshold) as reader:
                records = [stream.schema.validate(r).values for r in reader.read("Account")]
                assert reader.last_read_api == api
            assert len(records) == 300 and set(records[0]) == set(stream.schema.names)
            read[api] = {r["Id"]: r for r in records}
    assert read["rest"] == read["bulk"], "REST and Bulk API give every field the same values"
    with_values = [name for name in custom if any(r[name] is not None for r in read["rest"].values())]
    assert len(with_values) >= 3, f"custom fields arrive with their values: {with_values} of {custom}"


def test_objects_bulk_api_cannot_query_are_read_through_rest(
    sandbox: Any, sf: SalesforceConnector, admin: Admin
) -> None:
    described, _ = discover_all(sf)
    rest_only = [d for d in described.values() if d.options.get("read_api") == "rest"]
    assert rest_only, "the sandbox's org has an object Bulk API cannot query"
    description = rest_only[0]
    stream = Stream.from_config(description.name, description.to_config())
    with connect(sandbox, admin, {stream.name: stream}, bulk_threshold=0) as reader:
        records = list(reader.read(stream.name))
        assert reader.last_read_api == "rest"
    assert records and all(r["Id"] for r in records)


def test_a_field_list_too_long_for_a_rest_url_is_read_through_bulk(
    sandbox: Any, admin: Admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = load_catalog("salesforce.yaml")["Account"]
    with admin.sized("salesforce", "Account", 200), connect(sandbox, admin, {"Account": stream}) as reader:
        rest = list(reader.read("Account"))
        assert reader.last_read_api == "rest"
        monkeypatch.setattr(salesforce_module, "MAX_QUERY_URL", 100)
        bulk = list(reader.read("Account"))
        assert reader.last_read_api == "bulk"
        rest_only = replace(stream, options={"read_api": "rest"})
        reader.streams["Account"] = rest_only
        with pytest.raises(ConfigError, match="too long for a REST URL"):
            list(reader.read("Account"))
    assert [r["Id"] for r in bulk] == [r["Id"] for r in rest]
