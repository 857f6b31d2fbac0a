"""NetSuite token-based authentication (TBA): OAuth 1.0a request signatures with HMAC-SHA256.

The verifier rebuilds the RFC 5849 signature base string from the request it received (method, the
normalised URL without its query, and the sorted, percent-encoded query and `oauth_*` parameters; `realm`
and `oauth_signature` excluded), signs it with `consumer_secret&token_secret` and compares. Form bodies
are not part of the base string: NetSuite's REST API takes JSON bodies only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote, unquote

_HEADER_PARAM = re.compile(r'([A-Za-z_]+)\s*=\s*"([^"]*)"')
_REQUIRED = (
    "oauth_consumer_key",
    "oauth_token",
    "oauth_signature_method",
    "oauth_timestamp",
    "oauth_nonce",
    "oauth_signature",
)


@dataclass(frozen=True)
class TbaCredentials:
    """One integration record plus one access token: what a TBA client signs with."""

    account_id: str
    consumer_key: str
    consumer_secret: str
    token_id: str
    token_secret: str


SANDBOX_CREDENTIALS = TbaCredentials(
    account_id="1234567_SB1",
    consumer_key="sandbox-ns-consumer-key-7f3a91",
    consumer_secret="sandbox-ns-consumer-secret-c02e58",
    token_id="sandbox-ns-token-id-4d6b17",
    token_secret="sandbox-ns-token-secret-9a8e23",
)


def percent_encode(value: str) -> str:
    """RFC 5849 section 3.6: everything but unreserved characters is %XX-encoded."""
    return quote(value, safe="-._~")


def normalized_url(scheme: str, host: str, path: str) -> str:
    """RFC 5849 section 3.4.1.2: lower-case scheme and host, default port dropped, no query."""
    scheme = scheme.lower()
    host = host.lower()
    default = {"http": ":80", "https": ":443"}[scheme]
    if host.endswith(default):
        host = host[: -len(default)]
    return f"{scheme}://{host}{path}"


def signature_base_string(method: str, url: str, params: list[tuple[str, str]]) -> str:
    pairs = sorted((percent_encode(k), percent_encode(v)) for k, v in params)
    normalized = "&".join(f"{k}={v}" for k, v in pairs)
    return "&".join((method.upper(), percent_encode(url), percent_encode(normalized)))


def hmac_sha256_signature(base_string: str, consumer_secret: str, token_secret: str) -> str:
    key = f"{percent_encode(consumer_secret)}&{percent_encode(token_secret)}"
    digest = hmac.new(key.encode(), base_string.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def parse_authorization(header: str) -> dict[str, str] | None:
    """The parameters of an `Authorization: OAuth ...` header, decoded; None if it is not one."""
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "oauth":
        return None
    return {name: unquote(value) for name, value in _HEADER_PARAM.findall(rest)}


class TbaVerifier:
    """Checks NetSuite TBA headers: known keys, a fresh timestamp, an unused nonce and a valid signature.

    `verify` answers None for a good request or the reason it is refused (NetSuite answers every refusal
    with the same INVALID_LOGIN error; the reason goes to a sandbox-only header for debugging).
    Nonces are remembered for twice the allowed clock skew, so memory is bounded by the request rate.
    """

    max_skew_seconds = 300

    def __init__(self, credentials: TbaCredentials, clock: Callable[[], float] = time.time) -> None:
        self.credentials = credentials
        self.clock = clock
        self._nonces: set[tuple[str, str]] = set()
        self._expiry: deque[tuple[float, tuple[str, str]]] = deque()

    def verify(
        self, method: str, url: str, query: list[tuple[str, str]], authorization: str | None
    ) -> str | None:
        params = parse_authorization(authorization or "")
        if params is None:
            return "missing OAuth Authorization header"
        missing = [name for name in _REQUIRED if name not in params]
        if missing:
            return f"missing {', '.join(missing)}"
        creds = self.credentials
        checks = (
            (params.get("oauth_version", "1.0") == "1.0", "oauth_version must be 1.0"),
            (params["oauth_signature_method"] == "HMAC-SHA256", "oauth_signature_method must be HMAC-SHA256"),
            (params.get("realm", "").upper() == creds.account_id.upper(), "realm is not the account id"),
            (params["oauth_consumer_key"] == creds.consumer_key, "unknown consumer key"),
            (params["oauth_token"] == creds.token_id, "unknown token"),
            (len(params["oauth_nonce"]) >= 6, "nonce shorter than 6 characters"),
        )
        for ok, reason in checks:
            if not ok:
                return reason
        if not params["oauth_timestamp"].isdigit():
            return "timestamp is not a number"
        now = self.clock()
        if abs(now - int(params["oauth_timestamp"])) > self.max_skew_seconds:
            return "timestamp outside the allowed window"
        signed = [(k, v) for k, v in params.items() if k.startswith("oauth_") and k != "oauth_signature"]
        expected = hmac_sha256_signature(
            signature_base_string(method, url, [*query, *signed]), creds.consumer_secret, creds.token_secret
        )
        if not hmac.compare_digest(expected, params["oauth_signature"]):
            return "invalid signature"
        return self._use_nonce(params["oauth_token"], params["oauth_nonce"], now)

    def _use_nonce(self, token: str, nonce: str, now: float) -> str | None:
        while self._expiry and self._expiry[0][0] < now:
            self._nonces.discard(self._expiry.popleft()[1])
        key = (token, nonce)
        if key in self._nonces:
            return "nonce already used"
        self._nonces.add(key)
        self._expiry.append((now + 2 * self.max_skew_seconds, key))
        return None
