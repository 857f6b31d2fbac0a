"""ServiceNow emulator: the Table API, the Import Set API, OAuth and per-user rate limits.

    POST   /oauth_token.do                                password / refresh_token grants
    GET    /api/now[/v1|/v2]/table/{table}                sysparm_query, _limit, _offset, _fields,
                                                          _display_value, _exclude_reference_link, ...
    GET    /api/now[/v1|/v2]/table/{table}/{sys_id}
    POST   /api/now[/v1|/v2]/table/sys_rate_limit_rules   (and DELETE .../{sys_id}) rate-limit rules
    POST   /api/now[/v1|/v2]/table/sys_properties         (and DELETE .../{sys_id}) system properties
    POST   /api/now[/v1|/v2]/import/{staging_table}       one staged row, transformed synchronously
    POST   /api/now[/v1|/v2]/import/{staging_table}/insertMultiple   {"records": [...]}

Tables and their fields are the data dictionary's (`servicenow_schema`), served as `sys_db_object` and
`sys_dictionary`: generated records for incident, problem, change_request (all extending task),
sys_user, cmdb_ci, the custom u_vendor_contract and the scoped x_acme_fleet_vehicle (u_payroll_adjustment
exists, but the integration user may not read it: 403). `task` answers no rows of its own (a real
instance returns its children's rows there). `sys_audit_delete` lists records deleted through the
admin API; the import targets (core_company, ...) list what imports wrote. `change_schema` adds tables
and fields, changes a field's type and removes one.

A query condition on a field the table lacks is dropped, as documented; with the system property
`glide.invalid_query.returns_no_rows` set to true (a `sys_properties` record) such a query answers no rows.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
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
from integrations_sandbox.emulator.systems.servicenow_schema import (
    TYPES,
    Column,
    Schema,
    SchemaError,
    col,
)
from integrations_sandbox.emulator.systems.servicenow_tables import (
    TABLES,
    Renderer,
    audit_record,
    displayed,
)

Handler = Callable[[Request, str], Awaitable[Response]]
RANGEABLE = {"sys_id", "sys_updated_on", "sys_created_on"}
RULES_TABLE = "sys_rate_limit_rules"
RULE_FIELDS = ("name", "user", "resource", "rate_limit", "active")
PROPERTIES_TABLE = "sys_properties"
INVALID_QUERY_PROPERTY = "glide.invalid_query.returns_no_rows"
NOT_GENERATED = {"task", "sys_audit_delete"}
"""Dictionary tables without generated rows: task's rows live in the tables extending it."""
CUSTOM_SIZES = {"u_vendor_contract": 120, "x_acme_fleet_vehicle": 80, "u_payroll_adjustment": 10}


