"""Snowflake SQL for reverse ETL: the sync-state table and the change plan, built by pure functions.

One state row per model key: the hash of the version last delivered (`SYNCED_HASH`) with the destination's
id, the hash of a version parked in the dead-letter queue (`FAILED_HASH`), and the version in flight
(`INFLIGHT_HASH`, written before a batch is sent, so a killed task can tell what may have arrived).
The plan is computed inside Snowflake: unchanged rows never leave the warehouse.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from airflow_provider_integrations.core.errors import ConfigError
from airflow_provider_integrations.core.sql.identifiers import validate_identifier
from airflow_provider_integrations.core.sql.snowflake import hash_columns, quote

STATE_COLUMNS = (
    ("SYNC_KEY", "VARCHAR NOT NULL"),
    ("SYNCED_HASH", "VARCHAR"),
    ("DEST_ID", "VARCHAR"),
    ("SYNCED_AT", "TIMESTAMP_TZ"),
    ("FAILED_HASH", "VARCHAR"),
    ("INFLIGHT_HASH", "VARCHAR"),
    ("INFLIGHT_BATCH", "VARCHAR"),
    ("DELETED", "BOOLEAN"),
    ("LAST_STATUS", "VARCHAR"),
    ("LAST_ERROR", "VARCHAR"),
    ("UPDATED_AT", "TIMESTAMP_TZ"),
)
KEY, HASH, DEST_ID, INFLIGHT = '"__KEY"', '"__HASH"', '"__DEST_ID"', '"__INFLIGHT"'
_QUERY = re.compile(r"^\s*(SELECT|WITH)\b", re.IGNORECASE)


def model_source(model: str) -> str:
    """A table name (validated, quoted) or a query (one SELECT/WITH statement), usable after FROM."""
    if _QUERY.match(model):
        if ";" in model.strip().rstrip(";"):
            raise ConfigError("the model query must be a single SELECT statement")
        return f"({model.strip().rstrip(';')})"
    return quote(validate_identifier(model, "model table"))


def create_state(table: str) -> str:
    columns = ", ".join(f"{quote(name)} {kind}" for name, kind in STATE_COLUMNS)
    return f'CREATE TABLE IF NOT EXISTS {quote(table)} ({columns}, PRIMARY KEY ("SYNC_KEY"))'


def changes(model: str, state: str, key: str, columns: Sequence[str], *, only_new: bool = False) -> str:
    """Model rows whose mapped content differs from what was last delivered and not already parked in
    the DLQ, with `__KEY`, `__HASH`, `__DEST_ID` and `__INFLIGHT` (the hash in flight when a run stopped)."""
    if not columns:
        raise ConfigError("a sync needs at least one mapped column")
    fingerprint = hash_columns(columns, "m")
    selected = ", ".join(f"m.{quote(c)}" for c in columns)
    where = (
        f'(s."SYNCED_HASH" IS DISTINCT FROM {fingerprint} OR COALESCE(s."DELETED", FALSE)) '
        f'AND s."FAILED_HASH" IS DISTINCT FROM {fingerprint}'
    )
    if only_new:
        where += ' AND s."SYNC_KEY" IS NULL'
    return (
        f"SELECT {selected}, TO_VARCHAR(m.{quote(key)}) AS {KEY}, {fingerprint} AS {HASH}, "
        f's."DEST_ID" AS {DEST_ID}, s."INFLIGHT_HASH" AS {INFLIGHT} '
        f"FROM {model_source(model)} m LEFT JOIN {quote(state)} s "
        f'ON s."SYNC_KEY" = TO_VARCHAR(m.{quote(key)}) WHERE {where} ORDER BY {KEY}'
    )


def model_count(model: str) -> str:
    return f"SELECT COUNT(*) FROM {model_source(model)} m"


def page_of(query: str, rows: int) -> str:
    """One page of a plan query by key, after the key bound twice (NULL for the first page): the plan is
    read in pages, so the client never holds more than `rows` rows whatever the model's size."""
    if rows < 1:
        raise ConfigError("a page needs at least one row")
    return f"SELECT * FROM ({query}) p WHERE (%s IS NULL OR p.{KEY} > %s) ORDER BY p.{KEY} LIMIT {int(rows)}"


