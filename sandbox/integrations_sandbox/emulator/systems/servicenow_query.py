"""ServiceNow encoded queries (`sysparm_query`): parsing, evaluation on records, and index ranges.

Grammar: groups joined by `^NQ` (OR of groups); in a group, conditions joined by `^` (AND), where a
condition introduced by `^OR` is an alternative of the one before it; `ORDERBY<field>` and
`ORDERBYDESC<field>` anywhere; `^EQ` ends the query. A condition is `<field><operator><value>`; a literal
`^` in a value is written `^^`. Datetimes are `YYYY-MM-DD HH:MM:SS` (UTC) or
`javascript:gs.dateGenerate('YYYY-MM-DD','HH:MM:SS')`.

A condition or ORDERBY naming a field the table does not have is dropped, as the Table API documents
("if part of a query is invalid, such as an invalid field name, the instance ignores the invalid part");
`Query.invalid` lists them, so an instance with `glide.invalid_query.returns_no_rows` can answer no rows.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

OPERATORS = (
    "ISNOTEMPTY", "ISEMPTY", "NOT LIKE", "NOT IN", "STARTSWITH", "ENDSWITH", "BETWEEN",
    "LIKE", "IN", "!=", ">=", "<=", "=", ">", "<",
)  # fmt: skip
RANGE_OPERATORS = {"=", ">", ">=", "<", "<=", "BETWEEN"}
_FIELD = re.compile(r"[a-z_][a-z0-9_.]*")
_DATE_GENERATE = re.compile(r"javascript:gs\.dateGenerate\(\s*'(\d{4}-\d{2}-\d{2})'\s*,\s*'([^']*)'\s*\)")
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}( \d{2}:\d{2}:\d{2})?")
_ESCAPED_CARET = "\x00"


class QueryError(ValueError):
    """An encoded query the instance cannot run (answered as a 400 in ServiceNow's shape)."""


@dataclass(frozen=True)
class Condition:
    """One `<field><operator><value>` test; datetime values are already normalised."""

    field: str
    operator: str
    value: str


Clause = list[Condition]
"""Alternatives joined by ^OR."""


@dataclass
class Query:
    """A parsed encoded query: groups (OR) of clauses (AND) of alternatives (OR), and its ORDERBYs."""

    groups: list[list[Clause]] = field(default_factory=lambda: [[]])
    order_by: list[tuple[str, bool]] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)

    def fields(self) -> set[str]:
        return {c.field for group in self.groups for clause in group for c in clause}


def parse(text: str, known_fields: Collection[str] | None, datetime_fields: Collection[str]) -> Query:
    """Parse an encoded query; unknown operators and date forms are errors, unknown fields are dropped
    (and listed in `invalid`).

    `known_fields` None accepts any field name (tables whose records have free-form fields).
    """
    query = Query(groups=[])
    for group_text in text.replace("^^", _ESCAPED_CARET).split("^NQ"):
        group: list[Clause] = []
        for token in group_text.split("^"):
            token = token.replace(_ESCAPED_CARET, "^")
            if token in ("", "EQ"):
                continue
            if token.startswith("ORDERBY"):
                descending = token.startswith("ORDERBYDESC")
                name = token[len("ORDERBYDESC") if descending else len("ORDERBY") :]
                if _known(name, known_fields, query):
                    query.order_by.append((name, descending))
            elif token.startswith("OR") and not _FIELD.match(token):
                if not group:
                    raise QueryError(f"^OR without a condition before it: {token!r}")
                alternative = _condition(token[2:], known_fields, datetime_fields, query)
                if alternative is not None:
                    group[-1].append(alternative)
            else:
                condition = _condition(token, known_fields, datetime_fields, query)
                if condition is not None:
                    group.append([condition])
        query.groups.append(group)
    return query


def _known(name: str, known_fields: Collection[str] | None, query: Query) -> bool:
    if known_fields is None or name in known_fields:
        return True
    query.invalid.append(name)
    return False


def _condition(
    token: str, known_fields: Collection[str] | None, datetime_fields: Collection[str], query: Query
) -> Condition | None:
    match = _FIELD.match(token)
    if match is None:
        raise QueryError(f"Invalid condition {token!r}")
    name, rest = match.group(), token[match.end() :]
    if not _known(name, known_fields, query):
        return None
    operator = next((op for op in OPERATORS if rest.startswith(op)), None)
    if operator is None:
        raise QueryError(f"Invalid operator in condition {token!r}")
    value = rest[len(operator) :]
    if name in datetime_fields and operator not in ("ISEMPTY", "ISNOTEMPTY", "LIKE", "NOT LIKE"):
        parts = value.split("@") if operator == "BETWEEN" else [value]
        value = "@".join(normalise_datetime(p) for p in parts)
    return Condition(name, operator, value)


