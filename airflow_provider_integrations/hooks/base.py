"""What every system's hook shares: reading the connection, building the connector, testing it."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from airflow.sdk import BaseHook

from airflow_provider_integrations.connection_secrets import protect_connection
from airflow_provider_integrations.connection_types import ConnectionType
from airflow_provider_integrations.connectors.base import Connector, Stream, load_catalog
from airflow_provider_integrations.core.catalog_file import read as read_catalog
from airflow_provider_integrations.core.errors import ConfigError, IntegrationError
from airflow_provider_integrations.core.http import RetryPolicy


def given(kinds: Mapping[str, Callable[[Any], Any]] | None = None, /, **values: Any) -> dict[str, Any]:
    """The settings a connection gives, each converted by its entry in `kinds`. Empty values are left
    out, so the settings class's own defaults stand for them: each default is declared once, there."""
    kinds = kinds or {}
    return {name: kinds.get(name, _as_given)(value) for name, value in values.items() if value}


def _as_given(value: Any) -> Any:
    return value


class ConnectorHook(BaseHook):
    """Base of the five system hooks. `get_conn()` returns the system's connector, ready to read and write."""

    conn_name_attr = "conn_id"
    connection_type: ClassVar[ConnectionType]
    catalog: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.conn_type = cls.connection_type.conn_type
        cls.hook_name = cls.connection_type.hook_name
        cls.default_conn_name = f"{cls.connection_type.system}_default"

    def __init__(
        self,
        conn_id: str | None = None,
        streams: Mapping[str, Mapping[str, Any]] | None = None,
        catalog_file: str | os.PathLike[str] | None = None,
    ) -> None:
        """`catalog_file`: a catalog discovered with `catalog discover` (docs/catalogs.md), whose streams
        replace the catalog shipped for the system; the connection's extra `streams`, then `streams`, are
        declared on top of either."""
        super().__init__()
        self.conn_id = conn_id or self.default_conn_name
        self._extra_streams = streams
        self.catalog_file = catalog_file
        self._connector: Connector | None = None

    def get_conn(self) -> Connector:
        if self._connector is None:
            conn = self.get_connection(self.conn_id)
            try:
                extra = self._extra(conn)
                protect_connection(conn)
                self._connector = self.build(conn, extra, self.streams(extra), self.http_options(extra))
            except ConfigError as error:
                if f"connection {self.conn_id!r}" in str(error):
                    raise
                raise ConfigError(f"connection {self.conn_id!r}: {error}") from None
        return self._connector

    def _extra(self, conn: Any) -> dict[str, Any]:
        """The extra as a dict. One that is not a JSON object is refused: Airflow would read it as {}."""
        if conn.extra:
            try:
                parsed = json.loads(conn.extra)
            except ValueError as error:
                raise ConfigError(
                    f"connection {self.conn_id!r}: its extra is not valid JSON ({error})"
                ) from None
            if not isinstance(parsed, dict):
                raise ConfigError(f"connection {self.conn_id!r}: its extra must be a JSON object")
        return dict(conn.extra_dejson)

    def build(
        self, conn: Any, extra: dict[str, Any], streams: dict[str, Stream], http: dict[str, Any]
    ) -> Connector:
        raise NotImplementedError

    def streams(self, extra: Mapping[str, Any]) -> dict[str, Stream]:
        declared = extra.get("streams") or {}
        if isinstance(declared, str):
            try:
                declared = json.loads(declared)
            except ValueError as error:
                raise ConfigError(
                    f"connection {self.conn_id!r}: extra 'streams' is not valid JSON: {error}"
                ) from None
        overrides = {**declared, **(self._extra_streams or {})}
        if self.catalog_file is None:
            return load_catalog(self.catalog, overrides)
        discovered = read_catalog(self.catalog_file)
        system = self.connection_type.system
        if discovered.system != system:
            raise ConfigError(
                f"catalog {discovered.path} describes {discovered.system}, but connection "
                f"{self.conn_id!r} is {system}"
            )
        built = {name: Stream.from_config(name, config) for name, config in overrides.items()}
        return {**discovered.streams, **built}

    def http_options(self, extra: Mapping[str, Any]) -> dict[str, Any]:
        options: dict[str, Any] = {}
        if extra.get("max_attempts"):
            options["retry"] = RetryPolicy(max_attempts=self._number(extra, "max_attempts", int))
        if extra.get("rate_limit_per_second"):
            options["rate_limit_per_second"] = self._number(extra, "rate_limit_per_second", float)
        return options

    def _number(self, extra: Mapping[str, Any], name: str, kind: type[int] | type[float]) -> Any:
        try:
            return kind(extra[name])
        except (TypeError, ValueError):
            raise ConfigError(
                f"connection {self.conn_id!r}: extra {name!r} must be a number, got {extra[name]!r}"
            ) from None

    def test_connection(self) -> tuple[bool, str]:
        """One cheap authenticated call; says clearly what failed. Never shows a secret."""
        try:
            return True, self.get_conn().check()
        except IntegrationError as error:
            return False, f"{type(error).__name__}: {error}"

    def close(self) -> None:
        if self._connector is not None:
            self._connector.close()
            self._connector = None
