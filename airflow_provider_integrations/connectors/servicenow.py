"""ServiceNow: Table API reads with encoded queries, deletes from `sys_audit_delete`, Import Set writes."""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

from airflow_provider_integrations.connectors.base import Connector, Stream, WriteOutcome, WriteResult
from airflow_provider_integrations.connectors.servicenow_discovery import describe_tables, list_tables
from airflow_provider_integrations.core.auth import BasicAuth, OAuth2Token, TokenPoster
from airflow_provider_integrations.core.catalog import StreamDescription
from airflow_provider_integrations.core.errors import (
    ConfigError,
    IntegrationError,
    PaginationError,
    PermanentError,
    TransientError,
)
from airflow_provider_integrations.core.http import (
    Authenticator,
    HttpClient,
    HttpSettings,
    error_for_status,
    reads_json_errors,
)
from airflow_provider_integrations.core.mapping import DestinationDescription, DestinationField
from airflow_provider_integrations.core.pagination import OffsetPaginator, Page
from airflow_provider_integrations.core.resilience import Clock, Sleep
from airflow_provider_integrations.core.resumable import Query, ResumableRead
from airflow_provider_integrations.core.url_paths import SERVICENOW_TABLE, name_segment
from airflow_provider_integrations.core.watermark import Window, parse_timestamp

log = logging.getLogger(__name__)
SYSTEM = "servicenow"
PAGE = 1000
"""Records asked for per Table API call (`sysparm_limit`); instances cap it (10,000 by default)."""
CHUNK = 20_000
"""Records read by offset under one encoded query before the next query restarts after the last key."""
BATCH = 200
"""Staging rows sent per Import Set `insertMultiple` call."""
AUDIT_TABLE = "sys_audit_delete"
TABLE_API = "/api/now/table"
IMPORT_API = "/api/now/import"
SUCCESS_STATUSES = frozenset({"inserted", "updated", "ignored"})
TRANSIENT_ROW_ERROR = re.compile(
    r"\b(lock(ed)?|lock wait|deadlock|time ?out|timed out|try again|retry|temporarily)\b", re.IGNORECASE
)
"""Import row errors worth retrying: a lock or a timeout. Anything else (data policy, mandatory field,
invalid value, missing coalesce key) fails the same way every time."""

STAGING_COLUMN = DestinationField("u_<name>", "scalar", createable=True, updateable=True, external_id=True)
"""What an import set staging table takes: `u_` columns, all text (values are sent as text), any of
which the transform map may coalesce on."""

_FIELD = re.compile(r"[a-z_][a-z0-9_]{0,79}(\.[a-z_][a-z0-9_]{0,79}){0,4}")
_CONDITION_FIELD = re.compile(r"(?:ORDERBY(?:DESC)?)?([a-z_][a-z0-9_.]*)")


@dataclass(frozen=True)
class ServiceNowSettings:
    """A ServiceNow instance and the user to reach it as.

    With `client_id` set the user signs in through the instance's OAuth endpoint (password grant, then
    refresh-token grants); without it every call carries basic auth.
    """

    instance_url: str
    username: str
    password: str = field(repr=False)
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    ca_bundle: str | None = None

    def __post_init__(self) -> None:
        url = self.instance_url.strip().rstrip("/")
        if not url.startswith(("https://", "http://")):
            raise ConfigError(
                f"servicenow instance URL must start with https://, got {self.instance_url!r} "
                "(e.g. https://example.service-now.com)"
            )
        object.__setattr__(self, "instance_url", url)
        if not self.username or not self.password:
            raise ConfigError("servicenow needs the integration user's login and password in the connection")
        if self.client_id and not self.client_secret:
            raise ConfigError(
                "servicenow OAuth needs client_secret next to client_id in the connection extra"
            )

    @property
    def oauth(self) -> bool:
        return bool(self.client_id)

    @property
    def token_url(self) -> str:
        return f"{self.instance_url}/oauth_token.do"


