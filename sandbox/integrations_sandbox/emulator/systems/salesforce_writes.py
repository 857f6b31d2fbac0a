"""Record writes (create, update, upsert, delete) with Salesforce's per-record results.

Used by sObject Collections, the single-record sObject endpoints and Bulk API 2.0 ingest. Each record is
validated like Salesforce validates it (unknown or read-only fields, types, lengths, required fields,
references, duplicate external ids), then meets the fault profile's write outcome: "transient" answers
UNABLE_TO_LOCK_ROW, "permanent" FIELD_CUSTOM_VALIDATION_EXCEPTION. Successful writes land in the
emulator's written records, keyed by external id (or by Id when there is none); a record's Id is derived
from its key, so upserting the same key again returns the same Id with created=false. Writes never change
the generated datasets; upserting a generated record's external id (e.g. `ACC-000123`) updates that record
under its generated Id.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from integrations_sandbox.emulator.data import Dataset
from integrations_sandbox.emulator.faults import Faults
from integrations_sandbox.emulator.systems.salesforce_schema import (
    NUMBER_TYPES,
    WRITTEN,
    Field,
    SObject,
    find_object,
    id_number,
    is_id,
    sf_datetime,
    to_id18,
)
from integrations_sandbox.emulator.systems.salesforce_soql import parse_datetime

SYSTEM = "salesforce"
MISSING = object()
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class WriteError:
    """One entry of a result's `errors`."""

    status_code: str
    message: str
    fields: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"statusCode": self.status_code, "message": self.message, "fields": list(self.fields)}

    def bulk_text(self) -> str:
        """As Bulk API's `sf__Error` column writes it: CODE:message:fields --"""
        return f"{self.status_code}:{self.message}:{','.join(self.fields)} --"


@dataclass
class WriteResult:
    """A SaveResult / UpsertResult."""

    id: str | None
    success: bool
    created: bool | None = None
    errors: list[WriteError] = field(default_factory=list)

    def to_json(self, with_created: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "success": self.success,
            "errors": [e.to_json() for e in self.errors],
        }
        if with_created:
            out["created"] = bool(self.created) if self.success else False
        return out


class _Rejected(Exception):
    def __init__(self, *errors: WriteError, record_id: str | None = None) -> None:
        super().__init__(errors[0].message)
        self.errors = list(errors)
        self.record_id = record_id


ROLLED_BACK = WriteError(
    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "Record rolled back because not all records were valid and the request was using AllOrNone header",
)


