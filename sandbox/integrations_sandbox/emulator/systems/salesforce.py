"""Salesforce emulator: OAuth 2.0, REST query/queryAll, describe, sObject rows and Collections, Bulk API 2.0.

Served under the system's prefix (the instance URL is `<saas url>/salesforce`); any API version vNN.N:

    POST /services/oauth2/token                     password, refresh_token, client_credentials, JWT bearer
    POST /services/oauth2/revoke                    end a session
    GET  /services/data[/vNN.N[/limits]]            versions, resources, limits
    GET  /services/data/vNN.N/query?q=SOQL          also queryAll; pages of 2000 via nextRecordsUrl
    GET  /services/data/vNN.N/query/<locator>-<n>   the next page (INVALID_QUERY_LOCATOR once expired)
    GET  /services/data/vNN.N/sobjects[/<Object>[/describe]]   describeGlobal, describe (salesforce_catalog)
    GET  .../sobjects/<Object>/updated|deleted?start=&end=    replication: ids changed or deleted in a range
    POST .../composite/batch                         up to 25 subrequests (describe, query, ...) in one call
    GET|PATCH|DELETE  .../sobjects/<Object>/<Id>    one record; POST .../sobjects/<Object> creates one
    GET|PATCH  .../sobjects/<Object>/<ExtIdField>/<value>                           one record by external id
    POST|PATCH|DELETE .../composite/sobjects, PATCH .../composite/sobjects/<Object>/<ExtIdField>  (<= 200)
    POST .../jobs/query, GET .../jobs/query/<id>[/results?maxRecords=&locator=]     Bulk API 2.0 query
    POST .../jobs/ingest, PUT .../jobs/ingest/<id>/batches, PATCH .../jobs/ingest/<id>,
    GET  .../jobs/ingest/<id>[/successfulResults|failedResults|unprocessedrecords]  Bulk API 2.0 ingest

Objects: Account (5,000 by default), Contact (10,000), Opportunity (5,000) and 30-odd more (see
salesforce_catalog), rendered from the sandbox's datasets (admin API resizes and mutates them, and changes
the schema through salesforce_drift). Every answer carries
`Sforce-Limit-Info: api-usage=<used>/<limit>` (limit: the fault profile's api_budget, else 15,000 a day).

simple-salesforce keeps only the host of an `instance_url`, so point it at this emulator with
`instance="<host>:<port>/salesforce"` (it is used verbatim in its URLs).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, NamedTuple

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from integrations_sandbox.emulator.app import EmulatorState, System
from integrations_sandbox.emulator.systems import salesforce_bulk as bulk
from integrations_sandbox.emulator.systems import salesforce_catalog as catalog
from integrations_sandbox.emulator.systems import salesforce_composite as composite
from integrations_sandbox.emulator.systems import salesforce_drift as drift
from integrations_sandbox.emulator.systems import salesforce_replication as replication
from integrations_sandbox.emulator.systems import salesforce_rest as rest
from integrations_sandbox.emulator.systems.salesforce_auth import (
    CLIENT_ID,
    CLIENT_SECRET,
    ORG_ID,
    PASSWORD,
    REFRESH_TOKEN,
    SECURITY_TOKEN,
    USER_ID,
    USERNAME,
    Sessions,
    bearer_token,
    form,
    instance_url,
    private_key_pem,
    token_endpoint,
)
from integrations_sandbox.emulator.systems.salesforce_scan import Scan
from integrations_sandbox.emulator.systems.salesforce_schema import (
    DEFAULT_SIZES,
    OBJECTS,
    Renderer,
    RowValues,
    SObject,
    id_number,
    to_id18,
)
from integrations_sandbox.emulator.systems.salesforce_soql import Query
from integrations_sandbox.emulator.systems.salesforce_wire import (
    errors,
    json_response,
    not_found,
)
from integrations_sandbox.emulator.systems.salesforce_writes import Writer

API_VERSION = "59.0"
DAILY_API_LIMIT = 15_000
Handler = Callable[..., Awaitable[Response]]
_V = r"services/data/v(?P<version>\d{2,3}\.\d)"
_NAME = r"[A-Za-z][A-Za-z0-9_]*"


class _Route(NamedTuple):
    pattern: re.Pattern[str]
    methods: tuple[str, ...]
    handler: Handler
    public: bool  # reachable without a session


class Salesforce(System):
    """The Salesforce emulator (see the module docstring for what it serves)."""

    name = "salesforce"
    api_version = API_VERSION
    serves_root = True
    default_sizes = DEFAULT_SIZES
    default_size = 5_000

    def __init__(self, state: EmulatorState) -> None:
        super().__init__(state)
        catalog.reset()
        self.sessions = Sessions()
        self.writer = Writer(lambda obj: state.written_records(self.name, obj), self.dataset, state.faults)
        self.cursors = rest.Cursors()
        self.bulk = bulk.BulkJobs(self)
        self._table = self._route_table()

    @classmethod
    def connection(cls, base_url: str) -> dict[str, Any]:
        return {
            "conn_type": "salesforce",
            "host": base_url,
            "login": USERNAME,
            "password": PASSWORD,
            "extra": {
                "security_token": SECURITY_TOKEN,
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "consumer_key": CLIENT_ID,
                "refresh_token": REFRESH_TOKEN,
                "instance_url": base_url,
                "auth_url": base_url,
                "api_version": API_VERSION,
                "private_key": private_key_pem(),
            },
        }

    def streams(self) -> list[str]:
        return list(OBJECTS)

    def renderer(self, obj: SObject) -> Renderer:
        faults, name = self.faults, self.name
        poisoned = faults.profiles[name].poison_rate > 0
        return Renderer(
            obj,
            self.state.seed,
            (lambda index: faults.is_poison(name, obj.name, index)) if poisoned else None,
            lambda other: self.dataset(other).base_size,
            self._related,
        )

    def _related(self, target: SObject, record_id: str) -> RowValues | None:
        index = id_number(record_id, target.key_prefix)
        row = None if index is None else self.dataset(target.name).row(index)
        return None if row is None else RowValues(self.renderer(target), row)

    def change_schema(self, change: Mapping[str, Any]) -> dict[str, Any]:
        return drift.apply(self, change)

    def scan(self, query: Query, include_deleted: bool) -> Scan:
        obj = query.obj
        return Scan(query, self.dataset(obj.name), self.renderer(obj), include_deleted)

    def api_usage(self) -> tuple[int, int]:
        used = self.faults.budget_used[self.name]
        budget = self.faults.profiles[self.name].api_budget
        return used, DAILY_API_LIMIT if budget is None else budget

    def response_headers(self) -> dict[str, str]:
        used, limit = self.api_usage()
        return {"Sforce-Limit-Info": f"api-usage={used}/{limit}"}

    def error(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
        return errors(status, code, message, {**self.response_headers(), **(headers or {})})

    def rate_limited(self, retry_after: float) -> Response:
        message = "ConcurrentPerOrgLongTxn Limit exceeded: too many requests at once; retry later."
        return self.error(429, "REQUEST_LIMIT_EXCEEDED", message, {"Retry-After": f"{retry_after:g}"})

    def unavailable(self) -> Response:
        return self.error(
            503, "SERVER_UNAVAILABLE", "Server temporarily unavailable. Please try again later."
        )

    def budget_exhausted(self) -> Response:
        return self.error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")

    def routes(self) -> list[BaseRoute]:
        methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
        return [
            Route("/", self.dispatch, methods=methods),
            Route("/{path:path}", self.dispatch, methods=methods),
        ]

    def _route_table(self) -> list[_Route]:
        def on(pattern: str, methods: str, handler: Handler, public: bool = False) -> _Route:
            return _Route(re.compile(pattern), tuple(methods.split()), handler, public)

        query = rf"{_V}/(?P<endpoint>query|queryAll)"
        sobjects = rf"{_V}/sobjects/(?P<sobject>{_NAME})"
        query_jobs, ingest_jobs = rf"{_V}/jobs/query", rf"{_V}/jobs/ingest"
        job = r"(?P<job_id>[A-Za-z0-9]{15,18})"
        return [
            on(r"services/oauth2/token", "POST", self._token, public=True),
            on(r"services/oauth2/revoke", "POST GET", self._revoke, public=True),
            on(r"id/(?P<org_id>[A-Za-z0-9]{15,18})/(?P<user_id>[A-Za-z0-9]{15,18})", "GET", self._identity),
            on(r"services/data", "GET", rest.versions, public=True),
            on(_V, "GET", rest.resources),
            on(rf"{_V}/limits", "GET", rest.limits),
            on(query, "GET", rest.query),
            on(rf"{query}/(?P<locator>[A-Za-z0-9]{{15,18}})-(?P<offset>\d+)", "GET", rest.query_more),
            on(rf"{_V}/sobjects", "GET", rest.global_describe),
            on(rf"{sobjects}/describe", "GET", rest.describe),
            on(rf"{sobjects}/updated", "GET", replication.updated),
            on(rf"{sobjects}/deleted", "GET", replication.deleted),
            on(sobjects, "GET POST", rest.sobject_info),
            on(rf"{sobjects}/(?P<record_id>[A-Za-z0-9]{{15,18}})", "GET PATCH DELETE", rest.record),
            on(rf"{sobjects}/(?P<field_name>{_NAME})/(?P<value>[^/]+)", "GET PATCH", rest.by_external_id),
            on(rf"{_V}/composite/batch", "POST", composite.batch),
            on(rf"{_V}/composite/sobjects", "POST PATCH DELETE", rest.collections),
            on(rf"{_V}/composite/sobjects/(?P<sobject>{_NAME})/(?P<field_name>{_NAME})", "PATCH",
               rest.collections_upsert),
            on(query_jobs, "POST", bulk.create_query_job),
            on(rf"{_V}/jobs/(?P<kind>query|ingest)", "GET", bulk.list_jobs),
            on(rf"{query_jobs}/{job}", "GET PATCH DELETE", bulk.query_job),
            on(rf"{query_jobs}/{job}/results", "GET", bulk.query_results),
            on(ingest_jobs, "POST", bulk.create_ingest_job),
            on(rf"{ingest_jobs}/{job}", "GET PATCH DELETE", bulk.ingest_job),
            on(rf"{ingest_jobs}/{job}/batches", "PUT", bulk.upload),
            on(rf"{ingest_jobs}/{job}/(?P<kind>(?i:successfulResults|failedResults|unprocessedRecords))",
               "GET", bulk.ingest_results),
        ]  # fmt: skip

    async def dispatch(self, request: Request) -> Response:
        return await self.serve(request, request.path_params.get("path", "").strip("/"), check_session=True)

    async def serve(self, request: Request, path: str, check_session: bool) -> Response:
        """Answer `request` as the route for `path` does (composite subrequests come in with the
        session of the request that carries them)."""
        allowed: list[str] = []
        for pattern, methods, handler, public in self._table:
            match = pattern.fullmatch(path)
            if match is None:
                continue
            if request.method not in methods and not (request.method == "HEAD" and "GET" in methods):
                allowed.extend(methods)
                continue
            if check_session and not public:
                token = bearer_token(request)
                if token is None or not self.sessions.valid(token):
                    return self.error(401, "INVALID_SESSION_ID", "Session expired or invalid")
            return await handler(self, request, **match.groupdict())
        if allowed:
            message = (
                f"HTTP Method '{request.method}' not allowed. Allowed are {','.join(sorted(set(allowed)))}"
            )
            return errors(405, "METHOD_NOT_ALLOWED", message)
        return not_found()

    @staticmethod
    async def _token(sf: Salesforce, request: Request) -> Response:
        return await token_endpoint(request, sf.sessions)

    @staticmethod
    async def _identity(sf: Salesforce, request: Request, org_id: str, user_id: str) -> Response:
        if to_id18(org_id) != ORG_ID or to_id18(user_id) != USER_ID:
            return not_found()
        base = instance_url(request)
        return json_response(
            {
                "id": f"{base}/id/{ORG_ID}/{USER_ID}",
                "user_id": USER_ID,
                "organization_id": ORG_ID,
                "username": USERNAME,
                "active": True,
                "urls": {
                    "rest": f"{base}/services/data/v{{version}}/",
                    "query": f"{base}/services/data/v{{version}}/query/",
                },
            }
        )

    @staticmethod
    async def _revoke(sf: Salesforce, request: Request) -> Response:
        token = (await form(request)).get("token", "")
        if not sf.sessions.revoke(token) and token != REFRESH_TOKEN:
            body = {
                "error": "unsupported_token_type",
                "error_description": "this token type is not supported",
            }
            return JSONResponse(body, 400)
        return Response(status_code=200)
