"""The run-time schema check: what an extract reads and writes given the live description and the policy,
and the count of fields records carry that the schema does not declare."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_integrations.connectors.base import Stream
from airflow_provider_integrations.core.catalog import FieldDescription, StreamDescription
from airflow_provider_integrations.core.drift_check import (
    SchemaDriftError,
    UnknownFields,
    backfill_due,
    check_policy,
    plan_drift,
)
from airflow_provider_integrations.core.errors import ConfigError
from airflow_provider_integrations.core.records import ManifestSchemaChange
from airflow_provider_integrations.core.schema import FieldType

S, INT, N, T = FieldType.STRING, FieldType.INTEGER, FieldType.NUMBER, FieldType.TIMESTAMP


def account(**options: Any) -> Stream:
    return Stream.from_config(
        "Account",
        {
            "source": "Account",
            "primary_key": ["Id"],
            "cursor": ["SystemModstamp", "Id"],
            "fields": {
                "Id": {"type": "string", "required": True},
                "Name": {"type": "string", "required": True},
                "Employees": "integer",
                "Rating": "string",
                "SystemModstamp": {"type": "timestamp", "required": True},
            },
            "options": options,
        },
    )


def live(*changes: tuple[str, FieldType] | str) -> StreamDescription:
    """Account as described now: the declared fields, with `(name, type)` replacing or adding one and a
    bare name removing one."""
    fields = {"Id": S, "Name": S, "Employees": INT, "Rating": S, "SystemModstamp": T}
    for change in changes:
        if isinstance(change, str):
            del fields[change]
        else:
            fields[change[0]] = change[1]
    described = tuple(FieldDescription(name, kind) for name, kind in fields.items())
    return StreamDescription("Account", "Account", described, ("Id",), ("SystemModstamp", "Id"))


def test_no_description_or_no_difference_reads_the_stream_as_declared() -> None:
    stream = account()
    for description in (None, live()):
        plan = plan_drift(stream, description, "fail")
        assert plan.read is stream and plan.schema is stream.schema and plan.changes == ()


def test_add_extracts_a_new_field_and_records_it() -> None:
    plan = plan_drift(account(), live(("Region__c", S)), "add")
    assert plan.read.schema.names[-1] == "Region__c" and plan.schema.names[-1] == "Region__c"
    assert plan.added == ("Region__c",)
    assert plan.changes == (ManifestSchemaChange("Region__c", "field_added", None, "string", "added"),)
    assert plan.schema.validate({**row(), "Region__c": "EMEA"}).values["Region__c"] == "EMEA"


def test_ignore_leaves_a_new_field_out_and_records_that() -> None:
    plan = plan_drift(account(), live(("Region__c", S)), "ignore")
    assert "Region__c" not in plan.read.schema.names and "Region__c" not in plan.schema.names
    assert plan.added == ()
    assert [c.action for c in plan.changes] == ["ignored"]


def test_fail_names_every_new_field() -> None:
    with pytest.raises(SchemaDriftError, match=r"new fields Region__c, Tier__c \(schema_policy is 'fail'\)"):
        plan_drift(account(), live(("Region__c", S), ("Tier__c", INT)), "fail")


def test_a_removed_field_is_not_read_but_still_written_empty() -> None:
    plan = plan_drift(account(), live("Rating"), "fail")
    assert "Rating" not in plan.read.schema.names
    assert "Rating" in plan.schema.names
    assert plan.schema.validate(row(without="Rating")).values["Rating"] is None
    assert plan.changes == (ManifestSchemaChange("Rating", "field_removed", "string", None, "nulled"),)


def test_a_removed_required_field_is_no_longer_required() -> None:
    plan = plan_drift(account(), live("Name"), "add")
    assert plan.schema.validate(row(without="Name")).values["Name"] is None


@pytest.mark.parametrize("field", ["Id", "SystemModstamp"])
def test_removing_the_key_or_cursor_stops_the_run_naming_it(field: str) -> None:
    with pytest.raises(SchemaDriftError, match=f"{field} was removed but the stream reads by it"):
        plan_drift(account(), live(field), "add")


def test_a_safe_type_change_widens_the_field() -> None:
    plan = plan_drift(account(), live(("Employees", N)), "fail")
    assert dict(zip(plan.schema.names, (f.type for f in plan.schema.fields), strict=True))["Employees"] is N
    assert plan.changes == (
        ManifestSchemaChange("Employees", "type_widened", "integer", "number", "widened"),
    )
    assert plan.schema.validate({**row(), "Employees": "12.5"}).values["Employees"] == 12.5


def test_a_narrower_type_at_the_source_keeps_the_column_type() -> None:
    plan = plan_drift(account(), live(("Rating", INT)), "add")
    assert next(f.type for f in plan.schema.fields if f.name == "Rating") is S
    assert [c.action for c in plan.changes] == ["kept"]


def test_an_incompatible_type_change_stops_the_run_naming_the_field() -> None:
    with pytest.raises(SchemaDriftError, match=r"Employees changed type integer -> timestamp"):
        plan_drift(account(), live(("Employees", T)), "add")


def test_a_bad_policy_is_refused_naming_the_choices() -> None:
    with pytest.raises(
        ConfigError, match=r"schema_policy must be one of \('add', 'ignore', 'fail'\), got 'drop'"
    ):
        check_policy("drop")


def test_backfill_only_when_asked_and_only_once_per_field() -> None:
    plan = plan_drift(account(), live(("Region__c", S), ("Tier__c", S)), "add")
    assert backfill_due(account(), plan, None) == ()
    wanted = account(backfill_new_fields=True)
    assert backfill_due(wanted, plan, None) == ("Region__c", "Tier__c")
    assert backfill_due(wanted, plan, {"fields": ["Region__c"]}) == ("Tier__c",)
    assert backfill_due(wanted, plan, {"fields": ["Region__c", "Tier__c"]}) == ()


def count_unknown(declared: tuple[str, ...], records: list[dict[str, Any]]) -> dict[str, int]:
    """The extract's loop: a new shape only when a record's keys differ from the shape held."""
    unknown = UnknownFields(declared)
    shape: Any = None
    for index, record in enumerate(records):
        if record.keys() != shape:
            shape = unknown.shape_at(record, index)
    return unknown.counts(len(records))


def test_unknown_fields_are_counted_per_field_across_record_shapes() -> None:
    records: list[dict[str, Any]] = [
        {"Id": "1", "Name": "a"},
        {"Id": "2", "Name": "b", "Extra": 1},
        {"Id": "3", "Name": "c", "Extra": 2},
        {"Id": "4", "Extra": 3, "Other": 4, "_deleted": True},
        {"Id": "5", "Name": "e", "_changed_at": "2025-01-01T00:00:00Z"},
        {"Id": "6", "Name": "f", "Extra": 5},
        {"Id": "7", "Name": "g", "Extra": 6},
    ]
    assert count_unknown(("Id", "Name"), records) == {"Extra": 5, "Other": 1}
    assert count_unknown(("Id", "Name"), records[1:3]) == {"Extra": 2}


def test_no_unknown_fields_for_records_that_match_the_schema() -> None:
    records: list[dict[str, Any]] = [{"Id": str(i), "Name": None} for i in range(3)]
    assert count_unknown(("Id", "Name"), records) == {}
    assert count_unknown(("Id", "Name"), []) == {}


def row(without: str = "") -> dict[str, Any]:
    values = {
        "Id": "001",
        "Name": "Acme",
        "Employees": 3,
        "Rating": "Hot",
        "SystemModstamp": "2025-01-01T00:00:00+00:00",
    }
    values.pop(without, None)
    return values
