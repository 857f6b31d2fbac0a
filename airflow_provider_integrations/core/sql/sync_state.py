"""Snowflake SQL for reverse ETL: the sync-state table and the change plan, built by pure functions.

One state row per model key: the hash of the version last delivered (`SYNCED_HASH`) with the destination's
id, the hash of a version parked in the dead-letter queue (`FAILED_HASH`), and the version in flight
(`INFLIGHT_HASH`, written before a batch is sent, so a killed task can tell what may have arrived).
The plan is computed inside Snowflake: unchanged rows never leave the warehouse.

Key problems are found here too, over the whole model, so finding them does not depend on how the plan is
paged: every plan row carries `__COPIES` (rows sharing its key) and `__COPY` (its place among them, so
`(__KEY, __COPY)` is unique and pages by keyset without skipping a copy), and `__REJECT` names why a row is
refused. Rows with a NULL key have their own query (`null_keys`): a NULL matches no keyset bound.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from airflow_provider_integrations.core.errors import ConfigError
from airflow_provider_integrations.core.reverse_etl.dead_letter import ErrorClass
from airflow_provider_integrations.core.sql.identifiers import validate_identifier
from airflow_provider_integrations.core.sql.snowflake import hash_columns, quote


class StateColumn(enum.StrEnum):
    """The columns of the sync-state table."""

    SYNC_KEY = "SYNC_KEY"
    SYNCED_HASH = "SYNCED_HASH"
    DEST_ID = "DEST_ID"
    SYNCED_AT = "SYNCED_AT"
    FAILED_HASH = "FAILED_HASH"
    INFLIGHT_HASH = "INFLIGHT_HASH"
    INFLIGHT_BATCH = "INFLIGHT_BATCH"
    DELETED = "DELETED"
    LAST_STATUS = "LAST_STATUS"
    LAST_ERROR = "LAST_ERROR"
    UPDATED_AT = "UPDATED_AT"


STATE_COLUMNS = (
    (StateColumn.SYNC_KEY, "VARCHAR NOT NULL"),
    (StateColumn.SYNCED_HASH, "VARCHAR"),
    (StateColumn.DEST_ID, "VARCHAR"),
    (StateColumn.SYNCED_AT, "TIMESTAMP_TZ"),
    (StateColumn.FAILED_HASH, "VARCHAR"),
    (StateColumn.INFLIGHT_HASH, "VARCHAR"),
    (StateColumn.INFLIGHT_BATCH, "VARCHAR"),
    (StateColumn.DELETED, "BOOLEAN"),
    (StateColumn.LAST_STATUS, "VARCHAR"),
    (StateColumn.LAST_ERROR, "VARCHAR"),
    (StateColumn.UPDATED_AT, "TIMESTAMP_TZ"),
)


class PlanColumn(enum.StrEnum):
    """The columns a plan query returns beside the mapped ones, as its rows are read back by name."""

    KEY = "__KEY"
    HASH = "__HASH"
    DEST_ID = "__DEST_ID"
    INFLIGHT = "__INFLIGHT"
    COPY = "__COPY"
    COPIES = "__COPIES"
    REJECT = "__REJECT"


KEY, HASH, DEST_ID, INFLIGHT, COPY, COPIES, REJECT = (f'"{column}"' for column in PlanColumn)
"""The plan columns as SQL names."""


class OutcomeStatus(enum.StrEnum):
    """What the state records of a key: delivered, parked in the DLQ, failed transiently (it may have
    arrived), or about to be sent."""

    SUCCESS = "success"
    DEAD_LETTER = "dead_letter"
    PENDING = "pending"
    INFLIGHT = "inflight"


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
    the DLQ, with `__KEY`, `__HASH`, `__DEST_ID`, `__INFLIGHT` (the hash in flight when a run stopped),
    `__COPY`, `__COPIES` and `__REJECT`; every copy of a duplicated key is in the plan, changed or not,
    refused as `DuplicateKey`."""
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
        f's."DEST_ID" AS {DEST_ID}, s."INFLIGHT_HASH" AS {INFLIGHT}, {_copies_and_reason()} '
        f"FROM {_keyed(model, key, fingerprint)} m LEFT JOIN {quote(state)} s "
        f'ON s."SYNC_KEY" = TO_VARCHAR(m.{quote(key)}) WHERE ({where}) OR m.{COPIES} > 1 '
        f"ORDER BY {KEY}, {COPY}"
    )


