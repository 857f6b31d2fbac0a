"""A SOQL subset: SELECT fields | COUNT() FROM object [WHERE ...] [ORDER BY ...] [LIMIT n] [OFFSET n].

Fields may be relationship paths (`Owner.Name`, `Account.Owner.Email`); dates and datetimes may be compared
with date literals (`TODAY`, `LAST_N_DAYS:7`, see salesforce_dates).

WHERE takes =, !=, <>, <, <=, >, >=, IN, NOT IN, LIKE, AND, OR, NOT and parentheses, with literals typed
as Salesforce types them: strings quoted, datetimes (`2025-01-01T00:00:00Z`) and dates unquoted, numbers,
true/false/null. A literal of the wrong type for its field is an error, as it is on Salesforce (a quoted
datetime is the classic mistake). Errors carry Salesforce's error codes (MALFORMED_QUERY, INVALID_FIELD,
INVALID_TYPE).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from integrations_sandbox.emulator.systems.salesforce_dates import date_literal
from integrations_sandbox.emulator.systems.salesforce_describe import is_filterable
from integrations_sandbox.emulator.systems.salesforce_schema import (
    NUMBER_TYPES,
    TEXT_TYPES,
    SObject,
    find_object,
    resolve_path,
    to_id18,
    truncate_ms,
)


class IdValue(str):
    """An id literal: compared case-sensitively, in the order ids sort."""

    __slots__ = ()


class SoqlError(Exception):
    """A query Salesforce would refuse: `code` is its errorCode."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


_TOKEN = re.compile(
    r"""\s*(?:
      (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:?\d{2}))
     |(?P<date>\d{4}-\d{2}-\d{2})(?![\w:])
     |(?P<number>-?\d+(?:\.\d+)?)(?![\w])
     |(?P<string>'(?:[^'\\]|\\.)*')
     |(?P<op><=|>=|!=|<>|=|<|>|\(|\)|,)
     |(?P<name>[A-Za-z_][A-Za-z0-9_.]*(?::\d+)?)
    )""",
    re.X,
)
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", "'": "'", '"': '"', "\\": "\\"}


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    pos: int

    def is_word(self, *words: str) -> bool:
        return self.kind == "name" and self.text.upper() in words


def tokenize(text: str) -> list[Token]:
    tokens, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            bad = text[pos:].strip().split(" ", 1)[0]
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{bad}'")
        kind = match.lastgroup
        assert kind is not None
        tokens.append(Token(kind, match.group(kind), match.start(kind)))
        pos = match.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


# Conditions, bound to an object's fields with literals already converted to Python values.
@dataclass(frozen=True)
class Compare:
    field: str
    op: str  # = != < <= > >=
    value: Any


@dataclass(frozen=True)
class InList:
    field: str
    values: tuple[Any, ...]
    negated: bool


@dataclass(frozen=True)
class Like:
    field: str
    pattern: re.Pattern[str]
    negated: bool


@dataclass(frozen=True)
class BoolOp:
    op: str  # AND | OR
    parts: tuple[Cond, ...]


@dataclass(frozen=True)
class Not:
    part: Cond


Cond = Compare | InList | Like | BoolOp | Not


@dataclass(frozen=True)
class DateRange:
    """A date literal's [start, end) range; a comparison with it becomes comparisons with its ends."""

    start: datetime
    end: datetime
    as_date: bool

    def condition(self, name: str, op: str) -> Cond:
        lo: Any = self.start.date() if self.as_date else self.start
        hi: Any = self.end.date() if self.as_date else self.end
        if op == "=":
            return BoolOp("AND", (Compare(name, ">=", lo), Compare(name, "<", hi)))
        if op == "!=":
            return BoolOp("OR", (Compare(name, "<", lo), Compare(name, ">=", hi)))
        return {"<": Compare(name, "<", lo), "<=": Compare(name, "<", hi), ">": Compare(name, ">=", hi),
                ">=": Compare(name, ">=", lo)}[op]  # fmt: skip


@dataclass(frozen=True)
class OrderItem:
    field: str
    desc: bool
    nulls_last: bool


@dataclass(frozen=True)
class Query:
    """A parsed, checked query."""

    text: str
    obj: SObject
    fields: tuple[str, ...]
    where: Cond | None
    order: tuple[OrderItem, ...]
    limit: int | None
    offset: int
    count: str | None = None  # "" for COUNT(), the field for COUNT(field)
    count_alias: str = "expr0"


