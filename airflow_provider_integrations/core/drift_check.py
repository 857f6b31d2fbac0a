"""The run-time schema check of one extract: the live description against the declared fields.

Before an extract reads, `describe_live` asks the system for the stream's description (one call, where
the connector can describe) and `plan_drift` turns the differences `schema_drift.compare` finds into what
this run reads and writes, following the stream's schema policy:

- a field the system added is extracted (`add`: the run's schema gains it, so the load adds its column),
  left out (`ignore`) or stops the extract naming it (`fail`);
- a field the system removed is no longer selected (a query naming it would fail at the source); it stays
  in what the run writes, always empty, so its column stays in the table and goes NULL;
- a type change within `integer -> number -> string` widens the field; any other stops the extract
  naming the field.

Every difference becomes a `ManifestSchemaChange` in the manifest, which the load records as a row of the
schema-change table. `UnknownFields` counts the fields records carry that the schema does not declare.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from airflow_provider_integrations.core.catalog import StreamDescription
from airflow_provider_integrations.core.errors import ConfigError, PermanentError
from airflow_provider_integrations.core.records import ManifestSchemaChange
from airflow_provider_integrations.core.schema import Field, RecordSchema
from airflow_provider_integrations.core.schema_drift import ChangeKind, SchemaChange, compare, widen

if TYPE_CHECKING:
    from airflow_provider_integrations.connectors.base import Connector, Stream

log = logging.getLogger(__name__)
SCHEMA_POLICIES = ("add", "ignore", "fail")
"""What a field the system added does: extracted, left out, or the extract fails naming it."""
BACKFILL_OPTION = "backfill_new_fields"
"""Stream option: after a field was added, read the stream in full once so existing rows get its values."""
RECORD_MARKERS = frozenset({"_deleted", "_changed_at"})
"""Keys connectors add to records for the extract (a deletion, the event time): never unknown fields."""


class SchemaDriftError(PermanentError):
    """The live system changed in a way the stream's policy does not absorb; a person must act."""


def check_policy(policy: str) -> str:
    if policy not in SCHEMA_POLICIES:
        raise ConfigError(f"schema_policy must be one of {SCHEMA_POLICIES}, got {policy!r}")
    return policy


def describe_live(connector: Connector, stream: Stream) -> StreamDescription | None:
    """The stream as the system describes it now (one describe call), or None when this connector
    cannot describe its streams."""
    from airflow_provider_integrations.connectors.base import Connector

    if type(connector).describe_streams is Connector.describe_streams:
        log.info("%s cannot describe its streams: no schema check for %s", connector.system, stream.name)
        return None
    described = list(connector.describe_streams([stream.source]))
    if len(described) != 1:
        raise PermanentError(
            f"{connector.system} described {len(described)} streams for {stream.source!r}, expected one"
        )
    return described[0]


@dataclass(frozen=True)
class DriftPlan:
    """What one run does about the differences: `read` is the stream the connector reads (declared
    fields, widened, plus added ones under `add`, minus removed ones); `schema` the one records are
    validated and written with (`read`'s fields plus the removed ones, always empty); `added` the fields
    this run extracts that the catalog lacks."""

    read: Stream
    schema: RecordSchema
    changes: tuple[ManifestSchemaChange, ...] = ()
    added: tuple[str, ...] = ()


def plan_drift(stream: Stream, live: StreamDescription | None, policy: str) -> DriftPlan:
    """Apply `policy` to the differences between `stream`'s declared fields and `live`.

    Raises :class:`SchemaDriftError` naming every field that stops the run: an incompatible type change,
    a new field under `fail`, or a removed field the stream cannot do without (key, cursor, change time).
    """
    check_policy(policy)
    if live is None:
        return DriftPlan(stream, stream.schema)
    found = compare(stream.schema.fields, live, stream=stream.name)
    if not found:
        return DriftPlan(stream, stream.schema)
    _refuse(stream, found, policy)
    declared = {f.name: f for f in stream.schema.fields}
    removed: set[str] = set()
    added: list[Field] = []
    recorded: list[ManifestSchemaChange] = []
    for change in found:
        action = "noted"
        if change.kind is ChangeKind.FIELD_ADDED:
            action = "added" if policy == "add" else "ignored"
            if policy == "add":
                added.append(_field_of(live, change.field))
        elif change.kind is ChangeKind.FIELD_REMOVED:
            action = "nulled"
            removed.add(change.field)
            declared[change.field] = replace(declared[change.field], required=False)
        elif change.kind is ChangeKind.TYPE_WIDENED:
            old = declared[change.field]
            new = _field_of(live, change.field)
            wider = widen(old.type, new.type)
            assert wider is not None  # compare calls it widened only when widen finds a type
            action = "widened" if wider != old.type else "kept"
            declared[change.field] = replace(old, type=wider, source_type=new.source_type)
        recorded.append(
            ManifestSchemaChange(
                change.field, change.kind.value, change.old or None, change.new or None, action
            )
        )
    fields = [*declared.values(), *added]
    key, naive = stream.primary_key, live.naive_timestamps
    schema = RecordSchema(fields, key, naive_is_utc=naive)
    read_schema = RecordSchema([f for f in fields if f.name not in removed], key, naive_is_utc=naive)
    return DriftPlan(
        replace(stream, schema=read_schema), schema, tuple(recorded), tuple(f.name for f in added)
    )