def columns_of(model: str) -> str:
    """No rows, only the model's columns and their types (`cursor.description`)."""
    return f"SELECT * FROM {model_source(model)} m LIMIT 0"


def count_of(query: str) -> str:
    """How many rows one of this module's queries returns."""
    return f"SELECT COUNT(*) FROM ({query})"


def departed(model: str, state: str, key: str) -> str:
    """Delivered keys that have left the model (what mirror mode removes): `__KEY`, `__DEST_ID`."""
    return (
        f'SELECT s."SYNC_KEY" AS {KEY}, s."DEST_ID" AS {DEST_ID} FROM {quote(state)} s '
        'WHERE s."DEST_ID" IS NOT NULL AND NOT COALESCE(s."DELETED", FALSE) '
        f"AND NOT EXISTS (SELECT 1 FROM {model_source(model)} m "
        f'WHERE TO_VARCHAR(m.{quote(key)}) = s."SYNC_KEY") ORDER BY {KEY}'
    )


def delivered_count(state: str) -> str:
    return (
        f'SELECT COUNT(*) FROM {quote(state)} WHERE "DEST_ID" IS NOT NULL AND NOT COALESCE("DELETED", FALSE)'
    )


def deletions(model: str, state: str, key: str) -> str:
    """Model keys to delete in the destination (delete mode), with the destination id if known."""
    return (
        f'SELECT TO_VARCHAR(m.{quote(key)}) AS {KEY}, s."DEST_ID" AS {DEST_ID} '
        f"FROM {model_source(model)} m LEFT JOIN {quote(state)} s "
        f'ON s."SYNC_KEY" = TO_VARCHAR(m.{quote(key)}) WHERE NOT COALESCE(s."DELETED", FALSE) ORDER BY {KEY}'
    )


_SETS = {
    "success": (
        '"SYNCED_HASH" = s."H", "DEST_ID" = COALESCE(s."D", t."DEST_ID"), "SYNCED_AT" = CURRENT_TIMESTAMP(), '
        '"FAILED_HASH" = NULL, "INFLIGHT_HASH" = NULL, "INFLIGHT_BATCH" = NULL, "DELETED" = s."DEL", '
        '"LAST_ERROR" = NULL'
    ),
    "dead_letter": (
        '"FAILED_HASH" = s."H", "INFLIGHT_HASH" = NULL, "INFLIGHT_BATCH" = NULL, "LAST_ERROR" = s."E"'
    ),
    "pending": '"INFLIGHT_HASH" = s."H", "INFLIGHT_BATCH" = NULL, "LAST_ERROR" = s."E"',
    "inflight": '"INFLIGHT_HASH" = s."H"',
}
_INSERTS = {
    "success": (
        '"SYNCED_HASH", "DEST_ID", "SYNCED_AT", "DELETED"',
        's."H", s."D", CURRENT_TIMESTAMP(), s."DEL"',
    ),
    "dead_letter": ('"FAILED_HASH", "LAST_ERROR"', 's."H", s."E"'),
    "pending": ('"INFLIGHT_HASH", "LAST_ERROR"', 's."H", s."E"'),
    "inflight": ('"INFLIGHT_HASH"', 's."H"'),
}
OUTCOME_STATUSES = tuple(_SETS)


OUTCOME_FIELDS = ("K", "H", "D", "E", "DEL")
"""What one outcome row carries: key, hash, destination id, error, deleted."""
ROWS_PER_STATEMENT = 1_000
BYTES_PER_STATEMENT = 512_000
"""A bound value is inlined into the statement text, which Snowflake caps at 1 MB."""


