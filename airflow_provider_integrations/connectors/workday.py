"""Workday: REST collections under an OAuth2 refresh token, paged by offset, read as of an effective date.

Writes are per-record business title changes on workers (Staffing REST `businessTitleChanges`). Custom
reports (RaaS) declared as streams with option `report: owner/name` are read whole and described from
their XSD (workday_reports).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

from airflow_provider_integrations.connectors.base import Connector, Stream, WriteOutcome, WriteResult
from airflow_provider_integrations.connectors.workday_reports import describe_report, report_entries
from airflow_provider_integrations.core.auth import OAuth2Token, Token, TokenPoster
from airflow_provider_integrations.core.catalog import FieldDescription, StreamDescription
from airflow_provider_integrations.core.errors import (
    AuthError,
    ConfigError,
    IntegrationError,
    PaginationError,
    PermanentError,
    RecordError,
    TransientError,
)
from airflow_provider_integrations.core.http import (
    HttpClient,
    HttpSettings,
    error_for_status,
    reads_json_errors,
)
from airflow_provider_integrations.core.mapping import DestinationDescription, DestinationField
from airflow_provider_integrations.core.pagination import OffsetPaginator, Page, paginate
from airflow_provider_integrations.core.url_paths import WORKDAY_ID, WORKDAY_NAME, name_segment, segment
from airflow_provider_integrations.core.watermark import Window

log = logging.getLogger(__name__)
SYSTEM = "workday"
MAX_LIMIT = 100
"""Workday refuses a `limit` above 100."""
_OAUTH_REFUSALS = frozenset({"invalid_client", "invalid_grant", "unauthorized_client", "invalid_token"})
_OAUTH_BAD_REQUESTS = frozenset({"invalid_request", "unsupported_grant_type", "invalid_scope"})
_ONE_TICK = timedelta(microseconds=1)
WRITES: Mapping[str, tuple[str, ...]] = {"businessTitleChanges": ("update",)}
"""The write targets this connector supports, with their operations."""
WRITE_FIELDS: Mapping[str, Mapping[str, DestinationField]] = {
    "businessTitleChanges": {
        "id": DestinationField("id", "string", False, False, external_id=True, nillable=False),
        "businessTitle": DestinationField("businessTitle", "string", False, True, nillable=False),
        "effective": DestinationField("effective", "date", False, True),
    }
}
"""What each write target reads from a record (`id` is the worker, the default key field)."""


@dataclass(frozen=True)
class WorkdaySettings:
    """A Workday tenant reached through an API client's refresh token.

    `host` is the REST base URL (`https://wd2-impl-services1.workday.com`); the token endpoint is
    `{host}/ccx/oauth2/{tenant}/token`. `rate_limit_per_second`, when given, paces calls on the client
    side so the tenant's own limit (answered with 429 and Retry-After) is rarely met.
    """

    host: str
    tenant: str
    client_id: str
    client_secret: str = field(repr=False)
    refresh_token: str = field(repr=False)
    ca_bundle: str | None = None
    rate_limit_per_second: float | None = None

    def __post_init__(self) -> None:
        required = ("host", "tenant", "client_id", "client_secret", "refresh_token")
        missing = [name for name in required if not getattr(self, name)]
        if missing:
            raise ConfigError(f"workday needs {', '.join(missing)} in the connection")
        name_segment(self.tenant, "workday tenant", WORKDAY_NAME, system=SYSTEM)
        if self.rate_limit_per_second is not None and self.rate_limit_per_second <= 0:
            raise ConfigError(
                f"workday rate_limit_per_second must be a positive number, got {self.rate_limit_per_second}"
            )

    @property
    def base_url(self) -> str:
        host = self.host.strip().rstrip("/")
        return host if "://" in host else f"https://{host}"

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/ccx/oauth2/{self.tenant}/token"

    def grant(self) -> dict[str, str]:
        """The refresh-token grant (the client id and secret go in a basic Authorization header)."""
        return {"grant_type": "refresh_token", "refresh_token": self.refresh_token}


class WorkdayToken(OAuth2Token):
    """Access tokens refreshed a tenth of their lifetime before expiry, at most `early_refresh` early.

    A fixed minute's margin would fetch a new token before every call on a tenant whose tokens live
    only seconds; a token that expires anyway is refused with 401 and refreshed once by the client.
    """

    def _expiring(self, token: Token) -> bool:
        if token.expires_at is None:
            return False
        lifetime = float(token.raw.get("expires_in") or 0)
        margin = min(self._early, lifetime / 10)
        return self._clock() >= token.expires_at - margin


@reads_json_errors(SYSTEM)
def workday_error(response: httpx.Response, body: Any) -> IntegrationError | None:
    """Map Workday's error bodies onto the error tree.

    REST errors are `{"error": summary, "errors": [{"error", "code", "field"}]}`; the token endpoint and
    refused access tokens answer OAuth's `{"error": code, "error_description": text}`.
    """
    if not isinstance(body, dict):
        return None
    status = response.status_code
    listed = body.get("errors")
    first = listed[0] if isinstance(listed, list) and listed and isinstance(listed[0], dict) else {}
    parameter = first.get("field")
    if "error_description" in body:
        code = str(body.get("error") or f"HTTP {status}")
        text = f"{code}: {body['error_description']}"
    else:
        code = str(first.get("code") or ("INVALID_PARAMETER" if parameter else f"HTTP {status}"))
        text = str(first.get("error") or body.get("error") or "no message")
        if parameter:
            text += f" (parameter {parameter})"
    if code in _OAUTH_REFUSALS:
        return AuthError(text, system=SYSTEM, code=code)
    if status in (401, 408, 429) or status >= 500:
        return error_for_status(response, text, system=SYSTEM, code=code)
    if parameter == "offset" and "expired" in text.lower():
        # Workday dropped the paging context; asking for the page again starts a fresh one.
        return TransientError(text, system=SYSTEM, code="PAGING_EXPIRED")
    if code in _OAUTH_BAD_REQUESTS:
        return ConfigError(f"{text} (check the tenant and the API client)", system=SYSTEM, code=code)
    if status == 400 and parameter and _is_api_write(response):
        # A field of one record sent to a business process was refused; the next record may be fine.
        return RecordError(text, system=SYSTEM, code=code)
    if status == 400 and parameter:
        return ConfigError(f"{text} (check the stream configuration)", system=SYSTEM, code=code)
    return PermanentError(text, system=SYSTEM, code=code)


def _is_api_write(response: httpx.Response) -> bool:
    try:
        request = response.request
    except RuntimeError:
        return False
    return request.method == "POST" and "/ccx/api/" in request.url.path


def workday_instant(when: datetime) -> str:
    """An instant as Workday's ISO 8601 UTC form, to the microsecond."""
    utc = when.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond:06d}Z"


