"""Salesforce plumbing shared by reads and writes: settings, OAuth grants, errors, SOQL, the budget guard."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from airflow_provider_integrations.connectors.base import WriteOutcome, WriteResult
from airflow_provider_integrations.core.auth import OAuth2Token, TokenPoster
from airflow_provider_integrations.core.errors import (
    AuthError,
    ConfigError,
    IntegrationError,
    PermanentError,
    RateLimitedError,
    TransientError,
)
from airflow_provider_integrations.core.http import (
    HttpClient,
    HttpSettings,
    error_for_status,
    parse_retry_after,
    reads_json_errors,
)
from airflow_provider_integrations.core.url_paths import SALESFORCE_API_VERSION, name_segment

SYSTEM = "salesforce"
_LIMIT_INFO = re.compile(r"api-usage=(\d+)/(\d+)")
TRANSIENT_CODES = frozenset(
    {
        "UNABLE_TO_LOCK_ROW",
        "QUERY_TIMEOUT",
        "SERVER_UNAVAILABLE",
        "REQUEST_RUNNING_TOO_LONG",
        "API_DISABLED_FOR_ORG_TEMPORARILY",
    }
)


@dataclass(frozen=True)
class SalesforceSettings:
    """How to reach and authenticate to one Salesforce org.

    `auth` is "password" (username, password + security token), "refresh_token" or "jwt" (connected app
    certificate: `private_key` PEM, `username`). `budget_share` stops a task before that share of the
    org's daily API requests is used; reads above `bulk_threshold` records use Bulk API 2.0.
    """

    client_id: str
    login_url: str = field(default="https://login.salesforce.com", kw_only=True)
    client_secret: str | None = field(default=None, repr=False)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    security_token: str = field(default="", repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    private_key: str | None = field(default=None, repr=False)
    auth: str = "password"
    api_version: str = "59.0"
    budget_share: float = 0.9
    bulk_threshold: int = 50_000
    ca_bundle: str | None = None

    def __post_init__(self) -> None:
        needs = {
            "password": ("client_id", "username", "password"),
            "refresh_token": ("client_id", "refresh_token"),
            "jwt": ("client_id", "username", "private_key"),
        }
        if self.auth not in needs:
            raise ConfigError(f"salesforce auth must be one of {sorted(needs)}, got {self.auth!r}")
        missing = [name for name in needs[self.auth] if not getattr(self, name)]
        if missing:
            raise ConfigError(f"salesforce {self.auth} auth needs {', '.join(missing)} in the connection")
        name_segment(self.api_version, "salesforce api_version", SALESFORCE_API_VERSION, system=SYSTEM)
        if not 0 < self.budget_share <= 1:
            raise ConfigError(f"budget_share must be in (0, 1], got {self.budget_share}")

    def grant(self) -> dict[str, str]:
        """Form fields of the configured OAuth grant."""
        if self.auth == "jwt":
            import jwt

            claims = {
                "iss": self.client_id,
                "sub": self.username,
                "aud": self.login_url,
                "exp": int(time.time()) + 180,
            }
            assertion = jwt.encode(claims, self.private_key or "", algorithm="RS256")
            return {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion}
        base = {"client_id": self.client_id, "client_secret": self.client_secret or ""}
        if self.auth == "refresh_token":
            return {**base, "grant_type": "refresh_token", "refresh_token": self.refresh_token or ""}
        password = f"{self.password}{self.security_token}"
        return {**base, "grant_type": "password", "username": self.username or "", "password": password}


@reads_json_errors(SYSTEM)
def salesforce_error(response: httpx.Response, body: Any) -> IntegrationError | None:
    """Salesforce answers errors as `[{"errorCode", "message"}]`; map the codes onto the error tree."""
    first = body[0] if isinstance(body, list) and body and isinstance(body[0], dict) else {}
    code, message = str(first.get("errorCode", "")), str(first.get("message", ""))
    if not code:
        return None
    text = f"{code}: {message}"
    if code == "INVALID_SESSION_ID":
        return AuthError(text, system=SYSTEM, code=code)
    if response.status_code == 429 or (code == "REQUEST_LIMIT_EXCEEDED" and "TotalRequests" not in message):
        wait = parse_retry_after(response.headers.get("retry-after"))
        return RateLimitedError(text, retry_after=wait, system=SYSTEM, code=code)
    if code == "REQUEST_LIMIT_EXCEEDED":
        return PermanentError(
            f"{text} (the org's daily API request limit is spent; the task can run again once it resets)",
            system=SYSTEM,
            code=code,
        )
    if code == "INVALID_QUERY_LOCATOR":
        return PermanentError(f"{text} (the query cursor expired)", system=SYSTEM, code=code)
    if code in TRANSIENT_CODES:
        return TransientError(text, system=SYSTEM, code=code)
    if code in ("MALFORMED_QUERY", "INVALID_FIELD", "INVALID_TYPE", "NOT_FOUND", "INVALID_OPERATION"):
        return ConfigError(f"{text} (check the stream or sync configuration)", system=SYSTEM, code=code)
    return error_for_status(response, text, system=SYSTEM, code=code)


def refused_record(key: str, record_id: str | None, code: str, message: str) -> WriteResult:
    """A record Salesforce refused, by its error code: transient for a lock or a timeout
    (`TRANSIENT_CODES`), permanent (a dead letter) for anything else."""
    outcome = WriteOutcome.TRANSIENT if code in TRANSIENT_CODES else WriteOutcome.PERMANENT
    return WriteResult(key, outcome, record_id, None, code, message)


class BudgetGuard:
    """Reads `Sforce-Limit-Info` from every response and stops before `share` of the daily limit is used."""

    def __init__(self, share: float) -> None:
        self.share = share
        self.used: int | None = None
        self.limit: int | None = None
        self._lock = threading.Lock()

    def observe(self, response: httpx.Response) -> None:
        match = _LIMIT_INFO.search(response.headers.get("sforce-limit-info", ""))
        if not match:
            return
        with self._lock:
            self.used, self.limit = int(match.group(1)), int(match.group(2))
        if self.used >= self.share * self.limit:
            raise PermanentError(
                f"API budget guard: {self.used} of the org's {self.limit} daily API requests are used, "
                f"at or past the configured {self.share:.0%}; stopping before the org runs out",
                system=SYSTEM,
                code="BUDGET_GUARD",
            )


def soql_literal(value: Any) -> str:
    """A value as a SOQL literal: strings quoted and escaped, datetimes in UTC to the millisecond
    (Salesforce keeps milliseconds, so window bounds and keyset cursors stay exact)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ConfigError("SOQL datetimes must be timezone-aware")
        utc = value.astimezone(UTC)
        return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"
    text = str(value)
    escaped = text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\r", "\\r")
    return f"'{escaped}'"


def soql_name(name: str) -> str:
    """An object or field name fit for SOQL text (no quoting exists in SOQL, so only plain names pass)."""
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*(__[a-z]+)?(\.[A-Za-z][A-Za-z0-9_]*)?", name):
        raise ConfigError(f"{name!r} is not a valid Salesforce object or field name")
    return name


def open_client(settings: SalesforceSettings, guard: BudgetGuard, http: Mapping[str, Any]) -> HttpClient:
    """Authenticate and return an API client on the org's instance URL (from the token response)."""
    common = {"system": SYSTEM, "ca_bundle": settings.ca_bundle, **http}
    login = HttpClient(HttpSettings(base_url=settings.login_url, **common))
    token = OAuth2Token(
        f"{settings.login_url.rstrip('/')}/services/oauth2/token", settings.grant, TokenPoster(login)
    )
    instance_url = str(token.token.raw.get("instance_url") or settings.login_url)
    return HttpClient(
        HttpSettings(base_url=instance_url, **common),
        auth=token,
        classify_error=salesforce_error,
        on_response=guard.observe,
    )