@reads_json_errors(SYSTEM)
def servicenow_error(response: httpx.Response, body: Any) -> IntegrationError | None:
    """ServiceNow errors are `{"error": {"message", "detail"}, "status": "failure"}`.

    429 carries `Retry-After` (or `X-RateLimit-Reset`); a 400 "Pagination expired" means the offset's
    result set is gone and the read must restart at offset 0 (:class:`PagingExpiredError`).
    """
    error = (body.get("error") or {}) if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None
    status = response.status_code
    title = str(error.get("message") or f"HTTP {status}")
    detail = error.get("detail")
    text = f"{title}: {detail}" if detail else title
    code = title[:80]
    if status == 400 and "pagination expired" in title.lower():
        return PagingExpiredError(text, system=SYSTEM, code=code)
    return error_for_status(response, text, system=SYSTEM, code=code)


class PagingExpiredError(PaginationError):
    """The instance dropped an offset's result set; the read restarts after the last record it has."""


class UnknownQueryField(ConfigError):
    """A field this connector put in a query is not a field of the table.

    A real instance ignores a condition on an unknown field and runs the rest of the query (by default:
    a typo in a filter becomes a read of the whole table), or answers no rows at all where
    `glide.invalid_query.returns_no_rows` is set (a typo becomes a silent empty read). Either way the
    read must stop; see `ServiceNowConnector` for how it is caught.
    """


def table_name(name: Any, what: str = "table") -> str:
    """A ServiceNow table name (`incident`, `u_account_import`, `x_acme_app_item`), fit for the Table and
    Import Set API paths, or ConfigError."""
    return name_segment(name, what, SERVICENOW_TABLE, system=SYSTEM)


def field_name(name: Any, what: str = "field") -> str:
    """A ServiceNow field name, optionally dot-walked (`caller_id.email`), or ConfigError."""
    if not isinstance(name, str) or not _FIELD.fullmatch(name):
        raise ConfigError(
            f"servicenow {what} {name!r} is not a field name: use lower-case letters, digits and _ "
            "(dot-walk references with .)"
        )
    return name


def query_time(value: datetime) -> str:
    """A datetime as the Table API writes them: 'YYYY-MM-DD HH:MM:SS' in UTC."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ConfigError(f"servicenow query times must be timezone-aware, got {value.isoformat()}")
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def window_bound(value: datetime) -> str:
    """A window bound rounded up to the whole second.

    ServiceNow stores seconds; a record at second `s` lies in [start, end) exactly when
    ceil(start) <= s < ceil(end), so consecutive windows stay disjoint and gap-free.
    """
    text = query_time(value)
    if value.microsecond:
        text = query_time(value.replace(microsecond=0) + timedelta(seconds=1))
    return text


def query_value(value: Any) -> str:
    """A value for an encoded query, refused when it could change the query's meaning.

    Encoded queries have no quoting: `^` separates conditions (`^OR`, `^NQ` start alternatives), a line
    break ends the parameter, and a `javascript:` value runs as a script on the instance. Values with any
    of these are refused rather than escaped.
    """
    if isinstance(value, datetime):
        return query_time(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        raise ConfigError("servicenow encoded query values cannot be null (use ISEMPTY)")
    text = str(value)
    if "^" in text or "\n" in text or "\r" in text:
        raise ConfigError(
            f"servicenow encoded query value {text[:60]!r} contains '^' or a line break; encoded queries "
            "cannot quote them, so the value is refused"
        )
    if text.strip().lower().startswith("javascript:"):
        raise ConfigError(f"servicenow encoded query value {text[:60]!r} would run as a script; refused")
    return text


def condition(name: str, operator: str, value: Any) -> str:
    return f"{field_name(name)}{operator}{query_value(value)}"


def row_error_is_transient(message: str) -> bool:
    """Whether an import row's error message names a lock or a timeout (see TRANSIENT_ROW_ERROR)."""
    return bool(TRANSIENT_ROW_ERROR.search(message))


class _ClientCredentialsInForm:
    """ServiceNow wants client_id and client_secret in the form of every grant, refresh included."""

    def __init__(self, post: TokenPoster, client_id: str, client_secret: str) -> None:
        self._post = post
        self._credentials = {"client_id": client_id, "client_secret": client_secret}

    def __repr__(self) -> str:
        return "ClientCredentialsInForm(***)"

    def __call__(self, url: str, form: Mapping[str, str], headers: Mapping[str, str]) -> httpx.Response:
        return self._post(url, {**form, **self._credentials}, headers)

    def close(self) -> None:
        self._post.close()


