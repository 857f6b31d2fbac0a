"""ServiceNow emulator: the Table API, the Import Set API, OAuth and per-user rate limits.

    POST   /oauth_token.do                                password / refresh_token grants
    GET    /api/now[/v1|/v2]/table/{table}                sysparm_query, _limit, _offset, _fields, ...
    GET    /api/now[/v1|/v2]/table/{table}/{sys_id}
    POST   /api/now[/v1|/v2]/table/sys_rate_limit_rules   (and DELETE .../{sys_id}) rate-limit rules
    POST   /api/now[/v1|/v2]/import/{staging_table}       one staged row, transformed synchronously
    POST   /api/now[/v1|/v2]/import/{staging_table}/insertMultiple   {"records": [...]}

Generated tables: incident, change_request, sys_user, cmdb_ci. `sys_audit_delete` lists records deleted
through the admin API; the import targets (core_company, ...) list what imports wrote.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ClassVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from integrations_sandbox.emulator.app import EmulatorState, System, json_body
from integrations_sandbox.emulator.data import Dataset, Row
from integrations_sandbox.emulator.systems import servicenow_paging as paging
from integrations_sandbox.emulator.systems import servicenow_query as q
from integrations_sandbox.emulator.systems._common_wd_sn import (
    LruCache,
    MergedView,
    dataset_version,
    first_index_with_id,
    index_of_id,
    instance_url,
    ordered_id,
    overlay_of,
)
from integrations_sandbox.emulator.systems.servicenow_auth import (
    CLIENT_ID,
    CLIENT_SECRET,
    LOGIN,
    PASSWORD,
    OAuthServer,
    Quota,
    RateLimits,
)
from integrations_sandbox.emulator.systems.servicenow_imports import (
    MAX_ROWS,
    TRANSFORM_MAPS,
    ImportSets,
)
from integrations_sandbox.emulator.systems.servicenow_tables import (
    DATETIME_FIELDS,
    TABLES,
    Renderer,
    audit_record,
    table_fields,
)

Handler = Callable[[Request, str], Awaitable[Response]]
RANGEABLE = {"sys_id", "sys_updated_on", "sys_created_on"}
RULES_TABLE = "sys_rate_limit_rules"
RULE_FIELDS = ("name", "user", "resource", "rate_limit", "active")


class ServiceNow(System):
    """The ServiceNow instance the sandbox serves; class attributes tune token lifetimes and limits."""

    name = "servicenow"
    default_sizes: ClassVar[Mapping[str, int]] = {k: v.default_size for k, v in TABLES.items()}
    access_token_lifetime: ClassVar[float] = 1800.0
    refresh_token_lifetime: ClassVar[float] = 100 * 86400.0
    default_rate_limit: ClassVar[int] = 100_000
    rate_window_seconds: ClassVar[int] = 3600
    max_limit: ClassVar[int] = 10_000
    max_sorted_rows: ClassVar[int] = 100_000

    def __init__(self, state: EmulatorState) -> None:
        super().__init__(state)
        self.oauth = OAuthServer(self.access_token_lifetime, self.refresh_token_lifetime)
        self.limits = RateLimits(self.default_rate_limit, self.rate_window_seconds)
        self.imports = ImportSets(self.faults, lambda table: state.written_records(self.name, table))
        self.counts = LruCache(256)
        self.rule_numbers = 0

    @classmethod
    def connection(cls, base_url: str) -> dict[str, Any]:
        return {
            "conn_type": "servicenow",
            "host": base_url,
            "login": LOGIN,
            "password": PASSWORD,
            "extra": {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
        }

    def streams(self) -> list[str]:
        return list(TABLES)

    def routes(self) -> list[BaseRoute]:
        routes: list[BaseRoute] = [Route("/oauth_token.do", self.oauth.token, methods=["POST"])]
        for prefix in ("/api/now", "/api/now/v1", "/api/now/v2"):
            routes += [
                Route(f"{prefix}/table/{{table}}", self._api(self._table), methods=["GET", "POST"]),
                Route(
                    f"{prefix}/table/{{table}}/{{sys_id}}", self._api(self._record), methods=["GET", "DELETE"]
                ),
                Route(f"{prefix}/import/{{staging}}", self._api(self._import), methods=["POST"]),
                Route(
                    f"{prefix}/import/{{staging}}/insertMultiple", self._api(self._import), methods=["POST"]
                ),
            ]
        methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
        return [*routes, Route("/{path:path}", self._api(self._no_resource), methods=methods)]

    async def _no_resource(self, request: Request, user: str) -> Response:
        """What the instance answers for a path no API serves (an empty or extra segment, say)."""
        return self.error(400, "", "Requested URI does not represent any resource")

    def error(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
        """ServiceNow's error body: `code` is the detail line (empty: null)."""
        body = {"error": {"message": message, "detail": code or None}, "status": "failure"}
        return JSONResponse(body, status, headers=headers)

    def rate_limited(self, retry_after: float) -> Response:
        return self.error(
            429,
            "Too many requests were made by this user",
            "Rate limit exceeded",
            {"Retry-After": f"{retry_after:g}"},
        )

    def unavailable(self) -> Response:
        return self.error(503, "The instance is temporarily unavailable", "Service Unavailable")

    def budget_exhausted(self) -> Response:
        return self.error(
            429,
            "The instance's API request quota is spent for this window",
            "Rate limit exceeded",
            {"Retry-After": "3600"},
        )

    def _api(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        """Authenticate, count against the rate-limit rule, answer, and add the X-RateLimit-* headers."""

        async def endpoint(request: Request) -> Response:
            user = self.oauth.user(request)
            if user is None:
                return self.error(
                    401,
                    "Required to provide Auth information",
                    "User Not Authenticated",
                    {"WWW-Authenticate": 'BASIC realm="Service-now"'},
                )
            quota = self.limits.hit(user, request.url.path.removeprefix(request.scope.get("root_path", "")))
            response = await handler(request, user) if quota.allowed else self._over_quota(quota)
            response.headers.update(quota.headers())
            return response

        return endpoint

    def _over_quota(self, quota: Quota) -> Response:
        detail = f"The rate limit of {quota.limit} requests per {self.rate_window_seconds} s was reached"
        return self.error(429, detail, "Rate limit exceeded", {"Retry-After": str(quota.retry_after)})

    # Table API

    async def _table(self, request: Request, user: str) -> Response:
        table = request.path_params["table"]
        if request.method == "POST":
            return await self._create_rule(request) if table == RULES_TABLE else self._acl_denied("Insert")
        try:
            limit, offset = paging.parameters(request, self.max_limit)
            if offset > 0 and request.scope.get("state", {}).get("fault") == "expired_cursor":
                return self.error(
                    400,
                    "The result set for this query expired; restart at sysparm_offset=0",
                    "Pagination expired",
                )
            if table in TABLES:
                total, records = self._generated(request, table, limit, offset)
            elif (rows := self._listed(table)) is not None:
                total, records = paging.listed_page(request, rows, limit, offset)
            else:
                return self.error(400, "", f"Invalid table {table}")
        except q.QueryError as error:
            return self.error(400, str(error), "Invalid query")
        self.faults.served(self.name, table, len(records))
        return JSONResponse(
            {"result": paging.select(request, records)},
            headers=paging.paging_headers(request, total, limit, offset),
        )

    def _generated(
        self, request: Request, table: str, limit: int, offset: int
    ) -> tuple[int, list[dict[str, Any]]]:
        data = self.dataset(table)
        renderer = self._renderer(request)
        text = request.query_params.get("sysparm_query", "")
        query = q.parse(text, table_fields(table), DATETIME_FIELDS)
        lo, hi, rest = q.narrow(query, RANGEABLE, self._bounds(data, table), data.base_size)
        everything, residual = q.predicate(query.groups), q.predicate(rest)
        extras = [
            r
            for r in overlay_of(data).rows
            if not r.deleted and (everything is None or everything(renderer.record(table, r)))
        ]
        fast = paging.fast_order(query.order_by)
        view = MergedView(
            data,
            lo,
            hi,
            extras,
            fast[0] if fast else "index",
            None if residual is None else (lambda row: residual(renderer.record(table, row))),
        )
        profile = self.faults.profiles[self.name]
        users = dataset_version(self.dataset("sys_user"))
        cache_key = (dataset_version(data), users, profile.seed, profile.poison_rate, text)
        total = self.counts.get(cache_key)
        if total is None:
            total = view.count()
            self.counts.put(cache_key, total)
        if fast is not None:
            rows = view.page(offset, limit, descending=fast[1], cache_key=cache_key)
        else:
            rows = self._sorted_page(view, renderer, table, query.order_by, offset, limit)
        return total, [renderer.record(table, row) for row in rows]

    def _sorted_page(
        self,
        view: MergedView,
        renderer: Renderer,
        table: str,
        order: list[tuple[str, bool]],
        offset: int,
        limit: int,
    ) -> list[Row]:
        """ORDERBY on fields other than sys_id/number/timestamps: sort the matches' keys (bounded)."""
        keyed = []
        for row in view.scan():
            record = renderer.record(table, row)
            keyed.append(([q.sort_key(name, record) for name, _ in order], row))
            if len(keyed) > self.max_sorted_rows:
                raise q.QueryError(
                    f"ORDERBY {order[0][0]} is limited to {self.max_sorted_rows} matching records"
                )
        for position in reversed(range(len(order))):
            keyed.sort(key=lambda item: item[0][position], reverse=order[position][1])
        return [row for _, row in keyed[offset : offset + limit]]

    def _bounds(self, data: Dataset, table: str) -> q.Bounds:
        def bounds(field: str, operator: str, value: str) -> tuple[int, int]:
            if field == "sys_id":
                return q.id_bounds(
                    lambda v, after: first_index_with_id(
                        self.state.seed, table, v, data.base_size, strictly_after=after
                    ),
                    operator,
                    value,
                )
            return q.timestamp_bounds(data.first_index_at, operator, value)

        return bounds

    def _renderer(self, request: Request) -> Renderer:
        links = request.query_params.get("sysparm_exclude_reference_link", "false").lower() != "true"
        return Renderer(
            self.state.seed,
            instance_url(request),
            self.dataset("sys_user").base_size,
            lambda table, index: self.faults.is_poison(self.name, table, index),
            links,
        )

    def _listed(self, table: str) -> list[dict[str, Any]] | None:
        """Records of the small in-memory tables, sorted by sys_id; None for an unknown table."""
        if table == "sys_audit_delete":
            rows = [self._audit(name, row) for name in TABLES for row in overlay_of(self.dataset(name)).rows]
            return sorted((r for r in rows if r is not None), key=lambda r: r["sys_id"])
        if table == RULES_TABLE:
            return sorted(self.limits.rules.values(), key=lambda r: r["sys_id"])
        if table in {t.table for t in TRANSFORM_MAPS.values()}:
            return sorted(self.state.written_records(self.name, table).values(), key=lambda r: r["sys_id"])
        return None

    def _audit(self, table: str, row: Row) -> dict[str, Any] | None:
        if not row.deleted:
            return None
        record = Renderer(self.state.seed, "", 0, lambda _t, _i: False).record(table, row)
        return audit_record(self.state.seed, table, row, record.get(TABLES[table].display_field))

    async def _record(self, request: Request, user: str) -> Response:
        table, sys_id = request.path_params["table"], request.path_params["sys_id"]
        if request.method == "DELETE":
            if table != RULES_TABLE:
                return self._acl_denied("Delete")
            if self.limits.rules.pop(sys_id, None) is None:
                return self._not_found()
            return Response(status_code=204)
        record: dict[str, Any] | None = None
        if table in TABLES:
            index = index_of_id(self.state.seed, table, sys_id)
            row = None if index is None else self.dataset(table).row(index)
            if row is not None and not row.deleted:
                record = self._renderer(request).record(table, row)
        elif (rows := self._listed(table)) is not None:
            record = next((r for r in rows if r["sys_id"] == sys_id), None)
        else:
            return self.error(400, "", f"Invalid table {table}")
        if record is None:
            return self._not_found()
        self.faults.served(self.name, table, 1)
        return JSONResponse({"result": paging.select(request, [record])[0]})

    async def _create_rule(self, request: Request) -> Response:
        body = await json_body(request)
        if not isinstance(body, dict) or not str(body.get("rate_limit", "")).isdigit():
            return self.error(400, "rate_limit must be a whole number of requests", "Invalid insert")
        self.rule_numbers += 1
        sys_id = ordered_id(self.state.seed, RULES_TABLE, self.rule_numbers)
        rule = {name: str(body.get(name, "")) for name in RULE_FIELDS}
        rule["active"] = rule["active"] or "true"
        self.limits.rules[sys_id] = {"sys_id": sys_id, **rule}
        return JSONResponse({"result": self.limits.rules[sys_id]}, 201)

    def _acl_denied(self, action: str) -> Response:
        return self.error(
            403, f"ACL Exception {action} Failed due to security constraints", "Operation Failed"
        )

    def _not_found(self) -> Response:
        return self.error(
            404, "Record doesn't exist or ACL restricts the record retrieval", "No Record found"
        )

    # Import Set API

    async def _import(self, request: Request, user: str) -> Response:
        staging = request.path_params["staging"]
        if staging not in TRANSFORM_MAPS:
            return self.error(400, "", f"Invalid table {staging}")
        try:
            body = await json_body(request)
        except ValueError:
            return self.error(400, "The request body is not valid JSON", "Exception while reading request")
        if request.url.path.endswith("/insertMultiple"):
            if not isinstance(body, dict) or not isinstance(body.get("records"), list):
                return self.error(400, 'Expected {"records": [...]}', "Exception while reading request")
            if len(body["records"]) > MAX_ROWS:
                return self.error(400, f"At most {MAX_ROWS} records per request", "Request too large")
            rows = body["records"]
        else:
            rows = [body]
        answer = self.imports.run(staging, rows, instance_url(request))
        if request.url.path.endswith("/insertMultiple"):
            answer["multi_import_set_id"] = answer["import_set_id"]
        return JSONResponse(answer, 201)
