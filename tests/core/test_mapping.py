"""Mapping checks against a destination's description: every problem named in one error."""

from __future__ import annotations

from collections import namedtuple

import pytest

from airflow_provider_integrations.core.errors import ConfigError
from airflow_provider_integrations.core.mapping import (
    DestinationDescription,
    DestinationField,
    base_type,
    validate_mapping,
)
from airflow_provider_integrations.hooks.snowflake_types import column_types, snowflake_type_name


def sf_field(
    name: str, type_: str, *, create: bool = True, update: bool = True, key: bool = False
) -> DestinationField:
    return DestinationField(name, type_, createable=create, updateable=update, external_id=key)


ACCOUNT = DestinationDescription(
    "Account",
    {
        f.name: f
        for f in (
            sf_field("Id", "id", create=False, update=False, key=True),
            sf_field("Name", "string"),
            sf_field("AnnualRevenue", "currency"),
            sf_field("NumberOfEmployees", "int"),
            sf_field("IsActive__c", "boolean"),
            sf_field("Established__c", "date"),
            sf_field("Last_Synced__c", "datetime"),
            sf_field("Region__c", "picklist", update=False),
            sf_field("External_Id__c", "string", key=True),
            sf_field("Revenue_Per_Employee__c", "currency", create=False, update=False),
            sf_field("CreatedDate", "datetime", create=False, update=False),
            sf_field("Payload__c", "json"),
            sf_field("Location__c", "location"),
        )
    },
    system="salesforce",
)
GOOD = {
    "ACCOUNT_KEY": "External_Id__c",
    "NAME": "Name",
    "REVENUE": "AnnualRevenue",
    "EMPLOYEES": "NumberOfEmployees",
    "ACTIVE": "IsActive__c",
    "FOUNDED": "Established__c",
    "SYNCED_AT": "Last_Synced__c",
}
GOOD_TYPES = {
    "ACCOUNT_KEY": "TEXT",
    "NAME": "TEXT",
    "REVENUE": "FIXED(12,2)",
    "EMPLOYEES": "FIXED",
    "ACTIVE": "BOOLEAN",
    "FOUNDED": "DATE",
    "SYNCED_AT": "TIMESTAMP_TZ",
}


def problems_of(error: pytest.ExceptionInfo[ConfigError]) -> list[str]:
    return [line.removeprefix("  - ") for line in str(error.value).splitlines()[1:]]


def test_a_sound_mapping_passes_in_every_mode_that_writes_fields() -> None:
    for mode in ("upsert", "mirror", "update"):
        validate_mapping(ACCOUNT, GOOD, mode=mode, external_id="External_Id__c", column_types=GOOD_TYPES)
    validate_mapping(ACCOUNT, GOOD, mode="insert", external_id="External_Id__c")


def test_every_problem_is_named_in_one_error() -> None:
    mapping = {
        "ACCOUNT_KEY": "Name",  # a key that cannot match records
        "NAME": "Nmae",  # no such field
        "PER_HEAD": "Revenue_Per_Employee__c",  # formula: neither createable nor updateable
        "REGION": "Region__c",  # createable only
        "FLAG": "IsActive__c",  # NUMBER into boolean
        "TIER": "AnnualRevenue",  # REAL into currency is fine ...
        "HEADCOUNT": "NumberOfEmployees",  # ... but NUMBER(10,2) into int is not
        "OPENED": "Last_Synced__c",  # DATE into datetime
        "GHOST": "Established__c",  # not in the model
        "COPY": "AnnualRevenue",  # a second column into the same field
    }
    types = {
        **{"account_key": "TEXT", "name": "TEXT", "per_head": "REAL", "REGION": "VARCHAR(20)"},
        **{"FLAG": "NUMBER", "TIER": "FLOAT", "HEADCOUNT": "NUMBER(10,2)", "OPENED": "DATE", "COPY": "REAL"},
    }
    with pytest.raises(ConfigError) as error:
        validate_mapping(ACCOUNT, mapping, mode="upsert", external_id="Name", column_types=types)
    text = str(error.value)
    assert text.startswith("salesforce: the mapping cannot be used to upsert Account; 10 problems")
    problems = problems_of(error)
    assert len(problems) == 10
    expected = [
        "key field 'Name' is not an external id or lookup field, so upsert cannot match records by it "
        "(fields that can: External_Id__c, Id)",
        "field 'Nmae' (from column NAME) does not exist on Account; did you mean 'Name'?",
        "field 'Revenue_Per_Employee__c' (from column PER_HEAD) is not createable, which upsert needs",
        "field 'Revenue_Per_Employee__c' (from column PER_HEAD) is not updateable, which upsert needs",
        "field 'Region__c' (from column REGION) is not updateable, which upsert needs",
        "column FLAG (NUMBER) cannot be written to field 'IsActive__c' (boolean); FIXED goes into integer, "
        "number, text fields: cast it in the model",
        "column HEADCOUNT (NUMBER(10,2)) cannot be written to field 'NumberOfEmployees' (int)",
        "column OPENED (DATE) cannot be written to field 'Last_Synced__c' (datetime)",
        "column GHOST (mapped to 'Established__c') is not in the model",
        "field 'AnnualRevenue' is mapped from two columns: TIER and COPY",
    ]
    for wanted in expected:
        assert any(p.startswith(wanted) for p in problems), wanted
    assert error.value.system == "salesforce"


