"""ServiceNow authentication (basic auth, OAuth password and refresh-token grants) and rate-limit rules.

Rate limits follow the instance's `sys_rate_limit_rules` table: each rule allows `rate_limit` requests
per user per window (an hour on a real instance) for paths starting with `resource` (empty: all).
A rule naming a user outranks rules for all users; among equals the lowest limit applies; with no rule
the instance default applies. Requests are counted per (rule, user, window), so a new rule starts at 0.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import math
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import JSONResponse

from integrations_sandbox.emulator.systems._common_wd_sn import TokenStore, bearer_token

LOGIN = "sandbox.integration"
PASSWORD = "sandbox-servicenow-password"
CLIENT_ID = "sandbox-servicenow-client-id"
CLIENT_SECRET = "sandbox-servicenow-client-secret"
DEFAULT_RULE_ID = "0d5a3e41c3a2021014f9c1b8e7a8d0a1"


def same(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def basic_user(request: Request) -> str | None:
    """The user named by valid basic-auth credentials, or None."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        login, _, password = base64.b64decode(value.strip()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return login if same(login, LOGIN) and same(password, PASSWORD) else None


class OAuthServer:
    """`POST /oauth_token.do`: password and refresh_token grants for the instance's OAuth client."""

    def __init__(self, access_lifetime: float, refresh_lifetime: float) -> None:
        self.access_lifetime = access_lifetime
        self.refresh_lifetime = refresh_lifetime
        self.access = TokenStore()
        self.refresh = TokenStore()

    def user(self, request: Request) -> str | None:
        """The user a valid basic-auth header or bearer token names, or None."""
        token = bearer_token(request)
        return self.access.subject(token) if token else basic_user(request)

    async def token(self, request: Request) -> JSONResponse:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode(errors="replace")).items()}
        grant = form.get("grant_type")
        if grant not in ("password", "refresh_token"):
            return JSONResponse(
                {"error": "unsupported_grant_type", "error_description": f"Unsupported grant type {grant!r}"},
                400,
            )
        if not (same(form.get("client_id"), CLIENT_ID) and same(form.get("client_secret"), CLIENT_SECRET)):
            return _access_denied()
        if grant == "password":
            ok = same(form.get("username"), LOGIN) and same(form.get("password"), PASSWORD)
            user = LOGIN if ok else None
        else:
            user = self.refresh.subject(form.get("refresh_token") or "")
        if user is None:
            return _access_denied()
        access, refresh = secrets.token_urlsafe(64), secrets.token_urlsafe(64)
        self.access.issue(access, user, self.access_lifetime)
        self.refresh.issue(refresh, user, self.refresh_lifetime)
        return JSONResponse(
            {
                "access_token": access,
                "refresh_token": refresh,
                "scope": "useraccount",
                "token_type": "Bearer",
                "expires_in": max(1, int(self.access_lifetime) - 1),
            },
            headers={"Cache-Control": "no-store"},
        )


def _access_denied() -> JSONResponse:
    return JSONResponse({"error_description": "access_denied", "error": "server_error"}, 401)


@dataclass(frozen=True)
class Quota:
    """The outcome of counting one request against its rule."""

    allowed: bool
    limit: int
    remaining: int
    reset: int
    rule: str
    retry_after: int

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset),
            "X-RateLimit-Rule": self.rule,
        }


class RateLimits:
    """Per-user request windows under the `sys_rate_limit_rules` records in `rules` (by sys_id)."""

    def __init__(self, default_limit: int, window_seconds: int) -> None:
        self.default_limit = default_limit
        self.window = window_seconds
        self.rules: dict[str, dict[str, Any]] = {}
        self.counts: dict[tuple[str, str], tuple[int, int]] = {}

    def rule_for(self, user: str, path: str) -> tuple[str, int]:
        """(rule sys_id, limit) for a request by `user` to `path`."""
        matching = [
            (rule["user"] == "", int(rule["rate_limit"]), sys_id)
            for sys_id, rule in self.rules.items()
            if rule["active"] == "true" and rule["user"] in ("", user) and path.startswith(rule["resource"])
        ]
        if not matching:
            return DEFAULT_RULE_ID, self.default_limit
        _, limit, sys_id = min(matching)
        return sys_id, limit

    def hit(self, user: str, path: str) -> Quota:
        rule, limit = self.rule_for(user, path)
        now = time.time()
        window = int(now // self.window)
        reset = (window + 1) * self.window
        seen_window, used = self.counts.get((rule, user), (window, 0))
        used = used if seen_window == window else 0
        allowed = used < limit
        if allowed:
            used += 1
            self.counts[(rule, user)] = (window, used)
        retry_after = 0 if allowed else max(1, math.ceil(reset - now))
        return Quota(allowed, limit, max(0, limit - used), reset, rule, retry_after)