FIELD_SETS = {"ALL", "STANDARD", "CUSTOM"}


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.at = 0
        self.obj: SObject | None = None

    def peek(self) -> Token:
        return self.tokens[self.at]

    def take(self) -> Token:
        token = self.tokens[self.at]
        self.at += 1
        return token

    def expect_word(self, word: str) -> None:
        token = self.take()
        if not token.is_word(word):
            raise self.unexpected(token)

    def expect_op(self, op: str) -> None:
        token = self.take()
        if token.kind != "op" or token.text != op:
            raise self.unexpected(token)

    def unexpected(self, token: Token) -> SoqlError:
        if token.kind == "end":
            return SoqlError("MALFORMED_QUERY", "unexpected token: <EOF>")
        return SoqlError("MALFORMED_QUERY", self.located(token, f"unexpected token: '{token.text}'"))

    def located(self, token: Token, message: str) -> str:
        return f"\n{self.text}\n{' ' * token.pos}^\nERROR at Row:1:Column:{token.pos + 1}\n{message}"

    def parse(self) -> Query:
        self.expect_word("SELECT")
        items = self.select_items()
        self.expect_word("FROM")
        name = self.take()
        if name.kind != "name":
            raise self.unexpected(name)
        obj = find_object(name.text)
        if obj is None:
            raise SoqlError(
                "INVALID_TYPE",
                self.located(
                    name,
                    f"sObject type '{name.text}' is not supported. If you are attempting to use a custom "
                    "object, be sure to append the '__c' after the entity name. Please reference your WSDL "
                    "or the describe call for the appropriate names.",
                ),
            )
        self.obj = obj
        fields, count, alias = self.bind_select(items)
        where = self.condition() if self.accept_word("WHERE") else None
        order = self.order_by() if self.accept_word("ORDER") else ()
        limit = self.integer() if self.accept_word("LIMIT") else None
        offset = self.integer() if self.accept_word("OFFSET") else 0
        unbounded = any(text.upper() in ("FIELDS(ALL)", "FIELDS(CUSTOM)") for text, _ in items)
        if unbounded and (limit is None or limit > 200):
            raise SoqlError("MALFORMED_QUERY", "The SOQL FIELDS function must have a LIMIT of at most 200")
        if offset > 2000:
            raise SoqlError("NUMBER_OUTSIDE_VALID_RANGE", "Maximum SOQL offset allowed is 2000")
        end = self.take()
        if end.kind != "end":
            raise self.unexpected(end)
        return Query(self.text, obj, fields, where, order, limit, offset, count, alias)

    def accept_word(self, word: str) -> bool:
        if self.peek().is_word(word):
            self.at += 1
            return True
        return False

    def integer(self) -> int:
        token = self.take()
        if token.kind != "number" or not token.text.isdigit():
            raise self.unexpected(token)
        return int(token.text)

    def select_items(self) -> list[tuple[str, Token]]:
        items: list[tuple[str, Token]] = []
        while True:
            token = self.take()
            if token.kind != "name":
                raise self.unexpected(token)
            upper = token.text.upper()
            if upper in ("COUNT", "FIELDS") and self.peek().text == "(":
                self.take()
                inner = self.take()
                if inner.kind == "name":
                    self.expect_op(")")
                elif inner.text != ")":
                    raise self.unexpected(inner)
                argument = inner.text if inner.kind == "name" else ""
                items.append((f"{upper}({argument})", token))
                if upper == "COUNT" and self.peek().kind == "name" and not self.peek().is_word("FROM"):
                    items.append((f"AS {self.take().text}", token))
            else:
                items.append((token.text, token))
            if self.peek().text != ",":
                return items
            self.take()

    def bind_select(self, items: list[tuple[str, Token]]) -> tuple[tuple[str, ...], str | None, str]:
        assert self.obj is not None
        if items[0][0].startswith("COUNT("):
            argument = items[0][0][6:-1]
            alias = items[1][0][3:] if len(items) > 1 and items[1][0].startswith("AS ") else "expr0"
            if len(items) > (2 if alias != "expr0" else 1):
                raise SoqlError("MALFORMED_QUERY", "COUNT() must be the only element in the SELECT list.")
            return (), (self.field_name(argument, items[0][1]) if argument else ""), alias
        fields: list[str] = []
        for text, token in items:
            names = self.expand(text, token) if text.startswith("FIELDS(") else [self.field_name(text, token)]
            for name in names:
                if name in fields:
                    raise SoqlError("MALFORMED_QUERY", f"duplicate field selected: {name}")
                fields.append(name)
        return tuple(fields), None, "expr0"

    def expand(self, text: str, token: Token) -> list[str]:
        assert self.obj is not None
        which = text[7:-1].upper()
        if which not in FIELD_SETS:
            raise self.unexpected(token)
        return [f.name for f in self.obj.fields if which == "ALL" or f.custom == (which == "CUSTOM")]

    def field_name(self, text: str, token: Token) -> str:
        assert self.obj is not None
        bare = text
        if "." in text:
            head, _, bare = text.partition(".")
            if head.lower() != self.obj.name.lower():
                bare = text
        resolved = resolve_path(self.obj, bare)
        if resolved is None:
            raise SoqlError(
                "INVALID_FIELD",
                self.located(
                    token,
                    f"No such column '{text}' on entity '{self.obj.name}'. If you are attempting to use a "
                    "custom field, be sure to append the '__c' after the custom field name. Please "
                    "reference your WSDL or the describe call for the appropriate names.",
                ),
            )
        return resolved[0]

    def order_by(self) -> tuple[OrderItem, ...]:
        self.expect_word("BY")
        items = []
        while True:
            token = self.take()
            if token.kind != "name":
                raise self.unexpected(token)
            name = self.field_name(token.text, token)
            desc = self.accept_word("DESC")
            if not desc:
                self.accept_word("ASC")
            nulls_last = desc
            if self.accept_word("NULLS"):
                word = self.take()
                if not word.is_word("FIRST", "LAST"):
                    raise self.unexpected(word)
                nulls_last = word.is_word("LAST")
            items.append(OrderItem(name, desc, nulls_last))
            if self.peek().text != ",":
                return tuple(items)
            self.take()

    def condition(self) -> Cond:
        parts = [self.negation()]
        joiner: str | None = None
        while self.peek().is_word("AND", "OR"):
            word = self.take().text.upper()
            if joiner is not None and word != joiner:
                raise SoqlError(
                    "MALFORMED_QUERY", f"unexpected token: '{word}' (use parentheses to mix AND and OR)"
                )
            joiner = word
            parts.append(self.negation())
        return parts[0] if joiner is None else BoolOp(joiner, tuple(parts))

    def negation(self) -> Cond:
        if self.accept_word("NOT"):
            return Not(self.negation())
        if self.peek().text == "(":
            self.take()
            inner = self.condition()
            self.expect_op(")")
            return inner
        return self.comparison()

    def comparison(self) -> Cond:
        token = self.take()
        if token.kind != "name":
            raise self.unexpected(token)
        name = self.field_name(token.text, token)
        spec = self.obj.field(name) if self.obj is not None else None
        if spec is not None and not is_filterable(spec):
            raise SoqlError(
                "INVALID_FIELD", self.located(token, f"field '{name}' can not be filtered in a query call")
            )
        negated = self.accept_word("NOT")
        if self.accept_word("IN"):
            self.expect_op("(")
            values = [self.literal(name)]
            while self.peek().text == ",":
                self.take()
                values.append(self.literal(name))
            self.expect_op(")")
            ranges = [v for v in values if isinstance(v, DateRange)]
            if ranges:
                if len(ranges) != len(values):
                    raise SoqlError("MALFORMED_QUERY", "IN cannot mix date literals and dates")
                either: Cond = BoolOp("OR", tuple(r.condition(name, "=") for r in ranges))
                return Not(either) if negated else either
            return InList(name, tuple(values), negated)
        if self.accept_word("LIKE"):
            pattern = self.take()
            if pattern.kind != "string":
                raise self.unexpected(pattern)
            return Like(name, like_pattern(unquote(pattern.text)), negated)
        if negated:
            raise self.unexpected(self.peek())
        op = self.take()
        if op.kind != "op" or op.text in ("(", ")", ","):
            raise self.unexpected(op)
        value = self.literal(name)
        symbol = "!=" if op.text == "<>" else op.text
        if isinstance(value, DateRange):
            return value.condition(name, symbol)
        if value is None and symbol not in ("=", "!="):
            raise SoqlError("MALFORMED_QUERY", f"invalid operator on null: {name} {op.text} null")
        return Compare(name, symbol, value)

    def literal(self, name: str) -> Any:
        assert self.obj is not None
        token = self.take()
        field = self.obj.field(name)
        assert field is not None
        if token.kind in ("end", "op"):
            raise self.unexpected(token)
        if token.is_word("NULL"):
            return None
        kind = field.type
        if kind in ("date", "datetime") and token.kind == "name":
            try:
                found = date_literal(token.text)
            except ValueError as error:
                raise SoqlError("MALFORMED_QUERY", self.located(token, str(error))) from None
            if found is None:
                raise self.type_error(token, name, "date" if kind == "date" else "dateTime")
            return DateRange(*found, as_date=kind == "date")
        if kind == "boolean":
            if not token.is_word("TRUE", "FALSE"):
                raise self.type_error(token, name, "boolean")
            return token.text.upper() == "TRUE"
        if kind in NUMBER_TYPES:
            if token.kind != "number":
                raise self.type_error(token, name, "number")
            return float(token.text)
        if kind == "datetime":
            if token.kind != "datetime":
                raise self.type_error(token, name, "dateTime")
            return parse_datetime(token.text)
        if kind == "date":
            if token.kind != "date":
                raise self.type_error(token, name, "date")
            return date.fromisoformat(token.text)
        if token.kind != "string":
            raise self.type_error(token, name, "string", quoted=True)
        value = unquote(token.text)
        if kind in ("id", "reference"):
            if len(value) not in (15, 18) or not value.isalnum():
                raise SoqlError("INVALID_QUERY_FILTER_OPERATOR", f"invalid ID field: {value}")
            return IdValue(to_id18(value))
        assert kind in TEXT_TYPES
        return value

    def type_error(self, token: Token, name: str, kind: str, quoted: bool = False) -> SoqlError:
        hint = "must be enclosed in quotes" if quoted else "should not be enclosed in quotes"
        return SoqlError(
            "INVALID_FIELD",
            self.located(
                token, f"value of filter criterion for field '{name}' must be of type {kind} and {hint}"
            ),
        )