class Writer:
    """Applies writes to the emulator's written records."""

    def __init__(
        self,
        written: Callable[[str], dict[str, dict[str, Any]]],
        dataset: Callable[[str], Dataset],
        faults: Faults,
    ) -> None:
        self.written = written
        self.dataset = dataset
        self.faults = faults
        self.by_id: defaultdict[str, dict[str, str]] = defaultdict(dict)
        self.created_count = 0

    def write(
        self,
        op: str,
        records: list[tuple[SObject, dict[str, Any]]],
        *,
        external_field: str | None = None,
        all_or_none: bool = False,
        from_csv: bool = False,
    ) -> list[WriteResult]:
        """Write records in order; with `all_or_none`, one failure rolls every write of the call back."""
        undo: list[tuple[SObject, str, Any]] = []
        results = [self._one(op, obj, rec, external_field, from_csv, undo) for obj, rec in records]
        if all_or_none and any(not r.success for r in results):
            for obj, key, before in reversed(undo):
                self._restore(obj, key, before)
                self.faults.rolled_back(SYSTEM, obj.name, key)
            return [r if not r.success else WriteResult(None, False, None, [ROLLED_BACK]) for r in results]
        return results

    def _one(
        self,
        op: str,
        obj: SObject,
        record: dict[str, Any],
        external_field: str | None,
        from_csv: bool,
        undo: list[tuple[SObject, str, Any]],
    ) -> WriteResult:
        try:
            values = self._values(obj, record, from_csv)
            key, record_id, created, current = self._target(op, obj, values, external_field)
            self._check_fields(obj, values, creating=created, deleting=op == "delete")
        except _Rejected as rejected:
            return WriteResult(rejected.record_id, False, None, rejected.errors)
        outcome = self.faults.write_outcome(SYSTEM, obj.name, key)
        if outcome == "transient":
            message = f"unable to obtain exclusive access to this record or 1 records: {record_id}"
            return WriteResult(
                None if created else record_id, False, None, [WriteError("UNABLE_TO_LOCK_ROW", message)]
            )
        if outcome == "permanent":
            error = WriteError(
                "FIELD_CUSTOM_VALIDATION_EXCEPTION", "Sandbox validation rule rejected this record"
            )
            return WriteResult(None if created else record_id, False, None, [error])
        written = self.written(obj.name)
        undo.append((obj, key, written.get(key, MISSING)))
        now = sf_datetime(datetime.now(UTC))
        stored = {**current, **{k: _json(v) for k, v in values.items() if k != "Id"}}
        stored.update(Id=record_id, IsDeleted=op == "delete", LastModifiedDate=now, SystemModstamp=now)
        stored.setdefault("CreatedDate", now)
        written[key] = stored
        self.by_id[obj.name][record_id] = key
        return WriteResult(record_id, True, created)

    def _restore(self, obj: SObject, key: str, before: Any) -> None:
        written = self.written(obj.name)
        if before is MISSING:
            record = written.pop(key, None)
            if record is not None:
                self.by_id[obj.name].pop(record["Id"], None)
        else:
            written[key] = before

    def _values(self, obj: SObject, record: dict[str, Any], from_csv: bool) -> dict[str, Any]:
        values: dict[str, Any] = {}
        errors = []
        for name, raw in record.items():
            if name == "attributes":
                continue
            spec = obj.field(name)
            if spec is None:
                errors.append(
                    WriteError("INVALID_FIELD", f"No such column '{name}' on sobject of type {obj.name}")
                )
                continue
            if from_csv and raw == "":
                continue
            try:
                values[spec.name] = self._coerce(spec, "#N/A" if raw is None else raw, from_csv)
            except _Rejected as rejected:
                errors.extend(rejected.errors)
        if errors:
            raise _Rejected(*errors)
        return values

    def _coerce(self, spec: Field, raw: Any, from_csv: bool) -> Any:
        if raw == "#N/A" or raw is None:
            return None
        wrong = _Rejected(
            WriteError(
                "INVALID_TYPE_ON_FIELD_IN_RECORD",
                f"{spec.label}: value not of required type: {raw}",
                (spec.name,),
            )
        )
        kind = spec.type
        try:
            if kind in NUMBER_TYPES:
                if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
                    raise wrong
                number = float(raw)
                if number != number or number in (float("inf"), float("-inf")):
                    raise wrong
                return int(number) if kind == "int" else number
            if kind == "boolean":
                if isinstance(raw, bool):
                    return raw
                if isinstance(raw, str) and raw.lower() in ("true", "false", "1", "0"):
                    return raw.lower() in ("true", "1")
                raise wrong
            if kind == "date":
                return date.fromisoformat(raw[:10]) if isinstance(raw, str) else _raise(wrong)
            if kind == "datetime":
                return parse_datetime(raw) if isinstance(raw, str) else _raise(wrong)
        except ValueError:
            raise wrong from None
        if not isinstance(raw, str):
            if from_csv or isinstance(raw, (dict, list, bool)):
                raise wrong
            raw = str(raw)
        if kind in ("id", "reference"):
            return self._reference(spec, raw)
        if spec.length and len(raw) > spec.length:
            message = f"{spec.label}: data value too large: {raw[:40]} (max length={spec.length})"
            raise _Rejected(WriteError("STRING_TOO_LONG", message, (spec.name,)))
        if kind == "email" and not _EMAIL.match(raw):
            raise _Rejected(
                WriteError(
                    "INVALID_EMAIL_ADDRESS", f"{spec.label}: invalid email address: {raw}", (spec.name,)
                )
            )
        return raw

    def _reference(self, spec: Field, raw: str) -> str:
        if spec.type == "id":
            if not is_id(raw):
                raise _Rejected(
                    WriteError("MALFORMED_ID", f"Record ID: id value of incorrect type: {raw}", ("Id",))
                )
            return to_id18(raw)
        target = find_object(spec.reference_to[0])
        assert target is not None
        if not is_id(raw) or not to_id18(raw).startswith(target.key_prefix):
            message = f"{spec.label}: id value of incorrect type: {raw}"
            raise _Rejected(WriteError("MALFORMED_ID", message, (spec.name,)))
        if self.find_by_id(target, to_id18(raw)) is None:
            raise _Rejected(
                WriteError(
                    "INVALID_CROSS_REFERENCE_KEY", f"{spec.label}: invalid cross reference id", (spec.name,)
                )
            )
        return to_id18(raw)

    def _target(
        self, op: str, obj: SObject, values: dict[str, Any], external_field: str | None
    ) -> tuple[str, str, bool, dict[str, Any]]:
        """(key, Id, created, current stored values) of the record a write addresses."""
        if op == "create":
            if "Id" in values:
                raise _Rejected(
                    WriteError(
                        "INVALID_FIELD_FOR_INSERT_UPDATE", "cannot specify Id in an insert call", ("Id",)
                    )
                )
            return self._new(obj, values.get("External_Id__c"))
        if op in ("update", "delete") or external_field == "Id":
            record_id = values.get("Id")
            if not record_id:
                if op == "upsert":
                    return self._new(obj, values.get("External_Id__c"))
                raise _Rejected(WriteError("MISSING_ARGUMENT", f"Id not specified in an {op} call", ("Id",)))
            found = self.find_by_id(obj, record_id)
            if found is None:
                deleted = self.find_by_id(obj, record_id, include_deleted=True) is not None
                code, message = (
                    ("ENTITY_IS_DELETED", "entity is deleted")
                    if deleted
                    else ("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
                )
                raise _Rejected(WriteError(code, message), record_id=record_id)
            key, current = found
            return key, record_id, False, current
        assert external_field is not None
        value = values.get(external_field)
        if value in (None, ""):
            raise _Rejected(
                WriteError("MISSING_ARGUMENT", f"{external_field} not specified", (external_field,))
            )
        if "Id" in values:
            message = (
                "Unable to create/update fields: Id. Use the external ID field to match records in an upsert"
            )
            raise _Rejected(WriteError("INVALID_FIELD_FOR_INSERT_UPDATE", message, ("Id",)))
        found = self.find_by_external(obj, str(value))
        if found is None:
            return self._new(obj, str(value))
        key, current = found
        return key, current["Id"], False, current

    def _new(self, obj: SObject, external: str | None) -> tuple[str, str, bool, dict[str, Any]]:
        if external is not None:
            existing = self.find_by_external(obj, external)
            if existing is not None:
                message = (
                    "duplicate value found: External_Id__c duplicates value on record with id: "
                    + existing[1]["Id"]
                )
                raise _Rejected(WriteError("DUPLICATE_VALUE", message, ("External_Id__c",)))
            key = external
        else:
            self.created_count += 1
            key = f"#created-{self.created_count}"
        return key, self.id_for(obj, key), True, {}

    def id_for(self, obj: SObject, key: str) -> str:
        digest = hashlib.blake2b(f"{obj.name}|{key}".encode(), digest_size=8).digest()
        return obj.make_id(int.from_bytes(digest, "big") % 62**8, WRITTEN)

    def _check_fields(self, obj: SObject, values: dict[str, Any], *, creating: bool, deleting: bool) -> None:
        if deleting:
            return
        errors = []
        for name, value in values.items():
            spec = obj.field(name)
            assert spec is not None
            if name == "Id":
                continue
            if not (spec.createable if creating else spec.updateable):
                verb = "create" if creating else "update"
                message = (
                    f"Unable to {verb} fields: {name}. Please check the security settings of this field and "
                    "verify that it is read/write for your profile or permission set."
                )
                errors.append(WriteError("INVALID_FIELD_FOR_INSERT_UPDATE", message, (name,)))
            elif value is None and spec.required:
                errors.append(
                    WriteError("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{name}]", (name,))
                )
        if creating:
            missing = [f.name for f in obj.fields if f.required and values.get(f.name) is None]
            if missing and not errors:
                errors.append(
                    WriteError(
                        "REQUIRED_FIELD_MISSING",
                        f"Required fields are missing: [{', '.join(missing)}]",
                        tuple(missing),
                    )
                )
        if errors:
            raise _Rejected(*errors)

    def find_by_id(
        self, obj: SObject, record_id: str, include_deleted: bool = False
    ) -> tuple[str, dict[str, Any]] | None:
        """(key, stored values) of a live record, written or generated."""
        record_id = to_id18(record_id)
        key = self.by_id[obj.name].get(record_id)
        if key is not None:
            stored = self.written(obj.name).get(key)
            if stored is not None and (include_deleted or not stored.get("IsDeleted")):
                return key, stored
            return None
        index = id_number(record_id, obj.key_prefix)
        return None if index is None else self._generated(obj, index, include_deleted)

    def find_by_external(self, obj: SObject, value: str) -> tuple[str, dict[str, Any]] | None:
        stored = self.written(obj.name).get(value)
        if stored is not None:
            return None if stored.get("IsDeleted") else (value, stored)
        index = obj.external_index(value)
        return None if index is None else self._generated(obj, index, False)

    def _generated(
        self, obj: SObject, index: int, include_deleted: bool
    ) -> tuple[str, dict[str, Any]] | None:
        key = obj.external_id(index)
        stored = self.written(obj.name).get(key)
        if stored is not None:
            return (key, stored) if include_deleted or not stored.get("IsDeleted") else None
        row = self.dataset(obj.name).row(index)
        if row is None or (row.deleted and not include_deleted):
            return None
        return key, {"Id": obj.make_id(index), "External_Id__c": key}


def _raise(error: Exception) -> Any:
    raise error


def _json(value: Any) -> Any:
    if isinstance(value, datetime):
        return sf_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    return value
