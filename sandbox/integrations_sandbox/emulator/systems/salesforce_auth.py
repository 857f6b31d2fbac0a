"""Salesforce OAuth 2.0 for the sandbox: the token endpoint, sessions and the JWT bearer key pair.

POST /services/oauth2/token    grant_type=password | refresh_token | client_credentials |
                               urn:ietf:params:oauth:grant-type:jwt-bearer (RS256 assertion)
POST /services/oauth2/revoke   token=<access or refresh token>: the session ends (401 INVALID_SESSION_ID)

Sandbox extension: a token request may carry `expires_in=<seconds>` to get a short-lived session, so
clients can be tested against expiry without waiting for the default two hours.

The JWT key pair is derived deterministically (no key file, no secret in the source), so the connection
written by one process and the emulator running in another agree on it.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import math
import random
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from integrations_sandbox.emulator.systems.salesforce_schema import make_id

USERNAME = "integration@sandbox.example.com"
PASSWORD = "sandbox-sf-password"
SECURITY_TOKEN = "SandboxSecurityToken01"
CLIENT_ID = "3MVG9sandbox.salesforce.consumer.key"
CLIENT_SECRET = "sandbox-salesforce-consumer-secret"
REFRESH_TOKEN = "5Aep861sandbox.salesforce.refresh.token"
ORG_ID = make_id("00D", 1)
USER_ID = make_id("005", 1)
DEFAULT_LIFETIME = 7200.0
MAX_SESSIONS = 10_000
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
PUBLIC_AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")


class OAuthError(Exception):
    """An OAuth failure: Salesforce answers 400 {"error", "error_description"}."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


@dataclass
class _Session:
    expires_at: float


class Sessions:
    """Issued access tokens and their expiry."""

    def __init__(self, lifetime: float = DEFAULT_LIFETIME) -> None:
        self.lifetime = lifetime
        self._sessions: dict[str, _Session] = {}
        self._lock = threading.Lock()

    def issue(self, lifetime: float | None = None) -> str:
        token = f"{ORG_ID[:15]}!{secrets.token_urlsafe(72)}"
        now = time.time()
        with self._lock:
            if len(self._sessions) >= MAX_SESSIONS:
                self._prune(now)
            self._sessions[token] = _Session(now + (lifetime or self.lifetime))
        return token

    def _prune(self, now: float) -> None:
        for token in [t for t, s in self._sessions.items() if s.expires_at <= now]:
            del self._sessions[token]
        while len(self._sessions) >= MAX_SESSIONS:
            del self._sessions[next(iter(self._sessions))]

    def valid(self, token: str) -> bool:
        session = self._sessions.get(token)
        return session is not None and session.expires_at > time.time()

    def revoke(self, token: str) -> bool:
        with self._lock:
            return self._sessions.pop(token, None) is not None


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() in ("bearer", "oauth") and token.strip():
        return token.strip()
    return None


def instance_url(request: Request) -> str:
    """The URL clients reach this instance at: scheme, host and the mount prefix."""
    url = request.url
    return f"{url.scheme}://{url.netloc}{request.scope.get('root_path', '')}"


async def form(request: Request) -> dict[str, str]:
    raw = (await request.body()).decode("utf-8", "replace")
    values = dict(parse_qsl(raw, keep_blank_values=True))
    for key, value in request.query_params.items():
        values.setdefault(key, value)
    return values


async def token_endpoint(request: Request, sessions: Sessions) -> Response:
    values = await form(request)
    base = instance_url(request)
    try:
        lifetime = _lifetime(values.get("expires_in"))
        _grant(values, request, base)
    except OAuthError as error:
        return JSONResponse({"error": error.error, "error_description": error.description}, error.status)
    return JSONResponse(token_response(sessions.issue(lifetime), base))


def token_response(token: str, base: str) -> dict[str, Any]:
    identity = f"{base}/id/{ORG_ID}/{USER_ID}"
    issued_at = str(int(time.time() * 1000))
    digest = hmac.new(CLIENT_SECRET.encode(), (identity + issued_at).encode(), hashlib.sha256).digest()
    return {
        "access_token": token,
        "instance_url": base,
        "id": identity,
        "token_type": "Bearer",
        "issued_at": issued_at,
        "signature": base64.b64encode(digest).decode(),
    }