def _keyed(model: str, key: str, order: str) -> str:
    """The model's rows that have a key, each with how many rows share it and its place among them."""
    by_key = f"PARTITION BY TO_VARCHAR(m.{quote(key)})"
    return (
        f"(SELECT m.*, COUNT(*) OVER ({by_key}) AS {COPIES}, ROW_NUMBER() OVER ({by_key} ORDER BY {order}) "
        f"AS {COPY} FROM {model_source(model)} m WHERE m.{quote(key)} IS NOT NULL)"
    )


def _copies_and_reason() -> str:
    return (
        f"m.{COPY} AS {COPY}, m.{COPIES} AS {COPIES}, "
        f"CASE WHEN m.{COPIES} > 1 THEN '{ErrorClass.DUPLICATE_KEY}' END AS {REJECT}"
    )


def null_keys(model: str, key: str, columns: Sequence[str]) -> str:
    """The model's rows whose key is NULL, as plan rows refused as `NullKey`: `__KEY` is
    `null-key:<digest of the mapped columns>`, and identical rows are told apart by `__COPY`."""
    fingerprint = hash_columns(columns or [key], "m")
    selected = "".join(f"m.{quote(c)}, " for c in columns)
    by_row = f"PARTITION BY {fingerprint}"
    return (
        f"SELECT {selected}'null-key:' || SUBSTR({fingerprint}, 1, 16) AS {KEY}, "
        f"ROW_NUMBER() OVER ({by_row} ORDER BY {fingerprint}) AS {COPY}, {fingerprint} AS {HASH}, "
        f"COUNT(*) OVER ({by_row}) AS {COPIES}, '{ErrorClass.NULL_KEY}' AS {REJECT} "
        f"FROM {model_source(model)} m WHERE m.{quote(key)} IS NULL ORDER BY {KEY}, {COPY}"
    )


def key_counts(model: str, key: str) -> str:
    """One row: the model's rows, those whose key is NULL, and those whose key is not unique."""
    return (
        "SELECT COALESCE(SUM(g.N), 0), COALESCE(SUM(CASE WHEN g.K IS NULL THEN g.N END), 0), "
        "COALESCE(SUM(CASE WHEN g.K IS NOT NULL AND g.N > 1 THEN g.N END), 0) "
        f'FROM (SELECT TO_VARCHAR(m.{quote(key)}) AS "K", COUNT(*) AS "N" FROM {model_source(model)} m '
        f"GROUP BY TO_VARCHAR(m.{quote(key)})) g"
    )


def model_count(model: str) -> str:
    return f"SELECT COUNT(*) FROM {model_source(model)} m"


def page_of(query: str, rows: int) -> str:
    """One page of a plan query after the last (`__KEY`, `__COPY`) read; bind `page_after(last)`. The plan
    is read in pages, so the client never holds more than `rows` rows whatever the model's size, and a
    key's copies are never split from each other by a page's end."""
    if rows < 1:
        raise ConfigError("a page needs at least one row")
    after = f"(%s IS NULL OR p.{KEY} > %s OR (p.{KEY} = %s AND p.{COPY} > %s))"
    # Bound values are formatted into the statement: a `%` of the model's own SQL (LIKE 'A%') must stay one.
    inner = query.replace("%", "%%")
    return f"SELECT * FROM ({inner}) p WHERE {after} ORDER BY p.{KEY}, p.{COPY} LIMIT {int(rows)}"


def page_after(last: tuple[str, int] | None) -> list[Any]:
    """The bound values of `page_of` for the page after the row (`__KEY`, `__COPY`) read last."""
    key, copy = last if last is not None else (None, None)
    return [key, key, key, copy]


def columns_of(model: str) -> str:
    """No rows, only the model's columns and their types (`cursor.description`)."""
    return f"SELECT * FROM {model_source(model)} m LIMIT 0"


def count_of(query: str) -> str:
    """How many rows one of this module's queries returns."""
    return f"SELECT COUNT(*) FROM ({query})"


