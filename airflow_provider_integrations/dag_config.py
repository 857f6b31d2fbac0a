"""DAGs from small YAML files: one ingest DAG per system, reverse-ETL DAGs scheduled on the tables they read.

Parsing reads only the YAML file (no network, no database), so DAG files stay fast to parse. Every task
gets retries with exponential backoff, an execution timeout and the DLQ failure callbacks.

Ingest (`include/ingest/<system>.yaml`)::

    dag_id: ingest_salesforce
    system: salesforce
    schedule: "@hourly"
    start_date: 2026-01-01
    connections: {source: salesforce_prod, s3: aws_default, snowflake: snowflake_default}
    bucket: raw-landing
    lookback: 15m
    defaults: {delete_mode: soft, schema_policy: add, freshness_sla: 2h}
    catalog: ../catalogs/salesforce_prod.yaml
    streams:
      - {stream: Account, table: SALESFORCE_ACCOUNT}
      - {stream: "*__c", table: "SALESFORCE_{stream}"}

`catalog` (optional) is a file written by `catalog discover` (docs/catalogs.md), relative to the YAML
file's folder or absolute: the extracts take their streams from it. With it, a stream is named as the
catalog names it or by a glob (`*__c`); a glob's table holds `{stream}`, replaced by each matching
stream's name in upper case (`SALESFORCE_INVOICE__C`). Streams named outright come first and keep
their own line; each glob then adds the streams it matches that no earlier line took. A name the catalog
lacks, or a glob matching none, is an error naming the catalog and the closest names. Without `catalog`,
streams are named outright from the system's shipped catalog and the connection's extra streams.

Reverse ETL (`include/reverse_etl/<name>.yaml`)::

    dag_id: reverse_etl_account_scores
    schedule_on_tables: [SALESFORCE_ACCOUNT]
    connections: {snowflake: snowflake_default}
    syncs:
      - {task_id: account_scores, model: ACCOUNT_SCORES, key: ACCOUNT_KEY, conn_id: salesforce_prod,
         target: Account, external_id: External_Id__c, mode: upsert, mapping: {SCORE: Score__c},
         max_rejected_share: 0.1}

A sync takes every parameter of `SnowflakeToSaaSOperator` (`max_rejected_share`, `max_delete_share`,
`batch_size`, `dry_run`...).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from airflow.sdk import DAG

from airflow_provider_integrations.connection_types import CONNECTION_TYPES
from airflow_provider_integrations.core import catalog_file
from airflow_provider_integrations.core.errors import ConfigError
from airflow_provider_integrations.core.sql.identifiers import validate_identifier
from airflow_provider_integrations.notifiers.dlq import default_task_args
from airflow_provider_integrations.operators.extract import DEFAULT_MODE
from airflow_provider_integrations.operators.ingest_group import ingest_stream, table_asset
from airflow_provider_integrations.operators.reverse_etl import SnowflakeToSaaSOperator

INGEST_KEYS = {"dag_id", "system", "schedule", "start_date", "connections", "bucket", "prefix", "lookback",
               "defaults", "streams", "dlq_uri", "retries", "execution_timeout", "tags",
               "catalog"}  # fmt: skip
STREAM_KEYS = {"stream", "table", "mode", "delete_mode", "schema_policy", "freshness_sla"}
SYNC_DAG_KEYS = {"dag_id", "schedule_on_tables", "schedule", "start_date", "connections", "syncs", "dlq_uri",
                 "retries", "execution_timeout", "tags"}  # fmt: skip
SYNC_REQUIRED = ("task_id", "model", "key", "conn_id", "target", "external_id", "mapping")
_DURATION = re.compile(r"^(\d+)\s*([smhd])$")


def ingest_dag(path: str | Path) -> DAG:
    """An ingest DAG: one extract -> load -> freshness check group per stream in the file."""
    config = _read(path, INGEST_KEYS, ("dag_id", "system", "connections", "bucket", "streams"))
    systems = sorted(kind.system for kind in CONNECTION_TYPES)
    if config["system"] not in systems:
        raise ConfigError(f"{path}: system {config['system']!r} is not one of {systems}")
    connections = _section(config, "connections", path, {"source", "s3", "snowflake"})
    defaults = _section(config, "defaults", path, STREAM_KEYS - {"stream", "table"}, required=False)
    lookback = duration(config.get("lookback", "0s"), f"{path}: lookback")
    catalog = _catalog(config, path)
    entries = [
        {**defaults, **_mapping(item, f"{path}: a stream", STREAM_KEYS, ("stream", "table"))}
        for item in _items(config, "streams", path)
    ]
    with _dag(config, path, schedule=config.get("schedule", "@hourly")) as dag:
        for stream in _selected_streams(entries, catalog, path):
            with _named(f"{path}: stream {stream['stream']!r}"):
                sla = stream.get("freshness_sla")
                ingest_stream(
                    conn_id=connections["source"],
                    stream=str(stream["stream"]),
                    target_table=str(stream["table"]),
                    bucket=str(config["bucket"]),
                    prefix=str(config.get("prefix", "raw")),
                    aws_conn_id=connections["s3"],
                    snowflake_conn_id=connections["snowflake"],
                    mode=str(stream.get("mode", DEFAULT_MODE)),
                    lookback=lookback,
                    delete_mode=str(stream.get("delete_mode", "soft")),
                    schema_policy=str(stream.get("schema_policy", "add")),
                    freshness_sla=duration(sla, "freshness_sla") if sla else None,
                    dlq_uri=config.get("dlq_uri"),
                    catalog=str(catalog.path) if catalog else None,
                )
    return dag


def _catalog(config: Mapping[str, Any], path: str | Path) -> catalog_file.Catalog | None:
    """The DAG's catalog file, read and checked (files only: parsing a DAG never calls the system)."""
    if "catalog" not in config:
        return None
    given = config["catalog"]
    if not isinstance(given, str) or not given.strip():
        raise ConfigError(f"{path}: catalog must be the path of a catalog file, got {given!r}")
    location = Path(given).expanduser()
    with _named(str(path)):
        catalog = catalog_file.read(location if location.is_absolute() else Path(path).parent / location)
    if catalog.system != config["system"]:
        raise ConfigError(
            f"{path}: catalog {catalog.path} describes {catalog.system}, not {config['system']}"
        )
    return catalog


