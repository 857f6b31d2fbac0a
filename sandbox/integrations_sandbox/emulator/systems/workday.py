"""Workday emulator: OAuth2 refresh-token grant and REST collections with effective dating.

    POST /ccx/oauth2/{tenant}/token                    grant_type=refresh_token (client auth: form or basic)
    GET  /ccx/api/v1/{tenant}/workers[/{id}]           limit (1-100), offset, asOfEffectiveDate,
    GET  /ccx/api/v1/{tenant}/organizations[/{id}]     updatedFrom / updatedThrough (on lastModified)
    GET  /ccx/api/staffing/v6/{tenant}/jobs[/{id}]
    POST /ccx/api/staffing/v6/{tenant}/workers/{id}/businessTitleChanges
                                                       {"proposedBusinessTitle", "effective"?: YYYY-MM-DD}
    GET  /ccx/service/customreport2/{tenant}/{owner}/{report}?format=json | ?xsd
                                                       custom reports (RaaS, see workday_reports)

Collections answer `{"total": N, "data": [...]}` in id order. Each tenant has its own request rate
(a token bucket) and access-token lifetime: `sandbox` is the everyday tenant, `sandbox_strict` has short
tokens and a low rate so that expiry and throttling can be exercised without waiting.

A business title change is a business process on one worker. Each accepted request goes through
`Faults.write_outcome("workday", "workers", id)`: "transient" answers 503, "permanent" answers 400
BUSINESS_PROCESS_VALIDATION; success answers 201 with the change's (deterministic) id and is stored in
`state.written_records("workday", "workers")[id]`, which the worker's records then show from the
change's effective date (today by default). A request repeated with the same `Idempotency-Key` and body
replays the first 201 without writing again; the same key with another body is refused with 409.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from integrations_sandbox.emulator.app import EmulatorState, System, json_body
from integrations_sandbox.emulator.data import Dataset, Row
from integrations_sandbox.emulator.systems._common_wd_sn import (
    MergedView,
    TokenStore,
    bearer_token,
    index_of_id,
    instance_url,
    overlay_of,
    utc,
)
from integrations_sandbox.emulator.systems.workday_records import (
    COLLECTIONS,
    Collection,
    Context,
)
from integrations_sandbox.emulator.systems.workday_reports import REPORTS

CLIENT_ID = "sandbox-workday-client-id"
CLIENT_SECRET = "sandbox-workday-client-secret"
REFRESH_TOKEN = "sandbox-workday-refresh-token"
TENANT = "sandbox"
CHANGE_TITLE_PATH = "/ccx/api/staffing/v6/{tenant}/workers/{id}/businessTitleChanges"
Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class TenantLimits:
    """A tenant's request rate (per second, also the burst) and access-token lifetime (seconds)."""

    requests_per_second: float
    token_lifetime: float


