"""The SaaS emulator: one ASGI app serving every system under its own path prefix, plus an admin API.

    /salesforce/...   /stripe/...   /netsuite/...   /workday/...   /servicenow/...   /__admin/...

Each system is a :class:`System` that declares its datasets and routes and knows how its real API words
errors; the fault layer in front of it injects 429s, 5xx, slow answers, resets mid-body, lost replies
(the request applied, its answer cut off after the headers) and budget exhaustion according to the
system's :class:`FaultProfile`.
"""

from __future__ import annotations

import abc
import asyncio
import re
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any, ClassVar

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from integrations_sandbox.emulator.data import Dataset
from integrations_sandbox.emulator.faults import Faults

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class EmulatorState:
    """Everything the systems share: datasets, faults and counters, and the seed."""

    def __init__(self, seed: int = 0, sizes: dict[str, int] | None = None) -> None:
        self.seed = seed
        self.sizes = sizes or {}
        self.faults = Faults()
        self.datasets: dict[str, Dataset] = {}
        self.written: dict[str, dict[str, dict[str, Any]]] = {}

    def written_records(self, system: str, stream: str) -> dict[str, dict[str, Any]]:
        """Records received by writes (reverse ETL), by record key; kept apart from generated data."""
        return self.written.setdefault(f"{system}/{stream}", {})

    def dataset(self, system: str, stream: str, default_size: int) -> Dataset:
        key = f"{system}/{stream}"
        if key not in self.datasets:
            size = self.sizes.get(key, self.sizes.get(system, default_size))
            self.datasets[key] = Dataset(stream=key, size=size, seed=self.seed)
        return self.datasets[key]

    def resize(self, system: str, stream: str, size: int) -> Dataset:
        key = f"{system}/{stream}"
        self.datasets[key] = Dataset(stream=key, size=size, seed=self.seed)
        return self.datasets[key]


