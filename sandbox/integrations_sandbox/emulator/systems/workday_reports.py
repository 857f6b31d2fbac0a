"""Workday custom reports served as web services (RaaS), rendered from the workers dataset.

    GET /ccx/service/customreport2/{tenant}/{owner}/{report}?format=json   {"Report_Entry": [{...}, ...]}
    GET /ccx/service/customreport2/{tenant}/{owner}/{report}?xsd           the report's XML Schema

A report answers every row in one body (RaaS has no paging). In JSON every value is text: dates
`YYYY-MM-DD`, booleans `1`/`0`, decimals as digits, a single reference as its descriptor; a field left
empty for a row is left out of its entry. The XSD declares `Report_Data` holding `Report_Entry` elements,
whose sequence names each field with its XML Schema type (`xsd:string`, `xsd:date`, `xsd:dateTime`,
`xsd:decimal`, `xsd:boolean`) or a `wd:` reference type.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any
from xml.sax.saxutils import quoteattr

from integrations_sandbox.emulator.data import Row
from integrations_sandbox.emulator.systems.workday_records import COLLECTIONS, Context


@dataclass(frozen=True)
class ReportField:
    name: str
    xsd_type: str
    value: Callable[[dict[str, Any], Row], str | None]


@dataclass(frozen=True)
class Report:
    """A custom report on workers: its owner, name and fields."""

    owner: str
    name: str
    fields: tuple[ReportField, ...]

    def entries(self, ctx: Context, rows: Iterator[Row], as_of: date) -> Iterator[dict[str, str]]:
        for row in rows:
            worker = COLLECTIONS["workers"].render(ctx, row, as_of)
            entry = {f.name: v for f in self.fields if (v := f.value(worker, row)) is not None}
            yield entry

    def xsd(self) -> str:
        ns = f"urn:com.workday.report/{self.name}"
        elements = "\n".join(
            f'      <xsd:element name={quoteattr(f.name)} type="{f.xsd_type}" minOccurs="0"/>'
            for f in self.fields
        )
        return f"""<?xml version="1.0" encoding="UTF-8"?>
<xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:wd={quoteattr(ns)}
    targetNamespace={quoteattr(ns)} elementFormDefault="qualified" attributeFormDefault="qualified">
  <xsd:element name="Report_Data" type="wd:Report_DataType"/>
  <xsd:complexType name="Report_DataType">
    <xsd:sequence>
      <xsd:element name="Report_Entry" type="wd:Report_EntryType" minOccurs="0" maxOccurs="unbounded"/>
    </xsd:sequence>
  </xsd:complexType>
  <xsd:complexType name="Report_EntryType">
    <xsd:sequence>
{elements}
    </xsd:sequence>
  </xsd:complexType>
  <xsd:complexType name="Supervisory_OrganizationType">
    <xsd:sequence>
      <xsd:element name="ID" type="xsd:string" minOccurs="0" maxOccurs="unbounded"/>
    </xsd:sequence>
    <xsd:attribute ref="wd:Descriptor"/>
  </xsd:complexType>
  <xsd:attribute name="Descriptor" type="xsd:string"/>
</xsd:schema>
"""


def _salary(worker: dict[str, Any], row: Row) -> str:
    return f"{40_000 + (row.index * 7919) % 160_000}.00"


WORKER_COMPENSATION = Report(
    "ISU_Integrations",
    "Worker_Compensation",
    (
        ReportField("Employee_ID", "xsd:string", lambda w, r: str(w["workerId"])),
        ReportField("Worker", "xsd:string", lambda w, r: str(w["descriptor"])),
        ReportField("Hire_Date", "xsd:date", lambda w, r: str(w["hireDate"])),
        ReportField("Business_Title", "xsd:string", lambda w, r: str(w["businessTitle"])),
        ReportField("Is_Manager", "xsd:boolean", lambda w, r: "1" if w["isManager"] else "0"),
        ReportField("Annual_Base_Pay", "xsd:decimal", _salary),
        ReportField("Supervisory_Organization", "wd:Supervisory_OrganizationType",
                    lambda w, r: str(w["supervisoryOrganization"]["descriptor"])),
        ReportField("Last_Updated", "xsd:dateTime", lambda w, r: str(w["lastModified"])),
    ),
)  # fmt: skip
REPORTS = {(r.owner, r.name): r for r in (WORKER_COMPENSATION,)}
