"""Workday records: workers, organizations and jobs rendered from dataset rows, effective-dated.

Each record has an effective start (a worker's hire date, an organization's availability date, a job's
start date) that rises with the index, so `asOfEffectiveDate` cuts a collection at an index. Some records
also carry a dated change (a worker's promotion, a job moving organization): as of an earlier date they
show the values from before it. Changes made through the admin API take effect on their own date.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from integrations_sandbox.emulator.data import Row, unit
from integrations_sandbox.emulator.systems._common_wd_sn import ordered_id

CHANGES_UNTIL = date(2025, 12, 31)
FIRST = ("Aiko", "Bruno", "Carmen", "Dmitri", "Esther", "Felix", "Gita", "Hamza", "Ilse", "Joao", "Kira",
         "Luca", "Mei", "Nadia", "Omar", "Pia", "Rafael", "Sana", "Tomas", "Uma")  # fmt: skip
LAST = ("Abbott", "Bauer", "Castro", "Dubois", "Eze", "Frost", "Garcia", "Holm", "Iyer", "Jansen", "Kato",
        "Lind", "Meyer", "Nguyen", "Ortiz", "Petrov", "Quist", "Reyes", "Sato", "Varga")  # fmt: skip
TITLES = ("Analyst", "Senior Analyst", "Engineer", "Senior Engineer", "Manager", "Director", "Specialist",
          "Coordinator", "Consultant", "Administrator")  # fmt: skip
UNITS = ("Engineering", "Finance", "Sales", "Marketing", "People", "Operations", "Legal", "Support")
CITIES = ("Berlin", "Dublin", "Austin", "Toronto", "Singapore", "Sydney", "Pleasanton", "London")


@dataclass(frozen=True)
class Collection:
    """One REST collection: its dataset, path, and how its effective start dates are spread."""

    stream: str
    path: str
    default_size: int
    first_start: date
    last_start: date
    render: Callable[[Context, Row, date], dict[str, Any]]

    def span_days(self) -> int:
        return (self.last_start - self.first_start).days + 1

    def start(self, row: Row, base_size: int) -> date:
        """The effective start: spread over the span by index; an inserted record starts when created."""
        if row.index >= base_size:
            return row.created.date()
        return self.first_start + timedelta(days=row.index * self.span_days() // max(base_size, 1))

    def started_by(self, when: date, base_size: int) -> int:
        """How many base records have started on or before `when` (a prefix of the index range)."""
        days = (when - self.first_start).days + 1
        if days <= 0:
            return 0
        return min(base_size, -(-days * base_size // self.span_days()))


@dataclass(frozen=True)
class Context:
    """What rendering needs beyond the row: seed, URLs, related collection sizes, poison test."""

    seed: int
    instance: str
    tenant: str
    sizes: dict[str, int]
    is_poison: Callable[[str, int], bool]
    title_changes: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Business title changes written through the API, by worker id: businessTitle and effective."""

    def unit(self, stream: str, index: int, *salt: object) -> float:
        return unit(self.seed, stream, index, *salt)

    def one(self, options: Sequence[str], stream: str, index: int, *salt: object) -> str:
        return options[int(self.unit(stream, index, *salt) * len(options))]

    def wid(self, stream: str, index: int) -> str:
        return ordered_id(self.seed, stream, index)

    def href(self, stream: str, index: int) -> str:
        path = COLLECTIONS[stream].path.format(tenant=self.tenant)
        return f"{self.instance}{path}/{self.wid(stream, index)}"

    def ref(self, stream: str, index: int, descriptor: str) -> dict[str, str]:
        return {"id": self.wid(stream, index), "descriptor": descriptor, "href": self.href(stream, index)}

    def start(self, stream: str, row: Row) -> date:
        return COLLECTIONS[stream].start(row, self.sizes[stream])

    def change_date(self, stream: str, row: Row, rate: float) -> date | None:
        """The date of the record's one dated change, if it has one."""
        start = self.start(stream, row)
        room = (CHANGES_UNTIL - start).days
        if room < 30 or self.unit(stream, row.index, "changes") >= rate:
            return None
        return start + timedelta(days=30 + int(self.unit(stream, row.index, "change-day") * (room - 30)))


def org_name(ctx: Context, index: int) -> str:
    return f"{ctx.one(UNITS, 'organizations', index, 'unit')} {index + 1:04d}"


def _version_as_of(row: Row, as_of: date) -> int:
    return row.version if as_of >= row.ts.date() else 0


