"""Stripe: lists with `starting_after`, incremental changes through `/v1/events`, idempotent writes."""

from __future__ import annotations

import difflib
import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib import resources
from typing import Any

import httpx

from airflow_provider_integrations.connectors.base import Connector, Stream, WriteOutcome, WriteResult
from airflow_provider_integrations.core.auth import BearerKey
from airflow_provider_integrations.core.catalog import FieldDescription, StreamDescription
from airflow_provider_integrations.core.errors import (
    ConfigError,
    IntegrationError,
    PermanentError,
    TransientError,
)
from airflow_provider_integrations.core.http import (
    HttpClient,
    HttpSettings,
    error_for_status,
    reads_json_errors,
)
from airflow_provider_integrations.core.mapping import DestinationDescription, DestinationField
from airflow_provider_integrations.core.pagination import CursorPaginator, Page, paginate
from airflow_provider_integrations.core.schema import FieldType
from airflow_provider_integrations.core.url_paths import (
    FREE_TEXT,
    STRIPE_RESOURCE,
    SegmentShape,
    name_segment,
    segment,
    stripe_id,
)
from airflow_provider_integrations.core.watermark import Window

log = logging.getLogger(__name__)
SYSTEM = "stripe"
PAGE = 100
EVENT_RETENTION = timedelta(days=30)
RETENTION_MARGIN = timedelta(hours=1)
API_VERSION = "2024-06-20"
"""The Stripe API version every request pins (`Stripe-Version`), whatever the account's default is."""
LIST_PARAMS: Mapping[str, Mapping[str, str]] = {"subscriptions": {"status": "all"}}
"""Parameters a full list needs to return every object: Stripe leaves canceled subscriptions out of
`GET /v1/subscriptions` unless `status=all` is sent."""
ENDED_NOT_DELETED = frozenset({"customer.subscription"})
"""Event objects whose `.deleted` event means the object ended (a subscription canceled): it stays
retrievable and listed (`status=all`), so it lands as a change, not as a delete."""
ID_PREFIXES: Mapping[str, str] = {
    "customers": "cus",
    "charges": "ch",
    "invoices": "in",
    "subscriptions": "sub",
}
"""The prefix of the ids Stripe gives each resource's objects; ids of other resources are encoded as text."""


def _customer_fields() -> dict[str, DestinationField]:
    text = ("name", "email", "phone", "description", "invoice_prefix", "tax_exempt")
    address = tuple(
        f"address.{part}" for part in ("line1", "line2", "city", "state", "postal_code", "country")
    )
    return {
        "id": DestinationField("id", "string", False, False, external_id=True, nillable=False),
        **{name: DestinationField(name, "string", True, True) for name in (*text, *address)},
        "balance": DestinationField("balance", "integer", True, True, nillable=False),
    }


WRITABLE: Mapping[str, DestinationDescription] = {
    "customers": DestinationDescription(
        "customers",
        _customer_fields(),
        system=SYSTEM,
        case_sensitive=True,
        # Metadata keys are free-form (at most 40 characters); Stripe keeps every value as text.
        patterns={
            r"metadata\.[^.\[\]]{1,40}": DestinationField("metadata.<key>", "scalar", True, True),
        },
    )
}
"""The customer parameters this connector's writes are meant for, by target (dots nest: `address.city`
is sent as `address[city]`). Stripe has no describe call; its API reference is the source."""


@dataclass(frozen=True)
class StripeSettings:
    """A Stripe account: a secret (`sk_`) or restricted (`rk_`) key and the API version to pin."""

    api_key: str = field(repr=False)
    api_base: str = "https://api.stripe.com"
    stripe_version: str = API_VERSION
    ca_bundle: str | None = None

    def __post_init__(self) -> None:
        if not self.api_key.startswith(("sk_", "rk_")):
            raise ConfigError("the Stripe key must be a secret (sk_...) or restricted (rk_...) key")


@cache
def api_description(version: str) -> Mapping[str, Any]:
    """The objects `version` lets this connector list, as shipped in `catalogs/stripe_<version>.json`
    (extracted from Stripe's OpenAPI description by scripts/stripe_extract_spec.py). Stripe has no
    metadata API, so discovery reads this file, never the network."""
    name = f"stripe_{version}.json"
    catalogs = resources.files("airflow_provider_integrations.connectors.catalogs")
    if not catalogs.joinpath(name).is_file():
        raise ConfigError(
            f"no description of Stripe API version {version!r} is shipped (catalogs/{name}); "
            f"discovery knows {API_VERSION!r}, the version this connector pins"
        )
    loaded: Mapping[str, Any] = json.loads(catalogs.joinpath(name).read_text())
    return loaded