def test_an_unknown_key_field_gets_suggestions() -> None:
    with pytest.raises(ConfigError) as error:
        validate_mapping(ACCOUNT, {"NAME": "Name"}, mode="upsert", external_id="External_ID_c")
    assert problems_of(error) == [
        "key field 'External_ID_c' does not exist on Account; did you mean 'External_Id__c'?"
    ]


def test_names_compare_case_insensitively_and_columns_too() -> None:
    mapping = {"account_key": "external_id__c", "Name": "NAME", "employees": "numberofemployees"}
    types = {"ACCOUNT_KEY": "TEXT", "NAME": "VARCHAR", "EMPLOYEES": "NUMBER(38,0)"}
    validate_mapping(ACCOUNT, mapping, mode="upsert", external_id="EXTERNAL_ID__C", column_types=types)
    assert (found := ACCOUNT.field("annualREVENUE")) is not None and found.name == "AnnualRevenue"
    with pytest.raises(ConfigError) as error:
        validate_mapping(ACCOUNT, {"A": "name", "B": "Name"}, mode="upsert", external_id="External_Id__c")
    assert problems_of(error) == ["field 'Name' is mapped from two columns: A and B"]


def test_a_case_sensitive_destination_refuses_other_spellings() -> None:
    stripe = DestinationDescription(
        "customers",
        {
            "id": sf_field("id", "string", create=False, update=False, key=True),
            "email": sf_field("email", "string"),
        },
        system="stripe",
        case_sensitive=True,
        patterns={r"metadata\.[^.\[\]]{1,40}": sf_field("metadata.<key>", "scalar")},
    )
    types = {"ID": "TEXT", "EMAIL": "TEXT", "SCORE": "NUMBER", "ACTIVE": "BOOLEAN"}
    mapping = {"ID": "id", "EMAIL": "email", "SCORE": "metadata.score", "ACTIVE": "metadata.active"}
    validate_mapping(stripe, mapping, mode="update", external_id="id", column_types=types)
    with pytest.raises(ConfigError) as error:
        validate_mapping(stripe, {"EMAIL": "Email", "X": "metadata.a.b"}, mode="update", external_id="id")
    assert problems_of(error) == [
        "field 'Email' (from column EMAIL) does not exist on customers; did you mean 'email'? "
        "(besides its listed fields it takes metadata.<key>)",
        "field 'metadata.a.b' (from column X) does not exist on customers "
        "(besides its listed fields it takes metadata.<key>)",
    ]