def authenticator(
    settings: ServiceNowSettings, *, sleep: Sleep = time.sleep, clock: Clock = time.monotonic, **http: Any
) -> Authenticator:
    """Basic auth, or OAuth2 bearer tokens when the connection names an OAuth client."""
    if not settings.oauth:
        return BasicAuth(settings.username, settings.password)
    token_client = HttpClient(
        HttpSettings(base_url=settings.instance_url, system=SYSTEM, ca_bundle=settings.ca_bundle, **http),
        sleep=sleep,
        clock=clock,
    )
    username, password = settings.username, settings.password
    return OAuth2Token(
        settings.token_url,
        lambda: {"grant_type": "password", "username": username, "password": password},
        _ClientCredentialsInForm(
            TokenPoster(token_client), str(settings.client_id), str(settings.client_secret)
        ),
    )


class ServiceNowConnector(Connector):
    """Reads ServiceNow tables through the Table API and writes through Import Set transform maps.

    Reads order by (sys_updated_on, sys_id) and page by `sysparm_offset`, checking every page's
    `X-Total-Count`: a capped `sysparm_limit` only makes pages smaller and a short result raises
    :class:`PaginationError`. After CHUNK records the query restarts after the last (sys_updated_on,
    sys_id) read, first within that second, then past it, so deep offsets are never needed. Incremental
    windows filter `sys_updated_on` on [start, end); deletes come from `sys_audit_delete`.

    Every field a query names (conditions, filters, cursor, ORDERBY) is also asked for in
    `sysparm_fields`, and the Table API returns each valid field asked for in every record (empty as
    "") while it drops unknown ones from `sysparm_fields` and from the query alike. So the first record
    of a page missing such a field means the instance ignored that condition: the read raises
    :class:`UnknownQueryField` before yielding anything from that query. A query that matches nothing is
    checked with one more call (one record of the table, the same fields asked for), once per table and
    field set, so an instance set to answer no rows to invalid queries cannot turn a typo into an empty
    read either. This works whatever the instance's `glide.invalid_query.returns_no_rows`, for tables
    whose dictionary the user may not read, and costs no call on a non-empty read.

    Discovery: `list_streams` lists `sys_db_object`; `describe_streams` reads `sys_dictionary` along each
    table's super_class chain (see `servicenow_discovery`).
    """

    system = SYSTEM

    def __init__(self, client: HttpClient, streams: Mapping[str, Stream]) -> None:
        super().__init__(client, streams)
        self._known_fields: set[tuple[str, str]] = set()

    @classmethod
    def connect(
        cls,
        settings: ServiceNowSettings,
        streams: Mapping[str, Stream],
        *,
        sleep: Sleep = time.sleep,
        clock: Clock = time.monotonic,
        **http: Any,
    ) -> ServiceNowConnector:
        client = HttpClient(
            HttpSettings(base_url=settings.instance_url, system=SYSTEM, ca_bundle=settings.ca_bundle, **http),
            auth=authenticator(settings, sleep=sleep, clock=clock, **http),
            classify_error=servicenow_error,
            sleep=sleep,
            clock=clock,
        )
        return cls(client, streams)

    def __enter__(self) -> ServiceNowConnector:
        return self

    def check(self) -> str:
        response = self.client.request(
            "GET", f"{TABLE_API}/sys_user", params={"sysparm_limit": 1, "sysparm_fields": "sys_id"}
        )
        total = response.headers.get("x-total-count", "?")
        return f"reached ServiceNow: Table API answered ({total} users visible)"

    # discovery

    def list_streams(self) -> list[str]:
        """Every table `sys_db_object` lists (custom `u_` and scoped `x_` tables included); whether the
        user may read one is known when it is described."""
        return list_tables(self._discovery_select)

    def describe_streams(self, sources: Sequence[str]) -> Iterator[StreamDescription]:
        names = [table_name(source) for source in sources]
        return describe_tables(self._discovery_select, self._probe, names)

    def _discovery_select(
        self, table: str, conditions: list[str], fields: list[str]
    ) -> Iterator[dict[str, Any]]:
        return self._select(table, conditions, ("sys_updated_on", "sys_id"), fields)

    def _probe(self, table: str) -> None:
        """A read of `table` that matches no record (every record has a sys_id), so the table's ACL is
        checked and nothing is served: a 403 (the user may not read it) raises a PermanentError naming it."""
        try:
            self.client.request(
                "GET",
                f"{TABLE_API}/{table}",
                params={
                    "sysparm_query": "sys_idISEMPTY",
                    "sysparm_limit": 1,
                    "sysparm_fields": "sys_id",
                    "sysparm_no_count": "true",
                },
            )
        except PermanentError as error:
            raise PermanentError(
                f"servicenow table {table}: the user may not read it ({error})",
                system=SYSTEM,
                code=error.code,
            ) from error

    # reads

    def read(self, stream: str, window: Window | None = None) -> Iterator[dict[str, Any]]:
        spec = self.stream(stream)
        ts, key = self._cursor(spec)
        table = table_name(spec.source)
        conditions = self._filters(spec)
        if window is not None:
            conditions += [f"{ts}>={window_bound(window.start)}", f"{ts}<{window_bound(window.end)}"]
        names = [field_name(name) for name in spec.schema.names]
        names += [name for name in (ts, key) if name not in names]
        yield from self._select(table, conditions, (ts, key), names)
        if spec.deletes and window is not None:
            yield from self._deleted(table, ts, key, window)

    @staticmethod
    def _cursor(stream: Stream) -> tuple[str, str]:
        ts, key = stream.cursor or ("sys_updated_on", "sys_id")
        return field_name(ts, "cursor field"), field_name(key, "cursor field")

    @staticmethod
    def _filters(stream: Stream) -> list[str]:
        """`options: {filters: {field: value}}`: equality conditions every read of the stream carries."""
        filters = stream.options.get("filters") or {}
        if not isinstance(filters, Mapping):
            raise ConfigError(f"servicenow stream {stream.name!r}: options.filters must map fields to values")
        return [condition(name, "=", value) for name, value in filters.items()]

    def _deleted(self, table: str, ts: str, key: str, window: Window) -> Iterator[dict[str, Any]]:
        conditions = [
            condition("tablename", "=", table),
            f"sys_created_on>={window_bound(window.start)}",
            f"sys_created_on<{window_bound(window.end)}",
        ]
        fields = ["sys_id", "documentkey", "sys_created_on"]
        for row in self._select(AUDIT_TABLE, conditions, ("sys_created_on", "sys_id"), fields):
            yield {key: row["documentkey"], ts: row["sys_created_on"], "_deleted": True}

    def _select(
        self, table: str, conditions: list[str], order: tuple[str, str], fields: list[str]
    ) -> Iterator[dict[str, Any]]:
        """Every record matching `conditions`, in (ts, key) order, chunk after chunk; the fields the
        conditions name are checked (see the class's doc) and then left out unless asked for."""
        ts, key = order
        named = list(dict.fromkeys([*_query_fields(conditions), ts, key]))
        asked = [*fields, *(name for name in named if name not in fields)]
        added = [name for name in asked if name not in fields]

        def queries(after: tuple[str, str] | None) -> list[Query]:
            if after is None:
                return [self._query(table, conditions, order, asked, named)]
            # Encoded queries cannot group `ts > a OR (ts = a AND key > b)`: the rest of second `a`
            # first, then everything after it.
            stamp, ident = after
            return [
                self._query(table, [*conditions, f"{ts}={stamp}", f"{key}>{ident}"], order, asked, named),
                self._query(table, [*conditions, f"{ts}>{stamp}"], order, asked, named),
            ]

        def key_of(record: Mapping[str, Any]) -> tuple[str, str]:
            stamp, ident = record.get(ts), record.get(key)
            if not stamp or not ident:
                raise PaginationError(f"servicenow record without {ts} or {key} cannot be paged past")
            return query_time(parse_timestamp(stamp, ts, naive_is_utc=True)), query_value(ident)

        read = ResumableRead(
            queries,
            key_of,
            chunk=CHUNK,
            resumable=lambda error: isinstance(error, PagingExpiredError),
            name=f"servicenow {table}",
        )
        for record in read:
            found = dict(record)
            for name in added:
                found.pop(name, None)
            yield found

    def _query(
        self, table: str, where: list[str], order: tuple[str, str], fields: list[str], named: list[str]
    ) -> Query:
        query = "^".join([*where, f"ORDERBY{order[0]}", f"ORDERBY{order[1]}"])
        return Query(
            lambda offset: self._page(table, query, fields, named, offset),
            OffsetPaginator(PAGE, _total_count),
        )

    def _page(self, table: str, query: str, fields: list[str], named: list[str], offset: int) -> Page:
        response = self._get(table, query, fields, PAGE, offset)
        body = response.json()
        records = body.get("result") if isinstance(body, Mapping) else None
        if not isinstance(records, list):
            raise PaginationError(f"servicenow {table}: the Table API answered without a result list")
        if records:
            self._check_fields(table, named, records[0], query)
            self._warn_absent(table, fields, records[0])
        elif offset == 0:
            self._confirm_fields(table, named, query)
        return Page(records=records, body=body, headers=response.headers)

    def _get(self, table: str, query: str, fields: list[str], limit: int, offset: int) -> httpx.Response:
        return self.client.request(
            "GET",
            f"{TABLE_API}/{table}",
            params={
                "sysparm_query": query,
                "sysparm_fields": ",".join(fields),
                "sysparm_limit": limit,
                "sysparm_offset": offset,
                "sysparm_display_value": "false",
                "sysparm_exclude_reference_link": "true",
            },
        )

    def _check_fields(self, table: str, named: list[str], record: Any, query: str) -> None:
        """Raise when `record` lacks a field the query names: the instance did not know it."""
        unknown = [name for name in named if (table, name) not in self._known_fields]
        if not unknown:
            return
        missing = [name for name in unknown if not isinstance(record, Mapping) or name not in record]
        if missing:
            raise UnknownQueryField(
                f"servicenow table {table} has no field {missing}, which the query {query!r} names: the "
                "instance would ignore that condition (or answer no rows), so the read stops. Check the "
                "stream's fields, cursor and options.filters against the table's dictionary"
            )
        self._known_fields.update((table, name) for name in unknown)

    def _warn_absent(self, table: str, fields: list[str], record: Any) -> None:
        """A field asked for but absent is not on the table (any more): its column goes NULL, said once."""
        if not isinstance(record, Mapping):
            return
        absent = [
            name for name in fields if name not in record and (table, f"-{name}") not in self._known_fields
        ]
        if absent:
            log.warning("servicenow table %s no longer has fields %s; they read as empty", table, absent)
            self._known_fields.update((table, f"-{name}") for name in absent)

    def _confirm_fields(self, table: str, named: list[str], query: str) -> None:
        """An empty answer proves nothing about the fields: ask one record of the table for them."""
        if all((table, name) in self._known_fields for name in named):
            return
        sample = self._get(table, f"ORDERBY{named[-1]}", named, 1, 0).json()
        records = sample.get("result") if isinstance(sample, Mapping) else None
        if isinstance(records, list) and records:
            self._check_fields(table, named, records[0], query)

    # writes

    def describe(self, target: str) -> DestinationDescription:
        """What the import set table `target` takes: `u_<name>` text columns, any of them a possible
        coalesce key. Which columns a staging table has lives in `sys_dictionary`; this connector does not
        ask for it, so a column the table lacks is only found when the instance ignores it."""
        staging = table_name(target, "import set table")
        patterns = {r"u_[a-z0-9_]{1,78}": STAGING_COLUMN}
        return DestinationDescription(staging, {}, system=SYSTEM, case_sensitive=True, patterns=patterns)

    def write(
        self,
        target: str,
        operation: str,
        records: Iterable[Mapping[str, Any]],
        key_field: str = "u_external_id",
    ) -> Iterator[WriteResult]:
        """Stage records into the import set table `target`; its transform map coalesces on `key_field`.

        Batches go to `insertMultiple` (a lone row to the single-row endpoint); each staged row's status
        becomes one result, in order: inserted, updated and ignored are successes, an error naming a lock
        or timeout is transient, any other error permanent. A call that fails as a whole (429 or 5xx
        after retries) makes every row of it transient. Rows without a key are refused unsent: the key
        is what makes a replayed call update rather than duplicate, so calls are retried safely (a row
        the lost attempt already wrote then reports `ignored`, with `created` False).
        """
        if operation != "upsert":
            raise ConfigError(
                f"servicenow writes go through import sets, which coalesce on a key: use 'upsert', "
                f"not {operation!r}"
            )
        staging = table_name(target, "import set table")
        field_name(key_field, "key field")
        pending: list[tuple[str, Mapping[str, Any] | WriteResult]] = []
        sendable = 0
        for record in records:
            key = "" if record.get(key_field) is None else str(record.get(key_field))
            slot = self._staging_row(record, key, key_field)
            pending.append((key, slot))
            sendable += not isinstance(slot, WriteResult)
            if sendable >= BATCH:
                yield from self._flush(staging, pending)
                pending, sendable = [], 0
        if pending:
            yield from self._flush(staging, pending)

    @staticmethod
    def _staging_row(record: Mapping[str, Any], key: str, key_field: str) -> Mapping[str, Any] | WriteResult:
        if not key:
            return WriteResult(
                key, WriteOutcome.PERMANENT, code="MISSING_KEY", message=f"{key_field} is empty; not sent"
            )
        row: dict[str, Any] = {}
        for name, value in record.items():
            if isinstance(value, Mapping | list | tuple | set):
                return WriteResult(
                    key,
                    WriteOutcome.PERMANENT,
                    code="NOT_FLAT",
                    message=f"{name} holds nested data; import set staging rows are flat name/value pairs",
                )
            row[str(name)] = _staging_value(value)
        return row

    def _flush(
        self, staging: str, pending: list[tuple[str, Mapping[str, Any] | WriteResult]]
    ) -> Iterator[WriteResult]:
        keys = [key for key, slot in pending if not isinstance(slot, WriteResult)]
        rows = [slot for _, slot in pending if not isinstance(slot, WriteResult)]
        sent = iter(self._import(staging, keys, rows) if rows else [])
        for _, slot in pending:
            yield slot if isinstance(slot, WriteResult) else next(sent)

    def _import(self, staging: str, keys: list[str], rows: list[Mapping[str, Any]]) -> list[WriteResult]:
        single = len(rows) == 1
        path = f"{IMPORT_API}/{staging}" if single else f"{IMPORT_API}/{staging}/insertMultiple"
        try:
            response = self.client.request(
                "POST", path, json=rows[0] if single else {"records": rows}, idempotent=True
            )
        except (TransientError, PermanentError) as error:
            return [WriteResult.failed(key, error) for key in keys]
        try:
            answers = response.json().get("result")
        except (ValueError, AttributeError):
            answers = None
        if not isinstance(answers, list) or len(answers) != len(rows):
            got = len(answers) if isinstance(answers, list) else "no"
            message = f"import set answered {got} row results for {len(rows)} staged rows"
            return [
                WriteResult(key, WriteOutcome.TRANSIENT, None, None, "RESULT_COUNT", message) for key in keys
            ]
        return [_row_result(key, answer) for key, answer in zip(keys, answers, strict=True)]