def stream_description(source: str, entry: Mapping[str, Any]) -> StreamDescription:
    """One listable object: every top-level field, nested objects and `metadata` as JSON (VARIANT), so a
    new metadata key never needs a schema change; incremental through events where Stripe sends them."""
    fields = tuple(
        FieldDescription(
            name,
            FieldType(spec["type"]),
            source_type=str(spec["source_type"]),
            required=bool(spec.get("required", False)),
        )
        for name, spec in entry["fields"].items()
    )
    event_object = entry.get("event_object")
    return StreamDescription(
        name=source,
        source=source,
        fields=fields,
        primary_key=("id",),
        cursor=("created", "id") if event_object else None,
        changed_at=None,
        deletes=bool(entry.get("deletes", False)) and event_object not in ENDED_NOT_DELETED,
        options={"event_object": event_object} if event_object else {},
    )


@reads_json_errors(SYSTEM)
def stripe_error(response: httpx.Response, body: Any) -> IntegrationError | None:
    """Stripe errors are `{"error": {"type", "code", "message", "param"}}`."""
    if not isinstance(body, dict):
        return None
    error = body.get("error") or {}
    code = str(error.get("code") or error.get("type") or f"HTTP {response.status_code}")
    text = str(error.get("message") or "no message")
    if error.get("param"):
        text += f" (param {error['param']})"
    if response.status_code != 429 and response.headers.get("stripe-should-retry") == "true":
        return TransientError(text, system=SYSTEM, code=code)
    return error_for_status(response, text, system=SYSTEM, code=code)


