"""Scrubbing secrets from dead-letter entries before they are stored.

Three nets, each for a way a secret reaches an entry:

- by name: a payload field whose name is sensitive (the names Airflow's secrets masker hides, plus
  `pwd`, `cookie`, `credential`, `session_id`, `ssn`), in mappings and in `[name, value]` pairs such as
  header lists;
- in free text: JSON inside a message or string (an echoed response body) is redacted as data, then
  `password=...`, `"token": "..."`, `Authorization: Bearer ...`, `Cookie: ...` and the password in
  `scheme://user:password@host`;
- by value: every known secret (a connection's password and secret extras, registered when a hook reads
  the connection) wherever it appears, raw, URL-encoded or JSON-escaped.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, quote_plus

if TYPE_CHECKING:
    from airflow_provider_integrations.core.dlq.entry import DLQEntry

REDACTED = "***REDACTED***"
AIRFLOW_SENSITIVE_FIELDS = frozenset(
    {
        "access_key",
        "access_token",
        "api_key",
        "apikey",
        "auth_header",
        "authorization",
        "bearer",
        "connection_string",
        "dsn",
        "passphrase",
        "passwd",
        "password",
        "private_key",
        "proxy",
        "proxy_password",
        "proxies",
        "secret",
        "service_account",
        "service_key",
        "token",
        "keyfile_dict",
        "webhook_url",
    }
)
"""The names Airflow's secrets masker hides in logs (`DEFAULT_SENSITIVE_FIELDS`), kept equal by a test."""
DEFAULT_SECRET_FIELDS = AIRFLOW_SENSITIVE_FIELDS | {
    "pwd",
    "cookie",
    "credential",
    "session_id",
    "sessionid",
    "ssn",
}
MIN_SECRET_LENGTH = 5
"""As in Airflow's masker: a shorter value would blank out ordinary words wherever they appear."""

_registered: set[str] = set()
_registered_lock = threading.Lock()


def register_secret(value: str) -> None:
    """Redact `value` from every entry this process stores from now on (a connection's known secrets)."""
    if isinstance(value, str) and len(value) >= MIN_SECRET_LENGTH:
        with _registered_lock:
            _registered.add(value)


def registered_secrets() -> frozenset[str]:
    with _registered_lock:
        return frozenset(_registered)


def _normal(name: str) -> str:
    return re.sub(r"[\W_]+", "_", name.strip().lower())


def is_sensitive_name(name: str, fields: Iterable[str] = DEFAULT_SECRET_FIELDS) -> bool:
    """A name holding one of `fields`, ignoring case and `-`/`_`/spaces: `X-Api-Key`, `client_secret`."""
    normal = _normal(name)
    squashed = normal.replace("_", "")
    return any(f in normal or f.replace("_", "") in squashed for f in fields)


def _adaptations(secret: str) -> set[str]:
    """The forms a secret takes in text: raw, URL-encoded, JSON-escaped."""
    return {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]}


_JSON_START = re.compile(r"[{\[]")
_DECODER = json.JSONDecoder()
MAX_JSON_TRIES = 64
"""Where text holds many brackets that open no JSON, stop looking: the other nets still apply."""
_NAME = r"[A-Za-z0-9_.\-]*"
_QUOTED = r"\"(?:[^\"\\]|\\.)*\"|'[^']*'"
_HEADER_SECRETS = re.compile(
    r"(?im)\b((?:proxy-)?authorization\s*[:=]\s*(?:(?:bearer|basic|digest|token|oauth|negotiate)\s+)?)"
    r"(?!\*\*\*)([^\s,;\"')]+)"
)
_COOKIES = re.compile(r"(?im)\b((?:set-)?cookie\s*:\s*)(?!\*\*\*)[^\r\n]+")
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://[^\s:/@]+:)([^\s@/]+)(@)")


def _assignments(fields: Iterable[str]) -> re.Pattern[str]:
    """`name=value`, `name: value`, `"name": "value"` where the name holds a sensitive word."""
    words = sorted({w for f in fields for w in (f, f.replace("_", ""))}, key=len, reverse=True)
    alternatives = "|".join(re.escape(w).replace("_", "[_\\-]?") for w in words)
    return re.compile(
        rf"(?i)([\"']?\b{_NAME}(?:{alternatives}){_NAME}[\"']?\s*[:=]\s*)"
        rf"(?!(?:\w+\s+)?\*\*\*)({_QUOTED}|[^\s,;&\"'}}\])]+)"
    )


@dataclass(frozen=True)
class Redactor:
    """Scrubs secrets from entries before they are stored (see the module's docstring for the three nets).

    `fields` are the sensitive names, `values` secrets known to this redactor; secrets registered with
    :func:`register_secret` in this process are redacted too.
    """

    fields: frozenset[str] = DEFAULT_SECRET_FIELDS
    values: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def with_values(cls, values: Iterable[str], fields: Iterable[str] = DEFAULT_SECRET_FIELDS) -> Redactor:
        return cls(frozenset(f.lower() for f in fields), frozenset(v for v in values if v))

    def entry(self, entry: DLQEntry) -> DLQEntry:
        scrub = _Scrub(self)
        payload = scrub.value(dict(entry.payload)) if entry.payload is not None else None
        return replace(entry, payload=payload, message=scrub.text(entry.message))

    def text(self, text: str) -> str:
        return _Scrub(self).text(text)


class _Scrub:
    """One redactor's nets, compiled once for one entry."""

    def __init__(self, redactor: Redactor) -> None:
        self.fields = redactor.fields
        known = {v for v in redactor.values | registered_secrets() if len(v) >= MIN_SECRET_LENGTH}
        forms = sorted({form for v in known for form in _adaptations(v)}, key=len, reverse=True)
        self.known = re.compile("|".join(re.escape(f) for f in forms)) if forms else None
        self.assignments = _assignments(self.fields)

    def text(self, text: str) -> str:
        text = self._embedded_json(text)
        if self.known is not None:
            text = self.known.sub(REDACTED, text)
        text = _HEADER_SECRETS.sub(lambda m: m.group(1) + REDACTED, text)
        text = _COOKIES.sub(lambda m: m.group(1) + REDACTED, text)
        text = _URL_PASSWORD.sub(lambda m: m.group(1) + REDACTED + m.group(3), text)
        return self.assignments.sub(lambda m: m.group(1) + _kept_quotes(m.group(2)), text)

    def _embedded_json(self, text: str) -> str:
        """Objects and arrays written into text, redacted as data; the rest of the text is kept."""
        out, start, tries = [], 0, 0
        for found in _JSON_START.finditer(text):
            if found.start() < start or tries == MAX_JSON_TRIES:
                continue
            tries += 1
            try:
                data, end = _DECODER.raw_decode(text, found.start())
            except ValueError:
                continue
            clean = self.value(data)
            if clean != data:
                out += [text[start : found.start()], json.dumps(clean, ensure_ascii=False)]
                start = end
        return "".join([*out, text[start:]]) if out else text

    def value(self, value: Any) -> Any:
        if isinstance(value, Mapping):
            return {
                k: REDACTED if is_sensitive_name(str(k), self.fields) else self.value(v)
                for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            if len(value) == 2 and isinstance(value[0], str) and is_sensitive_name(value[0], self.fields):
                return [value[0], REDACTED]
            return [self.value(v) for v in value]
        if isinstance(value, str):
            return self.text(value)
        return value


def _kept_quotes(value: str) -> str:
    """REDACTED in the quotes the value had, so JSON-looking text stays readable."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return f"{value[0]}{REDACTED}{value[0]}"
    return REDACTED
