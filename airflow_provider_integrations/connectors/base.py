"""What every connector offers: streams declared as data, reads as record generators, per-record writes.

A connector is Airflow-free. It gets an authenticated :class:`HttpClient` and a stream catalog, and turns
them into `read(stream, window)` (a generator: records are never held together in memory) and
`write(target, operation, records)` (a generator of one :class:`WriteResult` per record).
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, ClassVar

import yaml

from airflow_provider_integrations.core.catalog import StreamDescription
from airflow_provider_integrations.core.errors import ConfigError
from airflow_provider_integrations.core.http import HttpClient
from airflow_provider_integrations.core.mapping import DestinationDescription
from airflow_provider_integrations.core.schema import RecordSchema
from airflow_provider_integrations.core.watermark import Window
from airflow_provider_integrations.core.writes import WriteOutcome as WriteOutcome
from airflow_provider_integrations.core.writes import WriteResult as WriteResult


@dataclass(frozen=True)
class Stream:
    """One readable stream, declared as data.

    `source` is the system's name for it (object, table, endpoint); `cursor` is the (timestamp, id)
    pair incremental reads order and filter by; `changed_at` is the field that says when a version of a
    record was made (the cursor's timestamp by default; none where it never moves, as Stripe's `created`,
    whose connector stamps records with the event time instead); `options` carries system-specific settings.
    """

    name: str
    source: str
    schema: RecordSchema
    primary_key: tuple[str, ...]
    cursor: tuple[str, str] | None = None
    deletes: bool = False
    changed_at: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def incremental(self) -> bool:
        return self.cursor is not None

    @classmethod
    def from_config(cls, name: str, config: Mapping[str, Any]) -> Stream:
        """Build from catalog YAML: source, primary_key, cursor, changed_at, deletes, fields, options,
        and `naive_timestamps: utc` for sources that write UTC timestamps without a zone."""
        try:
            key = tuple(config["primary_key"])
            cursor = config.get("cursor")
            changed_at = config["changed_at"] if "changed_at" in config else (cursor[0] if cursor else None)
            return cls(
                name=name,
                source=str(config.get("source", name)),
                schema=RecordSchema.from_config(
                    config["fields"], key=key, naive_is_utc=config.get("naive_timestamps") == "utc"
                ),
                primary_key=key,
                cursor=(str(cursor[0]), str(cursor[1])) if cursor else None,
                deletes=bool(config.get("deletes", False)),
                changed_at=str(changed_at) if changed_at else None,
                options=dict(config.get("options", {})),
            )
        except KeyError as missing:
            raise ConfigError(f"stream {name!r} is missing {missing}") from None
        except (TypeError, IndexError) as error:
            raise ConfigError(f"stream {name!r} is malformed: {error}") from None


def load_catalog(
    package_file: str, extra: Mapping[str, Mapping[str, Any]] | None = None
) -> dict[str, Stream]:
    """The streams shipped in `catalogs/<package_file>`, plus or overridden by `extra` from user config."""
    text = (
        resources.files("airflow_provider_integrations.connectors.catalogs")
        .joinpath(package_file)
        .read_text()
    )
    declared: dict[str, Mapping[str, Any]] = dict(yaml.safe_load(text)["streams"])
    declared.update(extra or {})
    return {name: Stream.from_config(name, config) for name, config in declared.items()}


class Connector(abc.ABC):
    """Base of the five connectors."""

    system: ClassVar[str]
    async_batches: ClassVar[bool] = False
    """Whether `submit_bulk` runs a large batch as an asynchronous job, for a caller that waits for it
    elsewhere (a deferrable task's trigger) and then reads it with `bulk_results`."""

    def __init__(self, client: HttpClient, streams: Mapping[str, Stream]) -> None:
        self.client = client
        self.streams = dict(streams)

    def stream(self, name: str) -> Stream:
        try:
            return self.streams[name]
        except KeyError:
            raise ConfigError(
                f"{self.system} has no stream {name!r}; known: {sorted(self.streams)} "
                "(declare custom streams in the connection's or the DAG's stream config)"
            ) from None

    @abc.abstractmethod
    def check(self) -> str:
        """Make one cheap authenticated call; return a line saying what was reached."""

    @abc.abstractmethod
    def read(self, stream: str, window: Window | None = None) -> Iterator[dict[str, Any]]:
        """Records of `stream`: all of them, or those changed within `window` [start, end)."""

    @abc.abstractmethod
    def write(
        self, target: str, operation: str, records: Iterable[Mapping[str, Any]], key_field: str
    ) -> Iterator[WriteResult]:
        """Send records; yield one result per record, keyed by its `key_field` value."""

    def list_streams(self) -> list[str]:
        """The source names (objects, tables, record types) this user may read, from the system's own
        metadata in as few calls as it allows. Discovery then describes the ones the user selects."""
        raise ConfigError(f"{self.system} cannot list its streams")

    def describe_streams(self, sources: Sequence[str]) -> Iterator[StreamDescription]:
        """Each of `sources` as the system describes it now, batched where the system allows. A source
        the user may not read raises the system's access error (a PermanentError naming it)."""
        raise ConfigError(f"{self.system} cannot describe its streams")

    def describe(self, target: str) -> DestinationDescription | None:
        """The fields `target` accepts, for checking a sync's mapping (`core.mapping.validate_mapping`)
        before any write: the system's own description where it offers a cheap one, else what this
        connector declares writeable. None: neither is known, so only per-record results will tell."""
        return None

    def lookup(
        self, target: str, key_field: str, keys: Sequence[str], fields: Sequence[str]
    ) -> dict[str, dict[str, Any]] | None:
        """The current `fields` of the `target` records whose `key_field` is in `keys`, by key, so a sync
        can tell whether records a stopped run sent have arrived. None: this system cannot be asked."""
        return None

    def submit_bulk(
        self, target: str, operation: str, records: Sequence[Mapping[str, Any]], key_field: str
    ) -> str | None:
        """Start an asynchronous bulk job writing `records` and return its id, for a caller that waits
        elsewhere (a deferrable operator); None: no job was started, send with `write`. Offered where
        `async_batches` is declared."""
        return None

    def bulk_results(self, job_id: str, key_field: str, keys: Sequence[str]) -> Iterator[WriteResult]:
        """One result per key of a finished bulk job started by `submit_bulk`."""
        raise ConfigError(f"{self.system} has no bulk jobs")

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Connector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