def form_fields(data: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Nested data as Stripe's form encoding: `metadata[tier]=gold`, `items[0][price]=...`."""
    pairs: list[tuple[str, str]] = []
    for key, value in data.items():
        name = f"{prefix}[{key}]" if prefix else str(key)
        if isinstance(value, Mapping):
            pairs += form_fields(value, name)
        elif isinstance(value, list | tuple):
            pairs += form_fields({str(i): v for i, v in enumerate(value)}, name)
        elif value is None:
            pairs.append((name, ""))
        elif isinstance(value, bool):
            pairs.append((name, "true" if value else "false"))
        else:
            pairs.append((name, str(value)))
    return pairs


class StripeConnector(Connector):
    """Reads Stripe objects 100 a page and writes customer changes with idempotency keys.

    Incremental reads replay `/v1/events` for the window: each event's object is yielded with
    `_changed_at` (the event time) and `_deleted` for deletions. Stripe renders events in the account's
    default API version; when that is not the pinned one, each object is read again in the pinned shape
    (one call per event). The type wildcard `customer.*` also matches `customer.subscription.*`, so
    events about other objects are dropped. Stripe keeps events for 30 days; a window reaching further
    back falls back to a full read, with a warning. Full reads of subscriptions send `status=all`.
    """

    system = SYSTEM

    def __init__(
        self,
        client: HttpClient,
        streams: Mapping[str, Stream],
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        version: str = API_VERSION,
    ) -> None:
        super().__init__(client, streams)
        self._now = now
        self.version = version

    @classmethod
    def connect(cls, settings: StripeSettings, streams: Mapping[str, Stream], **http: Any) -> StripeConnector:
        auth = BearerKey(settings.api_key, {"Stripe-Version": settings.stripe_version})
        client = HttpClient(
            HttpSettings(base_url=settings.api_base, system=SYSTEM, ca_bundle=settings.ca_bundle, **http),
            auth=auth,
            classify_error=stripe_error,
        )
        return cls(client, streams, version=settings.stripe_version)

    def list_streams(self) -> list[str]:
        """Every object the pinned API version lets this connector list (`GET /v1/<name>`), from the
        shipped description of that version: no call is made."""
        return sorted(api_description(self.version)["streams"])

    def describe_streams(self, sources: Sequence[str]) -> Iterator[StreamDescription]:
        """Each source's fields as the pinned version's description declares them; a name Stripe does
        not list is a ConfigError naming the closest ones."""
        known = api_description(self.version)["streams"]
        for source in sources:
            if source not in known:
                close = difflib.get_close_matches(source, list(known), n=3)
                raise ConfigError(
                    f"Stripe API {self.version} lists no {source!r}"
                    + (f"; closest: {', '.join(close)}" if close else "")
                )
            yield stream_description(source, known[source])

    def check(self) -> str:
        body = self.client.get_json("/v1/customers", params={"limit": 1})
        return (
            f"reached Stripe: customers list answered ({'more than 1' if body['has_more'] else 'at most 1'})"
        )

    def read(self, stream: str, window: Window | None = None) -> Iterator[dict[str, Any]]:
        spec = self.stream(stream)
        source = name_segment(spec.source, f"stream {stream!r} source", STRIPE_RESOURCE, system=SYSTEM)
        path = f"/v1/{source}"
        full = LIST_PARAMS.get(source, {})
        if window is None:
            yield from self._list(path, full)
            return
        if window.start < self._now() - EVENT_RETENTION + RETENTION_MARGIN:
            log.warning(
                "stripe %s: window starts %s, past the 30 days Stripe keeps events; reading it all",
                stream,
                window.start.isoformat(),
            )
            yield from self._list(path, full)
            return
        event_object = str(spec.options.get("event_object", spec.source.rstrip("s")))
        params = {
            "type": f"{event_object}.*",
            "created[gte]": str(int(window.start.timestamp())),
            "created[lt]": str(int(window.end.timestamp())),
        }
        for event in self._list("/v1/events", params):
            if str(event["type"]).rsplit(".", 1)[0] != event_object:
                continue
            record = dict(event["data"]["object"])
            if event.get("api_version") != self.version:
                record = self._in_pinned_shape(path, record)
            record["_changed_at"] = event["created"]
            deletion = str(event["type"]).endswith(".deleted") and event_object not in ENDED_NOT_DELETED
            record["_deleted"] = deletion
            yield record

    def _in_pinned_shape(self, path: str, record: dict[str, Any]) -> dict[str, Any]:
        """An event's object comes in the account's default version, not the pinned one: read the object
        again in the pinned version's shape. A deleted object keeps the event's copy, its last state."""
        object_id = segment(record.get("id"), "event object id", FREE_TEXT, system=SYSTEM)
        current = dict(self.client.get_json(f"{path}/{object_id}"))
        return record if current.get("deleted") is True else current

    def _list(self, path: str, params: Mapping[str, str]) -> Iterator[dict[str, Any]]:
        def fetch(after: str | None) -> Page:
            query = {**params, "limit": str(PAGE)}
            if after:
                query["starting_after"] = after
            body = self.client.get_json(path, params=query)
            return Page(records=body["data"], body=body)

        paginator = CursorPaginator(lambda page: str(page.records[-1]["id"]) if page.records else None)
        for record in paginate(fetch, paginator):
            yield dict(record)

    def describe(self, target: str) -> DestinationDescription | None:
        """The parameters declared writeable for `target` (`WRITABLE`: customers, with `metadata.<key>`);
        None for other objects. Stripe offers no describe call, so nothing is fetched."""
        return WRITABLE.get(target)

    def write(
        self, target: str, operation: str, records: Iterable[Mapping[str, Any]], key_field: str = "id"
    ) -> Iterator[WriteResult]:
        """`update` posts changes to `/v1/<target>/<id>`; `insert` creates. Each call has an idempotency
        key derived from the record, so a retried task replays instead of writing twice. An id that is
        not of the form Stripe gives `target`'s objects (`cus_...` for customers), or could change the
        path, fails its record (code `INVALID_PATH_SEGMENT`) unsent."""
        if operation not in ("update", "insert"):
            raise ConfigError(f"stripe supports update and insert writes, not {operation!r}")
        base = f"/v1/{name_segment(target, 'write target', STRIPE_RESOURCE, system=SYSTEM)}"
        shape: SegmentShape = stripe_id(ID_PREFIXES[target]) if target in ID_PREFIXES else FREE_TEXT
        for record in records:
            key = str(record.get(key_field))
            fields = {k: v for k, v in record.items() if k != key_field or operation == "insert"}
            try:
                path = base
                if operation == "update":
                    path += "/" + segment(record.get(key_field), key_field, shape, system=SYSTEM)
                digest = hashlib.sha256(
                    json.dumps([path, fields], sort_keys=True, default=str).encode()
                ).hexdigest()
                response = self.client.request(
                    "POST",
                    path,
                    data=dict(form_fields(fields)),
                    headers={"Idempotency-Key": f"apint-{digest[:40]}"},
                )
            except (TransientError, PermanentError) as error:
                yield WriteResult.failed(key, error)
                continue
            yield WriteResult(key, WriteOutcome.SUCCESS, str(response.json()["id"]), operation == "insert")
