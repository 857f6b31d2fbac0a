"""A read that survives expired cursors and deep offsets by resuming after the last key it read.

Many APIs page a query's result set through a cursor that can expire (Salesforce's query locator,
ServiceNow's offset result set) or refuse offsets past a cap (NetSuite's SuiteQL). When the result is
ordered by a unique key, such as `(timestamp, id)`, a new query that starts after the last key read
carries on where the old one stopped. :class:`ResumableRead` does this once for every connector: it
runs one query at a time, each paged by an ordinary :class:`~.pagination.Paginator`, and holds where it
got to, so the connector asks it instead of keeping counters of its own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from airflow_provider_integrations.core.errors import ConfigError, IntegrationError, PaginationError
from airflow_provider_integrations.core.pagination import Page, Paginator

log = logging.getLogger(__name__)
Key = TypeVar("Key")
Record = Mapping[str, Any]


@dataclass(frozen=True)
class Query:
    """One query of a resumable read: `fetch(token)` asks for a page, `paginator` says the next token."""

    fetch: Callable[[Any], Page]
    paginator: Paginator[Any]


class ResumableRead(Generic[Key]):
    """Every record of a keyset-ordered result set, read as one or more queries.

    `queries(after)` gives the queries that together read every record after the key `after` (None:
    from the start), in key order; most systems need one, a system whose filters cannot say
    `ts > a OR (ts = a AND id > b)` gives two. `key_from(record)` is the record's key. A query ends in
    one of three ways:

    - its paginator finds no next page: the query is complete, and the next of `queries(after)` runs;
    - it has read `chunk` records and more pages remain: it is cut, and the read goes on with
      `queries(key of the last record)`, so no query pages deeper than `chunk`;
    - fetching a page raises an error `resumable(error)` accepts (an expired cursor): the read goes on
      after the last key, as for a cut. A query that fails so before reading any record re-raises the
      error, as a fresh query would only fail again.

    `first` is the first query's first page when the caller has already fetched it. Progress is public:
    `records`, `pages`, `resumes`, `complete`, `after` (where the next query would start) and `query`
    (the query being read, or the last one when the read is over, whose paginator holds its counts).
    """

    def __init__(
        self,
        queries: Callable[[Key | None], Sequence[Query]],
        key_from: Callable[[Record], Key],
        *,
        chunk: int | None = None,
        resumable: Callable[[IntegrationError], bool] = lambda error: False,
        first: Page | None = None,
        name: str = "read",
    ) -> None:
        if chunk is not None and chunk < 1:
            raise ConfigError(f"{name}: a chunk must hold at least 1 record, got {chunk}")
        self._queries = queries
        self._key_from = key_from
        self._chunk = chunk
        self._resumable = resumable
        self._first = first
        self.name = name
        self.after: Key | None = None
        self.query: Query | None = None
        self.complete = False
        self.records = 0
        self.pages = 0
        self.resumes = 0
        self._last: Record | None = None
        self._query_records = 0

    def __iter__(self) -> Iterator[Record]:
        while True:
            for query in self._queries(self.after):
                if not (yield from self._read(query)):
                    break
            else:
                self.complete = True
                return
            assert self._last is not None  # a query is cut or resumed only after reading a record
            after = self._key_from(self._last)
            if after == self.after:
                raise PaginationError(
                    f"{self.name}: resuming after {after!r} read the same records again; "
                    "does the server ignore the resume filter?"
                )
            self.after = after
            self.resumes += 1

    def _read(self, query: Query) -> Generator[Record, None, bool]:
        """The records of one query; returns whether it ran to its end (False: cut or expired)."""
        self.query = query
        self._query_records = 0
        token = query.paginator.first_token
        while True:
            try:
                page = self._fetch(query, token)
            except IntegrationError as error:
                if not self._resumable(error) or self._query_records == 0:
                    raise
                log.warning(
                    "%s: %s after %d records; resuming after the last key read",
                    self.name,
                    error,
                    self._query_records,
                )
                return False
            self.pages += 1
            for record in page.records:
                self._last = record
                self._query_records += 1
                self.records += 1
                yield record
            try:
                token = query.paginator.advance(page)
            except PaginationError as error:
                raise PaginationError(f"{self.name}: {error.message}", code=error.code) from None
            if token is None:
                return True
            if self._chunk is not None and self._query_records >= self._chunk:
                return False

    def _fetch(self, query: Query, token: Any) -> Page:
        if self._first is not None:
            page, self._first = self._first, None
            return page
        return query.fetch(token)
