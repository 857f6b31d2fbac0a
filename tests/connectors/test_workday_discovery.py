"""Workday discovery against the sandbox: the REST resources the connector reads, plus custom reports
(RaaS) declared by name, described from the report's own XSD and read with their values."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from airflow_provider_integrations.connectors.base import Stream, load_catalog
from airflow_provider_integrations.connectors.workday_reports import report_entries
from airflow_provider_integrations.core.errors import ConfigError, PermanentError
from airflow_provider_integrations.core.schema import FieldType
from airflow_provider_integrations.core.watermark import Window
from tests.connectors.conftest import Admin
from tests.connectors.test_workday import connect

REPORT = "ISU_Integrations/Worker_Compensation"
DECLARED = {
    "compensation": {
        "source": "Worker_Compensation",
        "primary_key": ["Employee_ID"],
        "fields": {"Employee_ID": {"type": "string", "required": True}},
        "options": {"report": REPORT},
    }
}


@pytest.fixture(scope="module")
def admin(sandbox: Any) -> Admin:
    return Admin(sandbox)


def test_streams_are_the_resources_and_the_declared_reports(sandbox: Any, admin: Admin) -> None:
    with connect(sandbox, admin, load_catalog("workday.yaml", DECLARED), rate_limit_per_second=20.0) as wd:
        assert wd.list_streams() == ["compensation", "jobs", "organizations", "workers"]
        workers, report = wd.describe_streams(["workers", "compensation"])
    assert workers.cursor == ("lastModified", "id") and workers.field_named("hireDate") is not None
    types = {f.name: (f.type, f.source_type) for f in report.fields}
    assert types == {
        "Employee_ID": (FieldType.STRING, "string"),
        "Worker": (FieldType.STRING, "string"),
        "Hire_Date": (FieldType.DATE, "date"),
        "Business_Title": (FieldType.STRING, "string"),
        "Is_Manager": (FieldType.BOOLEAN, "boolean"),
        "Annual_Base_Pay": (FieldType.NUMBER, "decimal"),
        "Supervisory_Organization": (FieldType.STRING, "reference"),
        "Last_Updated": (FieldType.TIMESTAMP, "dateTime"),
    }
    assert report.cursor is None and report.primary_key == ("Employee_ID",)
    assert report.options == {"report": REPORT} and report.field_named("Employee_ID").required  # type: ignore[union-attr]


def test_a_declared_report_is_read_with_the_values_its_xsd_describes(sandbox: Any, admin: Admin) -> None:
    with connect(sandbox, admin, load_catalog("workday.yaml", DECLARED), rate_limit_per_second=20.0) as wd:
        [described] = wd.describe_streams(["compensation"])
    streams = {"compensation": Stream.from_config("compensation", described.to_config())}
    with connect(sandbox, admin, streams, rate_limit_per_second=20.0) as wd:
        schema = streams["compensation"].schema
        rows = [schema.validate(entry).values for entry in wd.read("compensation")]
        with pytest.raises(ConfigError, match="read whole"):
            list(wd.read("compensation", Window(datetime(2025, 1, 1, tzinfo=UTC), datetime.now(UTC))))
    assert len(rows) == admin.size("workday", "workers") == len({r["Employee_ID"] for r in rows})
    assert all(isinstance(r["Annual_Base_Pay"], float) and r["Annual_Base_Pay"] >= 40_000 for r in rows)
    assert {r["Is_Manager"] for r in rows} == {True, False}
    assert all(isinstance(r["Hire_Date"], date) and isinstance(r["Last_Updated"], datetime) for r in rows)
    assert all(r["Supervisory_Organization"] for r in rows)


def test_an_unknown_report_and_a_bad_report_option_are_refused(sandbox: Any, admin: Admin) -> None:
    unknown = {"missing": {**DECLARED["compensation"], "options": {"report": "ISU_Integrations/Nope"}}}
    with connect(sandbox, admin, load_catalog("workday.yaml", unknown), rate_limit_per_second=20.0) as wd:
        with pytest.raises(PermanentError):
            list(wd.describe_streams(["missing"]))
        with pytest.raises(ConfigError, match="no stream or resource"):
            list(wd.describe_streams(["vacations"]))
    bad = {"bad": {**DECLARED["compensation"], "options": {"report": "../Worker_Compensation"}}}
    with (
        connect(sandbox, admin, load_catalog("workday.yaml", bad), rate_limit_per_second=20.0) as wd,
        pytest.raises(ConfigError, match="option report"),
    ):
        list(wd.read("bad"))


def test_report_entries_stream_across_chunks_and_a_cut_body_is_an_error() -> None:
    body = '{"Report_Entry": [{"A": "1"}, {"A": "2", "B": "x]"}, {"A": "3"}]}'
    chunks = [body[i : i + 7] for i in range(0, len(body), 7)]
    assert list(report_entries(chunks, "o/r")) == [{"A": "1"}, {"A": "2", "B": "x]"}, {"A": "3"}]
    assert list(report_entries(['{"Report_Entry": []}'], "o/r")) == []
    with pytest.raises(PermanentError, match="ended before"):
        list(report_entries([body[: len(body) // 2]], "o/r"))
