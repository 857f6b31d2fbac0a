"""Authenticators for the HTTP client: static bearer keys, basic auth, OAuth2 token grants, OAuth 1.0a.

Each one puts credentials on a request (`apply`) and, where the scheme allows, gets fresh ones when the
server refused the old (`refresh`). Secrets stay inside these objects: their reprs and errors never show
them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from airflow_provider_integrations.core.errors import AuthError, ConfigError, IntegrationError
from airflow_provider_integrations.core.http import HttpClient

TokenRequester = Callable[[str, Mapping[str, str], Mapping[str, str]], httpx.Response]
"""Sends a token request: (token URL, form fields, headers) -> response."""


class BearerKey:
    """A long-lived API key sent as `Authorization: Bearer <key>` (Stripe). Nothing to refresh."""

    def __init__(self, key: str, extra_headers: Mapping[str, str] | None = None) -> None:
        if not key:
            raise ConfigError("an API key is required")
        self._key = key
        self._extra = dict(extra_headers or {})

    def __repr__(self) -> str:
        return "BearerKey(***)"

    def apply(self, request: httpx.Request) -> None:
        request.headers["Authorization"] = f"Bearer {self._key}"
        request.headers.update(self._extra)

    def refresh(self) -> None:
        raise AuthError("the API key was refused; refreshing cannot help: check the key and its permissions")


class BasicAuth:
    """HTTP basic auth (ServiceNow users). Nothing to refresh."""

    def __init__(self, username: str, password: str) -> None:
        if not username or not password:
            raise ConfigError("basic auth needs a username and a password")
        token = base64.b64encode(f"{username}:{password}".encode()).decode()
        self._header = f"Basic {token}"

    def __repr__(self) -> str:
        return "BasicAuth(***)"

    def apply(self, request: httpx.Request) -> None:
        request.headers["Authorization"] = self._header

    def refresh(self) -> None:
        raise AuthError("the username or password was refused")


@dataclass(frozen=True)
class Token:
    access_token: str
    expires_at: float | None
    refresh_token: str | None
    raw: Mapping[str, Any]


class OAuth2Token:
    """Bearer tokens from an OAuth2 token endpoint, fetched lazily and refreshed on expiry or refusal.

    `grant` returns the form fields of the grant to use (password, refresh_token, JWT bearer...);
    `post` sends the form to the token URL (an un-authenticated :class:`HttpClient` call). When the
    endpoint hands back a refresh token, later refreshes use it before falling back to `grant`.
    """

    def __init__(
        self,
        token_url: str,
        grant: Callable[[], Mapping[str, str]],
        post: TokenRequester,
        *,
        client_auth: tuple[str, str] | None = None,
        clock: Callable[[], float] = time.time,
        early_refresh: float = 60.0,
    ) -> None:
        self.token_url = token_url
        self._grant = grant
        self._post = post
        self._client_auth = client_auth
        self._clock = clock
        self._early = early_refresh
        self._token: Token | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"OAuth2Token({self.token_url})"

    @property
    def token(self) -> Token:
        with self._lock:
            if self._token is None or self._expiring(self._token):
                self._token = self._fetch(use_refresh_token=self._token is not None)
            return self._token

    def apply(self, request: httpx.Request) -> None:
        request.headers["Authorization"] = f"Bearer {self.token.access_token}"

    def refresh(self) -> None:
        with self._lock:
            self._token = self._fetch(use_refresh_token=True)

    def close(self) -> None:
        closer = getattr(self._post, "close", None)
        if callable(closer):
            closer()

    def _expiring(self, token: Token) -> bool:
        return token.expires_at is not None and self._clock() >= token.expires_at - self._early

    def _fetch(self, use_refresh_token: bool) -> Token:
        previous = self._token
        if use_refresh_token and previous is not None and previous.refresh_token:
            try:
                return self._request({"grant_type": "refresh_token", "refresh_token": previous.refresh_token})
            except AuthError:
                pass
        return self._request(dict(self._grant()))

    def _request(self, form: dict[str, str]) -> Token:
        headers: dict[str, str] = {}
        if self._client_auth:
            pair = base64.b64encode(":".join(self._client_auth).encode()).decode()
            headers["Authorization"] = f"Basic {pair}"
        try:
            response = self._post(self.token_url, form, headers)
        except IntegrationError as error:
            if isinstance(error, AuthError) or (error.code or "").startswith("HTTP 4"):
                raise AuthError(
                    f"token request ({form.get('grant_type')}) to {self.token_url} was refused: "
                    f"{_oauth_error(error)}",
                    system=error.system,
                ) from None
            raise
        body = response.json()
        if "access_token" not in body:
            raise AuthError(f"token endpoint {self.token_url} answered without an access_token")
        expires_in = body.get("expires_in")
        return Token(
            access_token=str(body["access_token"]),
            expires_at=self._clock() + float(expires_in) if expires_in else None,
            refresh_token=body.get("refresh_token") or (self._token.refresh_token if self._token else None),
            raw={k: v for k, v in body.items() if k not in ("access_token", "refresh_token")},
        )


class TokenPoster:
    """Token requests through an un-authenticated client (retried: a token grant is safe to repeat)."""

    def __init__(self, client: HttpClient) -> None:
        self.client = client

    def __call__(self, url: str, form: Mapping[str, str], headers: Mapping[str, str]) -> httpx.Response:
        return self.client.request("POST", url, data=form, headers=headers, idempotent=True)

    def close(self) -> None:
        self.client.close()


def _oauth_error(error: IntegrationError) -> str:
    """OAuth error bodies name a cause (`invalid_grant`); keep that, drop everything else."""
    for known in (
        "invalid_grant",
        "invalid_client",
        "unauthorized_client",
        "invalid_request",
        "unsupported_grant_type",
    ):
        if known in error.message:
            return known
    return error.code or "refused"


class OAuth1Signer:
    """OAuth 1.0a request signing with HMAC-SHA256 (NetSuite token-based authentication)."""

    def __init__(
        self,
        realm: str,
        consumer_key: str,
        consumer_secret: str,
        token: str,
        token_secret: str,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not all((realm, consumer_key, consumer_secret, token, token_secret)):
            raise ConfigError(
                "token-based auth needs account id, consumer key and secret, token id and secret"
            )
        self.realm = realm
        self._consumer = (consumer_key, consumer_secret)
        self._token = (token, token_secret)
        self._clock = clock

    def __repr__(self) -> str:
        return f"OAuth1Signer(realm={self.realm!r})"

    def apply(self, request: httpx.Request) -> None:
        params = {
            "oauth_consumer_key": self._consumer[0],
            "oauth_token": self._token[0],
            "oauth_signature_method": "HMAC-SHA256",
            "oauth_timestamp": str(int(self._clock())),
            "oauth_nonce": secrets.token_hex(16),
            "oauth_version": "1.0",
        }
        params["oauth_signature"] = self.signature(request.method, request.url, params)
        fields = ", ".join(f'{k}="{_pct(v)}"' for k, v in params.items())
        request.headers["Authorization"] = f'OAuth realm="{self.realm}", {fields}'

    def signature(self, method: str, url: httpx.URL, oauth_params: Mapping[str, str]) -> str:
        pairs = [(_pct(k), _pct(v)) for k, v in url.params.multi_items()]
        pairs += [(_pct(k), _pct(v)) for k, v in oauth_params.items()]
        normalized = "&".join(f"{k}={v}" for k, v in sorted(pairs))
        port = f":{url.port}" if url.port and url.port not in (80, 443) else ""
        path = url.raw_path.decode("ascii").partition("?")[0]  # as sent, percent-encoded (RFC 5849 3.4.1.2)
        base_url = f"{url.scheme.lower()}://{url.host.lower()}{port}{path}"
        base = "&".join((method.upper(), _pct(base_url), _pct(normalized)))
        key = f"{_pct(self._consumer[1])}&{_pct(self._token[1])}"
        digest = hmac.new(key.encode(), base.encode(), hashlib.sha256).digest()
        return base64.b64encode(digest).decode()

    def refresh(self) -> None:
        raise AuthError(
            "NetSuite refused the token-based auth signature: check the token and consumer secrets"
        )


def _pct(value: str) -> str:
    return quote(str(value), safe="~")