def departed(model: str, state: str, key: str) -> str:
    """Delivered keys that have left the model (what mirror mode removes): `__KEY`, `__COPY`, `__DEST_ID`."""
    return (
        f'SELECT s."SYNC_KEY" AS {KEY}, 1 AS {COPY}, s."DEST_ID" AS {DEST_ID} FROM {quote(state)} s '
        'WHERE s."DEST_ID" IS NOT NULL AND NOT COALESCE(s."DELETED", FALSE) '
        f"AND NOT EXISTS (SELECT 1 FROM {model_source(model)} m "
        f'WHERE TO_VARCHAR(m.{quote(key)}) = s."SYNC_KEY") ORDER BY {KEY}, {COPY}'
    )


def delivered_count(state: str) -> str:
    return (
        f'SELECT COUNT(*) FROM {quote(state)} WHERE "DEST_ID" IS NOT NULL AND NOT COALESCE("DELETED", FALSE)'
    )


def deletions(model: str, state: str, key: str) -> str:
    """Model keys to delete in the destination (delete mode), with the destination id if known; a key
    the model holds more than once is refused as in every mode (`__COPIES`, `__REJECT`)."""
    order = f"TO_VARCHAR(m.{quote(key)})"
    return (
        f'SELECT TO_VARCHAR(m.{quote(key)}) AS {KEY}, s."DEST_ID" AS {DEST_ID}, '
        f"{_copies_and_reason()} FROM {_keyed(model, key, order)} m LEFT JOIN {quote(state)} s "
        f'ON s."SYNC_KEY" = TO_VARCHAR(m.{quote(key)}) '
        f'WHERE NOT COALESCE(s."DELETED", FALSE) OR m.{COPIES} > 1 ORDER BY {KEY}, {COPY}'
    )


_SETS = {
    OutcomeStatus.SUCCESS: (
        '"SYNCED_HASH" = s."H", "DEST_ID" = COALESCE(s."D", t."DEST_ID"), "SYNCED_AT" = CURRENT_TIMESTAMP(), '
        '"FAILED_HASH" = NULL, "INFLIGHT_HASH" = NULL, "INFLIGHT_BATCH" = NULL, "DELETED" = s."DEL", '
        '"LAST_ERROR" = NULL'
    ),
    OutcomeStatus.DEAD_LETTER: (
        '"FAILED_HASH" = s."H", "INFLIGHT_HASH" = NULL, "INFLIGHT_BATCH" = NULL, "LAST_ERROR" = s."E"'
    ),
    OutcomeStatus.PENDING: '"INFLIGHT_HASH" = s."H", "INFLIGHT_BATCH" = NULL, "LAST_ERROR" = s."E"',
    OutcomeStatus.INFLIGHT: '"INFLIGHT_HASH" = s."H"',
}
_INSERTS = {
    OutcomeStatus.SUCCESS: (
        '"SYNCED_HASH", "DEST_ID", "SYNCED_AT", "DELETED"',
        's."H", s."D", CURRENT_TIMESTAMP(), s."DEL"',
    ),
    OutcomeStatus.DEAD_LETTER: ('"FAILED_HASH", "LAST_ERROR"', 's."H", s."E"'),
    OutcomeStatus.PENDING: ('"INFLIGHT_HASH", "LAST_ERROR"', 's."H", s."E"'),
    OutcomeStatus.INFLIGHT: ('"INFLIGHT_HASH"', 's."H"'),
}


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


def record_outcomes(state: str, status: OutcomeStatus) -> str:
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
    last = "" if status == OutcomeStatus.INFLIGHT else f", \"LAST_STATUS\" = '{status}'"
    columns, inserted = _INSERTS[status]
    last_insert = ("", "") if status == OutcomeStatus.INFLIGHT else (', "LAST_STATUS"', f", '{status}'")
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


def parked_failures(state: str, keys: int) -> str:
    """Of `keys` bound keys, those whose state holds a parked failure: `SYNC_KEY`, `FAILED_HASH`."""
    if keys < 1:
        raise ConfigError("parked_failures needs keys")
    marks = ", ".join(["%s"] * keys)
    return (
        f"SELECT {quote(StateColumn.SYNC_KEY)}, {quote(StateColumn.FAILED_HASH)} FROM {quote(state)} "
        f"WHERE {quote(StateColumn.FAILED_HASH)} IS NOT NULL AND {quote(StateColumn.SYNC_KEY)} IN ({marks})"
    )
