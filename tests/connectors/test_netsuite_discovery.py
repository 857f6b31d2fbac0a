"""NetSuite discovery from the REST metadata catalog, against the sandbox: record types, custom fields and
custom record types described, read back with their values, and schema changes seen on the next describe."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_integrations.connectors.base import Stream, load_catalog
from airflow_provider_integrations.connectors.netsuite import NetSuiteConnector
from airflow_provider_integrations.core.catalog import StreamDescription
from airflow_provider_integrations.core.errors import PermanentError
from airflow_provider_integrations.core.schema import FieldType
from tests.connectors.conftest import Admin
from tests.connectors.test_netsuite import FAST, settings_for


@pytest.fixture(scope="module")
def admin(sandbox: Any) -> Admin:
    return Admin(sandbox)


@pytest.fixture
def suite(sandbox: Any, admin: Admin) -> Iterator[NetSuiteConnector]:
    with NetSuiteConnector.connect(
        settings_for(sandbox, admin), load_catalog("netsuite.yaml"), retry=FAST
    ) as connector:
        yield connector


def reading(sandbox: Any, admin: Admin, *described: StreamDescription) -> NetSuiteConnector:
    """A connector whose streams are the discovered descriptions, as a committed catalog file holds them."""
    streams = {d.name: Stream.from_config(d.name, d.to_config()) for d in described}
    return NetSuiteConnector.connect(settings_for(sandbox, admin), streams, retry=FAST)


def schema_change(admin: Admin, **change: Any) -> None:
    admin.client.post(f"{admin.url}/schema/netsuite", json=change).raise_for_status()


def test_record_types_are_listed_from_the_metadata_catalog(suite: NetSuiteConnector) -> None:
    listed = suite.list_streams()
    assert {"customer", "transaction", "item", "employee", "customrecord_contract"} <= set(listed)


def test_custom_fields_are_described_and_extracted_with_their_values(
    suite: NetSuiteConnector, sandbox: Any, admin: Admin
) -> None:
    customer, contract = suite.describe_streams(["customer", "customrecord_contract"])
    fields = {f.name: f for f in customer.fields}
    assert (fields["custentity_region"].type, fields["custentity_region"].custom) == (FieldType.STRING, True)
    assert fields["custentity_credit_score"].type is FieldType.INTEGER
    assert fields["lastmodifieddate"].type is FieldType.TIMESTAMP and not fields["lastmodifieddate"].custom
    assert fields["isperson"].type is FieldType.BOOLEAN and fields["id"].required
    assert customer.cursor == ("lastmodifieddate", "id") and customer.primary_key == ("id",)
    assert customer.deletes and customer.options == {"record_type": "customer"}
    assert set(customer.not_extracted) == {"addressBook", "links"}
    assert "sublist" in customer.not_extracted["addressBook"]
    assert contract.custom and contract.cursor == ("lastmodified", "id")
    assert {f.name for f in contract.fields if f.custom} == {
        "custrecord_contract_value",
        "custrecord_contract_start",
        "custrecord_contract_customer",
    }
    [transaction] = suite.describe_streams(["transaction"])
    entity = transaction.field_named("entity")
    assert entity is not None and (entity.type, entity.source_type) == (FieldType.INTEGER, "reference")
    config = customer.to_config()
    assert config["fields"]["custentity_region"] == {
        "type": "string",
        "source_type": "string",
        "custom": True,
    }

    with reading(sandbox, admin, customer, contract) as reader:
        customers = [reader.stream("customer").schema.validate(r).values for r in reader.read("customer")]
        contracts = [
            reader.stream("customrecord_contract").schema.validate(r).values
            for r in reader.read("customrecord_contract")
        ]
    assert len(customers) == admin.size("netsuite", "customer")
    regions = [c["custentity_region"] for c in customers]
    assert 0.8 < sum(1 for r in regions if r) / len(regions) < 1 and len(set(regions)) > 4
    assert all(isinstance(c["custentity_credit_score"], int) for c in customers)
    assert len(contracts) == 300 and all(c["custrecord_contract_value"] is not None for c in contracts)
    assert all(c["custrecord_contract_start"] <= c["lastmodified"].date() for c in contracts)


def test_an_unknown_record_type_is_refused_by_name(suite: NetSuiteConnector) -> None:
    with pytest.raises(PermanentError) as error:
        list(suite.describe_streams(["vendorx"]))
    assert "vendorx" in str(error.value) and error.value.code == "INVALID_RCRD_TYPE"


def test_schema_changes_show_on_the_next_describe_and_read(
    suite: NetSuiteConnector, sandbox: Any, admin: Admin
) -> None:
    record_type = f"customrecord_d{uuid.uuid4().hex[:8]}"
    field = "custrecord_rating"
    schema_change(admin, action="add_object", object=record_type, size=25)
    assert record_type in suite.list_streams()
    schema_change(admin, action="add_field", object=record_type, field=field, type="number")
    [described] = suite.describe_streams([record_type])
    assert described.field_named(field) is not None and described.field_named(field).type is FieldType.NUMBER  # type: ignore[union-attr]
    with reading(sandbox, admin, described) as reader:
        rows = list(reader.read(record_type))
    assert len(rows) == 25 and all(float(r[field]) >= 0 for r in rows)

    schema_change(admin, action="change_type", object=record_type, field=field, type="string")
    [changed] = suite.describe_streams([record_type])
    assert changed.field_named(field).type is FieldType.STRING  # type: ignore[union-attr]
    schema_change(admin, action="remove_field", object=record_type, field=field)
    [removed] = suite.describe_streams([record_type])
    assert removed.field_named(field) is None

    field = f"custentity_d{uuid.uuid4().hex[:6]}"
    schema_change(admin, action="add_field", object="employee", field=field, type="date")
    try:
        [employee] = suite.describe_streams(["employee"])
        assert employee.field_named(field) is not None
        with reading(sandbox, admin, employee) as reader:
            values = [
                reader.stream("employee").schema.validate(r).values[field] for r in reader.read("employee")
            ]
        assert len(values) == admin.size("netsuite", "employee") and all(v is not None for v in values)
    finally:
        schema_change(admin, action="remove_field", object="employee", field=field)