def unquote(text: str) -> str:
    body = text[1:-1]
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), "\\" + m.group(1)), body)


def like_pattern(pattern: str) -> re.Pattern[str]:
    parts = []
    for char in pattern:
        parts.append(".*" if char == "%" else "." if char == "_" else re.escape(char))
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


def parse_datetime(text: str) -> datetime:
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    elif re.search(r"[+-]\d{4}$", text):
        text = f"{text[:-2]}:{text[-2:]}"
    parsed = datetime.fromisoformat(text)
    return truncate_ms(parsed.astimezone(UTC))


def parse(text: str) -> Query:
    """Parse and check a SOQL query; raises SoqlError with Salesforce's error code."""
    if not text or not text.strip():
        raise SoqlError("MALFORMED_QUERY", "A query string has to be specified")
    return _Parser(text.strip()).parse()


Getter = Callable[[str], Any]


def matches(cond: Cond, get: Getter) -> bool:
    """Whether a record (its values read through `get`) satisfies `cond`."""
    if isinstance(cond, Compare):
        return compare(get(cond.field), cond.op, cond.value)
    if isinstance(cond, InList):
        value = get(cond.field)
        found = any(compare(value, "=", v) for v in cond.values)
        return found != cond.negated
    if isinstance(cond, Like):
        value = get(cond.field)
        hit = isinstance(value, str) and cond.pattern.fullmatch(value) is not None
        return hit != cond.negated
    if isinstance(cond, BoolOp):
        if cond.op == "AND":
            return all(matches(p, get) for p in cond.parts)
        return any(matches(p, get) for p in cond.parts)
    return not matches(cond.part, get)


def compare(value: Any, op: str, literal: Any) -> bool:
    if literal is None or value is None:
        same = value is None and literal is None
        return same if op == "=" else (not same if op == "!=" else False)
    if isinstance(literal, IdValue):
        if not isinstance(value, str):
            return op == "!="
    elif isinstance(value, str) and isinstance(literal, str):
        value, literal = value.casefold(), literal.casefold()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        if not isinstance(literal, float):
            return op == "!="
    elif type(value) is not type(literal):
        return op == "!="
    try:
        if op == "=":
            return bool(value == literal)
        if op == "!=":
            return bool(value != literal)
        if op == "<":
            return bool(value < literal)
        if op == "<=":
            return bool(value <= literal)
        if op == ">":
            return bool(value > literal)
        return bool(value >= literal)
    except TypeError:
        return False


def referenced_fields(cond: Cond | None) -> set[str]:
    if cond is None:
        return set()
    if isinstance(cond, BoolOp):
        return set().union(*(referenced_fields(p) for p in cond.parts))
    if isinstance(cond, Not):
        return referenced_fields(cond.part)
    return {cond.field}
