"""The SuiteQL subset the NetSuite emulator understands, parsed into a small syntax tree.

    SELECT * | column [AS name] | TO_CHAR(column, 'format') [AS name], ... FROM table [alias]
    [WHERE condition] [ORDER BY column [ASC|DESC], ...]

Conditions: `column <op> literal` (=, <>, !=, <, <=, >, >=), `[NOT] IN (...)`, `[NOT] BETWEEN a AND b`,
`IS [NOT] NULL`, AND / OR / NOT and parentheses. Literals: 'strings', numbers, and
`TO_TIMESTAMP('2025-01-01 00:00:00', 'YYYY-MM-DD HH24:MI:SS')` / `TO_DATE(...)` (Oracle format models,
see netsuite_dates). Keywords are case-insensitive; column names may carry the table name or alias as a
prefix (`c.id`). An expression without an alias is named `expr1`, `expr2`... as SuiteQL names them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from integrations_sandbox.emulator.systems.netsuite_dates import (
    DateFormatError,
    parse_oracle,
    strftime_pattern,
)

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>'(?:[^']|'')*')
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<op><>|!=|<=|>=|=|<|>)
      | (?P<punct>[(),*])
      | (?P<name>[A-Za-z_][A-Za-z0-9_$.]*)
    )""",
    re.VERBOSE,
)
_KEYWORDS = frozenset(
    ("SELECT", "FROM", "WHERE", "ORDER", "BY", "AND", "OR", "NOT", "IN", "IS", "NULL", "BETWEEN", "AS")
)


class SuiteQLError(ValueError):
    """The query is outside SuiteQL or outside the subset served here (NetSuite answers 400)."""


@dataclass(frozen=True)
class Compare:
    column: str
    op: str
    value: Any


@dataclass(frozen=True)
class InList:
    column: str
    values: tuple[Any, ...]
    negated: bool = False


@dataclass(frozen=True)
class IsNull:
    column: str
    negated: bool = False


@dataclass(frozen=True)
class BoolOp:
    op: str
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    item: Condition


Condition = Compare | InList | IsNull | BoolOp | Not


@dataclass(frozen=True)
class Column:
    """One output column: the source column, its name in the answer, and a TO_CHAR format if any."""

    source: str
    output: str
    to_char: str | None = None


@dataclass(frozen=True)
class Query:
    """A parsed SELECT: its output columns, or None for `*`."""

    table: str
    columns: tuple[Column, ...] | None
    where: Condition | None
    order: tuple[tuple[str, bool], ...]


def parse(text: str) -> Query:
    return _Parser(_tokenize(text)).query()


def parse_datetime(text: str, oracle_format: str | None = None) -> datetime:
    """A date or timestamp literal as an aware UTC datetime."""
    if oracle_format is not None:
        try:
            return parse_oracle(text, oracle_format)
        except DateFormatError as error:
            raise SuiteQLError(str(error)) from None
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text.strip(), fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise SuiteQLError(f"Invalid date value '{text}'")


