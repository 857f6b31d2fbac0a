"""Ingest DAG YAML over a discovered catalog file: streams by name or glob, read from files only."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_integrations.core import catalog_file
from airflow_provider_integrations.core.catalog import FieldDescription, StreamDescription
from airflow_provider_integrations.core.errors import ConfigError
from airflow_provider_integrations.core.schema import FieldType
from airflow_provider_integrations.dag_config import ingest_dag

HEAD = """dag_id: ingest_salesforce_catalog
system: salesforce
connections: {source: salesforce_prod, s3: aws_default, snowflake: snowflake_default}
bucket: raw
defaults: {schema_policy: fail}
"""


def described(name: str) -> StreamDescription:
    return StreamDescription(
        name,
        name,
        (
            FieldDescription("Id", FieldType.STRING, "id", required=True),
            FieldDescription("Name", FieldType.STRING),
        ),
        ("Id",),
        custom=name.endswith("__c"),
    )


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    names = ["Account", "Contact", "Invoice__c", "Payment__c", "Opportunity"]
    return catalog_file.write(
        tmp_path / "catalogs" / "salesforce_prod.yaml",
        [described(n) for n in names],
        system="salesforce",
        connection="salesforce_prod",
    )


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("parsing a DAG opened a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)


def dag_file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "ingest" / "salesforce.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(HEAD + body)
    return path


def extracts(dag: Any) -> dict[str, Any]:
    return {t.task_id.split(".")[0]: t for t in dag.tasks if t.task_id.endswith(".extract")}


def loads(dag: Any) -> dict[str, str]:
    return {t.task_id.split(".")[0]: t.target_table for t in dag.tasks if t.task_id.endswith(".load")}


def test_streams_by_name_and_glob_from_a_catalog_relative_to_the_dag_file(
    tmp_path: Path, catalog: Path
) -> None:
    path = dag_file(
        tmp_path,
        "catalog: ../catalogs/salesforce_prod.yaml\n"
        "streams:\n"
        '  - {stream: "*__c", table: "SF_{stream}", schema_policy: add}\n'
        "  - {stream: Invoice__c, table: SF_INVOICES}\n"
        "  - {stream: Account, table: SF_ACCOUNT}\n",
    )
    dag = ingest_dag(path)
    assert loads(dag) == {"invoice__c": "SF_INVOICES", "account": "SF_ACCOUNT", "payment__c": "SF_PAYMENT__C"}
    tasks = extracts(dag)
    assert {t.stream for t in tasks.values()} == {"Invoice__c", "Account", "Payment__c"}
    assert {t.catalog for t in tasks.values()} == {str(catalog.resolve())}
    assert tasks["payment__c"].schema_policy == "add", "the glob's own settings"
    assert tasks["invoice__c"].schema_policy == "fail", "the named line's (the defaults)"


def test_an_absolute_catalog_path_and_a_glob_over_everything(tmp_path: Path, catalog: Path) -> None:
    path = dag_file(
        tmp_path, f'catalog: {catalog.resolve()}\nstreams:\n  - {{stream: "*", table: "SF_{{stream}}"}}\n'
    )
    assert sorted(loads(ingest_dag(path)).values()) == [
        "SF_ACCOUNT",
        "SF_CONTACT",
        "SF_INVOICE__C",
        "SF_OPPORTUNITY",
        "SF_PAYMENT__C",
    ]


def test_a_stream_the_catalog_lacks_names_the_catalog_and_the_closest_names(
    tmp_path: Path, catalog: Path
) -> None:
    path = dag_file(
        tmp_path,
        "catalog: ../catalogs/salesforce_prod.yaml\nstreams:\n  - {stream: Acount, table: SF_ACCOUNT}\n",
    )
    with pytest.raises(ConfigError) as error:
        ingest_dag(path)
    assert str(error.value) == (
        f"{path}: catalog {catalog.resolve()} has no stream 'Acount'; closest: Account, Contact"
    )


def test_a_glob_matching_nothing_is_an_error(tmp_path: Path, catalog: Path) -> None:
    path = dag_file(
        tmp_path,
        'catalog: ../catalogs/salesforce_prod.yaml\nstreams:\n  - {stream: "u_*", table: "T_{stream}"}\n',
    )
    with pytest.raises(ConfigError, match=r"the pattern 'u_\*' matches no stream"):
        ingest_dag(path)


def test_a_corrupt_catalog_is_an_error_with_its_line(tmp_path: Path, catalog: Path) -> None:
    lines = catalog.read_text().splitlines()
    broken = next(i for i, line in enumerate(lines) if line.strip() == "Contact:") + 2
    lines[broken] = lines[broken].replace("]", "")
    catalog.write_text("\n".join(lines) + "\n")
    path = dag_file(
        tmp_path, "catalog: ../catalogs/salesforce_prod.yaml\nstreams:\n  - {stream: Account, table: A}\n"
    )
    with pytest.raises(ConfigError) as error:
        ingest_dag(path)
    assert str(error.value).startswith(f"{path}: catalog {catalog.resolve()}, line ")
    assert "not valid YAML" in str(error.value)


@pytest.mark.parametrize(
    ("streams", "problem"),
    [
        ('  - {stream: "*__c", table: SF_CUSTOM}\n', "a glob's table must hold {stream}"),
        (
            "  - {stream: Account, table: A}\n  - {stream: Account, table: B}\n",
            "'Account' is listed more than once",
        ),
        (
            "  - {stream: Account, table: T}\n  - {stream: Contact, table: T}\n",
            "'Account' and 'Contact' both load into T",
        ),
        ('  - {stream: "*", table: "bad table {stream}"}\n', "table"),
    ],
)
def test_bad_stream_lines_are_refused(tmp_path: Path, catalog: Path, streams: str, problem: str) -> None:
    path = dag_file(tmp_path, f"catalog: ../catalogs/salesforce_prod.yaml\nstreams:\n{streams}")
    with pytest.raises(ConfigError, match=str(path)) as error:
        ingest_dag(path)
    assert problem in str(error.value)


def test_a_glob_needs_a_catalog(tmp_path: Path) -> None:
    path = dag_file(tmp_path, 'streams:\n  - {stream: "*__c", table: "SF_{stream}"}\n')
    with pytest.raises(ConfigError, match="globs select from a catalog file"):
        ingest_dag(path)


def test_the_catalog_must_describe_the_dags_system(tmp_path: Path, catalog: Path) -> None:
    path = dag_file(
        tmp_path, "catalog: ../catalogs/salesforce_prod.yaml\nstreams:\n  - {stream: Account, table: A}\n"
    )
    path.write_text(path.read_text().replace("system: salesforce", "system: stripe"))
    with pytest.raises(ConfigError, match="describes salesforce, not stripe"):
        ingest_dag(path)


def test_a_missing_catalog_file_is_named(tmp_path: Path) -> None:
    path = dag_file(
        tmp_path, "catalog: ../catalogs/nowhere.yaml\nstreams:\n  - {stream: Account, table: A}\n"
    )
    with pytest.raises(ConfigError, match=r"catalog .*nowhere\.yaml: cannot read it"):
        ingest_dag(path)