def _row_result(key: str, answer: Any) -> WriteResult:
    if not isinstance(answer, Mapping):
        return WriteResult(
            key, WriteOutcome.TRANSIENT, code="RESULT_SHAPE", message="row result is not an object"
        )
    status = str(answer.get("status") or "")
    if status in SUCCESS_STATUSES:
        return WriteResult(
            key, WriteOutcome.SUCCESS, str(answer.get("sys_id") or "") or None, status == "inserted", status
        )
    message = str(answer.get("error_message") or answer.get("status_message") or f"row status {status!r}")
    if status == "error" and row_error_is_transient(message):
        return WriteResult(key, WriteOutcome.TRANSIENT, None, None, status, message)
    return WriteResult(key, WriteOutcome.PERMANENT, None, None, status or "unknown", message)


def _staging_value(value: Any) -> Any:
    """Values as import set staging fields take them: times in UTC 'YYYY-MM-DD HH:MM:SS', numbers as JSON."""
    if isinstance(value, datetime):
        return query_time(value) if value.tzinfo else value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _query_fields(conditions: Iterable[str]) -> list[str]:
    """The field each encoded-query condition starts with (conditions this connector built)."""
    return [m.group(1) for c in conditions if (m := _CONDITION_FIELD.match(c)) and m.group(1)]


def _total_count(page: Page) -> int:
    raw = page.headers.get("x-total-count")
    try:
        return int(str(raw))
    except ValueError:
        raise PaginationError(
            "servicenow answered a page without X-Total-Count; without it a capped result cannot be told "
            "from a complete one"
        ) from None
