"""Values placed in URL paths: each one checked against the shape its system gives such values, or
percent-encoded whole, so that it stays one segment naming the resource it was meant to name.

A key used as a path segment can otherwise change the request: HTTP clients resolve `.` and `..`
segments before sending (httpx sends `POST /v1/customers/.` as `POST /v1/customers`, a create), and
`/`, `?` or `#` start another segment, the query or a fragment. So `.`, `..`, empty values and control
characters are refused outright (servers decode `%2E` back into a dot, so encoding is no escape), values
of a documented id form must match it, and anything else is percent-encoded, `/`, `?`, `#` and `%`
included.

A record's value that fails is a :class:`PathSegmentError`, a :class:`RecordError`: that record goes to
the dead-letter queue and the rest are sent. A name from configuration (object, table, record type)
that fails is a :class:`ConfigError`: the task stops before any request.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from urllib.parse import quote

from airflow_provider_integrations.core.errors import ConfigError, RecordError

INVALID_PATH_SEGMENT = "INVALID_PATH_SEGMENT"
"""The code of every refused path value, as dead letters carry it."""


class PathSegmentError(RecordError):
    """A record's value cannot go into a URL path: sent, it would name another resource, or none.

    `field` names where the value came from; the message says what is wrong with its shape."""

    def __init__(
        self, field: str, problem: str, *, system: str | None = None, record_key: str | None = None
    ) -> None:
        super().__init__(
            f"{field} {problem}; not sent", record_key=record_key, system=system, code=INVALID_PATH_SEGMENT
        )
        self.field = field


@dataclass(frozen=True)
class SegmentShape:
    """What one kind of value placed in a path looks like in one system.

    `pattern` (matched whole) is the system's documented id form; without one the value is free text,
    percent-encoded. `refused` lists characters the system misreads even when encoded. `example` shows
    a good value in error messages."""

    name: str
    pattern: str | None = None
    example: str = ""
    refused: str = ""
    _compiled: re.Pattern[str] | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        if self.pattern is not None:
            object.__setattr__(self, "_compiled", re.compile(self.pattern))

    def problem(self, value: object) -> str | None:
        """What is wrong with `value` in a path, or None when it may go there."""
        if value is None:
            return "is missing"
        if isinstance(value, bool) or not isinstance(value, str | int):
            return f"is a {type(value).__name__}, not text"
        text = str(value)
        shown = repr(text) if len(text) <= 40 else repr(text[:40]) + "..."
        if not text:
            return "is empty"
        if text in (".", ".."):
            return f"{shown} is a dot segment, which names the parent resource in a URL path"
        if any(unicodedata.category(char) == "Cc" for char in text):
            return f"{shown} contains a control character (a line break, tab or NUL)"
        refused = sorted({char for char in text if char in self.refused})
        if refused:
            return f"{shown} contains {', '.join(map(repr, refused))}, which a {self.name} cannot hold"
        if self._compiled is not None and not self._compiled.fullmatch(text):
            like = f" such as {self.example}" if self.example else ""
            return f"{shown} is not a {self.name}{like}"
        return None


FREE_TEXT = SegmentShape("text value")


def segment(
    value: object,
    field: str,
    shape: SegmentShape = FREE_TEXT,
    *,
    system: str | None = None,
    record_key: str | None = None,
) -> str:
    """A record's `value` as one percent-encoded URL path segment.

    Raises :class:`PathSegmentError` (the record is dead-lettered) naming `field` and what is wrong."""
    problem = shape.problem(value)
    if problem is not None:
        raise PathSegmentError(field, problem, system=system, record_key=record_key)
    return quote(str(value), safe="")


def name_segment(value: object, what: str, shape: SegmentShape, *, system: str | None = None) -> str:
    """A configured name (object, table, record type, API version) as one URL path segment.

    Raises :class:`ConfigError` naming `what` and what is wrong: no request can be right with it."""
    problem = shape.problem(value)
    if problem is not None:
        raise ConfigError(f"{what} {problem}", system=system)
    return quote(str(value), safe="")


# The id and name forms the five systems document. Ids a system generates have a fixed form and are
# matched; external ids are the customer's own free text and are only encoded.

SALESFORCE_ID = SegmentShape(
    "Salesforce record id (15 letters or digits, or 18 with a 3-character case suffix)",
    r"[A-Za-z0-9]{15}(?:[A-Z0-5]{3})?",
    "001xx000003DGb2AAG",
)
SALESFORCE_NAME = SegmentShape(
    "Salesforce object or field name",
    r"[A-Za-z][A-Za-z0-9_]*",
    "Account or External_Id__c",
)
SALESFORCE_EXTERNAL_ID = SegmentShape("Salesforce external id value")
SALESFORCE_API_VERSION = SegmentShape("Salesforce API version", r"\d{2,3}\.0", "59.0")


def stripe_id(prefix: str) -> SegmentShape:
    """Ids Stripe generates: a type prefix (`cus`, `ch`, `in`, `sub`...), `_` and letters or digits."""
    return SegmentShape(f"Stripe {prefix}_ id", rf"{prefix}_[A-Za-z0-9]+", f"{prefix}_NffrFeUfNV2Hib")


STRIPE_RESOURCE = SegmentShape("Stripe resource name", r"[a-z][a-z_]*", "customers")

NETSUITE_ACCOUNT = SegmentShape("NetSuite account id", r"[A-Za-z0-9]+(?:_[A-Za-z0-9]+)?", "1234567_SB1")
"""Also the first label of the account's host name (`1234567-sb1.suitetalk.api.netsuite.com`)."""
NETSUITE_RECORD_TYPE = SegmentShape("NetSuite record type", r"[A-Za-z_][A-Za-z0-9_]*", "customer")
NETSUITE_EXTERNAL_ID = SegmentShape("NetSuite external id", refused="|")
"""NetSuite's REST web services read `|` in an external id as a multi-select delimiter."""

SERVICENOW_TABLE = SegmentShape("ServiceNow table name", r"[a-z_][a-z0-9_]{0,79}", "incident")

WORKDAY_ID = SegmentShape(
    "Workday ID (32 hexadecimal digits)", r"[0-9a-fA-F]{32}", "3aa5550b7fe348b98d7b5741afc65534"
)
WORKDAY_NAME = SegmentShape(
    "Workday tenant or API path name", r"[A-Za-z0-9][A-Za-z0-9_.\-]*", "staffing or v6"
)
