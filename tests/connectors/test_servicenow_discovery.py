"""ServiceNow discovery against the sandbox: sys_db_object and sys_dictionary along super_class, custom
tables and fields, ACL refusals, schema changes, discovered tables read end to end, and query fields the
table lacks stopping the read whatever the instance does with them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from airflow_provider_integrations.connectors.base import Stream, load_catalog
from airflow_provider_integrations.connectors.servicenow import (
    ServiceNowConnector,
    ServiceNowSettings,
    UnknownQueryField,
)
from airflow_provider_integrations.connectors.servicenow_discovery import (
    DescribeRefused,
    Select,
    describe_tables,
)
from airflow_provider_integrations.core.errors import PermanentError
from airflow_provider_integrations.core.http import RetryPolicy
from airflow_provider_integrations.core.schema import FieldType
from airflow_provider_integrations.core.watermark import Window
from tests.connectors.conftest import Admin

FAST = RetryPolicy(max_attempts=8, base_delay=0.01, max_delay=0.05, deadline=60)
TASK_FIELDS = {"number", "short_description", "state", "priority", "assigned_to", "opened_at", "active"}


@pytest.fixture(scope="module")
def admin(sandbox: Any) -> Admin:
    return Admin(sandbox)


def connect(sandbox: Any, admin: Admin, streams: dict[str, Stream] | None = None) -> ServiceNowConnector:
    conn = admin.connection(sandbox, "servicenow")
    settings = ServiceNowSettings(
        instance_url=conn["host"],
        username=conn["login"],
        password=conn["password"],
        ca_bundle=sandbox.ca_bundle,
    )
    return ServiceNowConnector.connect(settings, streams or load_catalog("servicenow.yaml"), retry=FAST)


@pytest.fixture
def sn(sandbox: Any, admin: Admin) -> Iterator[ServiceNowConnector]:
    with connect(sandbox, admin) as connector:
        yield connector


def calls(admin: Admin, endpoint: str) -> int:
    return int(admin.counters()["calls"].get(f"servicenow GET /api/now/table/{endpoint}", 0))


def change(admin: Admin, **body: Any) -> dict[str, Any]:
    response = admin.client.post(f"{admin.url}/schema/servicenow", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_list_streams_names_base_custom_and_scoped_tables(sn: ServiceNowConnector) -> None:
    tables = sn.list_streams()
    assert {"incident", "task", "problem", "change_request", "sys_user", "cmdb_ci"} <= set(tables)
    assert {"u_vendor_contract", "x_acme_fleet_vehicle"} <= set(tables)
    assert tables == sorted(tables)


def test_incident_inherits_the_task_fields_and_carries_its_custom_ones(
    sn: ServiceNowConnector, admin: Admin
) -> None:
    (incident,) = sn.describe_streams(["incident"])
    names = {f.name for f in incident.fields}
    assert names >= TASK_FIELDS and {"category", "caller_id"} <= names
    custom = {f.name for f in incident.fields if f.custom}
    assert custom == {"u_vendor_ticket", "u_outage_minutes", "x_acme_fleet_vehicle"}
    by_name = {f.name: f for f in incident.fields}
    assert (by_name["opened_at"].type, by_name["opened_at"].source_type) == (
        FieldType.TIMESTAMP,
        "glide_date_time",
    )
    assert (by_name["u_outage_minutes"].type, by_name["state"].type) == (FieldType.INTEGER, FieldType.INTEGER)
    assert (by_name["active"].type, by_name["assigned_to"].source_type) == (FieldType.BOOLEAN, "reference")
    assert incident.fields[0].name == "sys_id" and by_name["sys_id"].required
    assert [f.name for f in incident.fields if f.required] == ["sys_id", "sys_updated_on"]
    assert incident.cursor == ("sys_updated_on", "sys_id") and incident.deletes and incident.naive_timestamps
    assert incident.primary_key == ("sys_id",) and not incident.custom
    config = incident.to_config()
    assert config["fields"]["u_vendor_ticket"] == {"type": "string", "source_type": "string", "custom": True}


def test_describing_several_tables_costs_a_few_calls_whatever_their_number(
    sn: ServiceNowConnector, admin: Admin
) -> None:
    before = {t: calls(admin, t) for t in ("sys_db_object", "sys_dictionary")}
    tables = ["incident", "problem", "change_request", "u_vendor_contract", "x_acme_fleet_vehicle"]
    described = {d.name: d for d in sn.describe_streams(tables)}
    assert list(described) == tables
    # Tables, then the one level of parents still unknown (task); one dictionary query for all chains.
    assert calls(admin, "sys_db_object") - before["sys_db_object"] == 2
    assert calls(admin, "sys_dictionary") - before["sys_dictionary"] == 1
    assert {f.name for f in described["problem"].fields} >= TASK_FIELDS
    assert {"type", "risk", "start_date"} <= {f.name for f in described["change_request"].fields}
    assert "category" not in {f.name for f in described["change_request"].fields}
    vehicle = described["x_acme_fleet_vehicle"]
    assert vehicle.custom and {"vin", "mileage", "last_service"} <= {f.name for f in vehicle.fields}
    assert vehicle.field_named("last_service") is not None
    assert vehicle.field_named("last_service").type is FieldType.DATE  # type: ignore[union-attr]


def test_a_table_the_user_may_not_read_raises_naming_it(sn: ServiceNowConnector) -> None:
    with pytest.raises(PermanentError, match="u_payroll_adjustment") as raised:
        list(sn.describe_streams(["u_payroll_adjustment"]))
    assert "may not read" in str(raised.value)
    described = []
    with pytest.raises(DescribeRefused) as refused:
        described.extend(sn.describe_streams(["incident", "u_payroll_adjustment", "problem"]))
    assert [d.name for d in described] == ["incident", "problem"]
    assert list(refused.value.failures) == ["u_payroll_adjustment"]
    assert (
        "403" in refused.value.failures["u_payroll_adjustment"]
        or "ACL" in refused.value.failures["u_payroll_adjustment"]
    )
    with pytest.raises(PermanentError, match="u_no_such_table"):
        list(sn.describe_streams(["u_no_such_table"]))


def test_a_discovered_custom_table_ingests_through_read(sandbox: Any, admin: Admin) -> None:
    with connect(sandbox, admin) as discover:
        (described,) = discover.describe_streams(["u_vendor_contract"])
    stream = Stream.from_config("u_vendor_contract", described.to_config())
    with connect(sandbox, admin, {"u_vendor_contract": stream}) as sn:
        records = [stream.schema.validate(r).values for r in sn.read("u_vendor_contract")]
    assert len(records) == admin.size("servicenow", "u_vendor_contract") == 120
    assert len({r["sys_id"] for r in records}) == 120
    assert {type(r["u_amount"]) for r in records if r["u_amount"] is not None} == {float}
    assert any(r["u_owner"] for r in records) and all(set(r) == set(stream.schema.names) for r in records)


def test_schema_changes_show_in_discovery_and_reads_at_once(sandbox: Any, admin: Admin) -> None:
    table = f"u_lease_{uuid.uuid4().hex[:8]}"
    field = f"u_region_{uuid.uuid4().hex[:6]}"
    change(
        admin,
        action="add_object",
        object=table,
        records=25,
        fields={"u_lessor": "string", "u_rent": "decimal"},
    )
    change(admin, action="add_field", object="incident", field=field, type="integer")
    try:
        with connect(sandbox, admin) as sn:
            assert table in sn.list_streams()
            new, incident = sn.describe_streams([table, "incident"])
        assert new.custom and {"u_lessor", "u_rent", "sys_updated_on"} <= {f.name for f in new.fields}
        assert incident.field_named(field) is not None
        stream = Stream.from_config(table, new.to_config())
        with connect(sandbox, admin, {table: stream}) as sn:
            rows = [stream.schema.validate(r).values for r in sn.read(table)]
        assert len(rows) == 25 and any(r["u_lessor"] for r in rows)

        change(admin, action="change_type", object="incident", field=field, type="string")
        with connect(sandbox, admin) as sn:
            (incident,) = sn.describe_streams(["incident"])
        assert incident.field_named(field).source_type == "string"  # type: ignore[union-attr]
    finally:
        change(admin, action="remove_field", object="incident", field=field)
    with connect(sandbox, admin) as sn:
        (incident,) = sn.describe_streams(["incident"])
    assert incident.field_named(field) is None


def test_schema_changes_are_refused_with_the_reason(admin: Admin) -> None:
    cases = [
        ({"action": "add_field", "object": "incident", "field": "region", "type": "string"}, "u_<name>"),
        ({"action": "add_field", "object": "incident", "field": "u_x", "type": "blob"}, "unknown type"),
        ({"action": "remove_field", "object": "incident", "field": "number"}, "defined on task"),
        ({"action": "add_object", "object": "lease"}, "custom table"),
        ({"action": "rename", "object": "incident"}, "unknown action"),
    ]
    for body, reason in cases:
        response = admin.client.post(f"{admin.url}/schema/servicenow", json=body)
        assert response.status_code == 400 and reason in response.json()["error"], (body, response.text)


def incident_stream(**options: Any) -> dict[str, Stream]:
    config = {
        "source": "incident",
        "primary_key": ["sys_id"],
        "cursor": ["sys_updated_on", "sys_id"],
        "naive_timestamps": "utc",
        "fields": {"sys_id": "string", "number": "string", "sys_updated_on": "timestamp"},
        "options": options,
    }
    return {"incident": Stream.from_config("incident", config)}


def test_a_filter_on_a_field_the_table_lacks_stops_the_read_instead_of_reading_everything(
    sandbox: Any, admin: Admin
) -> None:
    streams = incident_stream(filters={"u_categroy": "network"})
    with connect(sandbox, admin, streams) as sn, pytest.raises(UnknownQueryField, match="u_categroy"):
        next(sn.read("incident"))


def test_with_invalid_queries_answering_no_rows_a_typo_still_stops_the_read(
    sandbox: Any, admin: Admin
) -> None:
    created = admin_table_post(
        sandbox, admin, "sys_properties", {"name": "glide.invalid_query.returns_no_rows", "value": "true"}
    )
    try:
        streams = incident_stream(filters={"u_categroy": "network"})
        with connect(sandbox, admin, streams) as sn, pytest.raises(UnknownQueryField, match="u_categroy"):
            list(sn.read("incident"))
        before = calls(admin, "incident")
        with connect(sandbox, admin, incident_stream(filters={"category": "no-such-category"})) as sn:
            assert list(sn.read("incident")) == []
        assert calls(admin, "incident") - before == 2, "one empty page, one check of its fields"
    finally:
        admin_table_delete(sandbox, admin, "sys_properties", created)


def admin_table_post(sandbox: Any, admin: Admin, table: str, body: dict[str, Any]) -> str:
    with connect(sandbox, admin) as sn:
        response = sn.client.request("POST", f"/api/now/table/{table}", json=body)
    return str(response.json()["result"]["sys_id"])


def admin_table_delete(sandbox: Any, admin: Admin, table: str, sys_id: str) -> None:
    with connect(sandbox, admin) as sn:
        sn.client.request("DELETE", f"/api/now/table/{table}/{sys_id}")


def test_a_discovered_incident_reads_its_inherited_and_custom_fields(sandbox: Any, admin: Admin) -> None:
    with connect(sandbox, admin) as discover:
        (described,) = discover.describe_streams(["incident"])
    stream = Stream.from_config("incident", described.to_config())
    start = datetime(2025, 1, 1, tzinfo=UTC)
    with connect(sandbox, admin, {"incident": stream}) as sn:
        records = [
            stream.schema.validate(r).values
            for r in sn.read("incident", Window(start, start + timedelta(hours=2)))
        ]
    assert len(records) == 360  # three records a minute in the generated data
    assert all(r["number"].startswith("INC") and r["sys_class_name"] == "incident" for r in records)
    assert any(r["u_vendor_ticket"] for r in records) and any(
        r["u_outage_minutes"] is not None for r in records
    )
    assert all(isinstance(r["opened_at"], datetime) and r["opened_at"].tzinfo is UTC for r in records)


def test_password_fields_are_listed_as_not_extracted(sandbox: Any, admin: Admin) -> None:
    table = f"u_vault_{uuid.uuid4().hex[:8]}"
    change(
        admin,
        action="add_object",
        object=table,
        records=3,
        fields={"u_login": "string", "u_secret": "password2"},
    )
    with connect(sandbox, admin) as sn:
        (described,) = sn.describe_streams([table])
    assert described.field_named("u_secret") is None and described.field_named("u_login") is not None
    assert "encrypted password" in described.not_extracted["u_secret"]


def dictionary_source(objects: list[dict[str, Any]], columns: list[dict[str, Any]]) -> Select:
    """sys_db_object and sys_dictionary rows answering the IN conditions discovery sends."""

    def select(table: str, conditions: list[str], fields: list[str]) -> Iterator[dict[str, Any]]:
        by, _, values = conditions[0].partition("IN")
        rows = objects if table == "sys_db_object" else columns
        return iter([r for r in rows if str(r[by]) in values.split(",")])

    return select


def test_unknown_internal_types_are_reported_and_super_class_loops_refused() -> None:
    objects = [
        {"sys_id": "a", "name": "u_a", "super_class": "b"},
        {"sys_id": "b", "name": "u_b", "super_class": ""},
    ]
    columns = [
        {"name": "u_b", "element": "sys_id", "internal_type": "GUID"},
        {"name": "u_a", "element": "u_shape", "internal_type": "geo_point"},
        {"name": "u_a", "element": "u_size", "internal_type": "integer"},
    ]
    (described,) = describe_tables(dictionary_source(objects, columns), lambda _table: None, ["u_a"])
    assert [f.name for f in described.fields] == ["sys_id", "u_size"]
    assert "geo_point" in described.not_extracted["u_shape"] and described.cursor is None
    looped = [
        {"sys_id": "a", "name": "u_a", "super_class": "b"},
        {"sys_id": "b", "name": "u_b", "super_class": "a"},
    ]
    with pytest.raises(PermanentError, match="loops"):
        list(describe_tables(dictionary_source(looped, columns), lambda _table: None, ["u_a"]))