def test_delete_mode_checks_the_key_only() -> None:
    noisy = {"KEY": "External_Id__c", "NAME": "Nmae", "PER_HEAD": "Revenue_Per_Employee__c"}
    validate_mapping(
        ACCOUNT, noisy, mode="delete", external_id="External_Id__c", column_types={"KEY": "TEXT"}
    )
    validate_mapping(ACCOUNT, {}, mode="delete", external_id="Id")
    with pytest.raises(ConfigError) as error:
        validate_mapping(ACCOUNT, noisy, mode="delete", external_id="Name", column_types={"KEY": "TEXT"})
    assert [p.split(",")[0] for p in problems_of(error)] == [
        "key field 'Name' is not an external id or lookup field"
    ]
    with pytest.raises(ConfigError) as error:
        validate_mapping(
            ACCOUNT, noisy, mode="delete", external_id="External_Id__c", column_types={"KEY": "BOOLEAN"}
        )
    assert problems_of(error)[0].startswith(
        "column KEY (BOOLEAN) cannot be written to field 'External_Id__c'"
    )


def test_the_key_is_written_on_insert_but_only_matched_otherwise() -> None:
    # Update by Id: Id is not updateable and need not be an external id, as it is only matched on.
    validate_mapping(ACCOUNT, {"SF_ID": "Id", "NAME": "Name"}, mode="update", external_id="Id")
    validate_mapping(ACCOUNT, {"NAME": "Name"}, mode="update", external_id="Region__c")
    with pytest.raises(ConfigError) as error:
        validate_mapping(ACCOUNT, {"SF_ID": "Id", "NAME": "Name"}, mode="insert", external_id="Id")
    assert problems_of(error) == ["field 'Id' (from column SF_ID) is not createable, which insert needs"]


@pytest.mark.parametrize(
    ("column", "field", "fits"),
    [
        ("VARCHAR(10)", "Established__c", True),  # ISO text into a date: allowed, refused per record if not
        ("TEXT", "Last_Synced__c", True),
        ("TIMESTAMP_NTZ", "Last_Synced__c", True),
        ("TIMESTAMP_LTZ", "Established__c", True),
        ("TEXT", "Id", True),
        ("VARIANT", "Payload__c", True),
        ("FIXED", "Name", True),
        ("TEXT", "Location__c", True),  # a destination type the table does not know is not checked
        ("BOOLEAN", "Name", False),
        ("TEXT", "NumberOfEmployees", False),
        ("TEXT", "IsActive__c", False),
        ("OBJECT", "Name", False),
        ("BINARY", "Name", False),
        ("GEOGRAPHY", "Name", False),
    ],
)
def test_the_type_table(column: str, field: str, fits: bool) -> None:
    def check() -> None:
        validate_mapping(ACCOUNT, {"C": field}, mode="update", external_id="Id", column_types={"C": column})

    if fits:
        check()
    else:
        with pytest.raises(ConfigError, match=f"column C \\({column}\\)"):
            check()


def test_an_unknown_mode_is_refused_at_once() -> None:
    with pytest.raises(ConfigError, match="sync mode must be one of"):
        validate_mapping(ACCOUNT, GOOD, mode="merge", external_id="External_Id__c")


def test_type_names_from_ddl_and_from_the_connector() -> None:
    assert base_type("NUMBER(10, 2)") == ("FIXED", 2)
    assert base_type("number(38,0)") == ("FIXED", 0)
    assert base_type("double precision") == ("REAL", None)
    assert base_type("VARCHAR(16777216)") == ("TEXT", None)
    assert base_type("TIMESTAMP_TZ(9)") == ("TIMESTAMP_TZ", None)
    assert snowflake_type_name(0) == "FIXED" and snowflake_type_name(13) == "BOOLEAN"
    assert snowflake_type_name(999) == "UNKNOWN(999)"
    column = namedtuple("column", "name type_code precision scale")
    described = [column("ID", 0, 38, 0), column("AMOUNT", 0, 10, 2), column("NAME", 2, None, None)]
    assert column_types(described) == {"ID": "FIXED", "AMOUNT": "FIXED(10,2)", "NAME": "TEXT"}
    with pytest.raises(ConfigError, match="UNKNOWN\\(999\\), which the mapping check does not know"):
        validate_mapping(
            ACCOUNT, {"C": "Name"}, mode="update", external_id="Id", column_types={"C": "UNKNOWN(999)"}
        )