class _Bucket:
    """A token bucket: `rate` requests a second, bursting up to `rate`."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.capacity = max(rate, 1.0)
        self.tokens = self.capacity
        self.at = time.monotonic()

    def take(self) -> float:
        """0 when the request may go ahead, else the seconds until it could."""
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


class Workday(System):
    """The Workday tenants the sandbox serves; `tenants`, `max_limit` and `default_limit` are tunable."""

    name = "workday"
    default_sizes: ClassVar[Mapping[str, int]] = {k: v.default_size for k, v in COLLECTIONS.items()}
    tenants: ClassVar[dict[str, TenantLimits]] = {
        TENANT: TenantLimits(requests_per_second=25.0, token_lifetime=3600.0),
        "sandbox_strict": TenantLimits(requests_per_second=2.0, token_lifetime=2.0),
    }
    max_limit: ClassVar[int] = 100
    default_limit: ClassVar[int] = 20

    def __init__(self, state: EmulatorState) -> None:
        super().__init__(state)
        self.tokens = TokenStore()
        self.buckets = {
            tenant: _Bucket(limits.requests_per_second) for tenant, limits in self.tenants.items()
        }
        self.replays: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}
        """The first 201 of each (tenant, Idempotency-Key), with the fingerprint of its request."""

    @classmethod
    def connection(cls, base_url: str) -> dict[str, Any]:
        extra = {"tenant": TENANT, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
        return {"conn_type": "workday", "host": base_url, "extra": {**extra, "refresh_token": REFRESH_TOKEN}}

    def streams(self) -> list[str]:
        return list(COLLECTIONS)

    def routes(self) -> list[BaseRoute]:
        routes: list[BaseRoute] = [Route("/ccx/oauth2/{tenant}/token", self._token, methods=["POST"])]
        for collection in COLLECTIONS.values():
            routes.append(Route(collection.path, self._lister(collection)))
            routes.append(Route(collection.path + "/{id}", self._getter(collection)))
        routes.append(
            Route(CHANGE_TITLE_PATH, self._business_title_change, methods=["POST"]),
        )
        routes.append(Route("/ccx/service/customreport2/{tenant}/{owner}/{report}", self._custom_report))
        methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
        return [*routes, Route("/{path:path}", self._no_resource, methods=methods)]

    async def _no_resource(self, request: Request) -> Response:
        """A path no collection serves (a trailing slash, an extra segment): Workday's 404, not a redirect."""
        return self.error(404, "NOT_FOUND", f"Resource not found: /{request.path_params['path']}")

    def error(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
        """Workday's REST error body: a summary plus a list of individual errors."""
        return JSONResponse(
            {"error": message, "errors": [{"error": message, "code": code}]}, status, headers=headers
        )

    def rate_limited(self, retry_after: float) -> Response:
        headers = {"Retry-After": str(max(1, math.ceil(retry_after)))}
        return self.error(
            429, "RATE_LIMITED", "Too many requests: the tenant's API rate limit was exceeded", headers
        )

    def unavailable(self) -> Response:
        return self.error(503, "SERVICE_UNAVAILABLE", "The Workday service is temporarily unavailable")

    def budget_exhausted(self) -> Response:
        return self.error(
            429, "QUOTA_EXCEEDED", "The tenant's API request quota is exhausted", {"Retry-After": "3600"}
        )

    async def _token(self, request: Request) -> Response:
        tenant = request.path_params["tenant"]
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode(errors="replace")).items()}
        client_id, client_secret = _client_credentials(request, form)
        if tenant not in self.tenants:
            return _oauth_error(400, "invalid_request", f"Unknown tenant {tenant}")
        if form.get("grant_type") != "refresh_token":
            return _oauth_error(400, "unsupported_grant_type", "Only the refresh_token grant is supported")
        if not (_same(client_id, CLIENT_ID) and _same(client_secret, CLIENT_SECRET)):
            return _oauth_error(401, "invalid_client", "Invalid client credentials")
        if not _same(form.get("refresh_token"), REFRESH_TOKEN):
            return _oauth_error(400, "invalid_grant", "Invalid refresh token")
        lifetime = self.tenants[tenant].token_lifetime
        token = secrets.token_urlsafe(48)
        self.tokens.issue(token, tenant, lifetime)
        body = {"access_token": token, "token_type": "Bearer", "expires_in": max(1, int(lifetime))}
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    def _guard(self, request: Request) -> Response | None:
        """The 401 or 429 a request meets before it reaches a collection, if any."""
        tenant = request.path_params["tenant"]
        token = bearer_token(request)
        if token is None or tenant not in self.tenants or self.tokens.subject(token) != tenant:
            message = "Invalid or expired access token"
            return JSONResponse(
                {"error": "invalid_token", "error_description": message, "errors": [{"error": message}]},
                401,
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        wait = self.buckets[tenant].take()
        return self.rate_limited(wait) if wait > 0 else None

    def _lister(self, collection: Collection) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            refused = self._guard(request)
            if refused is not None:
                return refused
            try:
                limit, offset = _paging(request, self.default_limit, self.max_limit)
                as_of = _as_of(request)
                since = _instant(request, "updatedFrom")
                until = _instant(request, "updatedThrough")
            except _BadParameter as bad:
                return bad.response()
            if offset > 0 and request.scope.get("state", {}).get("fault") == "expired_cursor":
                return _BadParameter("offset", "The paging context expired; restart at offset 0").response()
            data = self.dataset(collection.stream)
            view = self._view(collection, data, as_of, since, until)
            total = view.count()
            ctx = self._context(request)
            records = [collection.render(ctx, row, as_of) for row in view.page(offset, limit)]
            self.faults.served(self.name, collection.stream, len(records))
            return JSONResponse({"total": total, "data": records})

        return endpoint

    def _view(
        self,
        collection: Collection,
        data: Dataset,
        as_of: date,
        since: datetime | None,
        until: datetime | None,
    ) -> MergedView:
        """The records started by `as_of` and last modified within [since, until]."""
        base = data.base_size
        lo = data.first_index_at(since) if since else 0
        hi = data.first_index_at(until + timedelta(microseconds=1)) if until else base
        hi = min(hi, collection.started_by(as_of, base))

        def selected(row: Row) -> bool:
            in_window = (since is None or row.ts >= since) and (until is None or row.ts <= until)
            return not row.deleted and in_window and collection.start(row, base) <= as_of

        return MergedView(data, lo, hi, [r for r in overlay_of(data).rows if selected(r)])

    async def _custom_report(self, request: Request) -> Response:
        """A report as JSON or its XSD; every row in one answer, as RaaS serves them."""
        refused = self._guard(request)
        if refused is not None:
            return refused
        params = request.query_params
        report = REPORTS.get((request.path_params["owner"], request.path_params["report"]))
        if report is None:
            return self.error(
                404, "NOT_FOUND", "The report does not exist or is not enabled as a web service"
            )
        if "xsd" in params:
            return Response(report.xsd(), media_type="application/xml; charset=UTF-8")
        if params.get("format") != "json":
            return _BadParameter(
                "format", "The sandbox serves reports as format=json or their ?xsd"
            ).response()
        as_of = datetime.now(UTC).date()
        collection = COLLECTIONS["workers"]
        view = self._view(collection, self.dataset(collection.stream), as_of, None, None)
        entries = list(report.entries(self._context(request), iter(view.page(0, view.count())), as_of))
        self.faults.served(self.name, f"report/{report.name}", len(entries))
        return JSONResponse({"Report_Entry": entries})

    def _getter(self, collection: Collection) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            refused = self._guard(request)
            if refused is not None:
                return refused
            try:
                as_of = _as_of(request)
            except _BadParameter as bad:
                return bad.response()
            data = self.dataset(collection.stream)
            index = index_of_id(self.state.seed, collection.stream, request.path_params["id"])
            row = None if index is None else data.row(index)
            if row is None or row.deleted or collection.start(row, data.base_size) > as_of:
                return self.error(404, "NOT_FOUND", f"Resource not found: {request.path_params['id']}")
            self.faults.served(self.name, collection.stream, 1)
            return JSONResponse(collection.render(self._context(request), row, as_of))

        return endpoint

    async def _business_title_change(self, request: Request) -> Response:
        refused = self._guard(request)
        if refused is not None:
            return refused
        worker_id = request.path_params["id"]
        data = self.dataset("workers")
        index = index_of_id(self.state.seed, "workers", worker_id)
        row = None if index is None else data.row(index)
        if index is None or row is None or row.deleted:
            return self.error(404, "NOT_FOUND", f"Resource not found: worker {worker_id}")
        try:
            title, effective = _title_change(await _json_object(request))
        except _BadParameter as bad:
            return bad.response()
        tenant = request.path_params["tenant"]
        key = request.headers.get("idempotency-key")
        print_ = json.dumps([worker_id, title, effective.isoformat()])
        if key:
            saved = self.replays.get((tenant, key))
            if saved is not None:
                if saved[0] != print_:
                    message = "The Idempotency-Key was already used with a different request"
                    return self.error(409, "IDEMPOTENCY_KEY_REUSED", message)
                return JSONResponse(saved[1], 201, headers={"Idempotency-Replayed": "true"})
        outcome = self.faults.write_outcome(self.name, "workers", worker_id)
        if outcome == "transient":
            return self.error(503, "SERVICE_UNAVAILABLE", "The business process could not start; retry")
        if outcome == "permanent":
            message = "The business title change violates a validation rule"
            return self.error(400, "BUSINESS_PROCESS_VALIDATION", message)
        worker = COLLECTIONS["workers"].render(self._context(request), row, effective)
        change_id = hashlib.sha256(f"{tenant}|{print_}".encode()).hexdigest()[:32]
        body = {
            "id": change_id,
            "descriptor": f"Business Title Change: {worker['descriptor']} to {title}",
            "businessTitle": title,
            "effective": effective.isoformat(),
            "worker": {"id": worker_id, "descriptor": worker["descriptor"]},
        }
        written = self.state.written_records(self.name, "workers")
        written[worker_id] = {
            "businessTitle": title,
            "effective": effective.isoformat(),
            "changeId": change_id,
        }
        if key:
            self.replays[(tenant, key)] = (print_, body)
        return JSONResponse(body, 201)

    def _context(self, request: Request) -> Context:
        return Context(
            seed=self.state.seed,
            instance=instance_url(request),
            tenant=request.path_params["tenant"],
            sizes={name: self.dataset(name).base_size for name in COLLECTIONS},
            is_poison=lambda stream, index: self.faults.is_poison(self.name, stream, index),
            title_changes=self.state.written_records(self.name, "workers"),
        )


class _BadParameter(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field

    def response(self) -> Response:
        error = {"error": str(self), "field": self.field, "code": "INVALID_PARAMETER"}
        return JSONResponse({"error": "Invalid request parameters", "errors": [error]}, 400)


async def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = await json_body(request)
    except ValueError:
        raise _BadParameter("body", "The request body is not JSON") from None
    if not isinstance(body, dict):
        raise _BadParameter("body", "The request body must be a JSON object")
    return body


def _title_change(body: dict[str, Any]) -> tuple[str, date]:
    """The proposed business title and its effective date (today when not given)."""
    title = body.get("proposedBusinessTitle")
    if not isinstance(title, str) or not title.strip():
        raise _BadParameter(
            "proposedBusinessTitle", "proposedBusinessTitle is required and must not be empty"
        )
    text = body.get("effective")
    if text is None:
        return title, datetime.now(UTC).date()
    try:
        if not isinstance(text, str) or len(text) != 10:
            raise ValueError(text)
        return title, date.fromisoformat(text)
    except ValueError:
        raise _BadParameter("effective", f"{text!r} is not a date (YYYY-MM-DD)") from None


def _paging(request: Request, default: int, maximum: int) -> tuple[int, int]:
    params = request.query_params
    try:
        limit = int(params.get("limit", default))
    except ValueError:
        raise _BadParameter("limit", "limit must be a whole number") from None
    if not 1 <= limit <= maximum:
        raise _BadParameter("limit", f"limit must be between 1 and {maximum}")
    try:
        offset = int(params.get("offset", 0))
    except ValueError:
        raise _BadParameter("offset", "offset must be a whole number") from None
    if offset < 0:
        raise _BadParameter("offset", "offset must not be negative")
    return limit, offset


def _as_of(request: Request) -> date:
    text = request.query_params.get("asOfEffectiveDate") or request.query_params.get("effective")
    if not text:
        return datetime.now(UTC).date()
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        raise _BadParameter("asOfEffectiveDate", f"{text!r} is not a date (YYYY-MM-DD)") from None


def _instant(request: Request, name: str) -> datetime | None:
    text = request.query_params.get(name)
    if not text:
        return None
    try:
        return utc(datetime.fromisoformat(text))
    except ValueError:
        raise _BadParameter(name, f"{text!r} is not an ISO 8601 date-time") from None


def _client_credentials(request: Request, form: dict[str, str]) -> tuple[str | None, str | None]:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            client_id, _, secret = base64.b64decode(value.strip()).decode().partition(":")
            return client_id, secret
        except (binascii.Error, UnicodeDecodeError):
            return None, None
    return form.get("client_id"), form.get("client_secret")


def _same(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def _oauth_error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status)
