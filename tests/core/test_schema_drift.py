"""Schema drift: a stream's declared fields against the system's live description."""

from __future__ import annotations

import pytest

from airflow_provider_integrations.connectors.base import Stream
from airflow_provider_integrations.core.catalog import FieldDescription, StreamDescription
from airflow_provider_integrations.core.schema import Field, FieldType
from airflow_provider_integrations.core.schema_drift import (
    ChangeKind,
    SchemaChange,
    compare,
    stream_added,
    stream_removed,
    widen,
)

S, INT, N = FieldType.STRING, FieldType.INTEGER, FieldType.NUMBER
B, D, T, J = FieldType.BOOLEAN, FieldType.DATE, FieldType.TIMESTAMP, FieldType.JSON


def live(*fields: FieldDescription, **kwargs: object) -> StreamDescription:
    return StreamDescription("Account", "Account", fields, ("Id",), **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("old", "new", "column"),
    [
        (INT, N, N),
        (N, S, S),
        (INT, S, S),
        (N, INT, N),
        (S, INT, S),
        (S, N, S),
        (D, D, D),
    ],
)
def test_widen_within_the_integer_number_string_chain(
    old: FieldType, new: FieldType, column: FieldType
) -> None:
    assert widen(old, new) == column


@pytest.mark.parametrize(
    ("old", "new"),
    [(D, T), (T, D), (B, S), (T, S), (J, S), (D, S), (S, J), (INT, B), (B, INT), (N, T)],
)
def test_widen_refuses_every_other_pair(old: FieldType, new: FieldType) -> None:
    assert widen(old, new) is None


def test_no_change_when_the_description_matches_the_declaration() -> None:
    declared = [Field("Id", S, source_type="id"), Field("Amount", N)]
    described = live(FieldDescription("Id", S, "id"), FieldDescription("Amount", N, "currency"))
    assert compare(declared, described) == []


def test_every_kind_of_field_change_in_declared_then_live_order() -> None:
    declared = {
        "Id": Field("Id", S, source_type="id"),
        "Employees": Field("Employees", INT, source_type="int"),
        "Founded": Field("Founded", D, source_type="date"),
        "Rating": Field("Rating", S, source_type="picklist"),
        "Fax": Field("Fax", S, source_type="phone"),
        "Body": Field("Body", S, source_type="base64"),
    }
    described = live(
        FieldDescription("Id", S, "id"),
        FieldDescription("Score__c", N, "double", custom=True),
        FieldDescription("Employees", N, "double"),
        FieldDescription("Founded", T, "datetime"),
        FieldDescription("Rating", S, "string"),
        not_extracted={"Body": "binary body"},
    )
    assert compare(declared, described) == [
        SchemaChange("Account", "Employees", ChangeKind.TYPE_WIDENED, "integer (int)", "number (double)"),
        SchemaChange("Account", "Founded", ChangeKind.TYPE_CHANGED, "date (date)", "timestamp (datetime)"),
        SchemaChange(
            "Account", "Rating", ChangeKind.SOURCE_TYPE_CHANGED, "string (picklist)", "string (string)"
        ),
        SchemaChange("Account", "Fax", ChangeKind.FIELD_REMOVED, "string (phone)", ""),
        SchemaChange(
            "Account", "Body", ChangeKind.FIELD_REMOVED, "string (base64)", "not extracted: binary body"
        ),
        SchemaChange("Account", "Score__c", ChangeKind.FIELD_ADDED, "", "number (double)"),
    ]


def test_a_source_type_is_compared_only_where_both_sides_know_it() -> None:
    declared = [Field("Id", S), Field("Name", S, source_type="string")]
    described = live(FieldDescription("Id", S, "id"), FieldDescription("Name", S))
    assert compare(declared, described) == []


def test_a_stream_from_a_handwritten_catalog_compares_by_its_schema_fields() -> None:
    stream = Stream.from_config(
        "accounts",
        {
            "source": "Account",
            "primary_key": ["Id"],
            "fields": {"Id": "string", "NumberOfEmployees": "integer"},
        },
    )
    described = live(FieldDescription("Id", S, "id"), FieldDescription("NumberOfEmployees", N, "double"))
    assert compare(stream.schema.fields, described, stream="accounts") == [
        SchemaChange("accounts", "NumberOfEmployees", ChangeKind.TYPE_WIDENED, "integer", "number (double)")
    ]


def test_stream_level_changes_and_their_text() -> None:
    added = stream_added(live(FieldDescription("Id", S, "id"), FieldDescription("Name", S)))
    assert added == SchemaChange("Account", "", ChangeKind.STREAM_ADDED, "", "2 fields")
    assert str(added) == "Account: stream added (2 fields)"
    assert str(stream_removed("Invoice__c")) == "Invoice__c: stream removed"
    widened = SchemaChange("Account", "Employees", ChangeKind.TYPE_WIDENED, "integer", "number")
    assert str(widened) == "Account.Employees: type widened: integer -> number"
    assert str(SchemaChange("Account", "Fax", ChangeKind.FIELD_REMOVED, "string")) == (
        "Account.Fax: field removed (string)"
    )
