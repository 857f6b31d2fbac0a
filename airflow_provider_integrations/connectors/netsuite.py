"""NetSuite: SuiteQL reads under token-based auth, deleted records, upserts by external id, and discovery
from the REST metadata catalog."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from airflow_provider_integrations.connectors.base import Connector, Stream, WriteOutcome, WriteResult
from airflow_provider_integrations.connectors.netsuite_catalog import describe_record_type
from airflow_provider_integrations.core.auth import OAuth1Signer
from airflow_provider_integrations.core.catalog import StreamDescription
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
from airflow_provider_integrations.core.pagination import OffsetPaginator, Page
from airflow_provider_integrations.core.resumable import Query, ResumableRead
from airflow_provider_integrations.core.schema import FieldType
from airflow_provider_integrations.core.sql.identifiers import validate_identifier
from airflow_provider_integrations.core.url_paths import (
    NETSUITE_EXTERNAL_ID,
    NETSUITE_RECORD_TYPE,
    name_segment,
    segment,
)
from airflow_provider_integrations.core.watermark import Window, parse_timestamp

log = logging.getLogger(__name__)
SYSTEM = "netsuite"
PAGE = 1000
CHUNK = 50_000
SUITEQL = "/services/rest/query/v1/suiteql"
METADATA_CATALOG = "/services/rest/record/v1/metadata-catalog"
TIMESTAMP_FORMAT = "YYYY-MM-DD HH24:MI:SS"
DATE_FORMAT = "YYYY-MM-DD"
"""SuiteQL writes dates by the account's (or user's) date preferences (`5/12/2026 3:04 pm`, `12.5.2026`):
every date and timestamp the connector reads is formatted by the query itself, and every literal parsed
with an explicit format, so no read depends on how the account is set up."""
READ_ONLY = frozenset({"id", "datecreated", "createddate", "lastmodifieddate"})
"""Fields NetSuite sets itself: a record upsert refuses them."""
CODE_STATUS = {"INVALID_LOGIN": 401, "CONCURRENCY_LIMIT_EXCEEDED": 429}
"""Error codes that mean refused credentials and too many concurrent requests, whatever their status."""
CUSTOM_FIELD = DestinationField("cust<kind>_<name>", "scalar", createable=True, updateable=True)


@dataclass(frozen=True)
class NetSuiteSettings:
    """A NetSuite account reached with token-based authentication (OAuth 1.0a, HMAC-SHA256)."""

    base_url: str
    account_id: str
    consumer_key: str
    consumer_secret: str = field(repr=False)
    token_id: str = field(repr=False)
    token_secret: str = field(repr=False)
    ca_bundle: str | None = None

    def signer(self) -> OAuth1Signer:
        return OAuth1Signer(
            self.account_id, self.consumer_key, self.consumer_secret, self.token_id, self.token_secret
        )


@reads_json_errors(SYSTEM)
def netsuite_error(response: httpx.Response, body: Any) -> IntegrationError | None:
    """NetSuite errors carry `o:errorDetails: [{"detail", "o:errorCode"}]`."""
    if not isinstance(body, dict):
        return None
    details = body.get("o:errorDetails") or [{}]
    code = str(details[0].get("o:errorCode") or f"HTTP {response.status_code}")
    text = f"{code}: {details[0].get('detail', 'no detail')}"
    return error_for_status(response, text, system=SYSTEM, code=code, status=CODE_STATUS.get(code))


def suiteql_literal(value: Any) -> str:
    """A value as a SuiteQL literal: timestamps through TO_TIMESTAMP with an explicit format, text quoted
    with '' escaping."""
    if isinstance(value, datetime):
        stamp = value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
        return f"TO_TIMESTAMP('{stamp}', '{TIMESTAMP_FORMAT}')"
    if isinstance(value, bool):
        return "'T'" if value else "'F'"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def select_item(column: str, field_type: FieldType | None) -> str:
    """A column of the select list: dates and timestamps through TO_CHAR with an explicit format, under
    their own name, so they arrive the same whatever the account's date preferences."""
    if field_type is FieldType.TIMESTAMP:
        return f"TO_CHAR({column}, '{TIMESTAMP_FORMAT}') AS {column}"
    if field_type is FieldType.DATE:
        return f"TO_CHAR({column}, '{DATE_FORMAT}') AS {column}"
    return column


