"""Salesforce discovery: the objects a user may replicate (describeGlobal) and each one's description
(sObject Describe, batched through the Composite Batch API), as :class:`StreamDescription`.

Calls: one `GET <api>/sobjects` to list, then one `POST <api>/composite/batch` per 25 objects described.

What a description decides, from Salesforce's own metadata:

- Fields: every field type maps to a column type (`FIELD_TYPES`), its Salesforce type kept as
  `source_type`. Compound address and geolocation fields are never selected (Bulk API refuses them):
  their component fields are, and the compound is listed in `not_extracted` with its components.
  base64 bodies, fields Salesforce marks deprecatedAndHidden and types this module does not know are
  listed in `not_extracted` with the reason, never dropped in silence.
- Cursor: (SystemModstamp, Id), else (LastModifiedDate, Id), else (CreatedDate, Id), else none (full
  reads only). Deletes: the object has IsDeleted (read through queryAll).
- Options: `read_api: rest` for the objects Bulk API cannot query (`BULK_UNSUPPORTED`), which the
  connector then reads through REST whatever their size; `calculated_fields` lists formula fields,
  whose values change without moving SystemModstamp.

Per-object failures: `describe_sobjects` yields every object it could describe, then raises one
:class:`DescribeFailed` (a PermanentError) naming each object it could not (INSUFFICIENT_ACCESS,
NOT_FOUND, ...) with Salesforce's reason, in `failures` by object name. A caller that wants the others
catches it after the loop; a caller that describes one stream sees that stream's error.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from airflow_provider_integrations.connectors.salesforce_api import SYSTEM, TRANSIENT_CODES
from airflow_provider_integrations.core.catalog import FieldDescription, StreamDescription
from airflow_provider_integrations.core.errors import ConfigError, PermanentError, TransientError
from airflow_provider_integrations.core.http import HttpClient
from airflow_provider_integrations.core.schema import FieldType
from airflow_provider_integrations.core.url_paths import SALESFORCE_NAME, name_segment

log = logging.getLogger(__name__)

BATCH_SUBREQUESTS = 25
"""The most subrequests one Composite Batch call takes."""
BATCH_ROUNDS = 3
"""Times a subrequest that failed transiently (a lock, a timeout, a 5xx) is sent again."""

FIELD_TYPES: dict[str, FieldType] = {
    "id": FieldType.STRING,
    "reference": FieldType.STRING,
    "string": FieldType.STRING,
    "picklist": FieldType.STRING,
    "multipicklist": FieldType.STRING,
    "combobox": FieldType.STRING,
    "textarea": FieldType.STRING,
    "email": FieldType.STRING,
    "phone": FieldType.STRING,
    "url": FieldType.STRING,
    "encryptedstring": FieldType.STRING,
    "masterrecord": FieldType.STRING,
    "datacategorygroupreference": FieldType.STRING,
    # `time` is `13:30:00.000Z`: no column type holds a time of day alone, so it lands as text.
    "time": FieldType.STRING,
    # anyType holds a value of the type another field has (history OldValue/NewValue): text keeps them all.
    "anyType": FieldType.STRING,
    "boolean": FieldType.BOOLEAN,
    "int": FieldType.INTEGER,
    "long": FieldType.INTEGER,
    "double": FieldType.NUMBER,
    "currency": FieldType.NUMBER,
    "percent": FieldType.NUMBER,
    "date": FieldType.DATE,
    "datetime": FieldType.TIMESTAMP,
    "complexvalue": FieldType.JSON,
    "json": FieldType.JSON,
}
"""Salesforce field types (describe's `type`) and the column type each lands as."""

COMPOUND_TYPES = {"address": "compound address field", "location": "compound geolocation field"}
NOT_EXTRACTED_TYPES = {
    "base64": (
        "base64 body: Bulk API cannot query it and a REST query returns only a URL to fetch it "
        "record by record"
    ),
}
CURSOR_FIELDS = ("SystemModstamp", "LastModifiedDate", "CreatedDate")
"""The timestamp an incremental read orders by, the first of these the object has."""

BULK_UNSUPPORTED = frozenset(
    {
        "AcceptedEventRelation",
        "AssetTokenEvent",
        "AttachedContentNote",
        "Attachment",
        "CaseStatus",
        "ContractStatus",
        "DeclinedEventRelation",
        "EventWhoRelation",
        "FieldSecurityClassification",
        "KnowledgeArticle",
        "KnowledgeArticleVersion",
        "KnowledgeArticleVersionHistory",
        "KnowledgeArticleViewStat",
        "KnowledgeArticleVoteStat",
        "LeadStatus",
        "OpportunityStage",
        "OrderStatus",
        "PartnerRole",
        "QuoteTemplateRichTextData",
        "RecentlyViewed",
        "ServiceAppointmentStatus",
        "SolutionStatus",
        "TaskPriority",
        "TaskStatus",
        "TaskWhoRelation",
        "UndecidedEventRelation",
        "UserRecordAccess",
    }
)
"""Objects Bulk API query jobs refuse (Salesforce's Bulk API limits, and those found refused in
production by open-source Salesforce extractors): read through REST query pages only."""


class DescribeFailed(PermanentError):
    """Salesforce refused to describe some objects; `failures` maps each one's name to its error.

    Raised once the objects that could be described have been yielded. Its code is the objects'
    common Salesforce code (INSUFFICIENT_ACCESS, NOT_FOUND) when they share one."""

    def __init__(self, failures: Mapping[str, PermanentError | TransientError]) -> None:
        codes = {error.code for error in failures.values()}
        listed = "; ".join(f"{name}: {error.message}" for name, error in failures.items())
        super().__init__(
            f"could not describe {len(failures)} object(s): {listed}",
            system=SYSTEM,
            code=codes.pop() if len(codes) == 1 else "DESCRIBE_FAILED",
        )
        self.failures = dict(failures)


def list_sobjects(client: HttpClient, api: str) -> list[str]:
    """Names of the objects this user may replicate, from one describeGlobal call: queryable,
    retrieveable, replicateable and not deprecatedAndHidden, custom objects included."""
    body = client.get_json(f"{api}/sobjects")
    listed = body.get("sobjects") if isinstance(body, Mapping) else None
    if not isinstance(listed, list):
        raise PermanentError("describeGlobal answered without an sobjects list", system=SYSTEM)
    names = []
    for item in listed:
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
            raise PermanentError(
                f"describeGlobal listed an object without a name: {item!r}"[:300], system=SYSTEM
            )
        wanted = all(item.get(flag) is True for flag in ("queryable", "retrieveable", "replicateable"))
        if wanted and not item.get("deprecatedAndHidden"):
            names.append(item["name"])
    return names


def describe_sobjects(client: HttpClient, api: str, sources: Sequence[str]) -> Iterator[StreamDescription]:
    """A description of each of `sources`, described 25 to a Composite Batch call, in their order.

    Every name is checked here, before any call (a bad one is a ConfigError naming it). Objects
    Salesforce would not describe raise one :class:`DescribeFailed` after the others are yielded."""
    segments = {
        name: name_segment(name, "Salesforce object name", SALESFORCE_NAME, system=SYSTEM) for name in sources
    }
    return _described(client, api, segments)


def _described(client: HttpClient, api: str, segments: Mapping[str, str]) -> Iterator[StreamDescription]:
    version = api.rstrip("/").rsplit("/", 1)[-1]
    failures: dict[str, PermanentError | TransientError] = {}
    pending = list(segments)
    for round_ in range(1, BATCH_ROUNDS + 1):
        retry: list[str] = []
        for start in range(0, len(pending), BATCH_SUBREQUESTS):
            chunk = pending[start : start + BATCH_SUBREQUESTS]
            results = _batch(client, api, version, [segments[n] for n in chunk])
            for name, result in zip(chunk, results, strict=True):
                if isinstance(result, TransientError) and round_ < BATCH_ROUNDS:
                    retry.append(name)
                elif isinstance(result, PermanentError | TransientError):
                    failures[name] = result
                else:
                    try:
                        yield describe_stream(result, name)
                    except PermanentError as error:
                        failures[name] = error
        if not retry:
            break
        log.warning(
            "salesforce: describing %d object(s) again after a transient failure: %s", len(retry), retry
        )
        pending = retry
    if failures:
        raise DescribeFailed(failures)


def _batch(
    client: HttpClient, api: str, version: str, segments: Sequence[str]
) -> list[Mapping[str, Any] | PermanentError | TransientError]:
    """One Composite Batch call describing `segments`: each one's describe body, or its error."""
    requests = [{"method": "GET", "url": f"{version}/sobjects/{s}/describe"} for s in segments]
    body = client.request_json(
        "POST",
        f"{api}/composite/batch",
        json={"batchRequests": requests, "haltOnError": False},
        idempotent=True,
    )
    results = body.get("results") if isinstance(body, Mapping) else None
    if not isinstance(results, list) or len(results) != len(segments):
        got = len(results) if isinstance(results, list) else "no"
        raise PermanentError(
            f"a Composite Batch of {len(segments)} describes answered with {got} results", system=SYSTEM
        )
    return [_subresult(result, segment) for result, segment in zip(results, segments, strict=True)]


def _subresult(result: Any, segment: str) -> Mapping[str, Any] | PermanentError | TransientError:
    status = result.get("statusCode") if isinstance(result, Mapping) else None
    payload = result.get("result") if isinstance(result, Mapping) else None
    if status == 200 and isinstance(payload, Mapping):
        return payload
    first = payload[0] if isinstance(payload, list) and payload and isinstance(payload[0], Mapping) else {}
    code = str(first.get("errorCode") or f"HTTP_{status}")
    text = f"{segment}: {code}: {first.get('message') or 'no message'}"
    if code in TRANSIENT_CODES or (isinstance(status, int) and (status == 429 or status >= 500)):
        return TransientError(text, system=SYSTEM, code=code)
    return PermanentError(text, system=SYSTEM, code=code)


def describe_stream(describe: Mapping[str, Any], source: str) -> StreamDescription:
    """One sObject Describe body as the stream that reads it (see the module for what it decides)."""
    name = str(describe.get("name") or source)
    listed = describe.get("fields")
    if not isinstance(listed, list):
        raise PermanentError(f"{name}: its describe has no field list", system=SYSTEM, code="DESCRIBE_SHAPE")
    fields: list[FieldDescription] = []
    not_extracted: dict[str, str] = {}
    calculated: list[str] = []
    components: dict[str, list[str]] = {}
    compounds: dict[str, str] = {}
    for item in listed:
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
            raise PermanentError(f"{name}: its describe lists a field without a name", system=SYSTEM)
        field_name, kind = item["name"], str(item.get("type", ""))
        if item.get("compoundFieldName"):
            components.setdefault(str(item["compoundFieldName"]), []).append(field_name)
        if kind in COMPOUND_TYPES:
            compounds[field_name] = COMPOUND_TYPES[kind]
        elif item.get("deprecatedAndHidden"):
            not_extracted[field_name] = "deprecated and hidden by Salesforce"
        elif kind in NOT_EXTRACTED_TYPES:
            not_extracted[field_name] = NOT_EXTRACTED_TYPES[kind]
        elif kind not in FIELD_TYPES:
            not_extracted[field_name] = f"Salesforce type {kind!r} is not one this connector maps to a column"
        else:
            fields.append(
                FieldDescription(
                    name=field_name,
                    type=FIELD_TYPES[kind],
                    source_type=kind,
                    required=field_name == "Id" or (item.get("nillable") is False and kind != "boolean"),
                    custom=bool(item.get("custom")),
                )
            )
            if item.get("calculated"):
                calculated.append(field_name)
    for compound, what in compounds.items():
        parts = components.get(compound)
        read_as = f"read through its components {', '.join(parts)}" if parts else "it has no component fields"
        not_extracted[compound] = f"{what}, which Bulk API cannot query: {read_as}"
    names = {f.name for f in fields}
    if "Id" not in names:
        raise PermanentError(f"{name}: it has no Id field to key its records by", system=SYSTEM, code="NO_ID")
    cursor_field = next((c for c in CURSOR_FIELDS if c in names), None)
    options: dict[str, Any] = {}
    if name in BULK_UNSUPPORTED:
        options["read_api"] = "rest"
    if calculated:
        options["calculated_fields"] = calculated
    return StreamDescription(
        name=name,
        source=name,
        fields=tuple(fields),
        primary_key=("Id",),
        cursor=(cursor_field, "Id") if cursor_field else None,
        deletes="IsDeleted" in names,
        not_extracted=not_extracted,
        options=options,
        custom=bool(describe.get("custom")),
    )


def check_read_api(stream: str, options: Mapping[str, Any]) -> str:
    """The stream's `read_api` option: "auto" (REST or Bulk API by size, the default) or "rest"."""
    chosen = options.get("read_api", "auto")
    if chosen not in ("auto", "rest"):
        raise ConfigError(
            f"stream {stream!r}: read_api must be 'auto' or 'rest', got {chosen!r}", system=SYSTEM
        )
    return str(chosen)
