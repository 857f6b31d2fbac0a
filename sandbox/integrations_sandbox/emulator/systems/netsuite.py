"""NetSuite emulator: SuiteQL over REST, record upserts by external id, TBA and concurrency governance.

Served under /netsuite (the connection's host):

    POST /services/rest/query/v1/suiteql?limit=1..1000&offset=N   header `Prefer: transient`, body {"q": ...}
    GET  /services/rest/record/v1/metadata-catalog[?select=a,b]       record types (netsuite_metadata)
    GET  /services/rest/record/v1/metadata-catalog/<type>             Accept: application/schema+json
    PUT  /services/rest/record/v1/{customer|employee}/eid:<externalId>   upsert -> 204 + Location
    GET  /services/rest/record/v1/<type>/<id> | eid:<externalId>       one record

Every call must carry a TBA `Authorization: OAuth realm=...` header (see netsuite_auth); a refusal is
NetSuite's 401 INVALID_LOGIN, plus a sandbox-only `X-Sandbox-Auth-Failure` header saying why. SuiteQL
pages follow NetSuite: at most 1000 rows a page and 100,000 rows a query (`offset + limit` past that is a
400: window by lastmodifieddate instead); an offset past the end, or the `expired_cursor` fault on a later
page, is 404 NONEXISTENT_OFFSET. More than `concurrency_limit` requests in flight at once answer 429
CONCURRENCY_LIMIT_EXCEEDED. NetSuite shows governance usage only in its UI; the sandbox reports it on
every answer as `X-NetSuite-Governance: used=<requests so far>;limit=<api_budget or governance_limit>`.
SuiteQL writes dates and timestamps by the account's date preferences (`M/D/YYYY` and `h:mm a` by
default, see netsuite_dates) unless the query formats them with TO_CHAR. Custom fields, custom record
types and schema changes are netsuite_schema's; change_schema also takes
`{"action": "set_preferences", "date_format": "D.M.YYYY", "time_format": "H:mm"}`, the account's date
preferences as an administrator sets them. Upserts are stored apart from generated data
(state.written_records("netsuite", <type>)), keyed by external id with lower-case field names; they do not
show in SuiteQL.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any, ClassVar
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import URL
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from integrations_sandbox.emulator.app import EmulatorState, System, json_body
from integrations_sandbox.emulator.data import Dataset, unit
from integrations_sandbox.emulator.systems.netsuite_auth import (
    SANDBOX_CREDENTIALS,
    TbaVerifier,
    normalized_url,
)
from integrations_sandbox.emulator.systems.netsuite_dates import DatePreferences
from integrations_sandbox.emulator.systems.netsuite_engine import (
    OffsetOutOfBounds,
    QueryEngine,
)
from integrations_sandbox.emulator.systems.netsuite_metadata import CATALOG, catalog, json_schema
from integrations_sandbox.emulator.systems.netsuite_records import (
    ID_BASE,
    Record,
    all_columns,
    render,
)
from integrations_sandbox.emulator.systems.netsuite_schema import AccountSchema
from integrations_sandbox.emulator.systems.netsuite_sql import SuiteQLError, parse

_RFC9110 = "https://www.rfc-editor.org/rfc/rfc9110.html#section-"
_ERROR_TYPES = {400: "15.5.1", 401: "15.5.2", 403: "15.5.4", 404: "15.5.5", 405: "15.5.6", 406: "15.5.7",
                503: "15.6.4"}  # fmt: skip
_ERROR_MEDIA = "application/vnd.oracle.resource+json; type=error; charset=UTF-8"
_COLLECTION_MEDIA = "application/vnd.oracle.resource+json; type=collection; charset=UTF-8"
_SCHEMA_MEDIA = "application/schema+json; charset=UTF-8"
_RECORD_MEDIA = "application/vnd.oracle.resource+json; type=singular; charset=UTF-8"
_INVALID_LOGIN = (
    "Invalid login attempt. For more details, see the Login Audit Trail in the NetSuite UI at "
    "Setup > Users/Roles > User Management > View Login Audit Trail."
)
_CONCURRENCY = "Concurrent request limit exceeded. Request blocked."
_SEARCH_ERROR = "Invalid search query. Detailed unprocessed description follows. Search error occurred: "
# Record types that take upserts, with the field NetSuite requires when one is created.
_WRITABLE = {"customer": "companyname", "employee": "lastname"}
_READ_ONLY = {"id", "lastmodifieddate", "datecreated", "createddate"}
_WRITE_ID_BASE = 9_000_001

Handler = Callable[[Request], Awaitable[Response]]


class NetSuite(System):
    """NetSuite's REST web services for one sandbox account (1234567_SB1), reached with TBA."""

    name = "netsuite"
    default_size = 3000
    default_sizes: ClassVar[Mapping[str, int]] = {
        "customer": 3000,
        "transaction": 10_000,
        "item": 500,
        "employee": 200,
    }
    concurrency_limit = 5
    max_page_size = 1000
    max_query_rows = 100_000
    governance_limit = 1_000_000
    credentials = SANDBOX_CREDENTIALS

    def __init__(self, state: EmulatorState) -> None:
        super().__init__(state)
        self.verifier = TbaVerifier(self.credentials)
        self.schema = AccountSchema()
        self.preferences = DatePreferences()
        self.engine = QueryEngine(
            self.name, state.faults, self.dataset, self.schema.tables, lambda: self.preferences
        )
        self._in_flight = 0

    def dataset(self, stream: str) -> Dataset:
        size = self.schema.custom_types.get(stream)
        return super().dataset(stream) if size is None else self.state.dataset(self.name, stream, size)

    def change_schema(self, change: Mapping[str, Any]) -> dict[str, Any]:
        """A change as netsuite_schema describes, or new date preferences (`set_preferences`); returns
        the record type's JSON Schema as the metadata catalog now gives it, or the preferences."""
        if change.get("action") == "set_preferences":
            current = self.preferences
            self.preferences = DatePreferences(
                str(change.get("date_format", current.date_format)),
                str(change.get("time_format", current.time_format)),
            )
            return {"date_format": self.preferences.date_format, "time_format": self.preferences.time_format}
        record_type = self.schema.change(change)
        tables = self.schema.tables()
        if record_type not in tables:
            return {}
        return json_schema(tables[record_type], self.schema.custom_fields.get(record_type, {}), "")

    @classmethod
    def connection(cls, base_url: str) -> dict[str, Any]:
        creds = cls.credentials
        return {
            "conn_type": "netsuite",
            "host": base_url,
            "extra": {
                "account_id": creds.account_id,
                "consumer_key": creds.consumer_key,
                "consumer_secret": creds.consumer_secret,
                "token_id": creds.token_id,
                "token_secret": creds.token_secret,
            },
        }

    def streams(self) -> list[str]:
        return [*self.default_sizes, *self.schema.custom_types]

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/services/rest/query/v1/suiteql", self._governed(self._suiteql), methods=["POST"]),
            Route(CATALOG, self._governed(self._catalog), methods=["GET"]),
            Route(CATALOG + "/{recordtype}", self._governed(self._record_schema), methods=["GET"]),
            Route(
                "/services/rest/record/v1/{recordtype}/{key}",
                self._governed(self._record),
                methods=["GET", "PUT"],
            ),
            Route("/{path:path}", self._not_found, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
        ]

    def error(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
        body = {
            "type": "https://www.rfc-editor.org/rfc/rfc6585.html#section-4"
            if status == 429
            else _RFC9110 + _ERROR_TYPES.get(status, "15.5.1"),
            "title": HTTPStatus(status).phrase,
            "status": status,
            "o:errorDetails": [{"detail": message, "o:errorCode": code}],
        }
        return JSONResponse(body, status, headers=headers, media_type=_ERROR_MEDIA)

    def rate_limited(self, retry_after: float) -> Response:
        return self.error(
            429, "CONCURRENCY_LIMIT_EXCEEDED", _CONCURRENCY, {"Retry-After": f"{retry_after:g}"}
        )

    def unavailable(self) -> Response:
        return self.error(503, "SERVICE_UNAVAILABLE", "The NetSuite service is temporarily unavailable.")

    def budget_exhausted(self) -> Response:
        return self.error(
            403, "REQUEST_LIMIT_EXCEEDED", "The account has used its web services request limit."
        )

    def response_headers(self) -> dict[str, str]:
        budget = self.faults.profiles[self.name].api_budget
        used = self.faults.budget_used[self.name]
        return {"X-NetSuite-Governance": f"used={used};limit={budget or self.governance_limit}"}

    def _governed(self, handler: Handler) -> Handler:
        """Authenticate, then hold one of the account's concurrent-request slots while `handler` runs."""

        async def endpoint(request: Request) -> Response:
            refused = self._refused(request)
            if refused is not None:
                return refused
            if self._in_flight >= self.concurrency_limit:
                return self.error(429, "CONCURRENCY_LIMIT_EXCEEDED", _CONCURRENCY)
            self._in_flight += 1
            try:
                return await handler(request)
            finally:
                self._in_flight -= 1

        return endpoint

    def _refused(self, request: Request) -> Response | None:
        scope = request.scope
        path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        url = normalized_url(scope["scheme"], request.headers.get("host", ""), path)
        query = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
        reason = self.verifier.verify(request.method, url, query, request.headers.get("authorization"))
        if reason is None:
            return None
        realm = self.credentials.account_id
        headers = {"WWW-Authenticate": f'OAuth realm="{realm}"', "X-Sandbox-Auth-Failure": reason}
        return self.error(401, "INVALID_LOGIN", _INVALID_LOGIN, headers)

    async def _suiteql(self, request: Request) -> Response:
        if "transient" not in request.headers.get("prefer", "").lower():
            return self.error(
                400, "INVALID_HEADER", "SuiteQL queries require the header 'Prefer: transient'."
            )
        try:
            limit, offset = self._paging(request)
        except ValueError as problem:
            return self.error(400, "INVALID_PARAMETER", str(problem))
        try:
            body = await json_body(request)
        except ValueError:
            return self.error(400, "INVALID_CONTENT", "The request body is not valid JSON.")
        q = body.get("q") if isinstance(body, dict) else None
        if not isinstance(q, str) or not q.strip():
            return self.error(
                400, "INVALID_CONTENT", "The request body must give the query in the 'q' property."
            )
        if offset > 0 and request.scope.get("state", {}).get("fault") == "expired_cursor":
            return self.error(404, "NONEXISTENT_OFFSET", "Specified offset is out of bounds.")
        try:
            return await run_in_threadpool(self._answer, q, limit, offset, request.url)
        except SuiteQLError as problem:
            return self.error(400, "INVALID_PARAMETER", _SEARCH_ERROR + str(problem))
        except OffsetOutOfBounds:
            return self.error(404, "NONEXISTENT_OFFSET", "Specified offset is out of bounds.")

    def _paging(self, request: Request) -> tuple[int, int]:
        params = request.query_params
        try:
            limit, offset = int(params.get("limit", self.max_page_size)), int(params.get("offset", 0))
        except ValueError:
            raise ValueError("The 'limit' and 'offset' query parameters must be integers.") from None
        if not 1 <= limit <= self.max_page_size:
            raise ValueError(f"Invalid 'limit' query parameter value {limit}: use 1 to {self.max_page_size}.")
        if offset < 0:
            raise ValueError(f"Invalid 'offset' query parameter value {offset}.")
        if offset + limit > self.max_query_rows:
            raise ValueError(
                f"A SuiteQL query returns at most {self.max_query_rows} results; offset {offset} with limit "
                f"{limit} goes past them. Narrow the query, for example by lastmodifieddate."
            )
        return limit, offset

    def _answer(self, q: str, limit: int, offset: int, url: URL) -> Response:
        """Run one page (in a worker thread: rendering 1000 rows must not stall the other systems)."""
        query = parse(q)
        page = self.engine.run(query, limit, offset)
        count = len(page.items)
        self.faults.served(self.name, query.table, count)
        body = {
            "links": _links(url, limit, offset, count, page.total),
            "count": count,
            "hasMore": offset + count < page.total,
            "items": page.items,
            "offset": offset,
            "totalResults": page.total,
        }
        return Response(json.dumps(body, separators=(",", ":")), media_type=_COLLECTION_MEDIA)

    async def _catalog(self, request: Request) -> Response:
        names = list(self.schema.tables())
        select = request.query_params.get("select")
        if select is not None:
            wanted = [name.strip().lower() for name in select.split(",") if name.strip()]
            unknown = [name for name in wanted if name not in names]
            if unknown:
                return self.error(400, "INVALID_PARAMETER", f"Record type '{unknown[0]}' does not exist.")
            names = wanted
        return JSONResponse(catalog(_base(request), names))

    async def _record_schema(self, request: Request) -> Response:
        recordtype = request.path_params["recordtype"].lower()
        table = self.schema.tables().get(recordtype)
        if table is None:
            return self.error(404, "INVALID_RCRD_TYPE", f"Record type '{recordtype}' does not exist.")
        if "application/schema+json" not in request.headers.get("accept", ""):
            return self.error(
                406,
                "INVALID_HEADER",
                "The sandbox describes record types as JSON Schema only: "
                "send Accept: application/schema+json.",
            )
        custom = self.schema.custom_fields.get(recordtype, {})
        return JSONResponse(json_schema(table, custom, _base(request)), media_type=_SCHEMA_MEDIA)

    async def _record(self, request: Request) -> Response:
        recordtype, key = request.path_params["recordtype"].lower(), request.path_params["key"]
        if recordtype not in self.schema.tables():
            return self.error(404, "INVALID_RCRD_TYPE", f"Record type '{recordtype}' does not exist.")
        if request.method == "GET":
            return self._read(request, recordtype, key)
        return await self._upsert(request, recordtype, key)

    def _read(self, request: Request, recordtype: str, key: str) -> Response:
        written = self.state.written_records(self.name, recordtype)
        found: dict[str, Any] | None
        if key.startswith("eid:"):
            found = written.get(key[4:])
        else:
            by_id = next((r for r in written.values() if r["id"] == key), None)
            found = by_id or self._generated(recordtype, key)
        if found is None:
            return self.error(
                404, "NONEXISTENT_ID", "The record instance does not exist. Provide a valid ID."
            )
        self_link = {"rel": "self", "href": str(request.url.replace(query=""))}
        return JSONResponse({"links": [self_link], **found}, media_type=_RECORD_MEDIA)

    def _generated(self, recordtype: str, key: str) -> dict[str, Any] | None:
        if not key.isdigit():
            return None
        data = self.dataset(recordtype)
        row = data.row(int(key) - ID_BASE)
        if row is None or row.deleted:
            return None
        table = self.schema.tables()[recordtype]
        poison = self.faults.is_poison(self.name, recordtype, row.index)
        record = Record(row, recordtype, data.seed, poison)
        item = render(table, all_columns(table), record, self.preferences)
        item.pop("links")
        return item

    async def _upsert(self, request: Request, recordtype: str, key: str) -> Response:
        if recordtype not in _WRITABLE:
            return self.error(405, "USER_ERROR", f"The sandbox takes upserts of {sorted(_WRITABLE)} only.")
        external_id = key[4:] if key.startswith("eid:") else ""
        if not external_id:
            return self.error(
                400, "USER_ERROR", "PUT upserts by external ID: use .../<record type>/eid:<id>."
            )
        try:
            body = await json_body(request)
        except ValueError:
            return self.error(400, "INVALID_CONTENT", "The request body is not valid JSON.")
        outcome = self.faults.write_outcome(self.name, recordtype, external_id)
        written = self.state.written_records(self.name, recordtype)
        fields = self.schema.tables()[recordtype].fields
        problem = _invalid(body, recordtype, fields, creating=external_id not in written)
        if problem:
            return self.error(400, "USER_ERROR", problem)
        if outcome == "transient":
            return self._transient_write_failure(recordtype, external_id)
        if outcome == "permanent":
            return self.error(
                400, "USER_ERROR", f"Error while accessing a resource. Record '{external_id}' rejected."
            )
        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
        record = written.get(external_id) or {
            "id": str(_WRITE_ID_BASE + len(written)),
            "externalid": external_id,
            "datecreated": now,
        }
        record.update({name.lower(): value for name, value in body.items()})
        record["lastmodifieddate"] = now
        written[external_id] = record
        collection = request.url.path.rsplit("/", 1)[0]
        location = str(request.url.replace(path=f"{collection}/{record['id']}", query=""))
        return Response(status_code=204, headers={"Location": location})

    def _transient_write_failure(self, recordtype: str, external_id: str) -> Response:
        attempt = self.faults.writes[f"{self.name}/{recordtype}"][external_id]
        if unit(self.faults.profiles[self.name].seed, external_id, attempt, "kind") < 0.5:
            return self.error(429, "CONCURRENCY_LIMIT_EXCEEDED", _CONCURRENCY)
        return self.unavailable()

    async def _not_found(self, request: Request) -> Response:
        return self.error(404, "NONEXISTENT_ID", f"No resource at {request.url.path}.")


def _invalid(body: Any, recordtype: str, fields: Mapping[str, Any], *, creating: bool) -> str | None:
    """Why NetSuite would refuse this record body, or None."""
    if not isinstance(body, dict):
        return "The request body must be a JSON object of record fields."
    for name, value in body.items():
        lowered = name.lower()
        if lowered in _READ_ONLY:
            return f"Field '{name}' is read-only."
        if lowered not in fields and not lowered.startswith("cust"):
            return f"Invalid field name '{name}' for record type {recordtype}."
        if not (value is None or isinstance(value, str | int | float | bool) or _is_reference(value)):
            return f"Invalid value for field '{name}'."
    lowered_body = {name.lower(): value for name, value in body.items()}
    email = lowered_body.get("email")
    if isinstance(email, str) and "@" not in email:
        return f"Invalid email address '{email}'."
    required = _WRITABLE[recordtype]
    if creating and not lowered_body.get(required):
        return f"Please enter value(s) for: {required}."
    return None


def _is_reference(value: Any) -> bool:
    return isinstance(value, dict) and set(value) <= {"id", "externalId", "refName"}


def _base(request: Request) -> str:
    """The account's URL as the client reached it (the system's mount included)."""
    url = str(request.url.replace(query=""))
    return url[: url.index("/services/rest/")]


def _links(url: URL, limit: int, offset: int, count: int, total: int) -> list[dict[str, str]]:
    def link(rel: str, at: int) -> dict[str, str]:
        return {"rel": rel, "href": str(url.replace(query=f"limit={limit}&offset={at}"))}

    links = []
    if offset > 0:
        links += [link("previous", max(offset - limit, 0)), link("first", 0)]
    if offset + count < total:
        links += [link("next", offset + count), link("last", (total - 1) // limit * limit)]
    return [*links, {"rel": "self", "href": str(url)}]
