"""Send one batch of records with per-record outcomes: transient failures are retried within the run with
backoff, and every record must come back with exactly one result."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_provider_integrations.core.errors import PaginationError
from airflow_provider_integrations.core.writes import WriteOutcome, WriteResult

Write = Callable[[Sequence[Mapping[str, Any]]], Iterable[WriteResult]]


@dataclass(frozen=True)
class Delivered:
    """A record's final result after `attempts` sends."""

    key: str
    record: Mapping[str, Any]
    result: WriteResult
    attempts: int


def deliver(
    write: Write,
    records: Sequence[tuple[str, Mapping[str, Any]]],
    *,
    retries: int = 3,
    backoff: float = 1.0,
    max_backoff: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Delivered]:
    """Send `records` ((key, record) pairs); resend transient failures up to `retries` times, waiting
    `backoff * 2**n` seconds (at most `max_backoff`). A batch whose results do not match its records
    one for one raises :class:`PaginationError`: a partial result is never taken as success."""
    final: dict[str, Delivered] = {}
    waiting = list(records)
    for attempt in range(1, retries + 2):
        results = _one_each(waiting, write([record for _, record in waiting]))
        again = []
        for key, record in waiting:
            result = results[key]
            if result.outcome is WriteOutcome.TRANSIENT and attempt <= retries:
                again.append((key, record))
            else:
                final[key] = Delivered(key, record, result, attempt)
        if not again:
            break
        sleep(min(max_backoff, backoff * 2 ** (attempt - 1)))
        waiting = again
    return [final[key] for key, _ in records]


def _one_each(
    sent: Sequence[tuple[str, Mapping[str, Any]]], results: Iterable[WriteResult]
) -> dict[str, WriteResult]:
    expected = {key for key, _ in sent}
    got: dict[str, WriteResult] = {}
    for result in results:
        if result.key not in expected or result.key in got:
            raise PaginationError(f"write returned an unexpected or repeated result for key {result.key!r}")
        got[result.key] = result
    if len(got) != len(expected):
        missing = sorted(expected - set(got))
        raise PaginationError(
            f"write returned {len(got)} results for {len(expected)} records; none for {missing[:5]}"
        )
    return got