def json_rows(
    rows: Iterable[Sequence[Any]],
    names: Sequence[str] = OUTCOME_FIELDS,
    *,
    max_rows: int = ROWS_PER_STATEMENT,
    max_bytes: int = BYTES_PER_STATEMENT,
) -> Iterator[str]:
    """`rows` as JSON arrays of objects keyed by `names`, each array one statement's bound value.

    A NULL is left out of its object: a missing key reads as SQL NULL, where a JSON null would not.
    One statement parses one string however many rows it carries, so a batch costs a few statements.
    """
    chunk: list[str] = []
    size = 1  # "[", then each item with the "," or "]" after it
    for row in rows:
        item = json.dumps({n: v for n, v in zip(names, row, strict=True) if v is not None}, default=str)
        if chunk and (len(chunk) == max_rows or size + len(item) + 1 > max_bytes):
            yield f"[{','.join(chunk)}]"
            chunk, size = [], 1
        chunk.append(item)
        size += len(item) + 1
    if chunk:
        yield f"[{','.join(chunk)}]"


def _from_json(fields: Sequence[tuple[str, str]]) -> str:
    """A relation of the rows in one bound JSON array (see `json_rows`)."""
    columns = ", ".join(f'f.VALUE:"{name}"::{kind} AS "{name}"' for name, kind in fields)
    return f'SELECT {columns} FROM (SELECT PARSE_JSON(%s) AS "J") j, LATERAL FLATTEN(INPUT => j."J") f'


def record_outcomes(state: str, status: str) -> str:
    """MERGE outcomes of one status into the state; bind one `json_rows` array of outcomes
    (key, hash, destination id, error, deleted).

    `success` advances SYNCED_HASH and clears a parked failure; `dead_letter` parks the hash in
    FAILED_HASH; `pending` (a transient failure: it may have arrived) and `inflight` (about to be sent)
    keep the hash in INFLIGHT_HASH.
    """
    if status not in _SETS:
        raise ConfigError(f"unknown sync outcome {status!r}")
    kinds = ("VARCHAR", "VARCHAR", "VARCHAR", "VARCHAR", "BOOLEAN")
    source = _from_json(tuple(zip(OUTCOME_FIELDS, kinds, strict=True)))
    last = "" if status == "inflight" else f", \"LAST_STATUS\" = '{status}'"
    columns, inserted = _INSERTS[status]
    last_insert = ("", "") if status == "inflight" else (', "LAST_STATUS"', f", '{status}'")
    return (
        f'MERGE INTO {quote(state)} t USING ({source}) s ON t."SYNC_KEY" = s."K" '
        f'WHEN MATCHED THEN UPDATE SET {_SETS[status]}{last}, "UPDATED_AT" = CURRENT_TIMESTAMP() '
        f'WHEN NOT MATCHED THEN INSERT ("SYNC_KEY", {columns}{last_insert[0]}, "UPDATED_AT") '
        f'VALUES (s."K", {inserted}{last_insert[1]}, CURRENT_TIMESTAMP())'
    )


def mark_batch(state: str) -> str:
    """Record which bulk job carries in-flight keys; bind a `json_rows` array of the keys (names `("K",)`),
    then the job id."""
    return (
        f"MERGE INTO {quote(state)} t USING ({_from_json([('K', 'VARCHAR')])}) s "
        'ON t."SYNC_KEY" = s."K" WHEN MATCHED THEN UPDATE SET "INFLIGHT_BATCH" = %s'
    )


def batch_members(state: str) -> str:
    """The keys a bulk job carries (bind the job id): `__KEY`, `__HASH`."""
    return (
        f'SELECT "SYNC_KEY" AS {KEY}, "INFLIGHT_HASH" AS {HASH} FROM {quote(state)} '
        f'WHERE "INFLIGHT_BATCH" = %s ORDER BY {KEY}'
    )


def clear_failed(state: str, keys: Sequence[str]) -> tuple[str, list[str]]:
    """Forget parked failures of `keys` (a DLQ replay), so the next run sends them again."""
    if not keys:
        raise ConfigError("clear_failed needs keys")
    marks = ", ".join(["%s"] * len(keys))
    return (
        f'UPDATE {quote(state)} SET "FAILED_HASH" = NULL WHERE "SYNC_KEY" IN ({marks})',
        list(keys),
    )
