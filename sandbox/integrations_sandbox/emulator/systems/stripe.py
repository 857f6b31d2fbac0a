"""Stripe emulator: the v1 REST API's lists, retrieves, customer writes, events and signed webhooks.

    GET  /v1/{customers,charges,invoices,subscriptions,events}   newest first; limit, starting_after,
                                                                  ending_before, created[gte|gt|lte|lt],
                                                                  each list's documented filters, expand[]
    GET  /v1/<resource>/<id>                                      one object (404 resource_missing), expand[]
    POST /v1/customers, /v1/customers/<id>                        create / update (form body, Idempotency-Key)
    DELETE /v1/invoices/<id>                                      deletes a draft invoice; others are refused
    GET  /__webhook_example?type=customer.updated[&timestamp=N]   a signed webhook payload for tests

Auth is `Authorization: Bearer <key>` (or basic auth with the key as user name): the secret key may do
anything, the restricted key only read. Events are kept 30 days, as Stripe keeps them.

`Stripe-Version` picks the shape of the objects: the pinned 2024-06-20 (the account's default, and the
shape events keep) or 2026-10-28.endive; any other version is refused with 400. As on Stripe, a plain
subscriptions list leaves canceled subscriptions out (`status=all` or `canceled` brings them), a
canceled subscription stays retrievable in full, and only draft invoices can be deleted.
"""

from __future__ import annotations

import base64
import hmac
import itertools
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from integrations_sandbox.emulator.app import EmulatorState, System
from integrations_sandbox.emulator.data import Row
from integrations_sandbox.emulator.systems.stripe_events import EventFeed
from integrations_sandbox.emulator.systems.stripe_paging import (
    ListQuery,
    ParamError,
    parse_query,
    record_page,
)
from integrations_sandbox.emulator.systems.stripe_render import (
    API_VERSION,
    KINDS,
    VERSIONS,
    Kind,
    Renderer,
    encode,
)
from integrations_sandbox.emulator.systems.stripe_writes import (
    IdempotencyStore,
    customer_changes,
    fingerprint,
    parse_form,
)

SECRET_KEY = "sk_test_51SandboxEmulatorSecretKey000000000000000000"
RESTRICTED_KEY = "rk_test_51SandboxEmulatorReadOnlyKey0000000000000000"
WEBHOOK_SECRET = "whsec_sandboxEmulatorWebhookSigningSecret00000000"
ACCOUNT = "acct_1SandboxEmulator"
_KEY_PREFIX = re.compile(r"^(sk|rk|pk)_(test|live)_")
_NEW_CUSTOMER = {
    "address": None,
    "balance": 0,
    "delinquent": False,
    "description": None,
    "email": None,
    "metadata": {},
    "name": None,
    "next_invoice_sequence": 1,
    "phone": None,
    "preferred_locales": [],
    "shipping": None,
    "tax_exempt": "none",
}
_ERROR_TYPES = {402: "card_error", 409: "idempotency_error"}
EXPANDABLE: dict[str, dict[str, str | None]] = {
    "customer": {"default_source": None, "test_clock": None},
    "charge": {"customer": "customers", "invoice": "invoices"},
    "invoice": {
        "charge": "charges",
        "customer": "customers",
        "default_payment_method": None,
        "payment_intent": None,
        "subscription": "subscriptions",
        "test_clock": None,
    },
    "subscription": {
        "customer": "customers",
        "default_payment_method": None,
        "latest_invoice": "invoices",
        "test_clock": None,
    },
}
"""Expandable fields (per Stripe's spec) of the served objects: the stream the object they name comes
from, or None where the sandbox always serves the field as null (expanding null leaves it null)."""


def mask_key(key: str) -> str:
    """A key as Stripe shows it in errors: its type prefix, stars, and at most its last four characters."""
    prefix = match.group(0) if (match := _KEY_PREFIX.match(key)) else ""
    rest = key[len(prefix) :]
    tail = rest[-4:] if len(rest) > 8 else ""
    return prefix + "*" * (len(rest) - len(tail)) + tail


