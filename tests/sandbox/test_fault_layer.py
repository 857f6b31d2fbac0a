"""The fault layer in front of every emulated system, over a real HTTP server."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any, ClassVar

import httpx
import pytest
import uvicorn
from integrations_sandbox.emulator.app import EmulatorState, System, create_app
from integrations_sandbox.runner import free_port
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route


class Echo(System):
    name = "echo"
    received: ClassVar[list[bytes]] = []

    @classmethod
    def connection(cls, base_url: str) -> dict[str, Any]:
        return {"conn_type": "http", "host": base_url}

    def streams(self) -> list[str]:
        return ["things"]

    def routes(self) -> list[BaseRoute]:
        async def things(request: Request) -> JSONResponse:
            rows = [{"id": r.index} for r in self.dataset("things").by_index()]
            return JSONResponse({"data": rows, "fault": request.scope["state"].get("fault")})

        async def add(request: Request) -> Response:
            Echo.received.append(await request.body())
            if request.query_params.get("empty"):
                return Response(status_code=201)
            return JSONResponse({"added": len(Echo.received)}, status_code=201)

        return [Route("/things", things), Route("/things", add, methods=["POST"])]


@pytest.fixture(scope="module")
def emulator() -> Iterator[str]:
    port = free_port()
    app = create_app(EmulatorState(seed=3, sizes={"echo": 2000}), [Echo])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(5)


def set_faults(url: str, **profile: Any) -> None:
    httpx.delete(f"{url}/__admin/faults/echo").raise_for_status()
    if profile:
        httpx.put(f"{url}/__admin/faults/echo", json=profile).raise_for_status()
    httpx.post(f"{url}/__admin/counters/reset").raise_for_status()


def statuses(url: str, n: int) -> list[int | str]:
    seen: list[int | str] = []
    with httpx.Client(timeout=5) as client:
        for _ in range(n):
            try:
                seen.append(client.get(f"{url}/echo/things").status_code)
            except httpx.TransportError as error:
                seen.append(type(error).__name__)
    return seen


def test_no_profile_means_no_faults_and_exact_counters(emulator: str) -> None:
    set_faults(emulator)
    assert statuses(emulator, 5) == [200] * 5
    counters = httpx.get(f"{emulator}/__admin/counters").json()
    assert counters["requests"] == {"echo": 5}
    assert counters["calls"] == {"echo GET /things": 5}


def test_the_same_seed_replays_the_same_faults(emulator: str) -> None:
    set_faults(emulator, seed=11, rate_429=0.2, rate_5xx=0.2, rate_reset=0.1, retry_after=0.5)
    first = statuses(emulator, 40)
    set_faults(emulator, seed=11, rate_429=0.2, rate_5xx=0.2, rate_reset=0.1, retry_after=0.5)
    assert statuses(emulator, 40) == first
    assert {429, 503, 200} <= set(first)
    assert "RemoteProtocolError" in first, "a reset mid-body must cut the response short"
    set_faults(emulator)


def test_429_carries_retry_after_and_down_means_every_call_fails(emulator: str) -> None:
    set_faults(emulator, rate_429=1.0, retry_after=7)
    response = httpx.get(f"{emulator}/echo/things")
    assert response.status_code == 429 and response.headers["retry-after"] == "7"
    set_faults(emulator, down=True)
    assert statuses(emulator, 3) == [503] * 3
    set_faults(emulator)


def test_slow_responses_are_slow(emulator: str) -> None:
    set_faults(emulator, rate_slow=1.0, slow_seconds=0.4)
    started = time.monotonic()
    assert statuses(emulator, 2) == [200, 200]
    assert time.monotonic() - started >= 0.8
    set_faults(emulator)


def test_budget_exhaustion(emulator: str) -> None:
    set_faults(emulator, api_budget=3)
    assert statuses(emulator, 5) == [200, 200, 200, 403, 403]
    set_faults(emulator)


def test_admin_mutations_show_in_the_next_read(emulator: str) -> None:
    set_faults(emulator)
    httpx.put(f"{emulator}/__admin/datasets/echo/things", json={"size": 10}).raise_for_status()
    changed = httpx.post(
        f"{emulator}/__admin/datasets/echo/things/mutate", json={"insert": 2, "delete": 3}
    ).json()
    assert changed == {"updated": 0, "inserted": 2, "deleted": 3}
    assert len(httpx.get(f"{emulator}/echo/things").json()["data"]) == 9
    listing = httpx.get(f"{emulator}/__admin/datasets").json()
    assert listing["echo/things"] == {"size": 12, "live": 9}
    bad = httpx.post(f"{emulator}/__admin/datasets/echo/nope/mutate", json={"insert": 1})
    assert bad.status_code == 404 and "unknown stream" in bad.json()["error"]


@pytest.mark.parametrize("empty", [False, True], ids=["json-reply", "empty-reply"])
def test_drop_reply_applies_the_request_then_loses_its_answer(emulator: str, empty: bool) -> None:
    """The fault a retried write meets: the server did the work, the client never learns it."""
    set_faults(emulator, rate_drop_reply=1.0)
    Echo.received.clear()
    params = {"empty": "1"} if empty else {}
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.post(f"{emulator}/echo/things", content=b"row-1", params=params, timeout=5)
    assert Echo.received == [b"row-1"], "the request was applied before its reply was dropped"
    set_faults(emulator)
    assert httpx.post(f"{emulator}/echo/things", content=b"row-2", params=params).status_code == 201
    assert Echo.received == [b"row-1", b"row-2"]


def test_drop_reply_is_drawn_like_every_other_fault(emulator: str) -> None:
    set_faults(emulator, seed=5, rate_drop_reply=0.3)
    first = statuses(emulator, 30)
    set_faults(emulator, seed=5, rate_drop_reply=0.3)
    assert statuses(emulator, 30) == first
    assert {200, "RemoteProtocolError"} == set(first)
    set_faults(emulator)
    bad = httpx.put(f"{emulator}/__admin/faults/echo", json={"rate_drop_reply": 2})
    assert bad.status_code >= 400


def test_faults_can_target_one_endpoint_and_stop_after_a_count(emulator: str) -> None:
    """A test can lose exactly the first reply of one kind of call and nothing else."""
    set_faults(emulator, rate_drop_reply=1.0, only_endpoints=["POST /things"], max_faults=1)
    Echo.received.clear()
    assert statuses(emulator, 2) == [200, 200], "other endpoints meet no fault"
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.post(f"{emulator}/echo/things", content=b"a", timeout=5)
    assert httpx.post(f"{emulator}/echo/things", content=b"b", timeout=5).status_code == 201
    assert Echo.received == [b"a", b"b"]
    set_faults(emulator)
