"""Salesforce REST API handlers: query/queryAll with server-side cursors, describe, sObject rows and
sObject Collections.

A query cursor is a few numbers: the query, the total, and for each page served the key of its last row,
so the next page resumes by bisection instead of skipping. Cursors expire after 15 minutes idle (and the
fault profile's `rate_expired_cursor` expires them early) with INVALID_QUERY_LOCATOR.
"""

from __future__ import annotations

import functools
import itertools
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from integrations_sandbox.emulator.data import Row
from integrations_sandbox.emulator.systems.salesforce_describe import child_relationship
from integrations_sandbox.emulator.systems.salesforce_scan import Key, Scan
from integrations_sandbox.emulator.systems.salesforce_schema import (
    OBJECTS,
    RowValues,
    SObject,
    find_object,
    id_number,
    json_value,
    make_id,
    reference_target,
    relationship_field,
    sf_datetime,
)
from integrations_sandbox.emulator.systems.salesforce_soql import (
    BoolOp,
    Compare,
    Query,
    SoqlError,
    parse,
)
from integrations_sandbox.emulator.systems.salesforce_wire import (
    BadBody,
    bad_body,
    errors,
    json_object,
    json_response,
    not_found,
)
from integrations_sandbox.emulator.systems.salesforce_writes import WriteResult

if TYPE_CHECKING:
    from integrations_sandbox.emulator.systems.salesforce import Salesforce

BATCH = 2000
_VALUES_PER_PAGE = 60_000
MAX_CURSORS = 1000
CURSOR_IDLE_SECONDS = 15 * 60
MAX_COLLECTION = 200
_RESUME_POINTS = 16
_NO_KEY: Any = object()


@dataclass
class Cursor:
    """Server-side state of one query's pages: small, whatever the result size."""

    query: Query
    include_deleted: bool
    total: int
    batch: int
    resume: dict[int, Key | None] = field(default_factory=dict)  # offset -> key of the row before it
    used_at: float = field(default_factory=time.monotonic)


class Cursors:
    """Open query cursors by locator, oldest dropped first."""

    def __init__(self) -> None:
        self._open: OrderedDict[str, Cursor] = OrderedDict()
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()

    def open(self, cursor: Cursor) -> str:
        locator = make_id("0r8", next(self._numbers))
        with self._lock:
            self._open[locator] = cursor
            while len(self._open) > MAX_CURSORS:
                self._open.popitem(last=False)
        return locator

    def get(self, locator: str) -> Cursor | None:
        with self._lock:
            cursor = self._open.get(locator)
            if cursor is None:
                return None
            if time.monotonic() - cursor.used_at > CURSOR_IDLE_SECONDS:
                del self._open[locator]
                return None
            cursor.used_at = time.monotonic()
            self._open.move_to_end(locator)
            return cursor

    def drop(self, locator: str) -> None:
        with self._lock:
            self._open.pop(locator, None)


def invalid_locator(message: str = "invalid query locator") -> Response:
    return errors(400, "INVALID_QUERY_LOCATOR", message)


async def query(sf: Salesforce, request: Request, version: str, endpoint: str) -> Response:
    include_deleted = endpoint.lower() == "queryall"
    try:
        parsed = parse(request.query_params.get("q", ""))
        refusal = refused(parsed.obj)
        if refusal is not None:
            return refusal
        if parsed.count is not None:
            return _count_response(sf, parsed, include_deleted)
        scan = sf.scan(parsed, include_deleted)
        matched = max(0, scan.count() - parsed.offset)
        total = matched if parsed.limit is None else min(matched, parsed.limit)
        cursor = Cursor(parsed, include_deleted, total, _batch_size(request, parsed), {0: None})
        return _page(sf, scan, cursor, None, 0, version, endpoint)
    except SoqlError as error:
        return errors(400, error.code, error.message)


