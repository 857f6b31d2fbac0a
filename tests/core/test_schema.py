from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from airflow_provider_integrations.core.errors import ConfigError, RecordError
from airflow_provider_integrations.core.schema import Field, FieldType, RecordSchema

ACCOUNT = RecordSchema.from_config(
    {
        "Id": {"type": "string", "required": True},
        "Name": "string",
        "AnnualRevenue": "number",
        "NumberOfEmployees": "integer",
        "IsDeleted": "boolean",
        "SystemModstamp": {"type": "timestamp", "required": True},
        "CloseDate": "date",
        "Tags": "json",
    },
    key=["Id"],
)


def test_api_and_csv_shapes_coerce_to_one_canonical_form() -> None:
    from_json = ACCOUNT.validate(
        {"Id": "001A", "AnnualRevenue": 1500.5, "NumberOfEmployees": 12, "IsDeleted": False,
         "SystemModstamp": "2025-01-01T10:00:00.000+0000", "CloseDate": "2025-03-01", "Tags": ["a", "b"]}
    )  # fmt: skip
    from_csv = ACCOUNT.validate(
        {"Id": "001A", "Name": "", "AnnualRevenue": "1500.50", "NumberOfEmployees": "12",
         "IsDeleted": "false", "SystemModstamp": "2025-01-01T10:00:00Z", "CloseDate": "2025-03-01",
         "Tags": '["a", "b"]'}
    )  # fmt: skip
    assert from_json.values == from_csv.values
    assert from_json.values["SystemModstamp"] == datetime(2025, 1, 1, 10, tzinfo=UTC)
    assert from_json.values["CloseDate"] == date(2025, 3, 1)
    assert from_json.values["Name"] is None


@pytest.mark.parametrize(
    ("patch", "complaint"),
    [
        ({"AnnualRevenue": "not-a-number"}, "AnnualRevenue: expected a number, got 'not-a-number'"),
        ({"NumberOfEmployees": "12.5"}, "NumberOfEmployees: expected an integer"),
        ({"NumberOfEmployees": "12.00"}, "NumberOfEmployees: expected an integer, got '12.00'"),
        ({"IsDeleted": "maybe"}, "IsDeleted: expected a boolean"),
        ({"SystemModstamp": "yesterday"}, "SystemModstamp: expected a timestamp"),
        ({"SystemModstamp": None}, "SystemModstamp is required"),
        ({"CloseDate": "03/01/2025"}, "CloseDate: expected a date"),
        ({"AnnualRevenue": "NaN"}, "AnnualRevenue: expected a finite number"),
    ],
)
def test_contract_breaks_name_the_field_the_value_and_the_record(
    patch: dict[str, object], complaint: str
) -> None:
    record = {"Id": "001B", "SystemModstamp": 1735725600, **patch}
    with pytest.raises(RecordError) as err:
        ACCOUNT.validate(record)
    assert complaint in str(err.value)
    assert err.value.record_key == "001B"


def test_undeclared_fields_are_kept_apart() -> None:
    valid = ACCOUNT.validate(
        {"Id": "1", "SystemModstamp": 0, "New_Field__c": "x", "attributes": {"type": "Account"}}
    )
    assert valid.extra == {"New_Field__c": "x", "attributes": {"type": "Account"}}
    assert "New_Field__c" not in valid.values


def test_bad_schemas_are_refused_clearly() -> None:
    with pytest.raises(ConfigError, match="more than once"):
        RecordSchema([Field("a"), Field("a")])
    with pytest.raises(ConfigError, match="key fields"):
        RecordSchema([Field("a")], key=["b"])
    with pytest.raises(ConfigError, match="field 'x'"):
        RecordSchema.from_config({"x": "decimal128"})
    with pytest.raises(ConfigError, match="not a valid SQL name"):
        Field('a"; drop', FieldType.STRING)


def test_a_deleted_marker_needs_only_its_key() -> None:
    marker = ACCOUNT.validate({"Id": "001Z", "SystemModstamp": "2025-01-01T00:00:00Z"}, deleted=True)
    assert marker.values["Id"] == "001Z" and marker.values["Name"] is None
    with pytest.raises(RecordError, match="Id is required"):
        ACCOUNT.validate({"SystemModstamp": 0}, deleted=True)
