"""Salesforce's wire conventions shared by the REST and Bulk handlers: JSON bodies and error lists."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

dumps: Callable[[Any], bytes]
try:  # the fastest encoder available; orjson is in the sandbox extra, msgspec comes with Airflow
    import orjson

    dumps = orjson.dumps
except ImportError:  # pragma: no cover - depends on the environment
    try:
        import msgspec

        dumps = msgspec.json.Encoder().encode
    except ImportError:
        dumps = lambda value: json.dumps(value, separators=(",", ":")).encode()  # noqa: E731


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(body), status, headers=headers, media_type="application/json;charset=UTF-8")


def errors(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    """Salesforce's error body: a JSON list of {"message", "errorCode"}."""
    return json_response([{"message": message, "errorCode": code}], status, headers)


def not_found() -> Response:
    return errors(404, "NOT_FOUND", "The requested resource does not exist")


class BadBody(Exception):
    """A request body Salesforce would refuse with JSON_PARSER_ERROR."""


async def json_object(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw) if raw else None
    except ValueError as error:
        raise BadBody(f"Unexpected character in JSON body: {error}") from None


def bad_body(error: BadBody) -> Response:
    return errors(400, "JSON_PARSER_ERROR", str(error))