def normalise_datetime(value: str) -> str:
    """'YYYY-MM-DD HH:MM:SS' from either accepted form; a date alone means its midnight."""
    generated = _DATE_GENERATE.fullmatch(value.strip())
    if generated:
        day, clock = generated.groups()
        clock = {"start": "00:00:00", "end": "23:59:59"}.get(clock, clock)
        value = f"{day} {clock}"
    if value.startswith("javascript:"):
        raise QueryError(f"Unsupported script in query value {value!r}")
    if not _DATETIME.fullmatch(value):
        raise QueryError(f"Invalid date-time value {value!r}")
    return value if len(value) > 10 else f"{value} 00:00:00"


def parse_datetime(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)


def _plain(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("value", ""))
    return "" if value is None else str(value)


def _compare(left: str, right: str) -> int:
    try:
        a, b = float(left), float(right)
    except ValueError:
        return (left > right) - (left < right)
    return (a > b) - (a < b)


def _holds(condition: Condition, record: dict[str, Any]) -> bool:
    value = _plain(record.get(condition.field))
    op, wanted = condition.operator, condition.value
    if op == "ISEMPTY":
        return value == ""
    if op == "ISNOTEMPTY":
        return value != ""
    if op in ("IN", "NOT IN"):
        return (value in wanted.split(",")) == (op == "IN")
    if op in ("LIKE", "NOT LIKE"):
        return (wanted.lower() in value.lower()) == (op == "LIKE")
    if op == "STARTSWITH":
        return value.lower().startswith(wanted.lower())
    if op == "ENDSWITH":
        return value.lower().endswith(wanted.lower())
    if op == "BETWEEN":
        low, _, high = wanted.partition("@")
        return value != "" and _compare(value, low) >= 0 and _compare(value, high) <= 0
    if op in ("=", "!="):
        return (_compare(value, wanted) == 0 if value and wanted else value == wanted) == (op == "=")
    if value == "":
        return False
    order = _compare(value, wanted)
    return {">": order > 0, ">=": order >= 0, "<": order < 0, "<=": order <= 0}[op]


def group_holds(group: list[Clause], record: dict[str, Any]) -> bool:
    return all(any(_holds(c, record) for c in clause) for clause in group)


def predicate(groups: list[list[Clause]]) -> Callable[[dict[str, Any]], bool] | None:
    """A test for rendered records that any of `groups` holds for, or None when nothing is tested."""
    if not groups or any(not group for group in groups):
        return None
    return lambda record: any(group_holds(group, record) for group in groups)


Bounds = Callable[[str, str, str], tuple[int, int]]
"""(field, operator, value) -> the base index range [lo, hi) where that condition holds."""


def narrow(
    query: Query, rangeable: set[str], bounds: Bounds, size: int
) -> tuple[int, int, list[list[Clause]]]:
    """An index range for the base rows from the query's single-condition range clauses, plus the rest.

    Only a query of one group narrows: each plain AND clause on a field whose values rise with the index
    (sys_id, sys_created_on, sys_updated_on of base rows) becomes a bound. The rest is returned as the
    groups base rows must still satisfy (no groups: nothing left to test).
    """
    if len(query.groups) != 1:
        return 0, size, query.groups
    lo, hi, rest = 0, size, []
    for clause in query.groups[0]:
        only = clause[0]
        if len(clause) == 1 and only.field in rangeable and only.operator in RANGE_OPERATORS:
            a, b = bounds(only.field, only.operator, only.value)
            lo, hi = max(lo, a), min(hi, b)
        else:
            rest.append(clause)
    return lo, max(lo, hi), [rest] if rest else []


def timestamp_bounds(first_index_at: Callable[[datetime], int], operator: str, value: str) -> tuple[int, int]:
    """Index range of base rows whose second-precision timestamp satisfies `operator value`."""
    if operator == "BETWEEN":
        low, _, high = value.partition("@")
        return timestamp_bounds(first_index_at, ">=", low)[0], timestamp_bounds(first_index_at, "<=", high)[1]
    when = parse_datetime(value)
    at, after = first_index_at(when), first_index_at(when + timedelta(seconds=1))
    return {
        "=": (at, after),
        ">": (after, 1 << 62),
        ">=": (at, 1 << 62),
        "<": (0, at),
        "<=": (0, after),
    }[operator]


def id_bounds(first_at_or_after: Callable[[str, bool], int], operator: str, value: str) -> tuple[int, int]:
    """Index range of base rows whose sys_id satisfies `operator value` (ids rise with the index)."""
    if operator == "BETWEEN":
        low, _, high = value.partition("@")
        return first_at_or_after(low, False), first_at_or_after(high, True)
    at, after = first_at_or_after(value, False), first_at_or_after(value, True)
    return {
        "=": (at, after),
        ">": (after, 1 << 62),
        ">=": (at, 1 << 62),
        "<": (0, at),
        "<=": (0, after),
    }[operator]


def sort_key(name: str, record: dict[str, Any]) -> tuple[int, float, str]:
    """Numbers sort numerically, empty values first, everything else as text."""
    value = _plain(record.get(name))
    try:
        return (1, float(value), "")
    except ValueError:
        return (0 if value == "" else 2, 0.0, value)
