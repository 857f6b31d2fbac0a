"""Paginators: small objects that read one page and say where the next one is.

A connector supplies a `fetch(token) -> Page` function and picks a paginator; :func:`paginate` yields
records one by one, so a stream is never held in memory. Every paginator refuses to loop (the same token
twice is an error) and the offset paginator refuses to return fewer records than the server reported.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from airflow_provider_integrations.core.errors import ConfigError, PaginationError

Token = TypeVar("Token", bound=Hashable)


@dataclass(frozen=True)
class Page:
    """One page as the server sent it: its records, the parsed body and the response headers."""

    records: Sequence[Mapping[str, Any]]
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


class Paginator(abc.ABC, Generic[Token]):
    """Decides the token for the next page from the current one; None when there is no next page.

    `pages` and `records` count what was read; `total` is the result's size where the server reports it.
    """

    def __init__(self) -> None:
        self._seen: set[Hashable] = set()
        self.pages = 0
        self.records = 0
        self.total: int | None = None

    @property
    @abc.abstractmethod
    def first_token(self) -> Token | None:
        """Token for the first request (None: the first request takes no token)."""

    @abc.abstractmethod
    def next_token(self, page: Page) -> Token | None:
        """Token for the page after `page`, or None at the end."""

    def advance(self, page: Page) -> Token | None:
        """Record `page` and return the next token, raising on a loop."""
        self.pages += 1
        self.records += len(page.records)
        token = self.next_token(page)
        if token is None:
            self.finish()
            return None
        if token in self._seen:
            raise PaginationError(
                f"pagination loop: the server returned the token {token!r} twice "
                f"(after {self.pages} pages, {self.records} records)"
            )
        self._seen.add(token)
        return token

    def finish(self) -> None:
        """Checks to run once the last page is read."""


def paginate(fetch: Callable[[Any], Page], paginator: Paginator[Any]) -> Iterator[Mapping[str, Any]]:
    """Yield every record of every page, asking `fetch(token)` for each page in turn."""
    token = paginator.first_token
    while True:
        page = fetch(token)
        yield from page.records
        token = paginator.advance(page)
        if token is None:
            return


class CursorPaginator(Paginator[str]):
    """`has_more` plus a cursor taken from the page (Stripe: `starting_after` = last record's id)."""

    def __init__(
        self,
        cursor_from: Callable[[Page], str | None],
        has_more_from: Callable[[Page], bool] = lambda page: bool(page.body.get("has_more")),
    ) -> None:
        super().__init__()
        self._cursor_from = cursor_from
        self._has_more_from = has_more_from

    @property
    def first_token(self) -> str | None:
        return None

    def next_token(self, page: Page) -> str | None:
        if not self._has_more_from(page):
            return None
        cursor = self._cursor_from(page)
        if not cursor:
            raise PaginationError(
                f"server said there are more records but gave no cursor (page {self.pages + 1})"
            )
        return cursor


class NextUrlPaginator(Paginator[str]):
    """The page names the URL of the next one (Salesforce `nextRecordsUrl`, `Link: rel=next`).

    `total_from` reads the result's size where the first page reports it (Salesforce `totalSize`); it is
    kept in `total` for the caller to compare with `records`, not checked here.
    """

    def __init__(
        self,
        next_url_from: Callable[[Page], str | None],
        total_from: Callable[[Page], int | None] = lambda page: None,
    ) -> None:
        super().__init__()
        self._next_url_from = next_url_from
        self._total_from = total_from

    @property
    def first_token(self) -> str | None:
        return None

    def next_token(self, page: Page) -> str | None:
        if self.total is None:
            self.total = self._total_from(page)
        return self._next_url_from(page) or None


class OffsetPaginator(Paginator[int]):
    """`limit`/`offset` paging that checks the records it got against the total the server reported.

    `total_from` reads the reported total from a page (None when the page does not say); paging ends at
    an empty or short page or when the total is reached. Ending with fewer records than the total raises
    :class:`PaginationError`: a server cap must never truncate a stream silently. The total counts the
    whole result set, so paging from `start` expects `total - start` records.
    """

    def __init__(
        self,
        limit: int,
        total_from: Callable[[Page], int | None],
        has_more_from: Callable[[Page], bool | None] = lambda page: None,
        start: int = 0,
    ) -> None:
        super().__init__()
        if limit < 1:
            raise ConfigError(f"page limit must be at least 1, got {limit}")
        self.limit = limit
        self._total_from = total_from
        self._has_more_from = has_more_from
        self._offset = start
        self._start = start

    @property
    def first_token(self) -> int:
        return self._offset

    def next_token(self, page: Page) -> int | None:
        total = self._total_from(page)
        if total is not None:
            if self.total is not None and total != self.total:
                raise PaginationError(
                    f"reported total changed from {self.total} to {total} while paging; "
                    "the data moved under the read"
                )
            self.total = total
        self._offset += len(page.records)
        more = self._has_more_from(page)
        if more is False or not page.records:
            return None
        if self.total is not None and self._offset >= self.total:
            return None
        if more is None and self.total is None and len(page.records) < self.limit:
            return None
        return self._offset

    def finish(self) -> None:
        got = self._offset - self._start
        if self.total is not None and self._offset != max(self.total, self._start):
            raise PaginationError(
                f"server reported {self.total} records but paging from offset {self._start} returned "
                f"{got} in {self.pages} pages of up to {self.limit}: the result was truncated"
            )


class KeysetPaginator(Paginator[tuple[Any, ...]]):
    """Keyset (seek) paging: the next page starts after the last record's sort key.

    `key_from` reads the sort key from a record, e.g. `(SystemModstamp, Id)`; a short page ends paging.
    Keys must strictly increase from page to page.
    """

    def __init__(self, limit: int, key_from: Callable[[Mapping[str, Any]], tuple[Any, ...]]) -> None:
        super().__init__()
        if limit < 1:
            raise ConfigError(f"page limit must be at least 1, got {limit}")
        self.limit = limit
        self._key_from = key_from
        self._last: tuple[Any, ...] | None = None

    @property
    def first_token(self) -> tuple[Any, ...] | None:
        return None

    def next_token(self, page: Page) -> tuple[Any, ...] | None:
        if len(page.records) < self.limit:
            return None
        key = self._key_from(page.records[-1])
        if self._last is not None and key <= self._last:
            raise PaginationError(
                f"keyset paging went backwards: {key!r} after {self._last!r}; is the sort order stable?"
            )
        self._last = key
        return key