class WorkdayConnector(Connector):
    """Reads Workday REST collections (workers, organizations, jobs) 100 records a page.

    Pages are `limit`/`offset` with the collection's `total` checked: a read that ends short of the
    total raises :class:`PaginationError` instead of losing records.

    Records are effective-dated. Every read names its `asOfEffectiveDate`: the `as_of` keyword of
    :meth:`read`, else the stream's `as_of` option: `window_end` (the default: an incremental read is
    as of its window's end date, a full read as of today), `today`, or a fixed `YYYY-MM-DD`. A full read
    fixes "today" once, so a read crossing midnight stays consistent.

    Incremental reads select records by `lastModified` within the window [start, end). Workday's
    `updatedFrom`/`updatedThrough` are both inclusive, so the upper bound sent is the last microsecond
    before the window's end: consecutive windows neither overlap nor leave a gap. These collections do
    not list deleted (rescinded) records; a full read shows which are gone. A record changed in a
    window but effective only after the window's end date is not returned as of that date.

    Writes (:meth:`write`) support one target: `businessTitleChanges` with operation `update`, which
    starts a business title change on each worker (`POST /ccx/api/staffing/v6/{tenant}/workers/{id}/
    businessTitleChanges`). Each record is its own call, so each gets its own result.
    """

    system = SYSTEM

    def __init__(
        self,
        client: HttpClient,
        streams: Mapping[str, Stream],
        tenant: str,
        today: Callable[[], date] = lambda: datetime.now(UTC).date(),
    ) -> None:
        super().__init__(client, streams)
        self.tenant = name_segment(tenant, "workday tenant", WORKDAY_NAME, system=SYSTEM)
        self._today = today

    @classmethod
    def connect(
        cls, settings: WorkdaySettings, streams: Mapping[str, Stream], **http: Any
    ) -> WorkdayConnector:
        options: dict[str, Any] = {"rate_limit_per_second": settings.rate_limit_per_second, **http}
        common: dict[str, Any] = {
            "base_url": settings.base_url,
            "system": SYSTEM,
            "ca_bundle": settings.ca_bundle,
        }
        token_client = HttpClient(HttpSettings(**common, **options), classify_error=workday_error)
        token = WorkdayToken(
            settings.token_url,
            settings.grant,
            TokenPoster(token_client),
            client_auth=(settings.client_id, settings.client_secret),
        )
        client = HttpClient(HttpSettings(**common, **options), auth=token, classify_error=workday_error)
        return cls(client, streams, settings.tenant)

    def check(self) -> str:
        body = self.client.get_json(f"/ccx/api/v1/{self.tenant}/workers", params={"limit": 1})
        return f"reached Workday tenant {self.tenant}: workers answered ({body.get('total', '?')} workers)"

    def read(
        self, stream: str, window: Window | None = None, *, as_of: date | None = None
    ) -> Iterator[dict[str, Any]]:
        """Records of `stream` as of an effective date (see the class); within `window` if given."""
        spec = self.stream(stream)
        if "report" in spec.options:
            if window is not None:
                raise ConfigError(f"workday report stream {stream!r} is read whole: it takes no window")
            yield from self._report(spec)
            return
        params = {"asOfEffectiveDate": self.effective_date(spec, window, as_of).isoformat()}
        if window is not None:
            if not spec.incremental:
                raise ConfigError(f"workday stream {stream!r} has no cursor, so it cannot be read by window")
            params["updatedFrom"] = workday_instant(window.start)
            params["updatedThrough"] = workday_instant(window.end - _ONE_TICK)
        yield from self._collection(self.path(spec), params, self.page_size(spec))

    def effective_date(self, spec: Stream, window: Window | None, as_of: date | None = None) -> date:
        """The `asOfEffectiveDate` a read of `spec` over `window` asks for."""
        if as_of is not None:
            return as_of
        option = str(spec.options.get("as_of", "window_end"))
        if option == "window_end":
            return window.end.date() if window is not None else self._today()
        if option == "today":
            return self._today()
        try:
            return date.fromisoformat(option)
        except ValueError:
            raise ConfigError(
                f"workday stream {spec.name!r}: option as_of must be window_end, today or a YYYY-MM-DD "
                f"date, got {option!r}"
            ) from None

    def path(self, spec: Stream) -> str:
        """`/ccx/api/{api}/{tenant}/{source}`, where the `api` option is e.g. `v1` or `staffing/v6`."""
        api = str(spec.options.get("api", "v1")).strip("/")
        what = f"workday stream {spec.name!r}: path segment"
        parts = [
            name_segment(part, what, WORKDAY_NAME, system=SYSTEM) for part in [*api.split("/"), spec.source]
        ]
        return f"/ccx/api/{'/'.join(parts[:-1])}/{self.tenant}/{parts[-1]}"

    def page_size(self, spec: Stream) -> int:
        try:
            size = int(spec.options.get("page_size", MAX_LIMIT))
        except (TypeError, ValueError):
            size = 0
        if not 1 <= size <= MAX_LIMIT:
            raise ConfigError(
                f"workday stream {spec.name!r}: page_size must be a whole number from 1 to {MAX_LIMIT}"
            )
        return size

    def _collection(self, path: str, params: Mapping[str, str], limit: int) -> Iterator[dict[str, Any]]:
        def fetch(offset: int) -> Page:
            body = self.client.get_json(path, params={**params, "limit": limit, "offset": offset})
            if "total" not in body:
                raise PaginationError(
                    f"workday {path} answered without a total; cannot check the read is complete",
                    system=SYSTEM,
                )
            return Page(records=body.get("data") or [], body=body)

        paginator = OffsetPaginator(limit, total_from=lambda page: int(page.body["total"]))
        for record in paginate(fetch, paginator):
            yield dict(record)
        log.info("workday %s: %d records in %d pages", path, paginator.records, paginator.pages)

    def report_path(self, spec: Stream) -> tuple[str, str]:
        """The report's `owner/name` and its RaaS path, each part checked as one path segment."""
        report = str(spec.options["report"])
        owner, slash, name = report.partition("/")
        what = f"workday stream {spec.name!r}: option report (owner/name)"
        if not slash:
            raise ConfigError(f"{what} must be owner/name, got {report!r}")
        parts = [name_segment(part, what, WORKDAY_NAME, system=SYSTEM) for part in (owner, name)]
        return report, f"/ccx/service/customreport2/{self.tenant}/{parts[0]}/{parts[1]}"

    def _report(self, spec: Stream) -> Iterator[dict[str, Any]]:
        report, path = self.report_path(spec)
        count = 0
        with self.client.stream("GET", path, params={"format": "json"}) as response:
            for entry in report_entries(response.iter_text(), report):
                count += 1
                yield entry
        log.info("workday report %s: %d entries", report, count)

    def list_streams(self) -> list[str]:
        """The REST resources this connector reads and the custom reports declared as streams. Workday
        lists neither through its API: reports are declared by name, with option `report`."""
        return sorted(
            {spec.name if "report" in spec.options else spec.source for spec in self.streams.values()}
        )

    def describe_streams(self, sources: Sequence[str]) -> Iterator[StreamDescription]:
        """A declared report from its XSD (one call each); a REST resource as this connector declares it
        (Workday's REST API has no describe call)."""
        for source in sources:
            spec = self.streams.get(source) or next(
                (s for s in self.streams.values() if s.source == source and "report" not in s.options), None
            )
            if spec is None:
                raise ConfigError(
                    f"workday has no stream or resource {source!r}; known: {self.list_streams()}"
                )
            if "report" in spec.options:
                report, path = self.report_path(spec)
                xsd = self.client.request("GET", path, params={"xsd": ""}).text
                yield describe_report(spec.name, report, xsd, spec.primary_key)
                continue
            fields = tuple(
                FieldDescription(f.name, f.type, "declared", f.required) for f in spec.schema.fields
            )
            yield StreamDescription(
                spec.name,
                spec.source,
                fields,
                spec.primary_key,
                spec.cursor,
                spec.deletes,
                options=spec.options,
            )

    def describe(self, target: str) -> DestinationDescription:
        """The fields a write to `target` reads (`WRITE_FIELDS`); ConfigError for a target it cannot
        write. Workday's REST API has no describe call, so nothing is fetched."""
        if target not in WRITE_FIELDS:
            raise ConfigError(
                f"workday cannot write {target!r}; writeable targets: {sorted(WRITE_FIELDS)}", system=SYSTEM
            )
        return DestinationDescription(target, WRITE_FIELDS[target], system=SYSTEM, case_sensitive=True)

    def write(
        self, target: str, operation: str, records: Iterable[Mapping[str, Any]], key_field: str = "id"
    ) -> Iterator[WriteResult]:
        """Change workers' business titles, one call and one :class:`WriteResult` per record, in order.

        Only `target="businessTitleChanges"` with `operation="update"` is supported; anything else raises
        :class:`ConfigError` at once, before any record is consumed. Each record is
        `{key_field: worker id, "businessTitle": str, "effective": YYYY-MM-DD (optional, default today)}`;
        other fields are ignored. Each call carries an `Idempotency-Key` derived from the target, worker
        id and change, so the client retries it safely and a rerun task replays instead of starting the
        change twice. A success's `destination_id` is the business process's change id. A refused record
        (unknown worker, empty title, bad date, a business process validation) is PERMANENT with
        Workday's code and message; one that still failed transiently after the client's retries is
        TRANSIENT.
        """
        if operation not in WRITES.get(target, ()):
            supported = "; ".join(f"{t} ({', '.join(ops)})" for t, ops in WRITES.items())
            raise ConfigError(
                f"workday cannot {operation!r} {target!r}; supported writes: {supported}", system=SYSTEM
            )
        return self._title_changes(target, records, key_field)

    def _title_changes(
        self, target: str, records: Iterable[Mapping[str, Any]], key_field: str
    ) -> Iterator[WriteResult]:
        for record in records:
            raw_key = record.get(key_field)
            key = "" if raw_key is None else str(raw_key)
            try:
                worker = segment(raw_key, key_field, WORKDAY_ID, system=SYSTEM)
            except PermanentError as error:
                yield WriteResult.failed(key, error)
                continue
            body: dict[str, Any] = {"proposedBusinessTitle": record.get("businessTitle")}
            effective = record.get("effective")
            if isinstance(effective, datetime):
                effective = effective.date()
            if effective is not None:
                body["effective"] = effective.isoformat() if isinstance(effective, date) else str(effective)
            digest = hashlib.sha256(
                json.dumps([target, key, body], sort_keys=True, default=str).encode()
            ).hexdigest()
            try:
                response = self.client.request(
                    "POST",
                    f"/ccx/api/staffing/v6/{self.tenant}/workers/{worker}/{target}",
                    json=body,
                    headers={"Idempotency-Key": f"apint-{digest[:40]}"},
                    idempotent=True,
                )
            except (TransientError, PermanentError) as error:
                yield WriteResult.failed(key, error)
                continue
            yield WriteResult(key, WriteOutcome.SUCCESS, str(response.json()["id"]), False)
