"""Salesforce discovery: describeGlobal and batched describes, against recorded responses and the sandbox."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from airflow_provider_integrations.connectors.base import Stream
from airflow_provider_integrations.connectors.salesforce_discovery import (
    BULK_UNSUPPORTED,
    describe_stream,
)
from airflow_provider_integrations.core.schema import FieldType

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