def _refuse(stream: Stream, found: list[SchemaChange], policy: str) -> None:
    """Raise naming every change this run cannot go on with."""
    needed = {
        *stream.primary_key,
        *(stream.cursor or ()),
        *([stream.changed_at] if stream.changed_at else []),
    }
    problems = [
        f"{c.field} changed type {c.old} -> {c.new}, which no column type holds safely"
        for c in found
        if c.kind is ChangeKind.TYPE_CHANGED
    ]
    problems += [
        f"{c.field} was removed but the stream reads by it (key, cursor or change time)"
        for c in found
        if c.kind is ChangeKind.FIELD_REMOVED and c.field in needed
    ]
    new = [c.field for c in found if c.kind is ChangeKind.FIELD_ADDED]
    if new and policy == "fail":
        problems.append(f"new fields {', '.join(new)} (schema_policy is 'fail')")
    if problems:
        raise SchemaDriftError(
            f"{stream.name}: the live schema differs from the catalog: {'; '.join(problems)}. "
            "Re-discover the stream's catalog (and reload the table for a type change) to go on"
        )


def _field_of(live: StreamDescription, name: str) -> Field:
    described = live.field_named(name)
    assert described is not None  # compare names only fields the description has
    return Field(described.name, described.type, source_type=described.source_type, custom=described.custom)


def log_changes(stream: str, changes: tuple[ManifestSchemaChange, ...]) -> None:
    """One warning per change, saying what this run does about it."""
    for change in changes:
        log.warning(
            "%s: field %s %s (%s -> %s): %s",
            stream,
            change.field,
            change.change.replace("_", " "),
            change.old_type or "-",
            change.new_type or "-",
            ACTIONS.get(change.action, change.action),
        )


ACTIONS = {
    "added": "extracted from this run on, its column added at the load",
    "ignored": "left out (schema_policy 'ignore')",
    "nulled": "no longer read; its column stays and goes NULL",
    "widened": "read as the wider type; the load widens its column",
    "kept": "the column's type already holds it",
    "noted": "recorded; the column type is unchanged",
}


def backfill_due(stream: Stream, plan: DriftPlan, done: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The added fields this run must backfill by reading the stream in full: those not backfilled by an
    earlier run (`done`, what the last successful run recorded), when the stream asks for backfills."""
    if not stream.options.get(BACKFILL_OPTION) or not plan.added:
        return ()
    already = set((done or {}).get("fields", []))
    return tuple(name for name in plan.added if name not in already)


class UnknownFields:
    """Counts, per field, the records that carry fields the schema does not declare.

    Records of one stream nearly always carry the same keys, so the caller compares each record's keys
    with the shape it holds (one C-level set comparison, no call) and calls `shape_at(record, index)`
    only when they differ; a shape's fields count every record from where it began to where the next
    began, and `counts(total)` closes the last one.
    """

    def __init__(self, declared: tuple[str, ...]) -> None:
        self._known = frozenset(declared) | RECORD_MARKERS
        self._extras: tuple[str, ...] = ()
        self._since = 0
        self._counts: Counter[str] = Counter()

    def shape_at(self, record: Mapping[str, Any], index: int) -> frozenset[str]:
        """Record number `index` has other keys than the records before it: its keys, the new shape."""
        self._close(index)
        shape = frozenset(record)
        self._extras = tuple(sorted(shape - self._known))
        return shape

    def _close(self, index: int) -> None:
        for name in self._extras:
            self._counts[name] += index - self._since
        self._since = index

    def counts(self, total: int) -> dict[str, int]:
        """Records carrying each unknown field, by field name, after `total` records."""
        self._close(total)
        return dict(sorted(self._counts.items()))