def _selected_streams(
    entries: list[dict[str, Any]], catalog: catalog_file.Catalog | None, path: str | Path
) -> list[dict[str, Any]]:
    """One entry per stream: those named outright, then what each glob adds (see the module's guide)."""
    taken: dict[str, dict[str, Any]] = {}
    named = [e for e in entries if not catalog_file.is_glob(str(e["stream"]))]
    globs = [e for e in entries if catalog_file.is_glob(str(e["stream"]))]
    where = f"{path}: catalog {catalog.path}" if catalog else ""
    for entry in named:
        name = str(entry["stream"])
        if catalog is not None:
            catalog_file.expand(catalog.names, name, where=where)
        if name in taken:
            raise ConfigError(f"{path}: stream {name!r} is listed more than once")
        taken[name] = {**entry, "stream": name, "table": _table(str(entry["table"]), name, path)}
    for entry in globs:
        pattern, table = str(entry["stream"]), str(entry["table"])
        if catalog is None:
            raise ConfigError(
                f"{path}: stream {pattern!r} is a glob; globs select from a catalog file (give 'catalog:')"
            )
        if "{stream}" not in table:
            raise ConfigError(
                f"{path}: stream {pattern!r}: a glob's table must hold {{stream}} (as in "
                f"'SALESFORCE_{{stream}}'), so each stream lands in its own table; got {table!r}"
            )
        for name in catalog_file.expand(catalog.names, pattern, where=where):
            if name not in taken:
                taken[name] = {**entry, "stream": name, "table": _table(table, name, path)}
    by_table: dict[str, str] = {}
    for name, entry in taken.items():
        other = by_table.setdefault(entry["table"], name)
        if other != name:
            raise ConfigError(f"{path}: streams {other!r} and {name!r} both load into {entry['table']}")
    return list(taken.values())


def _table(template: str, stream: str, path: str | Path) -> str:
    table = template.replace("{stream}", stream.upper())
    with _named(f"{path}: stream {stream!r}"):
        validate_identifier(table, "table")
    return table


