"""The Workday stand-in against Workday's documented shapes (fixtures/workday, sources in NOTICE.md): REST
collections, a custom report's JSON (RaaS) and its XSD, compared key by key and type by type."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_integrations.connectors.base import load_catalog
from airflow_provider_integrations.connectors.workday import WorkdayConnector
from tests.conformance.test_netsuite_conformance import shape_differences
from tests.connectors.conftest import Admin
from tests.connectors.test_workday import connect

FIXTURES = Path(__file__).parent / "fixtures" / "workday"
XSD = "{http://www.w3.org/2001/XMLSchema}"
REPORT = "/ccx/service/customreport2/sandbox/ISU_Integrations/Worker_Compensation"


@pytest.fixture(scope="module")
def wd(sandbox: Any) -> Iterator[WorkdayConnector]:
    with connect(sandbox, Admin(sandbox), load_catalog("workday.yaml"), rate_limit_per_second=20.0) as c:
        yield c


@pytest.mark.parametrize("path", ["/ccx/api/v1/sandbox/workers", "/ccx/api/v1/sandbox/organizations",
                                  "/ccx/api/staffing/v6/sandbox/jobs"])  # fmt: skip
def test_rest_collections_have_the_documented_shape(wd: WorkdayConnector, path: str) -> None:
    served = wd.client.get_json(path, params={"limit": 3, "offset": 0})
    example = json.loads((FIXTURES / "rest_collection.json").read_text())
    assert shape_differences(example, served) == []
    assert len(served["data"]) == 3 and served["total"] >= 3
    assert all(len(record["id"]) == 32 and record["href"].endswith(record["id"]) for record in served["data"])


def test_a_custom_report_answers_the_documented_json(wd: WorkdayConnector) -> None:
    served = wd.client.get_json(REPORT, params={"format": "json"})
    example = json.loads((FIXTURES / "raas_report.json").read_text())
    assert set(served) == set(example) == {"Report_Entry"}
    assert served["Report_Entry"] and all(
        isinstance(value, str) for entry in served["Report_Entry"] for value in entry.values()
    )


def structure(xsd: str) -> tuple[str | None, list[tuple[str | None, str | None]], str | None]:
    """The root element, the Report_Data sequence and the namespace of a RaaS XSD."""
    root = ET.fromstring(xsd)
    data = next(t for t in root.iter(f"{XSD}complexType") if t.get("name") == "Report_DataType")
    top = root.find(f"{XSD}element")
    sequence = [(e.get("name"), e.get("type")) for e in data.iter(f"{XSD}element")]
    return (top.get("name") if top is not None else None), sequence, root.get("targetNamespace")


def test_a_custom_report_xsd_has_the_documented_structure(wd: WorkdayConnector) -> None:
    served = wd.client.request("GET", REPORT, params={"xsd": ""})
    assert served.headers["content-type"].startswith("application/xml")
    top, sequence, namespace = structure(served.text)
    example_top, example_sequence, example_namespace = structure((FIXTURES / "raas_report.xsd").read_text())
    assert (
        (top, sequence)
        == (example_top, example_sequence)
        == ("Report_Data", [("Report_Entry", "wd:Report_EntryType")])
    )
    assert namespace == "urn:com.workday.report/Worker_Compensation"
    assert example_namespace is not None and example_namespace.startswith("urn:com.workday.report/")
