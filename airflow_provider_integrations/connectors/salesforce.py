"""Salesforce: REST and Bulk API 2.0 reads, sObject Collections and Bulk API 2.0 writes."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote_plus

from airflow_provider_integrations.connectors.base import Connector, Stream, WriteResult
from airflow_provider_integrations.connectors.salesforce_api import (
    BudgetGuard,
    SalesforceSettings,
    open_client,
    soql_literal,
    soql_name,
)
from airflow_provider_integrations.connectors.salesforce_bulk import BulkQuery, BulkWriter
from airflow_provider_integrations.connectors.salesforce_describe import describe_sobject
from airflow_provider_integrations.connectors.salesforce_discovery import (
    check_read_api,
    describe_sobjects,
    list_sobjects,
)
from airflow_provider_integrations.connectors.salesforce_lookup import lookup
from airflow_provider_integrations.connectors.salesforce_writes import CollectionsWriter
from airflow_provider_integrations.core.catalog import StreamDescription
from airflow_provider_integrations.core.errors import ConfigError, PaginationError, PermanentError
from airflow_provider_integrations.core.http import HttpClient
from airflow_provider_integrations.core.mapping import DestinationDescription
from airflow_provider_integrations.core.pagination import NextUrlPaginator, Page, Paginator
from airflow_provider_integrations.core.resumable import Query, ResumableRead
from airflow_provider_integrations.core.url_paths import SALESFORCE_NAME, name_segment
from airflow_provider_integrations.core.watermark import Window, parse_timestamp

log = logging.getLogger(__name__)
WRITE_CHUNK = 10_000
MAX_QUERY_URL = 12_000
"""Longest REST query URL sent (bytes, path and `q` encoded). Salesforce takes 16,384 bytes of URI and
headers together; a wider field list goes to Bulk API 2.0, whose query travels in the request body."""


class SalesforceConnector(Connector):
    """Reads Salesforce objects and writes records back, one result per record.

    Reads choose the API by size: up to `bulk_threshold` records through REST query pages
    (`nextRecordsUrl`), above it through a Bulk API 2.0 query job whose CSV is streamed page by page.
    Incremental reads order by (cursor timestamp, Id); an expired query locator resumes after the last
    record read. Streams with `deletes: true` use `queryAll` so deleted records arrive with IsDeleted.
    A stream with the option `read_api: rest` (objects Bulk API cannot query) is read through REST
    whatever its size; a field list too long for a REST query URL is read through Bulk API 2.0.

    `list_streams` and `describe_streams` discover the org's objects (`salesforce_discovery`).
    """

    system = "salesforce"
    async_batches = True

    def __init__(
        self,
        client: HttpClient,
        streams: Mapping[str, Stream],
        settings: SalesforceSettings,
        guard: BudgetGuard | None = None,
    ) -> None:
        super().__init__(client, streams)
        self.settings = settings
        self.guard = guard
        self.api = f"/services/data/v{settings.api_version}"
        self.last_read_api: str | None = None
        self._described: dict[str, DestinationDescription] = {}

    @classmethod
    def connect(
        cls, settings: SalesforceSettings, streams: Mapping[str, Stream], **http: Any
    ) -> SalesforceConnector:
        guard = BudgetGuard(settings.budget_share)
        return cls(open_client(settings, guard, http), streams, settings, guard)

    def check(self) -> str:
        sources = sorted({s.source for s in self.streams.values()}) or ["Account"]
        obj = name_segment(sources[0], "stream source", SALESFORCE_NAME, system=self.system)
        describe = self.client.get_json(f"{self.api}/sobjects/{obj}/describe")
        usage = f"; API usage {self.guard.used}/{self.guard.limit}" if self.guard and self.guard.limit else ""
        return f"reached Salesforce: {describe['name']} has {len(describe['fields'])} fields{usage}"

    def list_streams(self) -> list[str]:
        """The objects this user may replicate, from one describeGlobal call."""
        return list_sobjects(self.client, self.api)

    def describe_streams(self, sources: Sequence[str]) -> Iterator[StreamDescription]:
        """Each of `sources` described, 25 to a Composite Batch call. Objects Salesforce would not
        describe (INSUFFICIENT_ACCESS, ...) raise one `DescribeFailed` naming each, after the others."""
        return describe_sobjects(self.client, self.api, sources)

    def describe(self, target: str) -> DestinationDescription:
        """The sObject's describe (fields, types, createable/updateable, external ids), fetched once per
        object by this connector."""
        cached = self._described.get(target.casefold())
        if cached is None:
            cached = self._described[target.casefold()] = describe_sobject(self.client, self.api, target)
        return cached

    def lookup(
        self, target: str, key_field: str, keys: Sequence[str], fields: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        """Records of `target` by external id, read back through SOQL."""
        return lookup(self.client, self.api, target, key_field, keys, fields)

    def submit_bulk(
        self, target: str, operation: str, records: Sequence[Mapping[str, Any]], key_field: str
    ) -> str:
        """A Bulk API 2.0 ingest job (`triggers.salesforce_bulk.SalesforceBulkJobTrigger` waits for it)."""
        return BulkWriter(self.client, self.api).submit(
            soql_name(target), operation, records, soql_name(key_field)
        )

    def bulk_results(self, job_id: str, key_field: str, keys: Sequence[str]) -> Iterator[WriteResult]:
        return BulkWriter(self.client, self.api).results(job_id, soql_name(key_field), keys)

    def soql(self, stream: Stream, window: Window | None, after: tuple[str, str] | None = None) -> str:
        """The SOQL for a read: declared fields, the window on the cursor, keyset resume, stable order."""
        fields = [soql_name(f) for f in stream.schema.names]
        where = []
        order = "Id"
        if stream.cursor:
            ts, key = (soql_name(f) for f in stream.cursor)
            order = f"{ts}, {key}"
            if window:
                where.append(f"{ts} >= {soql_literal(window.start)} AND {ts} < {soql_literal(window.end)}")
            if after:
                at = soql_literal(parse_timestamp(after[0], ts))
                where.append(f"({ts} > {at} OR ({ts} = {at} AND {key} > {soql_literal(after[1])}))")
        elif after:
            where.append(f"Id > {soql_literal(after[1])}")
        text = f"SELECT {', '.join(fields)} FROM {soql_name(stream.source)}"  # noqa: S608 - checked names
        if where:
            text += " WHERE " + " AND ".join(where)
        return f"{text} ORDER BY {order}"

    def count(self, stream: Stream, window: Window | None) -> int:
        full = self.soql(stream, window)
        select_from = full.index(" FROM ")
        order_by = full.index(" ORDER BY ")
        body = self._query_page(f"SELECT COUNT(){full[select_from:order_by]}", stream.deletes)
        return int(body["totalSize"])

    def read(self, stream: str, window: Window | None = None) -> Iterator[dict[str, Any]]:
        spec = self.stream(stream)
        soql = self.soql(spec, window)
        rest_only = check_read_api(stream, spec.options) == "rest"
        if len(f"{self.api}/queryAll?q={quote_plus(soql)}") > MAX_QUERY_URL:
            if rest_only:
                raise ConfigError(
                    f"salesforce {stream}: its {len(spec.schema.names)} fields make a query too long for a "
                    f"REST URL, and Bulk API cannot query {spec.source}; declare fewer fields",
                    system=self.system,
                )
            log.info("salesforce %s: %d fields, reading through Bulk API 2.0", stream, len(spec.schema.names))
            yield from self._bulk_records(soql, spec.deletes)
            return
        # The first REST page reports the query's totalSize, so no COUNT() call precedes it; above the
        # threshold that page goes unused (one call, as the count was).
        first = self._query_page(soql, spec.deletes)
        expected = int(first["totalSize"])
        if expected > self.settings.bulk_threshold and not rest_only:
            del first  # a page of records this frame would otherwise hold for the whole read
            log.info("salesforce %s: %d records, reading through Bulk API 2.0", stream, expected)
            yield from self._bulk_records(soql, spec.deletes)
            return
        self.last_read_api = "rest"
        pages = self._rest_pages(spec, window, Page(records=first["records"], body=first))
        del first  # the read lets go of the first page once it has read it; so must this frame
        for row in pages:
            yield {k: v for k, v in row.items() if k != "attributes"}
        assert pages.query is not None  # a finished read has run at least one query
        self._check_count(spec, window, pages.query.paginator)

    def _bulk_records(self, soql: str, include_deleted: bool) -> Iterator[dict[str, Any]]:
        self.last_read_api = "bulk"
        for record in BulkQuery(self.client, self.api).records(soql, include_deleted):
            # CSV's "false" is truthy; the extract tells deletes by IsDeleted, a boolean as in REST.
            if "IsDeleted" in record:
                record["IsDeleted"] = record["IsDeleted"] == "true"
            yield record

    def _rest_pages(
        self, stream: Stream, window: Window | None, first: Page
    ) -> ResumableRead[tuple[str, str]]:
        """Query pages from `first`, the query's first page; after an expired locator, a fresh query
        that resumes after the last record read."""

        def query(after: tuple[str, str] | None) -> list[Query]:
            soql = self.soql(stream, window, after)

            def fetch(next_url: str | None) -> Page:
                body = self.client.get_json(next_url) if next_url else self._query_page(soql, stream.deletes)
                return Page(records=body["records"], body=body)

            paginator = NextUrlPaginator(
                lambda page: page.body.get("nextRecordsUrl"),
                total_from=lambda page: int(page.body["totalSize"]),
            )
            return [Query(fetch, paginator)]

        def key(record: Mapping[str, Any]) -> tuple[str, str]:
            if stream.cursor:
                return str(record[stream.cursor[0]]), str(record[stream.cursor[1]])
            return "", str(record["Id"])

        return ResumableRead(
            query,
            key,
            resumable=lambda error: (
                isinstance(error, PermanentError) and error.code == "INVALID_QUERY_LOCATOR"
            ),
            first=first,
            name=f"salesforce {stream.name}",
        )

    def _check_count(self, stream: Stream, window: Window | None, pages: Paginator[Any]) -> None:
        """Whether the last query's pages held the records it reported. Records changed or deleted during
        the read leave a window for good (their SystemModstamp moves past its end), so a fresh count no
        larger than what was read explains a gap; anything else is a truncated result."""
        total, got = pages.total, pages.records
        if total is None or got == total:
            return
        recount = self.count(stream, window) if got < total and window is not None else None
        if recount is None or recount > got:
            raise PaginationError(
                f"salesforce {stream.name}: query reported {total} records but pages held {got}"
                + (f" and a recount finds {recount}" if recount is not None else "")
            )
        log.warning(
            "salesforce %s: %d of %d records changed or were deleted while the window was read; "
            "they are read with the window they moved to",
            stream.name,
            total - got,
            total,
        )

    def _query_page(self, soql: str, include_deleted: bool) -> dict[str, Any]:
        endpoint = "queryAll" if include_deleted else "query"
        body: dict[str, Any] = self.client.get_json(f"{self.api}/{endpoint}", params={"q": soql})
        return body

    def write(
        self, target: str, operation: str, records: Iterable[Mapping[str, Any]], key_field: str
    ) -> Iterator[WriteResult]:
        """Collections (200 a call) for small batches, Bulk API 2.0 ingest for large ones.

        `records` is consumed in chunks; each chunk goes the way its size says.
        """
        collections = CollectionsWriter(self.client, self.api)
        bulk = BulkWriter(self.client, self.api)
        for chunk in _chunks(records, WRITE_CHUNK):
            writer = bulk if len(chunk) > collections.bulk_above else collections
            yield from writer.write(soql_name(target), operation, chunk, soql_name(key_field))


def _chunks(records: Iterable[Mapping[str, Any]], size: int) -> Iterator[list[Mapping[str, Any]]]:
    chunk: list[Mapping[str, Any]] = []
    for record in records:
        chunk.append(record)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