async def query_more(
    sf: Salesforce, request: Request, version: str, endpoint: str, locator: str, offset: str
) -> Response:
    cursor = sf.cursors.get(locator)
    if cursor is None:
        return invalid_locator()
    if request.scope.get("state", {}).get("fault") == "expired_cursor":
        sf.cursors.drop(locator)
        return invalid_locator()
    position = int(offset)
    if position >= cursor.total:
        return invalid_locator("invalid query locator: the position exceeds the result size")
    try:
        scan = sf.scan(cursor.query, cursor.include_deleted)
        return _page(sf, scan, cursor, locator, position, version, endpoint)
    except SoqlError as error:
        return errors(400, error.code, error.message)


def _batch_size(request: Request, parsed: Query) -> int:
    """Records a page: `Sforce-Query-Options: batchSize=` (200..2000, default 2000) is a request that
    Salesforce may lower. It does for two or more long text area fields (documented: 200), and this
    emulator also shrinks pages of wide selections (60,000 values a page at most), as real pages of wide
    objects come smaller; a client must follow nextRecordsUrl whatever the size."""
    match = re.search(r"batchSize\s*=\s*(\d+)", request.headers.get("sforce-query-options", ""))
    wanted = min(BATCH, max(200, int(match.group(1)))) if match else BATCH
    specs = [parsed.obj.field(name) for name in parsed.fields]
    long_text = sum(1 for s in specs if s is not None and s.type == "textarea" and s.length > 255)
    if long_text >= 2:
        return 200
    return max(200, min(wanted, _VALUES_PER_PAGE // max(1, len(specs))))


def _count_response(sf: Salesforce, parsed: Query, include_deleted: bool) -> Response:
    where = parsed.where
    if parsed.count:
        not_null = Compare(parsed.count, "!=", None)
        where = not_null if where is None else BoolOp("AND", (where, not_null))
    scan = sf.scan(Query(parsed.text, parsed.obj, (), where, (), None, 0), include_deleted)
    count = max(0, scan.count() - parsed.offset)
    count = count if parsed.limit is None else min(count, parsed.limit)
    if parsed.count == "":
        return json_response({"totalSize": count, "done": True, "records": []})
    record = {"attributes": {"type": "AggregateResult"}, parsed.count_alias: count}
    return json_response({"totalSize": 1, "done": True, "records": [record]})


def _page(
    sf: Salesforce, scan: Scan, cursor: Cursor, locator: str | None, offset: int, version: str, endpoint: str
) -> Response:
    size = max(0, min(cursor.batch, cursor.total - offset))
    rows = _rows_at(scan, cursor, offset, size)
    done = offset + len(rows) >= cursor.total or len(rows) < size
    body: dict[str, Any] = {"totalSize": cursor.total, "done": done}
    if not done:
        if rows and scan.kind != "sort":
            cursor.resume[offset + len(rows)] = scan.key(rows[-1])
            while len(cursor.resume) > _RESUME_POINTS:
                del cursor.resume[next(iter(cursor.resume))]
        locator = locator or sf.cursors.open(cursor)
        body["nextRecordsUrl"] = f"/services/data/v{version}/{endpoint}/{locator}-{offset + len(rows)}"
    body["records"] = render_records(sf, cursor.query, rows, version)
    sf.faults.served(sf.name, cursor.query.obj.name, len(rows))
    return json_response(body)


def _rows_at(scan: Scan, cursor: Cursor, offset: int, size: int) -> list[Row]:
    skip = cursor.query.offset
    if scan.kind == "sort":
        needed = skip + cursor.total if cursor.query.limit is not None else None
        return scan.sorted_rows(needed)[skip + offset : skip + offset + size]
    after = cursor.resume.get(offset, _NO_KEY)
    if after is _NO_KEY:  # a jump or a replay of an old page: walk from the start
        rows = scan.rows()
        skip += offset
    elif after is None:
        rows = scan.rows()
    else:
        rows = scan.rows(after)
        skip = 0
    return list(itertools.islice(rows, skip, skip + size))


def render_records(sf: Salesforce, parsed: Query, rows: list[Row], version: str) -> list[dict[str, Any]]:
    """Rows as REST records: attributes first, then the selected fields in SELECT order."""
    obj = parsed.obj
    renderer = sf.renderer(obj)
    url = f"/services/data/v{version}/sobjects/{obj.name}/"
    id_of = obj.getters["Id"]
    stamp = functools.lru_cache(maxsize=4096)(sf_datetime)  # rows share timestamps in groups
    columns = [(name, obj.getter(name), _formatter(obj, name, stamp)) for name in parsed.fields]
    records = []
    for row in rows:
        values = RowValues(renderer, row)
        record_id = id_of(values)
        record: dict[str, Any] = {"attributes": {"type": obj.name, "url": url + record_id}}
        for name, getter, formatter in columns:
            if name == "Id":
                record[name] = record_id
            elif "." in name:
                _put_related(record, obj, values, name.split("."), formatter, version)
            elif formatter is None:
                record[name] = getter(values)
            else:
                value = getter(values)
                record[name] = None if value is None else formatter(value)
        records.append(record)
    return records


def _put_related(
    record: dict[str, Any],
    obj: SObject,
    values: RowValues,
    path: list[str],
    formatter: Callable[[Any], Any] | None,
    version: str,
) -> None:
    """A relationship path's value nested as the REST API nests it: `"Owner": {"attributes": ...,
    "Name": ...}`, or `"Owner": null` when the lookup is empty."""
    node, current, current_values = record, obj, values
    for part in path[:-1]:
        lookup = relationship_field(current, part)
        target = None if lookup is None else reference_target(lookup)
        assert lookup is not None and target is not None and lookup.relationship_name is not None
        key = lookup.relationship_name
        related_id = current_values.get(lookup.name)
        related = None if related_id is None else current_values.renderer.related(target, related_id)
        if related is None:
            node[key] = None
            return
        if not isinstance(node.get(key), dict):
            url = f"/services/data/v{version}/sobjects/{target.name}/{related_id}"
            node[key] = {"attributes": {"type": target.name, "url": url}}
        node, current, current_values = node[key], target, related
    value = current_values.get(path[-1])
    node[path[-1]] = formatter(value) if value is not None and formatter is not None else value


def _formatter(obj: SObject, name: str, stamp: Callable[[Any], str]) -> Callable[[Any], Any] | None:
    spec = obj.field(name)
    assert spec is not None
    if spec.type == "datetime":
        return stamp
    if spec.type == "date":
        return date.isoformat
    return None


async def versions(sf: Salesforce, request: Request) -> Response:
    releases = [
        ("Winter '24", "59.0"),
        ("Spring '24", "60.0"),
        ("Summer '24", "61.0"),
        ("Winter '25", "62.0"),
    ]
    return json_response(
        [{"label": label, "url": f"/services/data/v{v}", "version": v} for label, v in releases]
    )


async def resources(sf: Salesforce, request: Request, version: str) -> Response:
    base = f"/services/data/v{version}"
    names = ("sobjects", "query", "queryAll", "limits", "composite", "jobs")
    return json_response({name: f"{base}/{name}" for name in names})


async def limits(sf: Salesforce, request: Request, version: str) -> Response:
    used, limit = sf.api_usage()
    return json_response(
        {
            "DailyApiRequests": {"Max": limit, "Remaining": max(0, limit - used)},
            "DailyBulkV2QueryJobs": {"Max": 10_000, "Remaining": 10_000 - sf.bulk.query_jobs_created},
        }
    )


async def global_describe(sf: Salesforce, request: Request, version: str) -> Response:
    return json_response(
        {
            "encoding": "UTF-8",
            "maxBatchSize": MAX_COLLECTION,
            "sobjects": [OBJECTS[name].summary(version) for name in sorted(OBJECTS)],
        }
    )


def refused(obj: SObject, operation: str = "query") -> Response | None:
    """The error Salesforce answers when the user may not read `obj`, or the object does not support
    `operation`; None when it may go on."""
    if obj.access_denied:
        return errors(403, "INSUFFICIENT_ACCESS", f"insufficient access rights on object {obj.name}")
    if operation == "query" and not obj.flag("queryable"):
        return errors(400, "INVALID_TYPE_FOR_OPERATION", f"entity type {obj.name} does not support query")
    return None


def children_of(obj: SObject) -> list[dict[str, Any]]:
    """The lookups of every object that point at `obj`, as its describe's childRelationships."""
    return [
        child_relationship(child, spec)
        for name in sorted(OBJECTS)
        for child in (OBJECTS[name],)
        for spec in child.fields
        if spec.type == "reference" and obj.name in spec.reference_to
    ]


def unknown_object(name: str) -> Response:
    return errors(
        404, "NOT_FOUND", f"The requested resource does not exist: sObject type '{name}' is not supported"
    )


async def describe(sf: Salesforce, request: Request, version: str, sobject: str) -> Response:
    obj = find_object(sobject)
    if obj is None:
        return unknown_object(sobject)
    return refused(obj, "describe") or json_response(obj.describe(version, children_of(obj)))


async def sobject_info(sf: Salesforce, request: Request, version: str, sobject: str) -> Response:
    obj = find_object(sobject)
    if obj is None:
        return unknown_object(sobject)
    if request.method == "POST":
        return await _create_one(sf, request, obj)
    return json_response({"objectDescribe": obj.summary(version), "recentItems": []})


async def record(sf: Salesforce, request: Request, version: str, sobject: str, record_id: str) -> Response:
    obj = find_object(sobject)
    if obj is None:
        return unknown_object(sobject)
    if request.method == "GET":
        found = sf.writer.find_by_id(obj, record_id)
        return not_found() if found is None else _record_response(sf, obj, found[1], version, request)
    if request.method == "DELETE":
        result = sf.writer.write("delete", [(obj, {"Id": record_id})])[0]
        return Response(status_code=204) if result.success else _single_error(result)
    try:
        body = await json_object(request)
    except BadBody as error:
        return bad_body(error)
    if not isinstance(body, dict):
        return errors(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
    result = sf.writer.write("update", [(obj, {**body, "Id": record_id})])[0]
    return Response(status_code=204) if result.success else _single_error(result)


async def by_external_id(
    sf: Salesforce, request: Request, version: str, sobject: str, field_name: str, value: str
) -> Response:
    obj = find_object(sobject)
    if obj is None:
        return unknown_object(sobject)
    spec = obj.field(field_name)
    if spec is None or not (spec.external_id or spec.name == "Id"):
        return errors(
            404, "NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {field_name}"
        )
    if request.method == "GET":
        found = (
            sf.writer.find_by_external(obj, value) if spec.external_id else sf.writer.find_by_id(obj, value)
        )
        return not_found() if found is None else _record_response(sf, obj, found[1], version, request)
    try:
        body = await json_object(request)
    except BadBody as error:
        return bad_body(error)
    if not isinstance(body, dict):
        return errors(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
    result = sf.writer.write("upsert", [(obj, {**body, spec.name: value})], external_field=spec.name)[0]
    if not result.success:
        return _single_error(result)
    return json_response(result.to_json(with_created=True), 201 if result.created else 200)


async def _create_one(sf: Salesforce, request: Request, obj: SObject) -> Response:
    try:
        body = await json_object(request)
    except BadBody as error:
        return bad_body(error)
    if not isinstance(body, dict):
        return errors(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
    result = sf.writer.write("create", [(obj, body)])[0]
    return json_response(result.to_json(with_created=False), 201) if result.success else _single_error(result)


def _single_error(result: WriteResult) -> Response:
    body = [
        {"message": e.message, "errorCode": e.status_code, "fields": list(e.fields)} for e in result.errors
    ]
    status = 404 if result.errors and result.errors[0].status_code == "INVALID_CROSS_REFERENCE_KEY" else 400
    return json_response(body, status)


def _record_response(
    sf: Salesforce, obj: SObject, stored: dict[str, Any], version: str, request: Request
) -> Response:
    values: dict[str, Any] = dict.fromkeys(f.name for f in obj.fields)
    index = id_number(stored["Id"], obj.key_prefix)
    row = sf.dataset(obj.name).row(index) if index is not None else None
    if row is not None:
        rendered = RowValues(sf.renderer(obj), row)
        values.update({f.name: json_value(rendered.get(f.name)) for f in obj.fields})
    values.update({k: v for k, v in stored.items() if k in values})
    wanted = request.query_params.get("fields")
    if wanted:
        names = [n.strip() for n in wanted.split(",") if n.strip()]
        specs = [obj.field(n) for n in names]
        if any(s is None for s in specs):
            return errors(400, "INVALID_FIELD", f"No such column '{wanted}' on sobject of type {obj.name}")
        values = {s.name: values[s.name] for s in specs if s is not None}
    url = f"/services/data/v{version}/sobjects/{obj.name}/{stored['Id']}"
    return json_response({"attributes": {"type": obj.name, "url": url}, **values})


async def collections(sf: Salesforce, request: Request, version: str) -> Response:
    if request.method == "DELETE":
        return _collection_delete(sf, request)
    try:
        body = await json_object(request)
    except BadBody as error:
        return bad_body(error)
    records = body.get("records") if isinstance(body, dict) else None
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        return errors(
            400, "JSON_PARSER_ERROR", 'The request body must be {"allOrNone": ..., "records": [...]}'
        )
    if len(records) > MAX_COLLECTION:
        return _too_many()
    op = "create" if request.method == "POST" else "update"
    typed = [(_record_type(r), r) for r in records]
    return _collection_results(sf, op, typed, None, bool(body.get("allOrNone")), with_created=False)


async def collections_upsert(
    sf: Salesforce, request: Request, version: str, sobject: str, field_name: str
) -> Response:
    obj = find_object(sobject)
    if obj is None:
        return unknown_object(sobject)
    spec = obj.field(field_name)
    if spec is None or not (spec.external_id or spec.name == "Id"):
        return errors(
            404, "NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {field_name}"
        )
    try:
        body = await json_object(request)
    except BadBody as error:
        return bad_body(error)
    records = body.get("records") if isinstance(body, dict) else None
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        return errors(
            400, "JSON_PARSER_ERROR", 'The request body must be {"allOrNone": ..., "records": [...]}'
        )
    if len(records) > MAX_COLLECTION:
        return _too_many()
    for item in records:
        declared = _record_type(item)
        if declared is None or declared.name != obj.name:
            message = f"The attributes of every record must name the type {obj.name}"
            return errors(400, "INVALID_INPUT", message)
    typed = [(obj, r) for r in records]
    return _collection_results(sf, "upsert", typed, spec.name, bool(body.get("allOrNone")), with_created=True)


def _record_type(item: dict[str, Any]) -> SObject | None:
    attributes = item.get("attributes")
    name = attributes.get("type") if isinstance(attributes, dict) else None
    return find_object(name) if isinstance(name, str) else None


def _too_many() -> Response:
    message = f"record limit reached. cannot submit more than {MAX_COLLECTION} records into this call"
    return errors(400, "EXCEEDED_ID_LIMIT", message)


def _collection_results(
    sf: Salesforce,
    op: str,
    typed: list[tuple[SObject | None, dict[str, Any]]],
    external_field: str | None,
    all_or_none: bool,
    *,
    with_created: bool,
) -> Response:
    if any(obj is None for obj, _ in typed):
        return errors(
            400, "INVALID_TYPE", "Every record must have attributes naming a supported sObject type"
        )
    records = [(obj, rec) for obj, rec in typed if obj is not None]
    results = sf.writer.write(op, records, external_field=external_field, all_or_none=all_or_none)
    return json_response([r.to_json(with_created) for r in results])


def _collection_delete(sf: Salesforce, request: Request) -> Response:
    ids = [i for i in request.query_params.get("ids", "").split(",") if i]
    if not ids:
        return errors(400, "MISSING_ARGUMENT", "ids not specified")
    if len(ids) > MAX_COLLECTION:
        return _too_many()
    all_or_none = request.query_params.get("allOrNone", "false").lower() == "true"
    records = []
    for record_id in ids:
        obj = next((o for o in OBJECTS.values() if o.key_prefix and record_id.startswith(o.key_prefix)), None)
        if obj is None:
            return errors(400, "MALFORMED_ID", f"malformed id {record_id}")
        records.append((obj, {"Id": record_id}))
    results = sf.writer.write("delete", records, all_or_none=all_or_none)
    return json_response([r.to_json(with_created=False) for r in results])
