"""Unit tests for core.pagination, driven by small in-memory "servers" written in plain Python."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from airflow_provider_integrations.core.errors import ConfigError, PaginationError, PermanentError
from airflow_provider_integrations.core.pagination import (
    CursorPaginator,
    KeysetPaginator,
    NextUrlPaginator,
    OffsetPaginator,
    Page,
    Paginator,
    paginate,
)
from airflow_provider_integrations.core.resumable import Query, ResumableRead

Record = dict[str, Any]


def make_records(n: int, prefix: str = "rec") -> list[Record]:
    return [{"id": f"{prefix}_{i:05d}", "n": i} for i in range(n)]


class RecordingFetch:
    """Wraps a fetch function and remembers every token it was called with."""

    def __init__(self, fetch: Callable[[Any], Page]) -> None:
        self._fetch = fetch
        self.tokens: list[Any] = []

    def __call__(self, token: Any) -> Page:
        self.tokens.append(token)
        return self._fetch(token)


# --------------------------------------------------------------------------------------------------
# Stripe-style server: `starting_after=<last id>` plus `has_more`.
# --------------------------------------------------------------------------------------------------


class StripeServer:
    def __init__(self, records: Sequence[Record], limit: int) -> None:
        self.records = list(records)
        self.limit = limit

    def fetch(self, starting_after: str | None) -> Page:
        if starting_after is None:
            start = 0
        else:
            ids = [r["id"] for r in self.records]
            start = ids.index(starting_after) + 1
        data = self.records[start : start + self.limit]
        has_more = start + self.limit < len(self.records)
        return Page(records=data, body={"object": "list", "data": data, "has_more": has_more})


def last_id(page: Page) -> str | None:
    return str(page.records[-1]["id"]) if page.records else None


def cursor_paginator() -> CursorPaginator:
    return CursorPaginator(cursor_from=last_id)


def expected_pages(n: int, limit: int) -> int:
    """Requests a has_more/short-page paginator needs for n records: at least one, even when empty."""
    return max(1, -(-n // limit))


class TestPage:
    def test_defaults(self) -> None:
        page = Page(records=[{"a": 1}])
        assert page.body is None
        assert dict(page.headers) == {}

    def test_default_headers_are_not_shared(self) -> None:
        first, second = Page(records=[]), Page(records=[])
        assert first.headers is not second.headers

    def test_is_frozen(self) -> None:
        page = Page(records=[])
        with pytest.raises(AttributeError):
            page.records = [{"a": 1}]  # type: ignore[misc]


class TestCursorPaginator:
    @pytest.mark.parametrize("n", [0, 1, 9, 10, 11, 30, 31, 57])
    def test_reads_every_record_once_in_order(self, n: int) -> None:
        limit = 10
        records = make_records(n)
        server = StripeServer(records, limit)
        fetch = RecordingFetch(server.fetch)
        paginator = cursor_paginator()

        got = list(paginate(fetch, paginator))

        assert got == records
        assert len({r["id"] for r in got}) == n
        assert paginator.pages == expected_pages(n, limit) == len(fetch.tokens)
        assert paginator.records == n

    def test_tokens_are_last_ids_of_previous_pages(self) -> None:
        records = make_records(25)
        server = StripeServer(records, limit=10)
        fetch = RecordingFetch(server.fetch)

        list(paginate(fetch, cursor_paginator()))

        assert fetch.tokens == [None, records[9]["id"], records[19]["id"]]

    def test_first_token_is_none(self) -> None:
        assert cursor_paginator().first_token is None

    def test_yields_the_server_record_objects(self) -> None:
        records = make_records(3)
        got = list(paginate(StripeServer(records, limit=2).fetch, cursor_paginator()))
        assert all(a is b for a, b in zip(got, records, strict=True))

    @pytest.mark.parametrize("missing_cursor", [None, ""])
    def test_has_more_without_cursor_raises(self, missing_cursor: str | None) -> None:
        def fetch(token: str | None) -> Page:
            return Page(records=make_records(2), body={"has_more": True})

        paginator = CursorPaginator(cursor_from=lambda page: missing_cursor)
        with pytest.raises(PaginationError, match="no cursor"):
            list(paginate(fetch, paginator))

    def test_has_more_with_empty_page_raises(self) -> None:
        def fetch(token: str | None) -> Page:
            return Page(records=[], body={"has_more": True})

        with pytest.raises(PaginationError, match="no cursor"):
            list(paginate(fetch, cursor_paginator()))

    def test_missing_has_more_means_end(self) -> None:
        fetch = RecordingFetch(lambda token: Page(records=make_records(5), body={"data": []}))
        got = list(paginate(fetch, cursor_paginator()))
        assert len(got) == 5
        assert fetch.tokens == [None]

    def test_custom_has_more_reader(self) -> None:
        records = make_records(7)

        def fetch(token: str | None) -> Page:
            start = 0 if token is None else int(token)
            data = records[start : start + 3]
            return Page(records=data, headers={"X-More": "1" if start + 3 < len(records) else "0"})

        paginator = CursorPaginator(
            cursor_from=lambda page: str(page.records[-1]["n"] + 1),
            has_more_from=lambda page: page.headers["X-More"] == "1",
        )
        assert list(paginate(fetch, paginator)) == records

    def test_server_repeating_a_cursor_is_a_loop(self) -> None:
        records = make_records(30)

        def fetch(token: str | None) -> Page:
            # A broken server: it ignores starting_after once past the second page.
            start = 0 if token is None else min(10, [r["id"] for r in records].index(token) + 1)
            return Page(records=records[start : start + 10], body={"has_more": True})

        paginator = cursor_paginator()
        seen: list[Mapping[str, Any]] = []
        with pytest.raises(PaginationError, match="loop") as info:
            for record in paginate(fetch, paginator):
                seen.append(record)
        assert records[19]["id"] in str(info.value)
        assert paginator.pages == 3
        # The error stops the read: nothing beyond the repeated page is produced.
        assert len(seen) == 30

    def test_pagination_error_is_permanent(self) -> None:
        def fetch(token: str | None) -> Page:
            return Page(records=make_records(1), body={"has_more": True})

        with pytest.raises(PermanentError):
            list(paginate(fetch, cursor_paginator()))


# --------------------------------------------------------------------------------------------------
# Salesforce-style server: every page names the URL of the next one.
# --------------------------------------------------------------------------------------------------

QUERY_URL = "/services/data/v60.0/query?q=SELECT+Id+FROM+Account"


class SalesforceServer:
    def __init__(self, records: Sequence[Record], batch: int) -> None:
        self.records = list(records)
        self.batch = batch

    def url_for(self, start: int) -> str:
        return f"/services/data/v60.0/query/01gD0000002HU6KIAW-{start}"

    def fetch(self, url: str | None) -> Page:
        start = 0 if url is None else int(url.rsplit("-", 1)[1])
        data = self.records[start : start + self.batch]
        done = start + self.batch >= len(self.records)
        body: dict[str, Any] = {"totalSize": len(self.records), "done": done, "records": data}
        if not done:
            body["nextRecordsUrl"] = self.url_for(start + self.batch)
        return Page(records=data, body=body)


def next_records_url(page: Page) -> str | None:
    value = page.body.get("nextRecordsUrl")
    return None if value is None else str(value)


class TestNextUrlPaginator:
    @pytest.mark.parametrize("n", [0, 1, 199, 200, 201, 1000, 1234])
    def test_follows_next_records_url(self, n: int) -> None:
        batch = 200
        records = make_records(n)
        server = SalesforceServer(records, batch)
        fetch = RecordingFetch(server.fetch)
        paginator = NextUrlPaginator(next_records_url)

        got = list(paginate(fetch, paginator))

        assert got == records
        assert paginator.pages == expected_pages(n, batch)
        assert fetch.tokens == [None] + [server.url_for(i * batch) for i in range(1, paginator.pages)]

    def test_first_token_is_none(self) -> None:
        assert NextUrlPaginator(next_records_url).first_token is None

    def test_empty_next_url_ends(self) -> None:
        fetch = RecordingFetch(lambda url: Page(records=make_records(3), body={"nextRecordsUrl": ""}))
        assert len(list(paginate(fetch, NextUrlPaginator(next_records_url)))) == 3
        assert fetch.tokens == [None]

    def test_link_header_style(self) -> None:
        records = make_records(9)

        def fetch(url: str | None) -> Page:
            start = 0 if url is None else int(url.split("page=")[1]) * 4
            data = records[start : start + 4]
            headers = {}
            if start + 4 < len(records):
                headers["Link"] = f'<https://api.example.com/items?page={start // 4 + 1}>; rel="next"'
            return Page(records=data, headers=headers)

        def next_from_link(page: Page) -> str | None:
            link = page.headers.get("Link")
            return link.split(">")[0].lstrip("<") if link else None

        assert list(paginate(fetch, NextUrlPaginator(next_from_link))) == records

    def test_self_referencing_next_url_is_a_loop(self) -> None:
        def fetch(url: str | None) -> Page:
            return Page(records=make_records(2), body={"nextRecordsUrl": "/next/A"})

        paginator = NextUrlPaginator(next_records_url)
        with pytest.raises(PaginationError, match="loop") as info:
            list(paginate(fetch, paginator))
        assert "/next/A" in str(info.value)
        assert paginator.pages == 2

    def test_cycle_through_two_urls_is_a_loop(self) -> None:
        chain = {None: "/next/A", "/next/A": "/next/B", "/next/B": "/next/A"}
        fetch = RecordingFetch(lambda url: Page(records=[{"url": url}], body={"nextRecordsUrl": chain[url]}))

        with pytest.raises(PaginationError, match="twice"):
            list(paginate(fetch, NextUrlPaginator(next_records_url)))
        assert fetch.tokens == [None, "/next/A", "/next/B"]


# --------------------------------------------------------------------------------------------------
# limit/offset server that reports a total.
# --------------------------------------------------------------------------------------------------


class OffsetServer:
    """`?limit=&offset=`; reports `total`; optionally caps the page size or the reachable depth."""

    def __init__(
        self,
        records: Sequence[Record],
        limit: int,
        *,
        report_total: bool = True,
        reported_total: int | None = None,
        max_page: int | None = None,
        max_depth: int | None = None,
        report_has_more: bool = False,
    ) -> None:
        self.records = list(records)
        self.limit = limit
        self.report_total = report_total
        self.reported_total = len(self.records) if reported_total is None else reported_total
        self.max_page = max_page
        self.max_depth = max_depth
        self.report_has_more = report_has_more

    def fetch(self, offset: int) -> Page:
        size = self.limit if self.max_page is None else min(self.limit, self.max_page)
        reachable = self.records if self.max_depth is None else self.records[: self.max_depth]
        data = reachable[offset : offset + size]
        body: dict[str, Any] = {"items": data}
        if self.report_total:
            body["total"] = self.reported_total
        if self.report_has_more:
            body["has_more"] = offset + len(data) < len(reachable)
        return Page(records=data, body=body)


def total_from(page: Page) -> int | None:
    value = page.body.get("total")
    return None if value is None else int(value)


def has_more_from(page: Page) -> bool | None:
    value = page.body.get("has_more")
    return None if value is None else bool(value)


class TestOffsetPaginator:
    @pytest.mark.parametrize("n", [0, 1, 99, 100, 101, 1000, 1050])
    def test_full_read_with_total(self, n: int) -> None:
        limit = 100
        records = make_records(n)
        fetch = RecordingFetch(OffsetServer(records, limit).fetch)
        paginator = OffsetPaginator(limit, total_from)

        got = list(paginate(fetch, paginator))

        assert got == records
        assert paginator.total == n
        assert paginator.records == n
        assert fetch.tokens == [i * limit for i in range(expected_pages(n, limit))]

    @pytest.mark.parametrize("n", [0, 1, 99, 100, 101, 1000, 1050])
    def test_full_read_without_total_ends_on_short_or_empty_page(self, n: int) -> None:
        limit = 100
        records = make_records(n)
        fetch = RecordingFetch(OffsetServer(records, limit, report_total=False).fetch)
        paginator = OffsetPaginator(limit, total_from)

        got = list(paginate(fetch, paginator))

        assert got == records
        assert paginator.total is None
        # A last page that happens to be full needs one more (empty) request to find the end.
        assert len(fetch.tokens) == n // limit + 1

    def test_server_capping_page_size_is_followed_when_total_known(self) -> None:
        records = make_records(1000)
        fetch = RecordingFetch(OffsetServer(records, limit=100, max_page=40).fetch)

        got = list(paginate(fetch, OffsetPaginator(100, total_from)))

        assert got == records
        assert fetch.tokens == list(range(0, 1000, 40))

    def test_server_cap_below_total_raises_truncation(self) -> None:
        records = make_records(1000)
        fetch = RecordingFetch(OffsetServer(records, limit=100, max_depth=250).fetch)
        paginator = OffsetPaginator(100, total_from)
        got: list[Mapping[str, Any]] = []

        with pytest.raises(PaginationError, match="truncated") as info:
            for record in paginate(fetch, paginator):
                got.append(record)

        message = str(info.value)
        assert "1000" in message
        assert "250" in message
        assert got == records[:250]

    def test_server_cap_with_has_more_false_still_raises_truncation(self) -> None:
        records = make_records(1000)
        server = OffsetServer(records, limit=100, max_depth=250, report_has_more=True)

        with pytest.raises(PaginationError, match="truncated"):
            list(paginate(server.fetch, OffsetPaginator(100, total_from, has_more_from)))

    def test_more_records_than_reported_raises(self) -> None:
        server = OffsetServer(make_records(7), limit=10, reported_total=5)
        with pytest.raises(PaginationError):
            list(paginate(server.fetch, OffsetPaginator(10, total_from)))

    def test_total_changing_mid_read_raises(self) -> None:
        records = make_records(300)
        totals = iter([300, 300, 301])

        def fetch(offset: int) -> Page:
            return Page(records=records[offset : offset + 100], body={"total": next(totals)})

        paginator = OffsetPaginator(100, total_from)
        with pytest.raises(PaginationError, match="changed") as info:
            list(paginate(fetch, paginator))
        assert "300" in str(info.value)
        assert "301" in str(info.value)
        assert paginator.total == 300

    def test_total_reported_only_on_first_page_is_kept(self) -> None:
        records = make_records(250)

        def fetch(offset: int) -> Page:
            body = {"total": 250} if offset == 0 else {}
            return Page(records=records[offset : offset + 100], body=body)

        paginator = OffsetPaginator(100, total_from)
        assert list(paginate(fetch, paginator)) == records
        assert paginator.total == 250

    def test_has_more_false_ends_even_on_a_full_page(self) -> None:
        records = make_records(500)

        def fetch(offset: int) -> Page:
            data = records[offset : offset + 100]
            return Page(records=data, body={"has_more": offset < 100})

        fetch_rec = RecordingFetch(fetch)
        got = list(paginate(fetch_rec, OffsetPaginator(100, total_from, has_more_from)))
        assert got == records[:200]
        assert fetch_rec.tokens == [0, 100]

    def test_has_more_true_continues_past_a_short_page(self) -> None:
        records = make_records(100)
        server = OffsetServer(records, limit=50, report_total=False, max_page=30, report_has_more=True)
        fetch = RecordingFetch(server.fetch)

        got = list(paginate(fetch, OffsetPaginator(50, total_from, has_more_from)))

        assert got == records
        assert fetch.tokens == [0, 30, 60, 90]

    def test_first_token_is_start(self) -> None:
        assert OffsetPaginator(10, total_from).first_token == 0
        assert OffsetPaginator(10, total_from, start=40).first_token == 40

    def test_start_offset_without_total(self) -> None:
        records = make_records(95)
        fetch = RecordingFetch(OffsetServer(records, limit=20, report_total=False).fetch)

        got = list(paginate(fetch, OffsetPaginator(20, total_from, start=40)))

        assert got == records[40:]
        assert fetch.tokens == [40, 60, 80]

    def test_start_offset_with_collection_total(self) -> None:
        # The server's total counts the whole result set, not what lies beyond the start offset.
        records = make_records(1000)
        fetch = RecordingFetch(OffsetServer(records, limit=100).fetch)
        paginator = OffsetPaginator(100, total_from, start=500)

        got = list(paginate(fetch, paginator))

        assert got == records[500:]
        assert fetch.tokens == list(range(500, 1000, 100))

    def test_start_offset_with_total_still_detects_truncation(self) -> None:
        records = make_records(1000)
        server = OffsetServer(records, limit=100, max_depth=700)

        with pytest.raises(PaginationError, match="truncated"):
            list(paginate(server.fetch, OffsetPaginator(100, total_from, start=500)))

    def test_start_offset_beyond_total_reads_nothing(self) -> None:
        fetch = RecordingFetch(OffsetServer(make_records(1000), limit=100).fetch)
        paginator = OffsetPaginator(100, total_from, start=1200)

        assert list(paginate(fetch, paginator)) == []
        assert fetch.tokens == [1200]

    @pytest.mark.parametrize("limit", [0, -1, -100])
    def test_bad_limit_is_config_error(self, limit: int) -> None:
        with pytest.raises(ConfigError, match=str(limit)):
            OffsetPaginator(limit, total_from)


# --------------------------------------------------------------------------------------------------
# Keyset server: `WHERE (ts, id) > (:ts, :id) ORDER BY ts, id LIMIT :limit`.
# --------------------------------------------------------------------------------------------------

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def key_of(record: Mapping[str, Any]) -> tuple[Any, ...]:
    return (record["ts"], record["id"])


class KeysetServer:
    def __init__(self, records: Sequence[Record], limit: int) -> None:
        self.records = sorted(records, key=key_of)
        self.limit = limit

    def fetch(self, after: tuple[Any, ...] | None) -> Page:
        rows = [r for r in self.records if after is None or key_of(r) > after]
        return Page(records=rows[: self.limit])


def clustered_records() -> list[Record]:
    """Many records share a timestamp, so runs of equal timestamps straddle page boundaries."""
    records: list[Record] = []
    counter = 0
    for minute, how_many in [(0, 1), (1, 23), (2, 2), (3, 17), (4, 1), (5, 40)]:
        for _ in range(how_many):
            records.append({"ts": T0 + timedelta(minutes=minute), "id": f"a{(counter * 7919) % 1000:04d}"})
            counter += 1
    return records


class TestKeysetPaginator:
    @pytest.mark.parametrize("limit", [1, 2, 5, 7, 10, 21, 84, 200])
    def test_shared_timestamps_across_pages_none_missed_none_duplicated(self, limit: int) -> None:
        records = clustered_records()
        server = KeysetServer(records, limit)
        fetch = RecordingFetch(server.fetch)
        paginator = KeysetPaginator(limit, key_of)

        got = list(paginate(fetch, paginator))

        got_keys = [key_of(r) for r in got]
        assert len(got_keys) == len(set(got_keys)) == len(records)
        assert set(got_keys) == {key_of(r) for r in records}
        assert got_keys == sorted(got_keys)
        assert paginator.records == len(records)
        assert len(fetch.tokens) == len(records) // limit + 1

    def test_tokens_are_last_keys_of_previous_pages(self) -> None:
        records = clustered_records()
        server = KeysetServer(records, limit=10)
        fetch = RecordingFetch(server.fetch)

        list(paginate(fetch, KeysetPaginator(10, key_of)))

        ordered = server.records
        expected = [None] + [key_of(ordered[i]) for i in range(9, len(ordered), 10)]
        assert fetch.tokens == expected

    def test_timestamp_only_key_with_ties_is_refused(self) -> None:
        # A seek on the timestamp alone cannot move past a run of ties longer than a page.
        records = clustered_records()
        sorted_records = sorted(records, key=key_of)

        def fetch(after: tuple[Any, ...] | None) -> Page:
            rows = [r for r in sorted_records if after is None or (r["ts"],) >= after]
            return Page(records=rows[:5])

        with pytest.raises(PaginationError, match="backwards"):
            list(paginate(fetch, KeysetPaginator(5, lambda r: (r["ts"],))))

    def test_keys_going_backwards_raise(self) -> None:
        pages = {
            None: [{"ts": T0, "id": "a"}, {"ts": T0 + timedelta(minutes=2), "id": "b"}],
            (T0 + timedelta(minutes=2), "b"): [
                {"ts": T0 + timedelta(minutes=3), "id": "c"},
                {"ts": T0 + timedelta(minutes=1), "id": "z"},
            ],
        }
        paginator = KeysetPaginator(2, key_of)
        with pytest.raises(PaginationError, match="backwards") as info:
            list(paginate(lambda token: Page(records=pages[token]), paginator))
        assert "'z'" in str(info.value)

    def test_server_ignoring_the_key_raises(self) -> None:
        records = clustered_records()[:10]
        with pytest.raises(PaginationError):
            list(paginate(lambda token: Page(records=records[:5]), KeysetPaginator(5, key_of)))

    def test_short_page_ends_without_reading_its_key(self) -> None:
        def key_from(record: Mapping[str, Any]) -> tuple[Any, ...]:
            raise AssertionError("the key of a short page must not be needed")

        got = list(paginate(lambda token: Page(records=[{"id": "x"}]), KeysetPaginator(2, key_from)))
        assert got == [{"id": "x"}]

    def test_first_token_is_none(self) -> None:
        assert KeysetPaginator(5, key_of).first_token is None

    @pytest.mark.parametrize("limit", [0, -3])
    def test_bad_limit_is_config_error(self, limit: int) -> None:
        with pytest.raises(ConfigError, match=str(limit)):
            KeysetPaginator(limit, key_of)


# --------------------------------------------------------------------------------------------------
# paginate() itself
# --------------------------------------------------------------------------------------------------


def paginator_cases() -> list[tuple[str, Callable[[], tuple[Callable[[Any], Page], Paginator[Any]]]]]:
    records = make_records(50)

    def cursor() -> tuple[Callable[[Any], Page], Paginator[Any]]:
        return StripeServer(records, 10).fetch, cursor_paginator()

    def next_url() -> tuple[Callable[[Any], Page], Paginator[Any]]:
        return SalesforceServer(records, 10).fetch, NextUrlPaginator(next_records_url)

    def offset() -> tuple[Callable[[Any], Page], Paginator[Any]]:
        return OffsetServer(records, 10).fetch, OffsetPaginator(10, total_from)

    def keyset() -> tuple[Callable[[Any], Page], Paginator[Any]]:
        keyed = [{"ts": T0, "id": r["id"]} for r in records]
        return KeysetServer(keyed, 10).fetch, KeysetPaginator(10, key_of)

    return [("cursor", cursor), ("next_url", next_url), ("offset", offset), ("keyset", keyset)]


class TestPaginate:
    @pytest.mark.parametrize(("name", "build"), paginator_cases(), ids=[c[0] for c in paginator_cases()])
    def test_is_lazy(
        self, name: str, build: Callable[[], tuple[Callable[[Any], Page], Paginator[Any]]]
    ) -> None:
        server_fetch, paginator = build()
        fetch = RecordingFetch(server_fetch)

        records = paginate(fetch, paginator)
        assert fetch.tokens == []  # nothing is fetched before the first record is asked for

        next(records)
        assert len(fetch.tokens) == 1

        for _ in range(9):  # the rest of the first page
            next(records)
        assert len(fetch.tokens) == 1

        next(records)  # first record of the second page
        assert len(fetch.tokens) == 2

        records.close()
        assert len(fetch.tokens) == 2
        assert paginator.pages == 1

    def test_fetch_errors_propagate(self) -> None:
        class Boom(Exception):
            pass

        def fetch(token: str | None) -> Page:
            if token is not None:
                raise Boom(token)
            return Page(records=make_records(2), body={"has_more": True})

        records = paginate(fetch, cursor_paginator())
        assert next(records)["id"] == "rec_00000"
        assert next(records)["id"] == "rec_00001"
        with pytest.raises(Boom, match="rec_00001"):
            next(records)

    def test_paginator_counts_pages_and_records(self) -> None:
        server = StripeServer(make_records(23), limit=5)
        paginator = cursor_paginator()
        assert (paginator.pages, paginator.records) == (0, 0)
        list(paginate(server.fetch, paginator))
        assert (paginator.pages, paginator.records) == (5, 23)


# --------------------------------------------------------------------------------------------------
# Resumable reads: keyset-ordered queries, each paged by offset, resumed after the last key.
# --------------------------------------------------------------------------------------------------


class ExpiredCursor(PermanentError):
    """What a server says when the cursor of a query expired."""


class KeysetQueryServer:
    """Answers `query(after)`: the records after a key, paged by offset with the total reported.

    `expire_at` lists offsets whose page, asked for the first time, fails with :class:`ExpiredCursor`;
    `ignore_after` makes the server answer every query from the start.
    """

    def __init__(
        self,
        records: Sequence[Record],
        limit: int,
        *,
        expire_at: Sequence[int] = (),
        ignore_after: bool = False,
        shrink_total_by: int = 0,
    ) -> None:
        self.records = sorted(records, key=key_of)
        self.limit = limit
        self.expire_at = set(expire_at)
        self.ignore_after = ignore_after
        self.shrink_total_by = shrink_total_by
        self.requests: list[tuple[Any, int]] = []

    def query(self, after: tuple[Any, ...] | None) -> list[Query]:
        rows = [r for r in self.records if after is None or self.ignore_after or key_of(r) > after]

        def fetch(offset: int) -> Page:
            self.requests.append((after, offset))
            if offset in self.expire_at:
                self.expire_at.discard(offset)
                raise ExpiredCursor("the result set expired", code="EXPIRED")
            data = rows[offset : offset + self.limit]
            return Page(records=data, body={"total": len(rows) - self.shrink_total_by})

        return [Query(fetch, OffsetPaginator(self.limit, total_from))]


def expired(error: Exception) -> bool:
    return isinstance(error, ExpiredCursor)


def keyed_records(n: int) -> list[Record]:
    """n records over few timestamps, so runs of equal timestamps straddle pages and chunks."""
    return [{"ts": T0 + timedelta(minutes=i // 7), "id": f"k{i:05d}"} for i in range(n)]


class TestResumableRead:
    def test_one_query_reads_everything_and_completes(self) -> None:
        server = KeysetQueryServer(keyed_records(25), limit=10)
        read = ResumableRead(server.query, key_of)
        assert [r["id"] for r in read] == [r["id"] for r in server.records]
        assert (read.complete, read.records, read.pages, read.resumes, read.after) == (True, 25, 3, 0, None)
        assert read.query is not None and read.query.paginator.total == 25

    def test_resumes_after_the_last_key_when_the_cursor_expires(self) -> None:
        records = keyed_records(40)
        server = KeysetQueryServer(records, limit=10, expire_at=[20])
        read = ResumableRead(server.query, key_of, resumable=expired)

        got = [r["id"] for r in read]

        assert got == [r["id"] for r in server.records], "every record once, in key order"
        assert read.resumes == 1 and read.complete
        assert read.after == key_of(server.records[19]), "the second query starts after the 20th record"
        assert [offset for after, offset in server.requests if after == read.after] == [0, 10]

    def test_progress_is_visible_while_reading(self) -> None:
        server = KeysetQueryServer(keyed_records(30), limit=10, expire_at=[10])
        read = ResumableRead(server.query, key_of, resumable=expired)
        records = iter(read)
        for _ in range(10):
            next(records)
        assert (read.records, read.resumes, read.complete) == (10, 0, False)
        next(records)  # the expired page, then the first record after the last key
        assert (read.records, read.resumes, read.after) == (11, 1, key_of(server.records[9]))

    def test_an_error_it_cannot_resume_from_propagates(self) -> None:
        server = KeysetQueryServer(keyed_records(30), limit=10, expire_at=[20])
        with pytest.raises(ExpiredCursor):
            list(ResumableRead(server.query, key_of))

    def test_an_expiry_before_any_record_of_the_query_is_raised(self) -> None:
        server = KeysetQueryServer(keyed_records(30), limit=10, expire_at=[0])
        read = ResumableRead(server.query, key_of, resumable=expired)
        with pytest.raises(ExpiredCursor):
            list(read)
        assert read.records == 0

    @pytest.mark.parametrize(("n", "chunk"), [(0, 5), (4, 5), (5, 5), (6, 5), (53, 5), (53, 20), (53, 1)])
    def test_chunk_cap_cuts_queries_and_loses_nothing(self, n: int, chunk: int) -> None:
        server = KeysetQueryServer(keyed_records(n), limit=3)
        read = ResumableRead(server.query, key_of, chunk=chunk)

        got = [r["id"] for r in read]

        assert got == [r["id"] for r in server.records]
        assert read.complete
        deepest = max(offset for _, offset in server.requests)
        assert deepest < chunk + 3, "no query pages past the cap"
        assert read.resumes == len({after for after, _ in server.requests}) - 1
        if n > chunk:
            assert read.resumes >= n // (chunk + 2)

    def test_a_reported_total_the_pages_fall_short_of_is_an_error_naming_the_read(self) -> None:
        server = KeysetQueryServer(keyed_records(25), limit=10, shrink_total_by=-3)
        with pytest.raises(PaginationError, match=r"^netsuite item: server reported 28 records .* truncated"):
            list(ResumableRead(server.query, key_of, chunk=100, name="netsuite item"))

    def test_a_total_that_moves_while_paging_is_an_error(self) -> None:
        server = KeysetQueryServer(keyed_records(25), limit=10)
        base = server.query

        def moving(after: tuple[Any, ...] | None) -> list[Query]:
            (query,) = base(after)
            fetch = query.fetch

            def grown(offset: int) -> Page:
                page = fetch(offset)
                return Page(page.records, {"total": page.body["total"] + offset})

            return [Query(grown, query.paginator)]

        with pytest.raises(PaginationError, match="total changed from 25 to 35"):
            list(ResumableRead(moving, key_of))

    def test_a_server_ignoring_the_resume_key_is_refused_not_looped(self) -> None:
        server = KeysetQueryServer(keyed_records(30), limit=3, ignore_after=True)
        with pytest.raises(PaginationError, match="read the same records again"):
            list(ResumableRead(server.query, key_of, chunk=6))

    def test_queries_after_a_key_run_in_turn(self) -> None:
        """A system that cannot say `ts > a OR (ts = a AND id > b)` asks the two halves in turn."""
        records = keyed_records(40)
        tie = KeysetQueryServer(records, limit=4)
        ordered = sorted(records, key=key_of)

        def halves(after: tuple[Any, ...] | None) -> list[Query]:
            if after is None:
                return tie.query(None)
            same_second = [r for r in ordered if r["ts"] == after[0] and r["id"] > after[1]]
            later = [r for r in ordered if r["ts"] > after[0]]
            return [*KeysetQueryServer(same_second, 4).query(None), *KeysetQueryServer(later, 4).query(None)]

        read = ResumableRead(halves, key_of, chunk=5)
        assert [r["id"] for r in read] == [r["id"] for r in ordered]
        assert read.complete

    def test_a_first_page_already_fetched_is_not_asked_for_again(self) -> None:
        server = KeysetQueryServer(keyed_records(25), limit=10)
        first = server.query(None)[0].fetch(0)
        server.requests.clear()
        read = ResumableRead(server.query, key_of, first=first)
        assert len(list(read)) == 25
        assert [offset for _, offset in server.requests] == [10, 20]

    def test_bad_chunk_is_refused(self) -> None:
        with pytest.raises(ConfigError, match="at least 1"):
            ResumableRead(KeysetQueryServer([], 1).query, key_of, chunk=0)


class TestNextUrlTotal:
    def test_keeps_the_first_reported_total(self) -> None:
        paginator = NextUrlPaginator(lambda page: page.body.get("next"), total_from=lambda p: p.body["size"])
        paginator.advance(Page(records=make_records(2), body={"size": 5, "next": "/2"}))
        paginator.advance(Page(records=make_records(2), body={"size": 9}))
        assert (paginator.total, paginator.records) == (5, 4)
