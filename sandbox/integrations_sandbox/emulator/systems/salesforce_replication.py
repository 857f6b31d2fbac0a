"""The replication resources: `GET .../sobjects/{type}/updated?start=&end=` (ids changed in the range) and
`.../deleted?start=&end=` (ids deleted in the range, with their deletion times), in the REST API's shapes.

As on Salesforce, start and end are cut to whole minutes and `latestDateCovered` is the range's end (not
capped at now, unlike Salesforce: the sandbox's mutations may stamp records a little ahead of the clock);
more than 600,000 ids is EXCEEDED_ID_LIMIT. The 30-day window Salesforce keeps is not enforced: the
sandbox's generated history is older than that.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from integrations_sandbox.emulator.data import BASE_TIME
from integrations_sandbox.emulator.systems.salesforce_rest import refused, unknown_object
from integrations_sandbox.emulator.systems.salesforce_schema import find_object, sf_datetime
from integrations_sandbox.emulator.systems.salesforce_soql import BoolOp, Compare, Query, parse_datetime
from integrations_sandbox.emulator.systems.salesforce_wire import errors, json_response

if TYPE_CHECKING:
    from integrations_sandbox.emulator.systems.salesforce import Salesforce

MAX_IDS = 600_000
_STAMPS = ("SystemModstamp", "LastModifiedDate", "CreatedDate")


async def updated(sf: Salesforce, request: Request, version: str, sobject: str) -> Response:
    return _changes(sf, request, sobject, deleted=False)


async def deleted(sf: Salesforce, request: Request, version: str, sobject: str) -> Response:
    return _changes(sf, request, sobject, deleted=True)


def _minute(when: datetime) -> datetime:
    return when.replace(second=0, microsecond=0)


def _changes(sf: Salesforce, request: Request, sobject: str, deleted: bool) -> Response:
    obj = find_object(sobject)
    if obj is None:
        return unknown_object(sobject)
    refusal = refused(obj)
    if refusal is not None:
        return refusal
    stamp = next((name for name in _STAMPS if obj.field(name) is not None), None)
    if not obj.flag("replicateable") or stamp is None:
        message = f"entity type {obj.name} does not support replication"
        return errors(400, "INVALID_TYPE_FOR_OPERATION", message)
    bounds = []
    for name in ("start", "end"):
        raw = request.query_params.get(name)
        if not raw:
            return errors(400, "MISSING_ARGUMENT", f"{name} is required, as an ISO 8601 dateTime")
        try:
            bounds.append(_minute(parse_datetime(raw)))
        except ValueError:
            return errors(400, "INVALID_REPLICATION_DATE", f"{name} is not an ISO 8601 dateTime: {raw}")
    start, end = bounds
    if end <= start:
        return errors(400, "INVALID_REPLICATION_DATE", "end must be at least one minute after start")
    where = BoolOp("AND", (Compare(stamp, ">=", start), Compare(stamp, "<", end)))
    query = Query(f"{obj.name} {stamp} range", obj, ("Id",), where, (), None, 0)
    scan = sf.scan(query, include_deleted=deleted)
    get_id = obj.getters["Id"]
    renderer = sf.renderer(obj)
    found: list[dict[str, Any]] = []
    for row in scan.rows():
        if row.deleted != deleted:
            continue
        if len(found) == MAX_IDS:
            return errors(400, "EXCEEDED_ID_LIMIT", f"more than {MAX_IDS} ids in the range: ask for less")
        record_id = get_id(renderer.values(row))
        found.append({"id": record_id, "deletedDate": sf_datetime(row.ts)} if deleted else {"id": record_id})
    if deleted:
        return json_response(
            {
                "deletedRecords": found,
                "earliestDateAvailable": sf_datetime(_minute(BASE_TIME)),
                "latestDateCovered": sf_datetime(end),
            }
        )
    return json_response({"ids": [f["id"] for f in found], "latestDateCovered": sf_datetime(end)})
