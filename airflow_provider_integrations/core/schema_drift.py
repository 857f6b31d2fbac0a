"""Schema changes: how a stream as the system describes it now differs from the catalog it was declared in.

`compare` sets a stream's declared fields (a catalog entry, or a :class:`Stream`'s schema) beside its live
:class:`StreamDescription` and returns one :class:`SchemaChange` per difference, in the declared order
and then the live order, so the same drift always reads the same way.

Types widen along one chain only, `integer -> number -> string`: each column type there holds every value
of the ones before it, written the same way. Every other type change is incompatible (`type_changed`): a
`date` column does not become a `timestamp` (the rows already loaded have no time of day, and a day read
as midnight UTC is a different instant from midnight where the source is), and `boolean`, `date`,
`timestamp` and `json` do not become `string` (their loaded values are typed; the new ones would be text,
so one column would hold two spellings of the same value). Such a change stops the extract until a person
re-discovers the stream and reloads it.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from airflow_provider_integrations.core.catalog import FieldDescription, StreamDescription
from airflow_provider_integrations.core.schema import Field, FieldType


class ChangeKind(enum.StrEnum):
    """What changed. The values are the text written to the schema-change table."""

    STREAM_ADDED = "stream_added"
    """The system has a stream the catalog lacks."""
    STREAM_REMOVED = "stream_removed"
    """The catalog has a stream the system no longer lists (or the user may no longer read)."""
    FIELD_ADDED = "field_added"
    """The system describes a field the catalog lacks."""
    FIELD_REMOVED = "field_removed"
    """The catalog declares a field the system no longer describes, or now lists as not extracted."""
    TYPE_WIDENED = "type_widened"
    """The field's type changed within `integer -> number -> string`: `widen` gives the column type."""
    TYPE_CHANGED = "type_changed"
    """The field's type changed in a way no column type absorbs: the extract must stop."""
    SOURCE_TYPE_CHANGED = "source_type_changed"
    """The system's own type name changed (`picklist` to `string`) but the column type did not."""


_CHAIN = (FieldType.INTEGER, FieldType.NUMBER, FieldType.STRING)


def widen(old: FieldType, new: FieldType) -> FieldType | None:
    """The column type that holds values of both `old` and `new`, or None when none does safely.

    Within `integer -> number -> string` that is the later of the two: `widen(integer, number)` is
    `number`, and `widen(number, integer)` is `number` too (the column keeps its type; integers fit).
    Any other pair of different types gives None.
    """
    if old == new:
        return old
    if old in _CHAIN and new in _CHAIN:
        return max(old, new, key=_CHAIN.index)
    return None


@dataclass(frozen=True)
class SchemaChange:
    """One difference between a catalog and the live system.

    `field` is empty for a stream added or removed. `old` and `new` are the type as text (`"number
    (double)"`: the column type, then the system's own type name when known); empty where there is none
    (no old type for an added field, no new type for a removed one). For a field the system still has but
    the extract leaves out, `new` says why.
    """

    stream: str
    field: str
    kind: ChangeKind
    old: str = ""
    new: str = ""

    def __str__(self) -> str:
        where = f"{self.stream}.{self.field}" if self.field else self.stream
        what = self.kind.value.replace("_", " ")
        if self.old and self.new:
            return f"{where}: {what}: {self.old} -> {self.new}"
        detail = self.old or self.new
        return f"{where}: {what}" + (f" ({detail})" if detail else "")


def type_text(field: Field | FieldDescription) -> str:
    """A field's type as a schema change records it: `number (double)`, or `number` without a source type."""
    return f"{field.type} ({field.source_type})" if field.source_type else str(field.type)


def compare(
    declared: Mapping[str, Field] | Iterable[Field],
    live: StreamDescription,
    *,
    stream: str | None = None,
) -> list[SchemaChange]:
    """The changes from `declared` (a stream's catalog fields) to `live` (the system's description now).

    `stream` names the stream in the changes (a DAG may call a stream otherwise than its source); it
    defaults to the description's name. The source type is compared only where both sides know it: a
    hand-written catalog declares none.
    """
    name = live.name if stream is None else stream
    fields = list(declared.values()) if isinstance(declared, Mapping) else list(declared)
    known = {f.name for f in fields}
    changes: list[SchemaChange] = []
    for old in fields:
        new = live.field_named(old.name)
        if new is None:
            reason = live.not_extracted.get(old.name)
            text = f"not extracted: {reason}" if reason else ""
            changes.append(SchemaChange(name, old.name, ChangeKind.FIELD_REMOVED, type_text(old), text))
        elif (change := _field_change(name, old, new)) is not None:
            changes.append(change)
    changes.extend(
        SchemaChange(name, new.name, ChangeKind.FIELD_ADDED, "", type_text(new))
        for new in live.fields
        if new.name not in known
    )
    return changes


def _field_change(stream: str, old: Field, new: FieldDescription) -> SchemaChange | None:
    if old.type != new.type:
        kind = ChangeKind.TYPE_CHANGED if widen(old.type, new.type) is None else ChangeKind.TYPE_WIDENED
        return SchemaChange(stream, old.name, kind, type_text(old), type_text(new))
    if old.source_type and new.source_type and old.source_type != new.source_type:
        return SchemaChange(stream, old.name, ChangeKind.SOURCE_TYPE_CHANGED, type_text(old), type_text(new))
    return None


def stream_added(live: StreamDescription, *, stream: str | None = None) -> SchemaChange:
    """The change saying the system has `live`, a stream the catalog lacks."""
    return SchemaChange(
        live.name if stream is None else stream, "", ChangeKind.STREAM_ADDED, "", _field_count(live)
    )


def stream_removed(stream: str) -> SchemaChange:
    """The change saying the catalog's `stream` is no longer in the system."""
    return SchemaChange(stream, "", ChangeKind.STREAM_REMOVED)


def _field_count(live: StreamDescription) -> str:
    return f"{len(live.fields)} field{'s' if len(live.fields) != 1 else ''}"
