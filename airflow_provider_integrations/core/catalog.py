"""What a system says it holds: discovered streams and fields, as a connector reports them.

Discovery (`Connector.list_streams` + `Connector.describe_streams`) and the run-time drift check
(`Connector.describe_streams` for one stream) both produce :class:`StreamDescription`. A description
turns into a catalog entry (`to_config`), the YAML shape `Stream.from_config` reads, so a catalog file
a user reviews and commits is the same format as the catalogs shipped with the connectors.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_integrations.core.schema import FieldType


@dataclass(frozen=True)
class FieldDescription:
    """One field as the system describes it.

    `type` is the column type it lands as; `source_type` the system's own type name (Salesforce
    `picklist`, ServiceNow `glide_date_time`, ...), kept so a type change at the source is seen even when
    both map to the same column type; `custom` marks fields an admin added (`__c`, `u_`, `custentity`).
    """

    name: str
    type: FieldType
    source_type: str = ""
    required: bool = False
    custom: bool = False

    def to_config(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"type": str(self.type)}
        if self.required:
            entry["required"] = True
        if self.source_type:
            entry["source_type"] = self.source_type
        if self.custom:
            entry["custom"] = True
        return entry


@dataclass(frozen=True)
class StreamDescription:
    """One stream as the system describes it now: its fields, key, cursor and delete support.

    `not_extracted` lists the fields the system has that the extract leaves out, each with the reason
    (a compound field read through its components, a binary body, a field the user may not read).
    `options` carries the connector's settings for reading it (the same `options` a catalog entry takes).
    `changed_at` names the field that says when a version was made: "" for the cursor's timestamp (the
    default), None where no field does (the connector stamps records itself, as Stripe's event time).
    """

    name: str
    source: str
    fields: tuple[FieldDescription, ...]
    primary_key: tuple[str, ...]
    cursor: tuple[str, str] | None = None
    deletes: bool = False
    not_extracted: Mapping[str, str] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)
    naive_timestamps: bool = False
    custom: bool = False
    changed_at: str | None = ""

    def field_named(self, name: str) -> FieldDescription | None:
        return next((f for f in self.fields if f.name == name), None)

    def to_config(self) -> dict[str, Any]:
        """The catalog YAML entry for this stream (what `Stream.from_config` reads)."""
        entry: dict[str, Any] = {"source": self.source, "primary_key": list(self.primary_key)}
        if self.cursor:
            entry["cursor"] = list(self.cursor)
        if self.changed_at != "":
            entry["changed_at"] = self.changed_at
        entry["deletes"] = self.deletes
        if self.naive_timestamps:
            entry["naive_timestamps"] = "utc"
        if self.custom:
            entry["custom"] = True
        entry["fields"] = {f.name: f.to_config() for f in self.fields}
        if self.not_extracted:
            entry["not_extracted"] = dict(sorted(self.not_extracted.items()))
        if self.options:
            entry["options"] = dict(self.options)
        return entry