class NetSuiteConnector(Connector):
    """Reads NetSuite tables through SuiteQL and upserts records by external id.

    SuiteQL pages are 1,000 rows by offset, and NetSuite refuses offsets past 100,000 rows; reads are
    therefore cut into chunks ordered by (lastmodifieddate, id), each paged by offset with its reported
    total checked, the next chunk starting after the last row of the one before. Deleted records come
    from the `deletedrecord` table. Dates and timestamps are read through `TO_CHAR` with explicit formats
    (`TIMESTAMP_FORMAT`, `DATE_FORMAT`), never in the account's date preferences.

    Discovery reads the REST record service's metadata catalog: `list_streams` the record types (custom
    record types `customrecord_*` included), `describe_streams` each type's JSON Schema (custom fields
    included), one call per type.
    """

    system = SYSTEM

    @classmethod
    def connect(
        cls, settings: NetSuiteSettings, streams: Mapping[str, Stream], **http: Any
    ) -> NetSuiteConnector:
        client = HttpClient(
            HttpSettings(base_url=settings.base_url, system=SYSTEM, ca_bundle=settings.ca_bundle, **http),
            auth=settings.signer(),
            classify_error=netsuite_error,
        )
        return cls(client, streams)

    def check(self) -> str:
        body = self._page("SELECT id FROM customer ORDER BY id", 0, 1)
        return f"reached NetSuite: SuiteQL answered ({body.get('totalResults', '?')} customers)"

    def read(self, stream: str, window: Window | None = None) -> Iterator[dict[str, Any]]:
        spec = self.stream(stream)
        yield from self._rows(spec, window)
        if spec.deletes and window is not None:
            yield from self._deleted(spec, window)

    def _rows(self, stream: Stream, window: Window | None) -> Iterator[dict[str, Any]]:
        if stream.cursor is None:
            raise ConfigError(f"netsuite stream {stream.name!r} needs a cursor (timestamp, id) to page")
        ts, key = (validate_identifier(name, "column") for name in stream.cursor)
        types = {f.name: f.type for f in stream.schema.fields}
        types[ts] = FieldType.TIMESTAMP
        columns = [select_item(validate_identifier(f, "column"), types.get(f)) for f in stream.schema.names]
        table = validate_identifier(stream.source, "table")
        where = []
        if window:
            where.append(f"{ts} >= {suiteql_literal(window.start)} AND {ts} < {suiteql_literal(window.end)}")
        yield from self._select(table, columns, where, (ts, key))

    def _deleted(self, stream: Stream, window: Window) -> Iterator[dict[str, Any]]:
        record_type = suiteql_literal(str(stream.options.get("record_type", stream.source)))
        where = [
            f"recordtype = {record_type}",
            f"deleteddate >= {suiteql_literal(window.start)} AND deleteddate < {suiteql_literal(window.end)}",
        ]
        assert stream.cursor is not None
        ts, key = stream.cursor
        columns = ["recordid", select_item("deleteddate", FieldType.TIMESTAMP)]
        for row in self._select("deletedrecord", columns, where, ("deleteddate", "recordid")):
            yield {key: row["recordid"], ts: row["deleteddate"], "_deleted": True}

    def _select(
        self, table: str, columns: list[str], conditions: list[str], order: tuple[str, str]
    ) -> Iterator[dict[str, Any]]:
        """Rows matching `conditions` in (timestamp, id) `order`: offset pages of up to CHUNK rows a query,
        each query's total checked, the next query starting after the last row of the one before."""
        ts, key = order

        def query(after: tuple[datetime, int] | None) -> list[Query]:
            where = list(conditions)
            if after:
                at = suiteql_literal(after[0])
                where.append(f"({ts} > {at} OR ({ts} = {at} AND {key} > {after[1]}))")
            sql = f"SELECT {', '.join(columns)} FROM {table}"  # noqa: S608 - validated names, literal values
            if where:
                sql += " WHERE " + " AND ".join(where)
            sql += f" ORDER BY {ts}, {key}"
            paginator = OffsetPaginator(
                PAGE,
                total_from=lambda page: int(page.body["totalResults"]),
                has_more_from=lambda page: bool(page.body.get("hasMore")),
            )
            return [Query(lambda offset: self._items(sql, offset), paginator)]

        def key_of(row: Mapping[str, Any]) -> tuple[datetime, int]:
            return parse_timestamp(row[ts], ts, naive_is_utc=True), int(row[key])

        for row in ResumableRead(query, key_of, chunk=CHUNK, name=f"netsuite {table}"):
            yield {k: v for k, v in row.items() if k != "links"}

    def _items(self, sql: str, offset: int) -> Page:
        body = self._page(sql, offset, PAGE)
        return Page(records=body.get("items") or [], body=body)

    def _page(self, sql: str, offset: int, limit: int) -> dict[str, Any]:
        response = self.client.request(
            "POST",
            SUITEQL,
            params={"limit": limit, "offset": offset},
            json={"q": sql},
            headers={"Prefer": "transient"},
            idempotent=True,
        )
        body: dict[str, Any] = response.json()
        return body

    def list_streams(self) -> list[str]:
        """The record types of the metadata catalog, custom record types included, in one call."""
        body = self.client.get_json(METADATA_CATALOG)
        items = body.get("items") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise PermanentError("the metadata catalog answered without an items list", system=SYSTEM)
        return [str(item["name"]) for item in items if isinstance(item, dict) and item.get("name")]

    def describe_streams(self, sources: Sequence[str]) -> Iterator[StreamDescription]:
        """Each record type as its JSON Schema in the metadata catalog describes it (one call each); an
        unknown or unreadable type raises NetSuite's error naming it."""
        for source in sources:
            yield describe_record_type(source.lower(), self._record_schema(source))

    def _record_schema(self, record_type: str) -> Any:
        name = name_segment(record_type, "record type", NETSUITE_RECORD_TYPE, system=SYSTEM).lower()
        response = self.client.request(
            "GET", f"{METADATA_CATALOG}/{name}", headers={"Accept": "application/schema+json"}
        )
        return response.json()

    def describe(self, target: str) -> DestinationDescription | None:
        """The fields of record type `target` as the metadata catalog describes them: read-only ones
        (`readOnly`, and the ones NetSuite sets itself, `READ_ONLY`) not writeable, `externalid` the
        upsert key, custom fields matched by pattern too (`custentity_...`, `custbody_...`); None when the
        catalog has no such record type. Types are left to NetSuite: every field takes any scalar."""
        try:
            schema = self._record_schema(target)
        except PermanentError as error:
            if error.code == "INVALID_RCRD_TYPE":
                return None
            raise
        description = describe_record_type(target.lower(), schema)
        properties = {str(name).lower(): prop for name, prop in schema["properties"].items()}
        fields = {}
        for f in description.fields:
            prop = properties.get(f.name) or {}
            writeable = not prop.get("readOnly") and f.name not in READ_ONLY
            fields[f.name] = DestinationField(
                f.name,
                "scalar",
                createable=writeable,
                updateable=writeable,
                external_id=f.name == "externalid",
                nillable=not f.required,
            )
        patterns = {r"cust[a-z0-9]*_[a-z0-9_]+": CUSTOM_FIELD}
        return DestinationDescription(description.name, fields, system=SYSTEM, patterns=patterns)

    def write(
        self, target: str, operation: str, records: Iterable[Mapping[str, Any]], key_field: str = "externalid"
    ) -> Iterator[WriteResult]:
        """Upsert each record by external id (`PUT .../record/v1/<type>/eid:<key>`).

        External ids are free text, percent-encoded; one that is empty, `.` or `..`, holds a control
        character or `|` (NetSuite's multi-select delimiter) fails its record (`INVALID_PATH_SEGMENT`)
        unsent."""
        if operation != "upsert":
            raise ConfigError(f"netsuite writes are upserts by external id, not {operation!r}")
        record_type = name_segment(target, "record type", NETSUITE_RECORD_TYPE, system=SYSTEM)
        for record in records:
            key = str(record.get(key_field))
            body = {k: v for k, v in record.items() if k != key_field}
            try:
                external_id = segment(record.get(key_field), key_field, NETSUITE_EXTERNAL_ID, system=SYSTEM)
                response = self.client.request(
                    "PUT", f"/services/rest/record/v1/{record_type}/eid:{external_id}", json=body
                )
            except (TransientError, PermanentError) as error:
                yield WriteResult.failed(key, error)
                continue
            location = response.headers.get("location", "")
            yield WriteResult(key, WriteOutcome.SUCCESS, location.rsplit("/", 1)[-1] or None)