class ServiceNow(System):
    """The ServiceNow instance the sandbox serves; class attributes tune token lifetimes and limits."""

    name = "servicenow"
    default_sizes: ClassVar[Mapping[str, int]] = {
        **{k: v.default_size for k, v in TABLES.items()},
        **CUSTOM_SIZES,
    }
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
        self.schema = Schema(state.seed)
        self.properties: dict[str, dict[str, Any]] = {}

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
        return [name for name in self.schema.tables if name not in NOT_GENERATED]

    def generated(self, table: str) -> bool:
        return table in self.schema.tables and table not in NOT_GENERATED

    def property(self, name: str) -> str:
        return next((p["value"] for p in self.properties.values() if p["name"] == name), "")

    def change_schema(self, change: Mapping[str, Any]) -> dict[str, Any]:
        """`{"action": "add_object", "object": "u_asset_lease", "label": ..., "records": 25,
        "fields": {"u_lessor": "string", ...}}`, `{"action": "add_field", "object": "incident",
        "field": "u_region", "type": "string", "reference": <table, for type reference>}`,
        `{"action": "change_type", "object", "field", "type"}`, `{"action": "remove_field", "object",
        "field"}`. Types are ServiceNow internal types (string, integer, decimal, boolean,
        glide_date_time, glide_date, reference, ...). Returns the table with every field it has."""
        action, table = change.get("action"), str(change.get("object") or "")
        now = datetime.now(UTC).replace(microsecond=0)
        try:
            if action == "add_object":
                fields = change.get("fields") or {}
                if not isinstance(fields, Mapping):
                    raise SchemaError("fields must map field names to types")
                records = change.get("records", 10)
                if not isinstance(records, int) or records < 0:
                    raise SchemaError("records must be a non-negative integer")
                columns = [self._column(name, kind, None) for name, kind in fields.items()]
                label = str(change.get("label") or table.removeprefix("u_").replace("_", " ").title())
                self.schema.add_table(table, label, columns, now)
                self.state.resize(self.name, table, records)
            elif action == "add_field":
                column = self._column(change.get("field"), change.get("type"), change.get("reference"))
                self.schema.add_column(table, column, now)
            elif action == "change_type":
                self.schema.change_type(table, str(change.get("field")), str(change.get("type")), now)
            elif action == "remove_field":
                self.schema.remove_column(table, str(change.get("field")))
            else:
                raise SchemaError(
                    f"unknown action {action!r}: add_object, add_field, change_type, remove_field"
                )
        except SchemaError as error:
            raise ValueError(str(error)) from None
        fields = self.schema.columns(table)
        return {"table": table, "fields": {name: c.internal_type for name, c in fields.items()}}

    @staticmethod
    def _column(name: Any, kind: Any, reference: Any) -> Column:
        if not isinstance(name, str) or not name:
            raise SchemaError("a field needs a name")
        if kind not in TYPES or kind == "GUID":
            raise SchemaError(f"field {name}: unknown type {kind!r}; known: {sorted(set(TYPES) - {'GUID'})}")
        if (kind == "reference") != bool(reference):
            raise SchemaError(f"field {name}: a reference names its table (and only a reference does)")
        return col(name, str(kind), str(change_label(name)), reference=str(reference or ""))

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
            if table == PROPERTIES_TABLE:
                return await self._create_property(request)
            return await self._create_rule(request) if table == RULES_TABLE else self._acl_denied("Insert")
        if (known := self.schema.table(table)) is not None and not known.readable:
            return self._acl_denied("Read")
        try:
            limit, offset = paging.parameters(request, self.max_limit)
            if offset > 0 and request.scope.get("state", {}).get("fault") == "expired_cursor":
                return self.error(
                    400,
                    "The result set for this query expired; restart at sysparm_offset=0",
                    "Pagination expired",
                )
            if self.generated(table):
                total, records = self._generated(request, table, limit, offset)
            elif (rows := self._listed(table, request)) is not None:
                no_rows = self.property(INVALID_QUERY_PROPERTY) == "true"
                total, records = paging.listed_page(request, rows, limit, offset, no_rows_if_invalid=no_rows)
            else:
                return self.error(400, "", f"Invalid table {table}")
        except q.QueryError as error:
            return self.error(400, str(error), "Invalid query")
        self.faults.served(self.name, table, len(records))
        return JSONResponse(
            {"result": self._shown(request, table, paging.select(request, records))},
            headers=paging.paging_headers(request, total, limit, offset),
        )

    def _shown(self, request: Request, table: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Records as `sysparm_display_value` asks: values (false), display values (true) or both (all)."""
        mode = paging.display_mode(request)
        if not self.generated(table) and paging.excludes_links(request):
            records = [
                {k: v.get("value") if isinstance(v, dict) else v for k, v in r.items()} for r in records
            ]
        if mode == "false":
            return records
        if not self.generated(table):
            return [paging.listed_display(record, mode) for record in records]
        columns = self.schema.columns(table)
        return [displayed(record, columns, mode, self._display_of) for record in records]

    def _display_of(self, table: str, sys_id: str) -> str:
        """The display value of the `table` record `sys_id` (the sys_id itself if there is none)."""
        index = index_of_id(self.state.seed, table, sys_id) if self.generated(table) else None
        row = None if index is None else self.dataset(table).row(index)
        if row is None:
            return sys_id
        record = self._plain_renderer().record(table, row)
        return str(record.get(self.schema.display_field(table)) or "")

    def _generated(
        self, request: Request, table: str, limit: int, offset: int
    ) -> tuple[int, list[dict[str, Any]]]:
        data = self.dataset(table)
        renderer = self._renderer(request)
        columns = self.schema.columns(table)
        text = request.query_params.get("sysparm_query", "") or self._name_value_query(request)
        query = q.parse(text, columns, self.schema.datetime_fields(table))
        if query.invalid and self.property(INVALID_QUERY_PROPERTY) == "true":
            return 0, []
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
        cache_key = (
            dataset_version(data),
            users,
            profile.seed,
            profile.poison_rate,
            self.schema.version,
            text,
        )
        total = self.counts.get(cache_key)
        if total is None:
            total = view.count()
            self.counts.put(cache_key, total)
        if fast is not None:
            rows = view.page(offset, limit, descending=fast[1], cache_key=cache_key)
        else:
            rows = self._sorted_page(view, renderer, table, query.order_by, offset, limit)
        return total, [renderer.record(table, row) for row in rows]

    @staticmethod
    def _name_value_query(request: Request) -> str:
        """The documented `&field=value` filters (used only without sysparm_query), as a query."""
        pairs = [(k, v) for k, v in request.query_params.items() if not k.startswith("sysparm_")]
        return "^".join(f"{name}={value.replace('^', '^^')}" for name, value in pairs)

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
            self.schema,
            self._size,
        )

    def _plain_renderer(self) -> Renderer:
        return Renderer(self.state.seed, "", self.dataset("sys_user").base_size, lambda _t, _i: False, False,
                        self.schema, self._size)  # fmt: skip

    def _size(self, table: str) -> int:
        return self.dataset(table).base_size if self.generated(table) else 0

    def _listed(self, table: str, request: Request | None = None) -> list[dict[str, Any]] | None:
        """Records of the small in-memory tables, sorted by sys_id; None for an unknown table."""
        instance = "" if request is None else instance_url(request)
        if table == "sys_db_object":
            return sorted(self.schema.db_object_records(instance), key=lambda r: r["sys_id"])
        if table == "sys_dictionary":
            return sorted(self.schema.dictionary_records(instance), key=lambda r: r["sys_id"])
        if table == "task":
            return []
        if table == PROPERTIES_TABLE:
            return sorted(self.properties.values(), key=lambda r: r["sys_id"])
        if table == "sys_audit_delete":
            rows = [
                self._audit(name, row)
                for name in self.streams()
                for row in overlay_of(self.dataset(name)).rows
            ]
            return sorted((r for r in rows if r is not None), key=lambda r: r["sys_id"])
        if table == RULES_TABLE:
            return sorted(self.limits.rules.values(), key=lambda r: r["sys_id"])
        if table in {t.table for t in TRANSFORM_MAPS.values()}:
            return sorted(self.state.written_records(self.name, table).values(), key=lambda r: r["sys_id"])
        return None

    def _audit(self, table: str, row: Row) -> dict[str, Any] | None:
        if not row.deleted:
            return None
        record = self._plain_renderer().record(table, row)
        return audit_record(self.state.seed, table, row, record.get(self.schema.display_field(table)))

    async def _record(self, request: Request, user: str) -> Response:
        table, sys_id = request.path_params["table"], request.path_params["sys_id"]
        if request.method == "DELETE":
            kept = {RULES_TABLE: self.limits.rules, PROPERTIES_TABLE: self.properties}.get(table)
            if kept is None:
                return self._acl_denied("Delete")
            if kept.pop(sys_id, None) is None:
                return self._not_found()
            return Response(status_code=204)
        if (known := self.schema.table(table)) is not None and not known.readable:
            return self._acl_denied("Read")
        record: dict[str, Any] | None = None
        if self.generated(table):
            index = index_of_id(self.state.seed, table, sys_id)
            row = None if index is None else self.dataset(table).row(index)
            if row is not None and not row.deleted:
                record = self._renderer(request).record(table, row)
        elif (rows := self._listed(table, request)) is not None:
            record = next((r for r in rows if r["sys_id"] == sys_id), None)
        else:
            return self.error(400, "", f"Invalid table {table}")
        if record is None:
            return self._not_found()
        self.faults.served(self.name, table, 1)
        return JSONResponse({"result": self._shown(request, table, paging.select(request, [record]))[0]})

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

    async def _create_property(self, request: Request) -> Response:
        body = await json_body(request)
        if not isinstance(body, dict) or not str(body.get("name") or ""):
            return self.error(400, "a system property needs a name", "Invalid insert")
        self.rule_numbers += 1
        sys_id = ordered_id(self.state.seed, PROPERTIES_TABLE, self.rule_numbers)
        record = {"sys_id": sys_id, "name": str(body["name"]), "value": str(body.get("value", ""))}
        self.properties[sys_id] = {**record, "type": str(body.get("type") or "string")}
        return JSONResponse({"result": self.properties[sys_id]}, 201)

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


def change_label(name: str) -> str:
    """The label an admin would have typed for a field named `name`."""
    return name.removeprefix("u_").replace("_", " ").capitalize()
