"""Stream schemas: the contract a record must meet before it is staged.

A schema is a tuple of typed fields. `validate` coerces what APIs send (numbers as strings in CSV, Unix
seconds, ISO timestamps with offsets) into one canonical form and raises :class:`RecordError` naming the
field and the value when a record breaks the contract, so the record can go to the DLQ with its reason.
Fields the schema does not declare are kept apart (`extra`) for schema evolution to decide on.
"""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, NoReturn

from airflow_provider_integrations.core.errors import ConfigError, RecordError
from airflow_provider_integrations.core.sql.identifiers import validate_identifier
from airflow_provider_integrations.core.watermark import parse_timestamp


class FieldType(enum.StrEnum):
    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    TIMESTAMP = "timestamp"
    DATE = "date"
    JSON = "json"


_TRUE = {"true", "1", "yes", "t", "y"}
_FALSE = {"false", "0", "no", "f", "n"}


class _Invalid(ValueError):
    pass


_INT64 = range(-(2**63), 2**63)


def _text(value: str) -> str:
    """Text that UTF-8 (Parquet, Snowflake) can hold: JSON may carry lone surrogates (`"\\ud800"`)."""
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as error:
            raise _Invalid(f"text holds {value[error.start]!r}, which UTF-8 cannot encode") from None
    return value


def _string(value: Any) -> str:
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, bool | int | float | Decimal):
        return str(value)
    raise _Invalid(f"expected text, got {type(value).__name__}")


def _integer(value: Any) -> int:
    number = _any_integer(value)
    if number not in _INT64:
        raise _Invalid(f"expected a 64-bit integer, got {value!r}")
    return number


def _any_integer(value: Any) -> int:
    if isinstance(value, bool):
        raise _Invalid("expected an integer, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        # A decimal string ("5.00") is refused even when whole: it means another unit or a lossy export.
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise _Invalid(f"expected an integer, got {value!r}")


def _number(value: Any) -> float:
    if isinstance(value, bool):
        raise _Invalid("expected a number, got a boolean")
    if isinstance(value, int | float | Decimal):
        result = float(value)
    elif isinstance(value, str):
        try:
            result = float(Decimal(value.strip()))
        except InvalidOperation:
            raise _Invalid(f"expected a number, got {value!r}") from None
    else:
        raise _Invalid(f"expected a number, got {type(value).__name__}")
    if not math.isfinite(result):
        raise _Invalid(f"expected a finite number, got {value!r}")
    return result


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise _Invalid(f"expected a boolean, got {value!r}")


def _timestamp(value: Any) -> datetime:
    try:
        return parse_timestamp(value, "value")
    except ConfigError as error:
        raise _Invalid(f"expected a timestamp, got {value!r}") from error


def _utc_timestamp(value: Any) -> datetime:
    try:
        return parse_timestamp(value, "value", naive_is_utc=True)
    except ConfigError as error:
        raise _Invalid(f"expected a timestamp, got {value!r}") from error


def _date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip()[:10])
        except ValueError:
            pass
    raise _Invalid(f"expected a date (YYYY-MM-DD), got {value!r}")


def _json(value: Any) -> str:
    try:
        return _text(value) if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    except (TypeError, ValueError) as error:
        raise _Invalid(f"expected JSON-serialisable data: {error}") from None


_COERCE: dict[FieldType, Callable[[Any], Any]] = {
    FieldType.STRING: _string,
    FieldType.INTEGER: _integer,
    FieldType.NUMBER: _number,
    FieldType.BOOLEAN: _boolean,
    FieldType.TIMESTAMP: _timestamp,
    FieldType.DATE: _date,
    FieldType.JSON: _json,
}


@dataclass(frozen=True)
class Field:
    """One declared field: its name as the source spells it, its type, whether it may be empty, and
    (in a discovered catalog) the system's own type name and whether an admin added it."""

    name: str
    type: FieldType = FieldType.STRING
    required: bool = False
    source_type: str = ""
    custom: bool = False

    def __post_init__(self) -> None:
        validate_identifier(self.name, "field name")
        object.__setattr__(self, "type", FieldType(self.type))


class ValidRecord:
    """A record that met its schema: coerced values of the declared fields, and undeclared extras."""

    __slots__ = ("_names", "_record", "values")

    def __init__(self, values: dict[str, Any], record: Mapping[str, Any], names: frozenset[str]) -> None:
        self.values = values
        self._record = record
        self._names = names

    @property
    def extra(self) -> dict[str, Any]:
        """The fields the schema does not declare, found when asked: most callers never ask."""
        return {k: v for k, v in self._record.items() if k not in self._names}