def as_datetime(value: Any) -> datetime:
    """A literal compared with a date column: a TO_TIMESTAMP value or a date string."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        return parse_datetime(value)
    raise SuiteQLError(f"Invalid date value '{value}'")


_DATE_FORMATS = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y"]


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens, pos, end = [], 0, len(text.rstrip())
    while pos < end:
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise SuiteQLError(f"Unexpected character at position {pos}: {text[pos : pos + 20]!r}")
        kind = match.lastgroup
        assert kind is not None
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.qualifiers: set[str] = set()

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else ("end", "")

    def keyword(self, *words: str) -> str | None:
        kind, value = self.peek()
        if kind == "name" and value.upper() in words:
            self.pos += 1
            return value.upper()
        return None

    def expect_keyword(self, word: str) -> None:
        if self.keyword(word) is None:
            raise SuiteQLError(f"Expected {word} but found {self.peek()[1] or 'the end of the query'!r}")

    def punct(self, char: str) -> bool:
        if self.peek() in (("punct", char), ("op", char)):
            self.pos += 1
            return True
        return False

    def expect_punct(self, char: str) -> None:
        if not self.punct(char):
            raise SuiteQLError(f"Expected {char!r} but found {self.peek()[1] or 'the end of the query'!r}")

    def name(self) -> str:
        kind, value = self.peek()
        if kind != "name" or value.upper() in _KEYWORDS:
            raise SuiteQLError(f"Expected a name but found {value or 'the end of the query'!r}")
        self.pos += 1
        return value.lower()

    def query(self) -> Query:
        self.expect_keyword("SELECT")
        select_start = self.pos
        while self.peek() != ("end", "") and self.peek()[1].upper() != "FROM":
            self.pos += 1
        self.expect_keyword("FROM")
        table = self.name()
        self.qualifiers = {table}
        if self.peek()[0] == "name" and self.peek()[1].upper() not in _KEYWORDS:
            alias = self.name()
            if "." in alias or "." in table:
                raise SuiteQLError(f"Invalid table reference '{table} {alias}'")
            self.qualifiers.add(alias)
        rest = self.pos
        self.pos = select_start
        columns = self.columns()
        self.pos = rest
        where = self.condition() if self.keyword("WHERE") else None
        order: list[tuple[str, bool]] = []
        if self.keyword("ORDER"):
            self.expect_keyword("BY")
            order.append(self.order_item())
            while self.punct(","):
                order.append(self.order_item())
        if self.peek() != ("end", ""):
            raise SuiteQLError(f"Unexpected {self.peek()[1]!r} after the query")
        return Query(table, columns, where, tuple(order))

    def columns(self) -> tuple[Column, ...] | None:
        if self.punct("*"):
            self.expect_keyword("FROM")
            return None
        columns: list[Column] = []
        unnamed = 0
        while True:
            source, fmt = self.to_char() if self.keyword("TO_CHAR") else (self.column(), None)
            if self.keyword("AS"):
                output = self.name()
            elif fmt is None:
                output = source
            else:
                unnamed += 1
                output = f"expr{unnamed}"
            columns.append(Column(source, output, fmt))
            if not self.punct(","):
                break
        self.expect_keyword("FROM")
        return tuple(columns)

    def to_char(self) -> tuple[str, str]:
        self.expect_punct("(")
        source = self.column()
        self.expect_punct(",")
        kind, fmt = self.peek()
        if kind != "string":
            raise SuiteQLError("TO_CHAR takes a column and a format string")
        self.pos += 1
        self.expect_punct(")")
        fmt = fmt[1:-1].replace("''", "'")
        try:
            strftime_pattern(fmt)
        except DateFormatError as error:
            raise SuiteQLError(str(error)) from None
        return source, fmt

    def column(self) -> str:
        qualifier, dot, column = self.name().rpartition(".")
        if dot and qualifier not in self.qualifiers:
            raise SuiteQLError(f"Unknown table or alias '{qualifier}'")
        return column

    def order_item(self) -> tuple[str, bool]:
        column = self.column()
        return column, self.keyword("ASC", "DESC") == "DESC"

    def condition(self) -> Condition:
        items = [self.conjunction()]
        while self.keyword("OR"):
            items.append(self.conjunction())
        return items[0] if len(items) == 1 else BoolOp("or", tuple(items))

    def conjunction(self) -> Condition:
        items = [self.negation()]
        while self.keyword("AND"):
            items.append(self.negation())
        return items[0] if len(items) == 1 else BoolOp("and", tuple(items))

    def negation(self) -> Condition:
        if self.keyword("NOT"):
            return Not(self.negation())
        if self.punct("("):
            inner = self.condition()
            self.expect_punct(")")
            return inner
        return self.predicate(self.column())

    def predicate(self, column: str) -> Condition:
        kind, value = self.peek()
        if kind == "op":
            self.pos += 1
            return Compare(column, "<>" if value == "!=" else value, self.literal())
        if self.keyword("IS"):
            negated = self.keyword("NOT") is not None
            self.expect_keyword("NULL")
            return IsNull(column, negated)
        negated = self.keyword("NOT") is not None
        if self.keyword("IN"):
            self.expect_punct("(")
            values = [self.literal()]
            while self.punct(","):
                values.append(self.literal())
            self.expect_punct(")")
            return InList(column, tuple(values), negated)
        if self.keyword("BETWEEN"):
            low = self.literal()
            self.expect_keyword("AND")
            between = BoolOp("and", (Compare(column, ">=", low), Compare(column, "<=", self.literal())))
            return Not(between) if negated else between
        raise SuiteQLError(f"Expected a comparison after '{column}' but found {value or 'the end'!r}")

    def literal(self) -> Any:
        kind, value = self.peek()
        self.pos += 1
        if kind == "string":
            return value[1:-1].replace("''", "'")
        if kind == "number":
            return float(value) if "." in value else int(value)
        if kind == "name" and value.upper() in ("TO_TIMESTAMP", "TO_DATE"):
            self.expect_punct("(")
            text = self.literal()
            fmt = self.literal() if self.punct(",") else None
            self.expect_punct(")")
            if not isinstance(text, str) or not (fmt is None or isinstance(fmt, str)):
                raise SuiteQLError(f"{value.upper()} takes string arguments")
            return parse_datetime(text, fmt)
        raise SuiteQLError(f"Expected a literal value but found {value or 'the end of the query'!r}")
