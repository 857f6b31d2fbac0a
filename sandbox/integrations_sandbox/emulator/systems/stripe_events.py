"""Stripe's /v1/events over the event log, and signed webhook payloads.

An event's `data.object` is rendered from the row when asked: a `*.created` event shows the record as
created (version 0), an `*.updated` event its current state with `previous_attributes` from the version
before. The overlay keeps a record's latest change only, so two updates between reads show as one event.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable
from hashlib import sha256
from typing import Any

from integrations_sandbox.emulator.data import Dataset, Row
from integrations_sandbox.emulator.systems.stripe_paging import (
    CREATED,
    DELETED,
    NO_END,
    RETENTION_MS,
    UPDATED,
    EventKey,
    EventLog,
    ListQuery,
    ParamError,
    event_id,
    event_key,
    event_type,
    matches,
    possible_types,
    take,
)
from integrations_sandbox.emulator.systems.stripe_render import (
    API_VERSION,
    KIND_BY_NUMBER,
    KINDS,
    Kind,
    Renderer,
)

_CHANGES = {"created": CREATED, "updated": UPDATED, "deleted": DELETED,
            "succeeded": CREATED, "failed": CREATED, "pending": CREATED}  # fmt: skip


class EventFeed:
    """Events of every stream for the last 30 days: pages, single events and signed examples."""

    def __init__(
        self, renderer: Renderer, datasets: Callable[[str], Dataset], clock: Callable[[], float]
    ) -> None:
        self.renderer = renderer
        self.datasets = datasets
        self.clock = clock
        self.log = EventLog(datasets)

    def page(self, query: ListQuery) -> tuple[list[dict[str, Any]], bool]:
        """One page of events, newest first, honouring cursors, `created` and `type`/`types[]`."""
        now_ms = int(self.clock() * 1000)
        lo_ms = max(now_ms - RETENTION_MS, (query.created_gte or 0) * 1000)
        hi_ms = NO_END if query.created_lt is None else query.created_lt * 1000
        cursors = {}
        for param in ("starting_after", "ending_before"):
            if (cursor := getattr(query, param)) is not None:
                if (key := event_key(cursor)) is None:
                    raise ParamError(f"No such event: '{cursor}'", param, "resource_missing")
                cursors[param] = key
        kinds = [k for k in KINDS.values() if any(matches(t, query.types) for t in possible_types(k))]
        keys = self.log.keys(
            lo_ms=lo_ms,
            hi_ms=hi_ms,
            after=cursors.get("starting_after"),
            before=cursors.get("ending_before"),
            kinds=kinds,
        )
        page, has_more = take(keys, lambda key: matches(self.type_of(key), query.types), query.limit)
        if "ending_before" in cursors:
            page.reverse()
        return [self.render(key) for key in page], has_more

    def get(self, object_id: str) -> dict[str, Any] | None:
        key = event_key(object_id)
        if key is None or key[0] < self.clock() * 1000 - RETENTION_MS or not self.log.exists(key):
            return None
        return self.render(key)

    def type_of(self, key: EventKey) -> str:
        kind = KIND_BY_NUMBER[key[1]]
        return event_type(kind, key[3], lambda: str(self._as_created(kind, key[2])["status"]))

    def render(self, key: EventKey) -> dict[str, Any]:
        when, number, index, change = key
        kind = KIND_BY_NUMBER[number]
        row = self.datasets(kind.stream).row(index)
        assert row is not None
        record = (
            self._as_created(kind, index) if change == CREATED else self.renderer.render(kind.stream, row)
        )
        data: dict[str, Any] = {"object": record}
        if change == UPDATED:
            data["previous_attributes"] = self._previous_attributes(kind, row, record)
        return {
            "id": event_id(key),
            "object": "event",
            "api_version": API_VERSION,
            "created": when // 1000,
            "data": data,
            "livemode": False,
            "pending_webhooks": 0,
            "request": {"id": None, "idempotency_key": None},
            "type": self.type_of(key),
        }

    def signed_example(self, wanted: str, stamp: int, secret: str) -> dict[str, str]:
        """An event of type `wanted` about the stream's first record, signed as Stripe signs webhooks."""
        found = _kind_and_change(wanted)
        if found is None:
            raise ParamError(f"Invalid event type: {wanted}", "type", "parameter_invalid")
        kind, change = found
        if not self.datasets(kind.stream).size:
            raise ParamError(f"There is no {kind.object} to send an event about", "type", "resource_missing")
        event = self.render((stamp * 1000, kind.number, 0, change))
        event["type"] = wanted
        payload = json.dumps(event, indent=2)
        signature = hmac.new(secret.encode(), f"{stamp}.{payload}".encode(), sha256).hexdigest()
        return {"payload": payload, "header_name": "Stripe-Signature", "header": f"t={stamp},v1={signature}"}

    def _as_created(self, kind: Kind, index: int) -> dict[str, Any]:
        row = self.datasets(kind.stream).row(index)
        assert row is not None
        return self.renderer.render(kind.stream, Row(index, row.created, row.created))

    def _previous_attributes(self, kind: Kind, row: Row, record: dict[str, Any]) -> dict[str, Any]:
        if row.version == 0:
            return {}
        before = self.renderer.render(kind.stream, Row(row.index, row.created, row.created, row.version - 1))
        return {name: value for name, value in before.items() if record.get(name) != value}


def _kind_and_change(wanted: str) -> tuple[Kind, int] | None:
    noun, _, action = wanted.rpartition(".")
    for kind in KINDS.values():
        if noun == kind.event_object and action in _CHANGES and wanted in possible_types(kind):
            return kind, _CHANGES[action]
    return None
