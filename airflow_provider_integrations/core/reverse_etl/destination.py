"""What a sync needs of the system it writes to. Every connector offers it (`connectors.base.Connector`)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from airflow_provider_integrations.core.mapping import DestinationDescription
from airflow_provider_integrations.core.writes import WriteResult


class Destination(Protocol):
    """A destination system: per-record writes, a description of its fields, a read-back of records a
    stopped run may have delivered, and, where it declares `async_batches`, large batches run as
    asynchronous jobs (started by `submit_bulk`, read back by `bulk_results` once finished)."""

    @property
    def system(self) -> str: ...

    @property
    def async_batches(self) -> bool: ...

    def write(
        self, target: str, operation: str, records: Iterable[Mapping[str, Any]], key_field: str
    ) -> Iterator[WriteResult]: ...

    def describe(self, target: str) -> DestinationDescription | None: ...

    def lookup(
        self, target: str, key_field: str, keys: Sequence[str], fields: Sequence[str]
    ) -> dict[str, dict[str, Any]] | None: ...

    def submit_bulk(
        self, target: str, operation: str, records: Sequence[Mapping[str, Any]], key_field: str
    ) -> str | None: ...

    def bulk_results(self, job_id: str, key_field: str, keys: Sequence[str]) -> Iterator[WriteResult]: ...
