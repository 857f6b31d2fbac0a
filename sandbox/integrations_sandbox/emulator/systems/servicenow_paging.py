"""ServiceNow Table API paging: parameters, orders a view can stream, field selection, Link headers."""

from __future__ import annotations

import functools
from typing import Any

from starlette.requests import Request

from integrations_sandbox.emulator.systems._common_wd_sn import page_url
from integrations_sandbox.emulator.systems.servicenow_query import (
    QueryError,
    parse,
    predicate,
    sort_key,
)

DATETIME_FIELDS = {"sys_created_on", "sys_updated_on"}
DISPLAY_MODES = {"true", "false", "all"}

FAST_ORDERS = {"sys_id": "index", "number": "index", "sys_updated_on": "updated", "sys_created_on": "created"}


def parameters(request: Request, max_limit: int) -> tuple[int, int]:
    try:
        limit = int(request.query_params.get("sysparm_limit", max_limit))
        offset = int(request.query_params.get("sysparm_offset", 0))
    except ValueError as error:
        raise QueryError("sysparm_limit and sysparm_offset must be whole numbers") from error
    if limit < 0 or offset < 0:
        raise QueryError("sysparm_limit and sysparm_offset must not be negative")
    return min(limit, max_limit), offset


def fast_order(order_by: list[tuple[str, bool]]) -> tuple[str, bool] | None:
    """(view order, descending) for orders a MergedView streams: one key field, optionally then sys_id."""
    if not order_by:
        return "index", False
    (first, descending), *rest = order_by
    kind = FAST_ORDERS.get(first)
    if kind is None or rest not in ([], [("sys_id", descending)]):
        return None
    return kind, descending


def display_mode(request: Request) -> str:
    """`sysparm_display_value`: true, false (the default) or all; anything else reads as false."""
    mode = request.query_params.get("sysparm_display_value", "false").lower()
    return mode if mode in DISPLAY_MODES else "false"


def excludes_links(request: Request) -> bool:
    return request.query_params.get("sysparm_exclude_reference_link", "false").lower() == "true"


def listed_page(
    request: Request, rows: list[dict[str, Any]], limit: int, offset: int, *, no_rows_if_invalid: bool
) -> tuple[int, list[dict[str, Any]]]:
    """A page of an in-memory table whose rows all carry the same fields."""
    known = set(rows[0]) if rows else None
    query = parse(request.query_params.get("sysparm_query", ""), known, DATETIME_FIELDS)
    if query.invalid and no_rows_if_invalid:
        return 0, []
    test = predicate(query.groups)
    matches = [r for r in rows if test is None or test(r)]
    for name, descending in reversed(query.order_by):
        matches.sort(key=functools.partial(sort_key, name), reverse=descending)
    return len(matches), matches[offset : offset + limit]


def select(request: Request, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    fields = [f.strip() for f in request.query_params.get("sysparm_fields", "").split(",") if f.strip()]
    if not fields:
        return records
    return [{name: record[name] for name in fields if name in record} for record in records]


def listed_display(record: dict[str, Any], mode: str) -> dict[str, Any]:
    """Display values of an in-memory table's record: references show their value, other fields as stored."""
    if mode == "false":
        return record
    shown: dict[str, Any] = {}
    for name, value in record.items():
        raw = value.get("value") if isinstance(value, dict) else value
        if mode == "all":
            shown[name] = {
                "display_value": raw,
                "value": raw,
                **({"link": value["link"]} if isinstance(value, dict) else {}),
            }
        else:
            shown[name] = {"display_value": raw, "link": value["link"]} if isinstance(value, dict) else raw
    return shown


def paging_headers(request: Request, total: int, limit: int, offset: int) -> dict[str, str]:
    headers = {}
    if request.query_params.get("sysparm_no_count", "false").lower() != "true":
        headers["X-Total-Count"] = str(total)
    if (
        limit > 0
        and request.query_params.get("sysparm_suppress_pagination_header", "false").lower() != "true"
    ):
        links = [("first", 0)]
        if offset > 0:
            links.append(("prev", max(0, offset - limit)))
        if offset + limit < total:
            links.append(("next", offset + limit))
        links.append(("last", max(0, (total - 1) // limit * limit)))
        headers["Link"] = ",".join(
            f'<{page_url(request, sysparm_limit=limit, sysparm_offset=at)}>;rel="{rel}"' for rel, at in links
        )
    return headers