class RecordSchema:
    """The declared fields of a stream, with a validator compiled once for speed."""

    def __init__(
        self, fields: Iterable[Field], key: Iterable[str] = (), *, naive_is_utc: bool = False
    ) -> None:
        self.fields = tuple(fields)
        if not self.fields:
            raise ConfigError("a schema needs at least one field")
        names = [f.name for f in self.fields]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ConfigError(f"schema declares {duplicates} more than once")
        self.key = tuple(key)
        missing = [k for k in self.key if k not in names]
        if missing:
            raise ConfigError(f"key fields {missing} are not in the schema")
        coerce = {**_COERCE, FieldType.TIMESTAMP: _utc_timestamp} if naive_is_utc else _COERCE
        self._names = frozenset(names)
        self._coerce = _compile(
            [(f.name, coerce[f.type], f.type) for f in self.fields],
            required={f.name for f in self.fields if f.required} - set(self.key),
            key=set(self.key),
            fail=self._fail,
        )
        self._ordered_names = tuple(names)

    @classmethod
    def from_config(
        cls,
        fields: Mapping[str, str | Mapping[str, Any]],
        key: Iterable[str] = (),
        *,
        naive_is_utc: bool = False,
    ) -> RecordSchema:
        """Build from YAML-style config: `{"Id": "string", "Amount": {"type": "number", "required": 1}}`."""
        built = []
        for name, spec in fields.items():
            settings = {"type": spec} if isinstance(spec, str) else dict(spec)
            try:
                built.append(Field(name, FieldType(settings.pop("type", "string")), **settings))
            except (ValueError, TypeError) as error:
                raise ConfigError(f"field {name!r}: {error}") from None
        return cls(built, key, naive_is_utc=naive_is_utc)

    @property
    def names(self) -> tuple[str, ...]:
        return self._ordered_names

    def key_of(self, record: Mapping[str, Any]) -> str:
        return "|".join(str(record.get(k)) for k in self.key)

    def validate(self, record: Mapping[str, Any], *, deleted: bool = False) -> ValidRecord:
        """Coerce `record` to the schema or raise :class:`RecordError` naming the field and value.

        A `deleted` record may be a bare marker (key and cursor only): only its key fields are required.
        """
        return ValidRecord(self._coerce(record, deleted), record, self._names)

    def _fail(self, record: Mapping[str, Any], message: str) -> NoReturn:
        raise RecordError(message, record_key=self._key_or_none(record))

    def _key_or_none(self, record: Mapping[str, Any]) -> str | None:
        """The record's key, or None when it has none (a missing key field is not the key "None")."""
        if not self.key or any(record.get(k) in (None, "") for k in self.key):
            return None
        return self.key_of(record)


def _compile(
    fields: list[tuple[str, Callable[[Any], Any], FieldType]],
    *,
    required: set[str],
    key: set[str],
    fail: Callable[[Mapping[str, Any], str], NoReturn],
) -> Callable[[Mapping[str, Any], bool], dict[str, Any]]:
    """One function, written out field by field, that coerces a record to the schema.

    Every record of every extract passes through it: unrolled, with plain ASCII text kept as it is and
    ISO timestamps in UTC read in one call, it costs about half of a loop over the fields (as
    dataclasses builds `__init__`). Anything else takes the field's own coercion.
    """
    scope: dict[str, Any] = {"_Invalid": _Invalid, "fail": fail, "iso_utc": _iso_utc}
    lines = ["def coerce(record, deleted):", "    get = record.get"]
    for i, (name, coerce, kind) in enumerate(fields):
        scope[f"c{i}"], scope[f"n{i}"] = coerce, name
        lines += [f"    v{i} = get(n{i})", f'    if v{i} is None or v{i} == "":']
        if name in key:
            lines.append(f'        fail(record, n{i} + " is required but missing")')
        elif name in required:
            lines.append(f'        if not deleted: fail(record, n{i} + " is required but missing")')
        lines.append(f"        v{i} = None")
        if kind is FieldType.STRING:
            lines.append(f"    elif v{i}.__class__ is str and v{i}.isascii(): pass")
        elif kind is FieldType.TIMESTAMP:
            lines += [
                f"    elif v{i}.__class__ is str and (t := iso_utc(v{i})) is not None:",
                f"        v{i} = t",
            ]
        lines += [
            "    else:",
            f"        try: v{i} = c{i}(v{i})",
            f'        except _Invalid as error: fail(record, f"{{n{i}}}: {{error}}")',
        ]
    lines.append("    return {" + ", ".join(f"n{i}: v{i}" for i in range(len(fields))) + "}")
    exec("\n".join(lines), scope)  # noqa: S102 - the source is built from this schema's field indexes only
    compiled: Callable[[Mapping[str, Any], bool], dict[str, Any]] = scope["coerce"]
    return compiled


def _iso_utc(text: str) -> datetime | None:
    """`text` as a UTC timestamp when `datetime.fromisoformat` reads it as one, else None (the field's
    own coercion then decides)."""
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is UTC else None