def _timestamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _worker(ctx: Context, row: Row, as_of: date) -> dict[str, Any]:
    i, version = row.index, _version_as_of(row, as_of)
    first, last = ctx.one(FIRST, "workers", i, "first"), ctx.one(LAST, "workers", i, "last")
    hired = ctx.start("workers", row)
    changed = ctx.change_date("workers", row, 0.35)
    phase = "after" if changed is not None and as_of >= changed else "before"
    org = int(ctx.unit("workers", i, "org", phase) * max(ctx.sizes["organizations"], 1))
    effective = max(d for d in (hired, changed if phase == "after" else None, _dated(row, version)) if d)
    record = {
        "id": ctx.wid("workers", i),
        "descriptor": f"{first} {last}",
        "href": ctx.href("workers", i),
        "workerId": str(100001 + i),
        "primaryWorkEmail": f"{first}.{last}{i}@example.com".lower(),
        "hireDate": hired.isoformat(),
        "businessTitle": ctx.one(TITLES, "workers", i, "title", phase, version),
        "isManager": ctx.unit("workers", i, "manager") < 0.1,
        "supervisoryOrganization": ctx.ref("organizations", org, org_name(ctx, org)),
        "effectiveDate": effective.isoformat(),
        "lastModified": _timestamp(row.ts),
    }
    change = ctx.title_changes.get(ctx.wid("workers", i))
    if change is not None and as_of.isoformat() >= str(change["effective"]):
        record["businessTitle"] = change["businessTitle"]
        record["effectiveDate"] = max(effective.isoformat(), str(change["effective"]))
    if ctx.is_poison("workers", i):
        record["hireDate"] = "not-a-date"
    return record


def _organization(ctx: Context, row: Row, as_of: date) -> dict[str, Any]:
    i = row.index
    record: dict[str, Any] = {
        "id": ctx.wid("organizations", i),
        "descriptor": org_name(ctx, i),
        "href": ctx.href("organizations", i),
        "code": f"SUP-{i + 1:05d}",
        "organizationType": {"descriptor": "Supervisory"},
        "availabilityDate": ctx.start("organizations", row).isoformat(),
        "isActive": ctx.unit("organizations", i, "inactive", _version_as_of(row, as_of)) >= 0.05,
        "superiorOrganization": None if i == 0 else ctx.ref("organizations", i // 4, org_name(ctx, i // 4)),
        "lastModified": _timestamp(row.ts),
    }
    if ctx.is_poison("organizations", i):
        record["availabilityDate"] = "not-a-date"
    return record


def _job(ctx: Context, row: Row, as_of: date) -> dict[str, Any]:
    i, version = row.index, _version_as_of(row, as_of)
    moved = ctx.change_date("jobs", row, 0.25)
    phase = "after" if moved is not None and as_of >= moved else "before"
    org = int(ctx.unit("jobs", i, "org", phase) * max(ctx.sizes["organizations"], 1))
    profile = ctx.one(TITLES, "jobs", i, "profile")
    record = {
        "id": ctx.wid("jobs", i),
        "descriptor": f"{profile} - {org_name(ctx, org)}",
        "href": ctx.href("jobs", i),
        "jobProfile": {"descriptor": profile},
        "jobType": {"descriptor": "Regular" if ctx.unit("jobs", i, "type") < 0.85 else "Temporary"},
        "timeType": {
            "descriptor": "Full time" if ctx.unit("jobs", i, "time", version) < 0.8 else "Part time"
        },
        "location": {"descriptor": ctx.one(CITIES, "jobs", i, "city", version)},
        "supervisoryOrganization": ctx.ref("organizations", org, org_name(ctx, org)),
        "startDate": ctx.start("jobs", row).isoformat(),
        "lastModified": _timestamp(row.ts),
    }
    if ctx.is_poison("jobs", i):
        record["startDate"] = "not-a-date"
    return record


def _dated(row: Row, version: int) -> date | None:
    return row.ts.date() if version > 0 else None


COLLECTIONS: dict[str, Collection] = {
    "workers": Collection("workers", "/ccx/api/v1/{tenant}/workers", 2_000,
                          date(2010, 1, 1), date(2024, 12, 31), _worker),
    "organizations": Collection("organizations", "/ccx/api/v1/{tenant}/organizations", 100,
                                date(2005, 1, 1), date(2023, 12, 31), _organization),
    "jobs": Collection("jobs", "/ccx/api/staffing/v6/{tenant}/jobs", 500,
                       date(2012, 1, 1), date(2024, 12, 31), _job),
}  # fmt: skip