class Stripe(System):
    """The Stripe API as the official `stripe` library sees it, over seeded datasets of any size."""

    name = "stripe"
    default_sizes: ClassVar[Mapping[str, int]] = {stream: kind.default_size for stream, kind in KINDS.items()}
    default_size = 2000

    def __init__(self, state: EmulatorState) -> None:
        super().__init__(state)
        self.clock = time.time
        self.idempotency = IdempotencyStore(lambda: self.clock())
        self.renderer = Renderer(
            state.seed,
            base_size=lambda stream: self.dataset(stream).base_size,
            is_poison=lambda stream, index: self.faults.is_poison(self.name, stream, index),
            written=lambda object_id: self.written().get(object_id),
        )
        self.feed = EventFeed(self.renderer, self.dataset, lambda: self.clock())
        self._request_numbers = itertools.count(1)

    @classmethod
    def connection(cls, base_url: str) -> dict[str, Any]:
        extra = {
            "api_base": base_url,
            "stripe_version": API_VERSION,
            "webhook_secret": WEBHOOK_SECRET,
            "restricted_key": RESTRICTED_KEY,
        }
        return {"conn_type": "stripe", "host": base_url, "password": SECRET_KEY, "extra": extra}

    def streams(self) -> list[str]:
        return list(KINDS)

    def written(self) -> dict[str, dict[str, Any]]:
        return self.state.written_records(self.name, "customers")

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/v1/{resource}", self._list, methods=["GET"]),
            Route("/v1/customers", self._write_customer, methods=["POST"]),
            Route("/v1/{resource}/{object_id}", self._retrieve, methods=["GET"]),
            Route("/v1/customers/{object_id}", self._write_customer, methods=["POST"]),
            Route("/v1/invoices/{object_id}", self._delete_invoice, methods=["DELETE"]),
            Route("/__webhook_example", self._webhook_example, methods=["GET"]),
            Route("/{path:path}", self._unrecognized, methods=["GET", "POST", "DELETE", "PUT", "PATCH"]),
        ]

    # Errors in Stripe's shape: {"error": {"type", "code", "message", "param"}}.

    def error(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
        kind = _ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
        return self._error(status, kind, message, code=code.lower(), headers=headers)

    def rate_limited(self, retry_after: float) -> Response:
        message = "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits."
        return self._error(
            429,
            "invalid_request_error",
            message,
            code="rate_limit",
            headers={"Retry-After": f"{retry_after:g}"},
        )

    def unavailable(self) -> Response:
        return self._error(500, "api_error", "An unknown error occurred. Please try again later.")

    def budget_exhausted(self) -> Response:
        message = "Request rate limit exceeded: the sandbox's API budget for this account is used up."
        return self._error(429, "invalid_request_error", message, code="rate_limit")

    def _error(
        self,
        status: int,
        kind: str,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        body: dict[str, Any] = {"type": kind, "message": message}
        if code:
            body |= {"code": code, "doc_url": f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"}
        if param:
            body["param"] = param
        return self._json({"error": body}, status, {"Request-Id": self._request_id(), **(headers or {})})

    def _json(self, body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        return Response(orjson.dumps(body), status, headers=headers, media_type="application/json")

    def _request_id(self) -> str:
        return f"req_{encode(next(self._request_numbers), 14)}"

    # Every API call: the key, the API version, a request id.

    def _begin(self, request: Request, *, write: bool) -> tuple[dict[str, str], Response | None]:
        version = request.headers.get("stripe-version") or API_VERSION
        headers = {"Request-Id": self._request_id(), "Stripe-Version": version}
        key = _api_key(request)
        if not key:
            message = (
                "You did not provide an API key. You need to provide your API key in the Authorization "
                "header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY')."
            )
            return headers, self._error(401, "invalid_request_error", message, headers=headers)
        if hmac.compare_digest(key, RESTRICTED_KEY) and write:
            message = (
                f"The provided key '{mask_key(key)}' does not have the required permissions for this "
                f"endpoint on account '{ACCOUNT}'. Having the 'rak_customer_write' permission would "
                "allow this request to continue."
            )
            return headers, self._error(403, "invalid_request_error", message, headers=headers)
        if not (hmac.compare_digest(key, SECRET_KEY) or hmac.compare_digest(key, RESTRICTED_KEY)):
            message = f"Invalid API Key provided: {mask_key(key)}"
            return headers, self._error(401, "invalid_request_error", message, headers=headers)
        if version not in VERSIONS:
            headers["Stripe-Version"] = API_VERSION
            message = f"Invalid Stripe API version: {version}"
            return headers, self._error(400, "invalid_request_error", message, headers=headers)
        return headers, None

    def _refuse(self, error: ParamError, headers: dict[str, str], status: int = 400) -> Response:
        return self._error(
            status,
            "invalid_request_error",
            error.message,
            code=error.code,
            param=error.param,
            headers=headers,
        )

    async def _unrecognized(self, request: Request) -> Response:
        path = request.url.path.removeprefix(request.scope.get("root_path", ""))
        message = f"Unrecognized request URL ({request.method}: {path}). Please see https://stripe.com/docs."
        return self._error(404, "invalid_request_error", message)

    # Reads.

    async def _list(self, request: Request) -> Response:
        headers, refusal = self._begin(request, write=False)
        if refusal is not None:
            return refusal
        resource = request.path_params["resource"]
        if resource != "events" and resource not in KINDS:
            return await self._unrecognized(request)
        version = headers["Stripe-Version"]
        try:
            query = parse_query(request.query_params.multi_items(), resource=resource)
            if request.scope.get("state", {}).get("fault") == "expired_cursor":
                self._expire_cursor(query, resource)
            if resource == "events":
                data, has_more = self.feed.page(query)
                self._check_expansions(query.expand, "event", list_of=True)
            else:
                data, has_more = self._record_page(KINDS[resource], query, version)
                data = [self._expand(record, query.expand, version, list_of=True) for record in data]
        except ParamError as error:
            return self._refuse(error, headers)
        self.faults.served(self.name, resource, len(data))
        return self._json(
            {"object": "list", "data": data, "has_more": has_more, "url": f"/v1/{resource}"}, headers=headers
        )

    def _expire_cursor(self, query: ListQuery, resource: str) -> None:
        """Fault injection: the cursor's object is gone, so Stripe no longer knows where the page starts."""
        param = "starting_after" if query.starting_after else "ending_before" if query.ending_before else None
        if param is not None:
            noun = KINDS[resource].object if resource in KINDS else "event"
            raise ParamError(f"No such {noun}: '{getattr(query, param)}'", param, "resource_missing")

    def _record_page(self, kind: Kind, query: ListQuery, version: str) -> tuple[list[dict[str, Any]], bool]:
        after = self._cursor_index(kind, query.starting_after, "starting_after")
        before = self._cursor_index(kind, query.ending_before, "ending_before")

        def render(row: Row) -> dict[str, Any] | None:
            # A canceled subscription stays listed (its status says so); deleted objects are gone.
            if row.deleted and kind.stream != "subscriptions":
                return None
            return self.renderer.render(kind.stream, row, version)

        return record_page(self.dataset(kind.stream), query, after, before, render)

    def _check_expansions(self, paths: tuple[str, ...], noun: str, *, list_of: bool) -> dict[str, str | None]:
        """The fields to expand, by name; a path this object cannot expand is refused as Stripe does."""
        fields = {}
        for path in paths:
            name = path.removeprefix("data.") if list_of and path.startswith("data.") else None
            name = name if list_of else path
            if name is None or name not in EXPANDABLE.get(noun, {}):
                raise ParamError(f"This property cannot be expanded ({path}).", "expand")
            fields[name] = EXPANDABLE[noun][name]
        return fields

    def _expand(
        self, record: dict[str, Any], paths: tuple[str, ...], version: str, *, list_of: bool = False
    ) -> dict[str, Any]:
        for name, stream in self._check_expansions(paths, str(record["object"]), list_of=list_of).items():
            target = record.get(name)
            if stream is None or not isinstance(target, str):
                continue
            found = self.renderer.find(target)
            row = None if found is None else self.dataset(stream).row(found[1])
            if row is None:
                continue
            kind = KINDS[stream]
            if row.deleted and stream != "subscriptions":
                record[name] = {"id": target, "object": kind.object, "deleted": True}
            else:
                record[name] = self.renderer.render(stream, row, version)
        return record

    def _cursor_index(self, kind: Kind, cursor: str | None, param: str) -> int | None:
        if cursor is None:
            return None
        index = self.renderer.ids.index_of(kind.prefix, cursor)
        if index is None:
            raise ParamError(f"No such {kind.object}: '{cursor}'", param, "resource_missing")
        return index

    async def _retrieve(self, request: Request) -> Response:
        headers, refusal = self._begin(request, write=False)
        if refusal is not None:
            return refusal
        resource, object_id = request.path_params["resource"], request.path_params["object_id"]
        if resource != "events" and resource not in KINDS:
            return await self._unrecognized(request)
        try:
            expand = _retrieve_expansions(request.query_params.multi_items())
            if resource == "events":
                self._check_expansions(expand, "event", list_of=False)
        except ParamError as error:
            return self._refuse(error, headers)
        if resource == "events":
            event = self.feed.get(object_id)
            if event is None:
                missing = ParamError(f"No such event: '{object_id}'", "id", "resource_missing")
                return self._refuse(missing, headers, 404)
            return self._json(event, headers=headers)
        kind = KINDS[resource]
        index = self.renderer.ids.index_of(kind.prefix, object_id)
        row = None if index is None else self.dataset(kind.stream).row(index)
        if row is None or (row.deleted and not kind.deletable):
            missing = ParamError(f"No such {kind.object}: '{object_id}'", "id", "resource_missing")
            return self._refuse(missing, headers, 404)
        self.faults.served(self.name, kind.stream, 1)
        if row.deleted and kind.stream != "subscriptions":
            return self._json({"id": object_id, "object": kind.object, "deleted": True}, headers=headers)
        record = self.renderer.render(kind.stream, row, headers["Stripe-Version"])
        try:
            return self._json(self._expand(record, expand, headers["Stripe-Version"]), headers=headers)
        except ParamError as error:
            return self._refuse(error, headers)

    async def _delete_invoice(self, request: Request) -> Response:
        """Stripe deletes draft invoices only; a finalized one must be voided instead."""
        headers, refusal = self._begin(request, write=True)
        if refusal is not None:
            return refusal
        object_id = request.path_params["object_id"]
        dataset = self.dataset("invoices")
        index = self.renderer.ids.index_of("in", object_id)
        row = None if index is None else dataset.row(index)
        if row is None or row.deleted:
            missing = ParamError(f"No such invoice: '{object_id}'", "id", "resource_missing")
            return self._refuse(missing, headers, 404)
        if self.renderer.render("invoices", row)["status"] != "draft":
            message = "You can only delete draft invoices."
            return self._error(
                400, "invalid_request_error", message, code="invoice_not_editable", headers=headers
            )
        with dataset.lock:
            dataset.changes[row.index] = Row(
                row.index, datetime.fromtimestamp(self.clock(), UTC), row.created, row.version, deleted=True
            )
        return self._json({"id": object_id, "object": "invoice", "deleted": True}, headers=headers)

    # Writes.

    async def _write_customer(self, request: Request) -> Response:
        headers, refusal = self._begin(request, write=True)
        if refusal is not None:
            return refusal
        params = parse_form(await request.body())
        key = request.headers.get("idempotency-key")
        print_ = fingerprint(request.method, request.url.path, params)
        if key:
            headers["Idempotency-Key"] = key
            saved = self.idempotency.lookup(key)
            if saved is not None and saved.fingerprint != print_:
                message = (
                    f"Keys for idempotent requests can only be used with the same parameters they were "
                    f"first used with. Try using a key other than '{key}' if you meant to execute a "
                    "different request."
                )
                return self._error(400, "idempotency_error", message, headers=headers)
            if saved is not None:
                replay = {**headers, "Idempotent-Replayed": "true", "Original-Request": saved.request_id}
                return Response(saved.body, saved.status, headers=replay, media_type="application/json")
        response = self._apply_customer_write(
            request.path_params.get("object_id"), params, key or print_, headers
        )
        if key and response.status_code == 200:
            self.idempotency.save(key, print_, 200, bytes(response.body), headers["Request-Id"])
        return response

    def _apply_customer_write(
        self, object_id: str | None, params: dict[str, Any], write_key: str, headers: dict[str, str]
    ) -> Response:
        dataset = self.dataset("customers")
        current: dict[str, Any] = {}
        if object_id is not None:
            index = self.renderer.ids.index_of("cus", object_id)
            row = None if index is None else dataset.row(index)
            if row is None or row.deleted:
                return self._refuse(
                    ParamError(f"No such customer: '{object_id}'", "id", "resource_missing"), headers, 404
                )
            current = self.renderer.render("customers", row)
        try:
            changes = customer_changes(params, current, creating=object_id is None)
        except ParamError as error:
            return self._refuse(error, headers)
        outcome = self.faults.write_outcome(self.name, "customers", object_id or write_key)
        if outcome == "transient":
            message = (
                "This object cannot be accessed right now because another API request or Stripe process "
                "is currently accessing it. If you see this error intermittently, retry the request."
            )
            return self._error(
                429,
                "invalid_request_error",
                message,
                code="lock_timeout",
                headers={**headers, "Stripe-Should-Retry": "true"},
            )
        if outcome == "permanent":
            message = (
                "The customer's location isn't recognized, so tax can't be calculated for this customer."
            )
            return self._error(
                400,
                "invalid_request_error",
                message,
                code="customer_tax_location_invalid",
                param="address",
                headers=headers,
            )
        now = datetime.fromtimestamp(self.clock(), UTC)
        if object_id is None:
            row = dataset.append(now)
            object_id = self.renderer.ids.make("cus", row.index)
            self.written()[object_id] = {**_NEW_CUSTOMER, **changes}
        else:
            self.written().setdefault(object_id, {}).update(changes)
            row = dataset.touch(row.index, now)
        return self._json(self.renderer.render("customers", row), headers=headers)

    async def _webhook_example(self, request: Request) -> Response:
        """A signed event payload, as Stripe would POST it to a webhook endpoint, for receiver tests."""
        headers, refusal = self._begin(request, write=False)
        if refusal is not None:
            return refusal
        try:
            stamp = int(request.query_params.get("timestamp") or self.clock())
            wanted = request.query_params.get("type", "customer.updated")
            return self._json(self.feed.signed_example(wanted, stamp, WEBHOOK_SECRET), headers=headers)
        except ValueError:
            return self._refuse(
                ParamError("Invalid integer", "timestamp", "parameter_invalid_integer"), headers
            )
        except ParamError as error:
            return self._refuse(error, headers)


def _retrieve_expansions(items: list[tuple[str, str]]) -> tuple[str, ...]:
    """`expand[]` of a retrieve; it takes no other query parameter."""
    expand = []
    for name, value in items:
        if name.partition("[")[0] != "expand":
            raise ParamError(f"Received unknown parameter: {name}", name, "parameter_unknown")
        expand.append(value)
    return tuple(expand)


def _api_key(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() == "basic":
        try:
            user = base64.b64decode(value.strip(), validate=True).decode().partition(":")[0]
        except (ValueError, UnicodeDecodeError):
            return None
        return user or None
    return None
