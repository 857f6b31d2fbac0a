"""Composite Batch (`POST .../composite/batch`): up to 25 independent subrequests in one call.

Each subrequest is answered by the same route as a call of its own (describe, query, sObject rows, ...),
with the session of the outer request; the whole batch counts as one API call. The body is checked whole
before any subrequest runs (400 on a malformed one); `haltOnError` answers 412 BATCH_PROCESSING_HALTED
for the subrequests after the first failure.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from integrations_sandbox.emulator.systems.salesforce_wire import (
    BadBody,
    bad_body,
    errors,
    json_object,
    json_response,
)

if TYPE_CHECKING:
    from integrations_sandbox.emulator.systems.salesforce import Salesforce

MAX_SUBREQUESTS = 25
_METHODS = ("GET", "POST", "PATCH", "DELETE", "PUT", "HEAD")
_URL = re.compile(r"/?(?:services/data/)?(v\d{2,3}\.\d/.+)")
_HALTED = [{"errorCode": "BATCH_PROCESSING_HALTED", "message": "Batch processing halted per request"}]


def _invalid(message: str) -> Response:
    return errors(400, "INVALID_BATCH_REQUEST", message)


async def batch(sf: Salesforce, request: Request, version: str) -> Response:
    try:
        body = await json_object(request)
    except BadBody as error:
        return bad_body(error)
    subrequests = body.get("batchRequests") if isinstance(body, dict) else None
    if not isinstance(subrequests, list) or not subrequests:
        return _invalid("batchRequests is required and must hold at least one subrequest")
    if len(subrequests) > MAX_SUBREQUESTS:
        return _invalid(f"A batch can contain a maximum of {MAX_SUBREQUESTS} requests")
    halt = body.get("haltOnError", False)
    if not isinstance(halt, bool):
        return _invalid("haltOnError must be a boolean")
    parsed = []
    for number, sub in enumerate(subrequests):
        checked = _check(sub)
        if isinstance(checked, str):
            return _invalid(f"Subrequest {number}: {checked}")
        parsed.append(checked)
    results: list[dict[str, Any]] = []
    failed = False
    for method, path, query, rich_input in parsed:
        if failed and halt:
            results.append({"statusCode": 412, "result": _HALTED})
            continue
        response = await sf.serve(_subrequest(request, method, path, query, rich_input), path, False)
        failed = failed or response.status_code >= 400
        raw = bytes(response.body)
        results.append({"statusCode": response.status_code, "result": json.loads(raw) if raw else None})
    return json_response({"hasErrors": failed, "results": results})


def _check(sub: Any) -> tuple[str, str, str, Any] | str:
    if not isinstance(sub, dict):
        return "must be a JSON object"
    method, url = sub.get("method"), sub.get("url")
    if not isinstance(method, str) or method.upper() not in _METHODS:
        return f"method must be one of {', '.join(_METHODS)}"
    if not isinstance(url, str):
        return "url is required"
    parts = urlsplit(url)
    match = _URL.fullmatch(parts.path)
    if match is None:
        return f"url must start with the API version, as in vXX.X/sobjects: {url!r}"
    return method.upper(), f"services/data/{match.group(1)}".rstrip("/"), parts.query, sub.get("richInput")


def _subrequest(outer: Request, method: str, path: str, query: str, rich_input: Any) -> Request:
    body = b"" if rich_input is None else json.dumps(rich_input).encode()
    headers = [(k, v) for k, v in outer.scope["headers"] if k not in (b"content-length", b"content-type")]
    headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    scope = {
        **outer.scope,
        "method": method,
        "path": f"/{path}",
        "raw_path": f"/{path}".encode(),
        "query_string": query.encode(),
        "headers": headers,
        "path_params": {"path": path},
        "state": {},
    }
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(scope, receive)