def reverse_etl_dag(path: str | Path) -> DAG:
    """A reverse-ETL DAG, scheduled on the Assets of the tables its models read (or on `schedule`)."""
    config = _read(path, SYNC_DAG_KEYS, ("dag_id", "connections", "syncs"))
    connections = _section(config, "connections", path, {"snowflake"})
    tables = config.get("schedule_on_tables")
    for table in tables or ():
        validate_identifier(str(table), f"{path}: schedule_on_tables")
    schedule: Any = [table_asset(str(t)) for t in tables] if tables else config.get("schedule")
    if not schedule:
        raise ConfigError(f"{path}: give schedule_on_tables (data-aware) or a schedule")
    with _dag(config, path, schedule=schedule) as dag:
        for item in _items(config, "syncs", path):
            sync = dict(_mapping(item, f"{path}: a sync", None, SYNC_REQUIRED))
            with _named(f"{path}: sync {sync['task_id']!r}"):
                SnowflakeToSaaSOperator(
                    snowflake_conn_id=connections["snowflake"], dlq_uri=config.get("dlq_uri"), **sync
                )
    return dag


def duration(value: Any, what: str) -> timedelta:
    """`90s`, `15m`, `2h`, `1d` (or seconds as a number) as a timedelta."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    match = _DURATION.match(str(value).strip())
    if not match:
        raise ConfigError(f"{what}: {value!r} is not a duration like 90s, 15m, 2h or 1d")
    amount, unit = int(match.group(1)), match.group(2)
    return timedelta(**{{"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[unit]: amount})


def _dag(config: Mapping[str, Any], path: str | Path, *, schedule: Any) -> DAG:
    start = config.get("start_date", date(2026, 1, 1))
    if not isinstance(start, date):
        raise ConfigError(f"{path}: start_date {start!r} is not a date (YYYY-MM-DD)")
    retries = config.get("retries", 3)
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ConfigError(f"{path}: retries must be a whole number of at least 0, got {retries!r}")
    args = default_task_args(
        dlq_uri=config.get("dlq_uri"),
        retries=retries,
        execution_timeout=duration(config.get("execution_timeout", "2h"), f"{path}: execution_timeout"),
    )
    return DAG(
        dag_id=str(config["dag_id"]),
        schedule=schedule,
        start_date=datetime(start.year, start.month, start.day, tzinfo=UTC),
        catchup=False,
        max_active_runs=1,
        default_args=args,
        tags=list(config.get("tags", ["integrations"])),
    )


def _read(path: str | Path, allowed: set[str], required: tuple[str, ...]) -> dict[str, Any]:
    try:
        config = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"cannot read DAG config {path}: {error}") from None
    return dict(_mapping(config, str(path), allowed, required))


@contextmanager
def _named(where: str) -> Iterator[None]:
    """Prefix configuration errors raised inside with where they come from (file and stream or sync)."""
    try:
        yield
    except ConfigError as error:
        raise ConfigError(f"{where}: {error}") from None


def _items(config: Mapping[str, Any], name: str, path: str | Path) -> list[Any]:
    items = config[name]
    if not isinstance(items, list) or not items:
        raise ConfigError(f"{path}: {name} must be a non-empty list, got {items!r}"[:300])
    return items


def _section(
    config: Mapping[str, Any], name: str, path: str | Path, allowed: set[str], *, required: bool = True
) -> dict[str, Any]:
    if name not in config and not required:
        return {}
    return dict(_mapping(config.get(name), f"{path}: {name}", allowed, tuple(allowed) if required else ()))


def _mapping(
    value: Any, where: str, allowed: set[str] | None, required: tuple[str, ...]
) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where} must be a mapping, got {type(value).__name__}")
    unknown = sorted(set(value) - allowed) if allowed is not None else []
    missing = [key for key in required if key not in value]
    if unknown or missing:
        problems = ([f"unknown keys {unknown} (allowed: {sorted(allowed or ())})"] if unknown else []) + (
            [f"missing {missing}"] if missing else []
        )
        raise ConfigError(f"{where}: {'; '.join(problems)}")
    return value