def _lifetime(raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        raise OAuthError("invalid_request", "expires_in must be a number of seconds") from None
    if not 0 < seconds <= 86_400:
        raise OAuthError("invalid_request", "expires_in must be between 0 and 86400 seconds")
    return seconds


def _grant(values: dict[str, str], request: Request, base: str) -> None:
    grant = values.get("grant_type", "")
    if grant == "password":
        _client(values, require_secret=True)
        if values.get("username") != USERNAME or values.get("password") != PASSWORD + SECURITY_TOKEN:
            raise OAuthError("invalid_grant", "authentication failure")
    elif grant == "refresh_token":
        _client(values, require_secret=False)
        if values.get("refresh_token") != REFRESH_TOKEN:
            raise OAuthError("invalid_grant", "expired access/refresh token")
    elif grant == "client_credentials":
        _client(_basic_auth(request) or values, require_secret=True)
    elif grant == JWT_GRANT:
        verify_assertion(values.get("assertion", ""), (base, *PUBLIC_AUDIENCES))
    else:
        raise OAuthError("unsupported_grant_type", "grant type not supported")


def _client(values: dict[str, str], *, require_secret: bool) -> None:
    if values.get("client_id") != CLIENT_ID:
        raise OAuthError("invalid_client_id", "client identifier invalid")
    secret = values.get("client_secret")
    if (require_secret or secret is not None) and secret != CLIENT_SECRET:
        raise OAuthError("invalid_client", "invalid client credentials")


def _basic_auth(request: Request) -> dict[str, str] | None:
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        client_id, _, secret = base64.b64decode(encoded).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return {"client_id": client_id, "client_secret": secret}


def _b64url(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def verify_assertion(assertion: str, audiences: tuple[str, ...]) -> dict[str, Any]:
    """Check an RS256 JWT bearer assertion as Salesforce does; returns its claims."""
    parts = assertion.split(".")
    if len(parts) != 3:
        raise OAuthError("invalid_grant", "invalid assertion")
    try:
        header = json.loads(_b64url(parts[0]))
        claims = json.loads(_b64url(parts[1]))
        signature = _b64url(parts[2])
    except (ValueError, UnicodeDecodeError):
        raise OAuthError("invalid_grant", "invalid assertion") from None
    if not isinstance(header, dict) or header.get("alg") != "RS256" or not isinstance(claims, dict):
        raise OAuthError("invalid_grant", "invalid assertion")
    try:
        sandbox_private_key().public_key().verify(
            signature, f"{parts[0]}.{parts[1]}".encode(), padding.PKCS1v15(), hashes.SHA256()
        )
    except InvalidSignature:
        raise OAuthError("invalid_grant", "invalid assertion") from None
    if claims.get("iss") != CLIENT_ID:
        raise OAuthError("invalid_client_id", "client identifier invalid")
    if claims.get("sub") != USERNAME:
        raise OAuthError("invalid_grant", "user hasn't approved this consumer")
    audience = claims.get("aud")
    allowed = {a.rstrip("/") for a in audiences}
    given = audience if isinstance(audience, list) else [audience]
    if not any(isinstance(a, str) and a.rstrip("/") in allowed for a in given):
        raise OAuthError("invalid_grant", "audience is invalid")
    try:
        expires = float(claims.get("exp"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise OAuthError("invalid_grant", "invalid assertion") from None
    if expires <= time.time():
        raise OAuthError("invalid_grant", "expired authorization code")
    return claims


@functools.cache
def sandbox_private_key() -> rsa.RSAPrivateKey:
    """A 2048-bit RSA key, the same in every process (derived from a fixed seed)."""
    rng = random.Random("airflow-provider-integrations/salesforce-sandbox-jwt")
    e = 65537
    while True:
        p, q = _prime(rng, 1024), _prime(rng, 1024)
        phi = (p - 1) * (q - 1)
        if p != q and math.gcd(e, phi) == 1:
            break
    d = pow(e, -1, phi)
    numbers = rsa.RSAPrivateNumbers(
        p=p,
        q=q,
        d=d,
        dmp1=rsa.rsa_crt_dmp1(d, p),
        dmq1=rsa.rsa_crt_dmq1(d, q),
        iqmp=rsa.rsa_crt_iqmp(p, q),
        public_numbers=rsa.RSAPublicNumbers(e, p * q),
    )
    return numbers.private_key()


def private_key_pem() -> str:
    return (
        sandbox_private_key()
        .private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        .decode()
    )


def public_key_pem() -> str:
    return (
        sandbox_private_key()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


_SMALL_PRIMES = math.prod(p for p in range(3, 5000, 2) if all(p % d for d in range(3, int(p**0.5) + 1, 2)))


def _prime(rng: random.Random, bits: int) -> int:
    while True:
        candidate = rng.getrandbits(bits) | (3 << (bits - 2)) | 1
        if _probably_prime(candidate, rng):
            return candidate


def _probably_prime(n: int, rng: random.Random) -> bool:
    if math.gcd(n, _SMALL_PRIMES) != 1 or pow(2, n - 1, n) != 1:
        return False
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for _ in range(16):
        x = pow(rng.randrange(2, n - 2), d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True
