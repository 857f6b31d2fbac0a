"""The emulator's admin API: faults, counters and dataset changes between runs.

GET  /__admin/health
GET  /__admin/counters                     calls per endpoint, records served, writes per key
POST /__admin/counters/reset
GET  /__admin/faults                       every system's profile
PUT  /__admin/faults/{system}              {"rate_429": 0.1, "seed": 7, ...} (merged into the current)
DELETE /__admin/faults/{system}            back to no faults
GET  /__admin/datasets                     streams with their sizes
PUT  /__admin/datasets/{system}/{stream}   {"size": 100000} regenerates the stream
POST /__admin/datasets/{system}/{stream}/mutate
                                           {"update": 10, "insert": 5, "delete": 2, "same_timestamp": true}
POST /__admin/schema/{system}              {"action": "add_field", "object": "Account", "field": ...}
                                           a schema change as an admin would make it (System.change_schema)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from integrations_sandbox.emulator.faults import FaultProfile

if TYPE_CHECKING:
    from integrations_sandbox.emulator.app import EmulatorState, System


def admin_routes(state: EmulatorState, systems: list[System]) -> list[BaseRoute]:
    by_name = {s.name: s for s in systems}

    def bad(message: str, status: int = 400) -> JSONResponse:
        return JSONResponse({"error": message}, status)

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True, "systems": sorted(by_name), "seed": state.seed})

    async def counters(request: Request) -> JSONResponse:
        return JSONResponse(state.faults.snapshot())

    async def reset_counters(request: Request) -> JSONResponse:
        state.faults.reset_counters()
        return JSONResponse({"ok": True})

    async def faults(request: Request) -> JSONResponse:
        return JSONResponse({name: state.faults.profiles[name].to_json() for name in sorted(by_name)})

    async def set_faults(request: Request) -> JSONResponse:
        system = request.path_params["system"]
        if system not in by_name:
            return bad(f"unknown system {system!r}; known: {sorted(by_name)}", 404)
        if request.method == "DELETE":
            state.faults.set_profile(system, FaultProfile())
        else:
            try:
                profile = FaultProfile.from_json(await request.json(), state.faults.profiles[system])
            except (ValueError, TypeError) as error:
                return bad(str(error))
            state.faults.set_profile(system, profile)
        return JSONResponse(state.faults.profiles[system].to_json())

    def dataset_of(request: Request) -> tuple[str, str] | JSONResponse:
        system, stream = request.path_params["system"], request.path_params["stream"]
        if system not in by_name:
            return bad(f"unknown system {system!r}", 404)
        if stream not in by_name[system].streams():
            return bad(f"unknown stream {stream!r} of {system}; known: {by_name[system].streams()}", 404)
        return system, stream

    async def datasets(request: Request) -> JSONResponse:
        listing = {}
        for system in systems:
            for stream in system.streams():
                data = system.dataset(stream)
                listing[f"{system.name}/{stream}"] = {"size": data.size, "live": data.live_count()}
        return JSONResponse(listing)

    async def resize(request: Request) -> JSONResponse:
        found = dataset_of(request)
        if isinstance(found, JSONResponse):
            return found
        size = (await request.json()).get("size")
        if not isinstance(size, int) or size < 0:
            return bad("size must be a non-negative integer")
        data = state.resize(*found, size)
        return JSONResponse({"size": data.size})

    async def mutate(request: Request) -> JSONResponse:
        found = dataset_of(request)
        if isinstance(found, JSONResponse):
            return found
        body = await request.json()
        counts = {k: body.get(k, 0) for k in ("update", "insert", "delete")}
        if any(not isinstance(v, int) or v < 0 for v in counts.values()):
            return bad("update, insert and delete must be non-negative integers")
        system, stream = found
        changed = (
            by_name[system].dataset(stream).mutate(**counts, same_timestamp=bool(body.get("same_timestamp")))
        )
        return JSONResponse({k: len(v) for k, v in changed.items()})

    async def change_schema(request: Request) -> JSONResponse:
        system = request.path_params["system"]
        if system not in by_name:
            return bad(f"unknown system {system!r}", 404)
        body = await request.json()
        if not isinstance(body, dict):
            return bad("the body must be a JSON object")
        try:
            return JSONResponse(by_name[system].change_schema(body))
        except ValueError as error:
            return bad(str(error))

    async def written(request: Request) -> JSONResponse:
        system, stream = request.path_params["system"], request.path_params["stream"]
        if system not in by_name:
            return bad(f"unknown system {system!r}", 404)
        return JSONResponse(state.written_records(system, stream))

    return [
        Route("/health", health),
        Route("/written/{system}/{stream}", written),
        Route("/counters", counters),
        Route("/counters/reset", reset_counters, methods=["POST"]),
        Route("/faults", faults),
        Route("/faults/{system}", set_faults, methods=["PUT", "DELETE"]),
        Route("/datasets", datasets),
        Route("/datasets/{system}/{stream}", resize, methods=["PUT"]),
        Route("/datasets/{system}/{stream}/mutate", mutate, methods=["POST"]),
        Route("/schema/{system}", change_schema, methods=["POST"]),
    ]
