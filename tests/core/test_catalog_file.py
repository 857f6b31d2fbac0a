"""Catalog files: written from discovered descriptions, read back checked, selected from, and diffed."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from airflow_provider_integrations.core import catalog_file
from airflow_provider_integrations.core.catalog import FieldDescription, StreamDescription
from airflow_provider_integrations.core.errors import ConfigError
from airflow_provider_integrations.core.schema import FieldType
from airflow_provider_integrations.core.schema_drift import ChangeKind, SchemaChange

S, N, TS = FieldType.STRING, FieldType.NUMBER, FieldType.TIMESTAMP
WHEN = datetime(2026, 12, 5, 17, 0, tzinfo=UTC)


def account(*extra: FieldDescription) -> StreamDescription:
    return StreamDescription(
        "Account",
        "Account",
        (
            FieldDescription("SystemModstamp", TS, "datetime", required=True),
            FieldDescription("Name", S, "string", required=True),
            FieldDescription("Id", S, "id", required=True),
            FieldDescription("AnnualRevenue", N, "currency"),
            *extra,
        ),
        ("Id",),
        cursor=("SystemModstamp", "Id"),
        deletes=True,
        not_extracted={"BillingAddress": "compound address field"},
        options={"calculated_fields": ["Score__c"]},
    )


def invoice() -> StreamDescription:
    return StreamDescription(
        "Invoice__c", "Invoice__c", (FieldDescription("Id", S, "id", required=True),), ("Id",), custom=True
    )


def written(tmp_path: Path, *descriptions: StreamDescription) -> Path:
    return catalog_file.write(
        tmp_path / "catalogs" / "salesforce.yaml",
        descriptions,
        system="salesforce",
        connection="salesforce_prod",
        include=["Account", "*__c"],
        discovered_at=WHEN,
    )


def test_a_written_catalog_reads_back_as_the_streams_it_describes(tmp_path: Path) -> None:
    catalog = catalog_file.read(written(tmp_path, invoice(), account()))
    assert (catalog.system, catalog.connection, catalog.discovered_at) == (
        "salesforce",
        "salesforce_prod",
        "2026-12-05T17:00:00+00:00",
    )
    assert catalog.include == ("Account", "*__c")
    assert catalog.names == ["Account", "Invoice__c"]
    stream = catalog.streams["Account"]
    assert stream.cursor == ("SystemModstamp", "Id")
    assert stream.deletes
    assert stream.options == {"calculated_fields": ["Score__c"]}
    assert [(f.name, f.type, f.source_type, f.required) for f in stream.schema.fields] == [
        ("Id", S, "id", True),
        ("AnnualRevenue", N, "currency", False),
        ("Name", S, "string", True),
        ("SystemModstamp", TS, "datetime", True),
    ]
    assert catalog.entries["Account"]["not_extracted"] == {"BillingAddress": "compound address field"}
    assert catalog.entries["Invoice__c"]["custom"] is True


def test_the_file_is_stable_one_field_a_line_so_a_new_field_is_a_one_line_diff(tmp_path: Path) -> None:
    first = written(tmp_path, account(), invoice()).read_text()
    again = written(tmp_path, invoice(), account()).read_text()
    assert first == again
    assert "counts: {streams: 2, fields: 5, not_extracted: 1}" in first
    assert "      Id: {type: string, required: true, source_type: id}\n" in first
    grown = written(tmp_path, account(FieldDescription("Rating__c", S, "picklist", custom=True)), invoice())
    added = set(grown.read_text().splitlines()) - set(first.splitlines())
    assert added == {
        "counts: {streams: 2, fields: 6, not_extracted: 1}",
        "      Rating__c: {type: string, source_type: picklist, custom: true}",
    }


def test_diff_reports_field_and_stream_changes(tmp_path: Path) -> None:
    committed = catalog_file.read(written(tmp_path, account(), invoice()))
    contact = StreamDescription("Contact", "Contact", (FieldDescription("Id", S, "id"),), ("Id",))
    live = [
        account(FieldDescription("Rating__c", S, "picklist", custom=True)),
        contact,
    ]
    assert catalog_file.diff(committed, live) == [
        SchemaChange("Account", "Rating__c", ChangeKind.FIELD_ADDED, "", "string (picklist)"),
        SchemaChange("Invoice__c", "", ChangeKind.STREAM_REMOVED),
        SchemaChange("Contact", "", ChangeKind.STREAM_ADDED, "", "1 field"),
    ]
    assert catalog_file.diff(committed, [account()], undescribed=["Invoice__c"]) == []


def test_a_file_yaml_cannot_parse_is_an_error_with_its_line(tmp_path: Path) -> None:
    path = written(tmp_path, account())
    lines = path.read_text().splitlines()
    broken = next(i for i, line in enumerate(lines) if "AnnualRevenue" in line)
    lines[broken] = "      AnnualRevenue: {type: number, source_type: currency"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError) as error:
        catalog_file.read(path)
    assert f"catalog {path.resolve()}, line {broken + 2}, column" in str(error.value)
    assert "not valid YAML" in str(error.value)


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("    source: Account\n    primary_key: [Id]\n", "needs 'fields:'"),
        (
            "    primary_key: [Id]\n    cursr: [A, Id]\n    fields: {Id: string}\n",
            "unknown setting(s) ['cursr']",
        ),
        ("    primary_key: [Id]\n    fields: {Id: strng}\n", "field 'Id'"),
        ("    fields: {Id: string}\n", "is missing 'primary_key'"),
        ("    primary_key: [Key]\n    fields: {Id: string}\n", "key fields ['Key'] are not in the schema"),
        ("    [Id, Name]\n", "expected a mapping"),
    ],
)
def test_a_wrong_entry_names_the_file_line_and_stream(tmp_path: Path, entry: str, problem: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "system: salesforce\nstreams:\n  Good:\n    primary_key: [Id]\n    fields: {Id: string}\n"
        f"  Bad:\n{entry}"
    )
    with pytest.raises(ConfigError) as error:
        catalog_file.read(path)
    assert f"catalog {path.resolve()}, line 6: stream 'Bad': " in str(error.value)
    assert problem in str(error.value)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("streams: {}\n", "needs 'system:'"),
        ("system: salesforce\n", "needs 'streams:'"),
        ("- a\n- b\n", "expected a mapping with 'system' and 'streams', got list"),
        ("", "got nothing"),
        (
            "system: salesforce\ninclude: Account\nstreams: {A: {primary_key: [Id], fields: {Id: string}}}\n",
            "'include' must be a list",
        ),
    ],
)
def test_a_file_that_is_not_a_catalog_is_refused(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"catalog .*c\.yaml") as error:
        catalog_file.read(path)
    assert problem in str(error.value)


def test_a_missing_file_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"catalog .*nowhere.yaml: cannot read it"):
        catalog_file.read(tmp_path / "nowhere.yaml")


NAMES = ["Account", "AccountHistory", "Contact", "Invoice__c", "Payment__c", "Opportunity"]


def test_select_by_names_and_globs_in_the_systems_order() -> None:
    assert catalog_file.select(NAMES, ["*__c", "Account"], where="w") == [
        "Account",
        "Invoice__c",
        "Payment__c",
    ]
    assert catalog_file.select(NAMES, [], ["Account*", "Payment__c"], where="w") == [
        "Contact",
        "Invoice__c",
        "Opportunity",
    ]
    assert catalog_file.select(NAMES, ["Account*"], where="w") == ["Account", "AccountHistory"]


def test_an_unknown_name_names_where_and_the_closest_names() -> None:
    with pytest.raises(ConfigError) as error:
        catalog_file.select(NAMES, ["Acount"], where="catalog /x/salesforce.yaml")
    assert str(error.value) == (
        "catalog /x/salesforce.yaml has no stream 'Acount'; closest: Account, Contact, AccountHistory"
    )
    with pytest.raises(ConfigError, match="has no stream 'account'; closest: Account"):
        catalog_file.select(NAMES, ["account"], where="w")
    with pytest.raises(
        ConfigError, match=r"the pattern 'u_\*' matches no stream; it has 6 stream\(s\): Account"
    ):
        catalog_file.select(NAMES, ["u_*"], where="w")
    with pytest.raises(ConfigError, match="has no stream 'Lead'"):
        catalog_file.select(NAMES, [], ["Lead"], where="w")


def test_matching_passes_over_what_the_system_no_longer_has() -> None:
    assert catalog_file.matching(NAMES, ["Account", "Gone__c", "*__c"], ["Payment*"]) == [
        "Account",
        "Invoice__c",
    ]


def test_a_catalog_selects_from_its_own_streams_and_names_itself(tmp_path: Path) -> None:
    catalog = catalog_file.read(written(tmp_path, account(), invoice()))
    assert catalog.select(["*__c"]) == ["Invoice__c"]
    with pytest.raises(ConfigError, match=f"catalog {catalog.path} has no stream 'Acount'; closest: Account"):
        catalog.select(["Acount"])


def test_a_written_catalog_is_readable_by_others_as_the_umask_allows(tmp_path: Path) -> None:
    mask = os.umask(0o022)
    try:
        path = written(tmp_path, account())
    finally:
        os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