class System(abc.ABC):
    """One emulated SaaS API."""

    name: str
    default_size: int = 1000
    default_sizes: ClassVar[Mapping[str, int]] = {}
    serves_root: ClassVar[bool] = False
    """Also answer at the host root (for clients that keep only host and port of a base URL)."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    @property
    def faults(self) -> Faults:
        return self.state.faults

    def dataset(self, stream: str) -> Dataset:
        return self.state.dataset(self.name, stream, self.default_sizes.get(stream, self.default_size))

    @classmethod
    @abc.abstractmethod
    def connection(cls, base_url: str) -> dict[str, Any]:
        """The Airflow connection (JSON form) that reaches this emulator at `base_url`."""

    @abc.abstractmethod
    def routes(self) -> list[BaseRoute]:
        """Routes relative to the system's prefix."""

    @abc.abstractmethod
    def streams(self) -> list[str]:
        """The dataset names this system serves (admin API and docs)."""

    def error(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
        """An error in the system's own wire shape."""
        return JSONResponse({"error": {"code": code, "message": message}}, status, headers=headers)

    def rate_limited(self, retry_after: float) -> Response:
        return self.error(429, "RATE_LIMITED", "Too many requests", {"Retry-After": f"{retry_after:g}"})

    def unavailable(self) -> Response:
        return self.error(503, "SERVICE_UNAVAILABLE", "The service is temporarily unavailable")

    def budget_exhausted(self) -> Response:
        return self.error(403, "REQUEST_LIMIT_EXCEEDED", "API budget exhausted")

    def response_headers(self) -> dict[str, str]:
        """Headers every successful answer carries (usage, rate-limit state)."""
        return {}

    def change_schema(self, change: Mapping[str, Any]) -> dict[str, Any]:
        """Apply one schema change an admin would make in the live system, for drift tests:
        `{"action": "add_object" | "add_field" | "change_type" | "remove_field", "object": ...,
        "field": ..., "type": ...}` (each system documents what it takes). Raises ValueError on a bad
        change; returns what the system now describes for the object."""
        raise ValueError(f"{self.name} has no schema changes")


class FaultLayer:
    """ASGI wrapper in front of one system: counts calls and injects the faults its profile asks for."""

    def __init__(self, system: System, app: Starlette) -> None:
        self.system = system
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        faults = self.system.faults
        name = self.system.name
        endpoint = f"{scope['method']} {_endpoint(scope)}"
        number, profile = faults.next_request(name, endpoint)
        budget = faults.budget_left(name)
        fault = faults.request_fault(name, number, endpoint)
        scope.setdefault("state", {})["fault"] = fault
        if budget is not None and budget < 0:
            await self.system.budget_exhausted()(scope, receive, send)
            return
        if fault == "429":
            await self.system.rate_limited(profile.retry_after)(scope, receive, send)
            return
        if fault == "5xx":
            await self.system.unavailable()(scope, receive, send)
            return
        if fault == "slow":
            await asyncio.sleep(profile.slow_seconds)
        headers = self.system.response_headers()
        if fault == "drop_reply":
            await self.app(scope, receive, _dropping_reply(send, headers))
            return
        await self.app(scope, receive, _sending(send, headers, cut_mid_body=fault == "reset"))


class ResetMidBody(Exception):
    """Raised inside the app to make the server drop the connection half way through a body."""


def _sending(send: Send, extra_headers: dict[str, str], cut_mid_body: bool) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start" and extra_headers:
            message["headers"] = [
                *message.get("headers", []),
                *((k.lower().encode(), v.encode()) for k, v in extra_headers.items()),
            ]
        if cut_mid_body and message["type"] == "http.response.body":
            body = message.get("body", b"")
            await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
            raise ResetMidBody("fault injection: connection reset mid-body")
        await send(message)

    return wrapped


def _dropping_reply(send: Send, extra_headers: dict[str, str]) -> Send:
    """Send the status and headers with no Content-Length (so even an empty body is chunked and can be cut
    short), then drop the connection before any body: the request was applied, its reply is lost."""

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            kept = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"content-length"]
            extra = [(k.lower().encode(), v.encode()) for k, v in extra_headers.items()]
            await send({**message, "headers": [*kept, *extra]})
            raise ResetMidBody("fault injection: reply dropped after the request was applied")
        await send(message)

    return wrapped


def _endpoint(scope: Scope) -> str:
    """The path with ids and locators folded, so counters group calls by endpoint."""
    path, root = scope["path"], scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    parts = []
    for part in path.strip("/").split("/"):
        is_id = any(c.isdigit() for c in part) and len(part) > 8
        parts.append("{id}" if is_id else part)
    return "/" + "/".join(parts)


def create_app(state: EmulatorState, systems: list[type[System]]) -> Starlette:
    from integrations_sandbox.emulator.admin import admin_routes

    instances = [cls(state) for cls in systems]
    routes: list[BaseRoute] = [Mount("/__admin", routes=admin_routes(state, instances))]
    root: FaultLayer | None = None
    for system in instances:
        layer = FaultLayer(system, Starlette(routes=system.routes()))
        routes.append(_mount(f"/{system.name}", layer))
        if system.serves_root:
            root = layer
    routes.append(Route("/", lambda request: JSONResponse({"systems": [s.name for s in instances]})))
    if root is not None:
        routes.append(_mount("", root))
    return Starlette(routes=routes)


def _mount(path: str, app: FaultLayer) -> Mount:
    """A mount whose rest of the path may hold any character, a decoded line break included, so an id
    with `%0A` reaches the system (and its 404), as on the real APIs, instead of no route at all."""
    mount = Mount(path, app=app)
    mount.path_regex = re.compile(mount.path_regex.pattern, re.DOTALL)
    return mount


async def json_body(request: Request) -> Any:
    """The request's JSON body; an empty body reads as None."""
    raw = await request.body()
    if not raw:
        return None
    return await request.json()
