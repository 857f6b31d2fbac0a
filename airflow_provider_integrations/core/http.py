"""The one HTTP client every connector uses.

Every call has timeouts. Failures that may pass (429, 5xx, resets, timeouts) are retried with jittered
exponential backoff, a cap per wait and an overall deadline; `Retry-After` and `X-RateLimit-*` headers are
honoured. Each host has a token bucket and a circuit breaker. Only requests that are safe to repeat are
retried: idempotent methods, requests carrying an idempotency key, or calls the caller marks idempotent
(a read-only POST such as a query). An unsafe request is repeated only when the server provably did not
process it (429, or no connection was ever made: a failed connect, the pool's or the proxy's refusal).

Every exception httpx raises, while sending or while the caller reads a streamed body, leaves this module
as an error of the tree (`transport_error` decides which), naming the method, host and path, never the
query string.
"""

from __future__ import annotations

import email.utils
import functools
import logging
import random
import ssl
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
)

from airflow_provider_integrations.core.errors import (
    AuthError,
    CircuitOpenError,
    ConfigError,
    IntegrationError,
    PermanentError,
    RateLimitedError,
    TransientError,
)
from airflow_provider_integrations.core.resilience import (
    BreakerSettings,
    CircuitBreaker,
    Clock,
    Sleep,
    TokenBucket,
)

log = logging.getLogger(__name__)

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
HTTPX_ERRORS: tuple[type[Exception], ...] = (
    httpx.HTTPError,
    httpx.InvalidURL,
    httpx.CookieConflict,
    httpx.StreamError,
)
"""Every exception class httpx raises derives from one of these."""
_NEVER_SENT: tuple[type[Exception], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.ProxyError,
)
"""Failures before a connection to the server existed: the request cannot have been processed."""
_EPOCH_THRESHOLD = 1_000_000_000


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try one call: attempts, backoff base and cap (seconds), overall deadline (seconds)."""

    max_attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 30.0
    deadline: float = 300.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ConfigError(f"max_attempts must be at least 1, got {self.max_attempts}")
        if self.base_delay < 0 or self.max_delay < self.base_delay:
            raise ConfigError(
                f"backoff needs 0 <= base_delay <= max_delay, got {self.base_delay} and {self.max_delay}"
            )
        if self.deadline <= 0:
            raise ConfigError(f"deadline must be positive seconds, got {self.deadline}")


@dataclass(frozen=True)
class HttpSettings:
    """Connection settings for one system's API."""

    base_url: str
    system: str
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    rate_limit_per_second: float | None = None
    rate_limit_burst: float | None = None
    breaker: BreakerSettings = field(default_factory=BreakerSettings)
    verify_tls: bool = True
    ca_bundle: str | None = None
    idempotency_header: str = "Idempotency-Key"
    user_agent: str = "airflow-provider-integrations"

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ConfigError(f"{self.system}: base_url must start with http:// or https://")
        if self.connect_timeout <= 0 or self.read_timeout <= 0:
            raise ConfigError(f"{self.system}: timeouts must be positive seconds")


class Authenticator(Protocol):
    """Puts credentials on a request; `refresh` gets new ones after the server refused the old.

    An authenticator with a `close()` method is closed with the client that uses it.
    """

    def apply(self, request: httpx.Request) -> None: ...

    def refresh(self) -> None: ...


ErrorClassifier = Callable[[httpx.Response], IntegrationError | None]
BodyClassifier = Callable[[httpx.Response, Any], IntegrationError | None]


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` value: delta seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def rate_limit_reset_in(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds until the server's rate-limit window resets, from `X-RateLimit-Reset` / `RateLimit-Reset`.

    Values past 10^9 are Unix timestamps, smaller ones are seconds from now.
    """
    raw = headers.get("x-ratelimit-reset") or headers.get("ratelimit-reset")
    if raw is None:
        return None
    try:
        reset = float(raw)
    except ValueError:
        return None
    if reset > _EPOCH_THRESHOLD:
        reset -= time.time() if now is None else now
    return max(0.0, reset)


def error_for_status(
    response: httpx.Response, message: str, *, system: str, code: str, status: int | None = None
) -> IntegrationError:
    """The error an HTTP status means: 429 rate limited (with the server's wait), 408/5xx transient,
    401 auth, any other 4xx permanent. Connectors call this after handling their own error codes;
    `status` names the status a system's error code stands for, whatever status it came with."""
    status = response.status_code if status is None else status
    if status == 429:
        wait = parse_retry_after(response.headers.get("retry-after"))
        if wait is None:
            wait = rate_limit_reset_in(response.headers)
        return RateLimitedError(message, retry_after=wait, system=system, code=code)
    if status == 408 or status >= 500:
        wait = parse_retry_after(response.headers.get("retry-after"))
        return TransientError(message, retry_after=wait, system=system, code=code)
    if status == 401:
        return AuthError(message, system=system, code=code)
    return PermanentError(message, system=system, code=code)


def default_error_for(response: httpx.Response, system: str) -> IntegrationError | None:
    """Map a response's status onto the error tree; None for success."""
    status = response.status_code
    if status < 400:
        return None
    where = safe_url(response.request.url)
    detail = response.text[:300].strip()
    message = f"{response.request.method} {where} answered {status}" + (f": {detail}" if detail else "")
    return error_for_status(response, message, system=system, code=f"HTTP {status}")


def reads_json_errors(system: str) -> Callable[[BodyClassifier], ErrorClassifier]:
    """Make a system's reading of its JSON error bodies into the client's `classify_error`.

    The decorated function is `(response, body) -> error or None`, called only for a status of 400 or
    more whose body is JSON; it maps the system's own error shape onto the tree and returns None for a
    body it does not recognise. Successes classify as None; an error whose body is not JSON, or that the
    system does not recognise, gets :func:`default_error_for`.
    """

    def decorate(from_body: BodyClassifier) -> ErrorClassifier:
        @functools.wraps(from_body)
        def classify(response: httpx.Response) -> IntegrationError | None:
            if response.status_code < 400:
                return None
            try:
                body = response.json()
            except ValueError:
                return default_error_for(response, system)
            return from_body(response, body) or default_error_for(response, system)

        return classify

    return decorate


def transport_error(error: Exception, request: httpx.Request, system: str) -> IntegrationError:
    """The error tree's name for an exception httpx raised while sending `request` or reading its reply.

    Transient where another attempt can help (timeouts, broken connections, a reply cut short or garbled
    on the way, a proxy that failed); a request httpx itself cannot send or a URL it cannot use is
    permanent or a configuration error. The message names method, host and path, and the exception's
    type, never its text (which can hold the full URL and its query string).
    """
    where = f"{request.method} {safe_url(request.url)}"
    kind = type(error).__name__
    if _tls_refused(error):
        return ConfigError(
            f"TLS verification of {safe_url(request.url)} failed: {_root_cause(error)}; "
            "give the server's CA bundle (ca_bundle) rather than turning verification off",
            system=system,
        )
    if isinstance(error, httpx.TimeoutException):
        return TransientError(f"{where} timed out: {kind}", system=system)
    if isinstance(error, httpx.NetworkError | httpx.RemoteProtocolError | httpx.ProxyError):
        return TransientError(f"{where} connection failed: {kind}", system=system)
    if isinstance(error, httpx.DecodingError):
        return TransientError(f"{where}: the reply could not be decoded: {kind}", system=system)
    if isinstance(error, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return ConfigError(f"{where}: the URL cannot be requested: {kind}", system=system)
    if isinstance(error, httpx.HTTPStatusError):
        status = error.response.status_code
        return error_for_status(
            error.response, f"{where} answered {status}", system=system, code=f"HTTP {status}"
        )
    return PermanentError(f"{where} cannot be sent or read as HTTP: {kind}", system=system)


def safe_url(url: httpx.URL) -> str:
    """A URL fit for logs and errors: no query string, no user info."""
    port = f":{url.port}" if url.port else ""
    return f"{url.scheme}://{url.host}{port}{url.path}"


class _QueryStringScrubber(logging.Filter):
    """httpx logs every request's full URL at INFO; query strings can hold keys, so drop them."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(safe_url(a) if isinstance(a, httpx.URL) else a for a in record.args)
        return True


def _scrub_httpx_logs() -> None:
    httpx_log = logging.getLogger("httpx")
    if not any(isinstance(f, _QueryStringScrubber) for f in httpx_log.filters):
        httpx_log.addFilter(_QueryStringScrubber())


_scrub_httpx_logs()


class HttpClient:
    """Retrying, rate-limited, circuit-broken HTTP client for one system.

    Use :meth:`request` for small bodies and :meth:`stream` for large downloads read chunk by chunk.
    """

    def __init__(
        self,
        settings: HttpSettings,
        *,
        auth: Authenticator | None = None,
        classify_error: ErrorClassifier | None = None,
        on_response: Callable[[httpx.Response], None] | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Sleep = time.sleep,
        clock: Clock = time.monotonic,
    ) -> None:
        self.settings = settings
        self._auth = auth
        self._classify = classify_error or (lambda r: default_error_for(r, settings.system))
        self._on_response = on_response
        self._sleep = sleep
        self._clock = clock
        self._client = httpx.Client(
            base_url=settings.base_url,
            timeout=httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout),
            verify=_tls_verification(settings),
            transport=transport,
            headers={"User-Agent": settings.user_agent},
            follow_redirects=False,
        )
        self._buckets: dict[str, TokenBucket] = {}
        self._breakers: dict[str, CircuitBreaker] = {}
        self._last_failure: dict[str, str] = {}
        self.calls = 0

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()
        closer = getattr(self._auth, "close", None)
        if callable(closer):
            closer()

    def breaker_for(self, host: str) -> CircuitBreaker:
        if host not in self._breakers:
            self._breakers[host] = CircuitBreaker(host, self.settings.breaker, clock=self._clock)
        return self._breakers[host]

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        content: bytes | str | None = None,
        data: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> httpx.Response:
        """Send a request and read its body, retrying as the class describes."""
        request = self._build(
            method, url, params=params, json=json, content=content, data=data, headers=headers
        )
        return self._retrying(request, idempotent, read_body=True)

    def get_json(self, url: str, *, params: Mapping[str, Any] | None = None) -> Any:
        return self.request_json("GET", url, params=params)

    def request_json(self, method: str, url: str, **options: Any) -> Any:
        """:meth:`request` and the reply's JSON; a reply that is not JSON is a PermanentError naming the
        call (a proxy's or maintenance page answered, not the API)."""
        response = self.request(method, url, **options)
        try:
            return response.json()
        except ValueError:
            where = f"{method} {safe_url(response.request.url)}"
            kind = response.headers.get("content-type", "no content type")
            raise PermanentError(
                f"{where} answered {response.status_code} with a body that is not JSON ({kind}, "
                f"{len(response.content)} bytes)",
                system=self.settings.system,
            ) from None

    @contextmanager
    def stream(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> Iterator[httpx.Response]:
        """Open a response whose body is read by the caller (`iter_bytes`, `iter_lines`).

        A failure while the body is read raises the error tree's error (`transport_error`): the caller
        decides whether what it already read can be kept and the rest read again.
        """
        request = self._build(method, url, params=params, headers=headers)
        response = self._retrying(request, idempotent, read_body=False)
        try:
            yield response
        except HTTPX_ERRORS as error:
            raise self._transport_failure(error, request) from error
        finally:
            response.close()

    def _transport_failure(self, error: Exception, request: httpx.Request) -> IntegrationError:
        """`transport_error` for a send or a body read; a transient one counts against the host's breaker
        and is what an open breaker later names as the last failure."""
        failed = transport_error(error, request, self.settings.system)
        if isinstance(failed, TransientError):
            host = request.url.host
            self.breaker_for(host).record_failure()
            self._last_failure[host] = failed.message
        return failed

    def _build(self, method: str, url: str, **parts: Any) -> httpx.Request:
        try:
            return self._client.build_request(method, url, **parts)
        except HTTPX_ERRORS as error:
            raise ConfigError(
                f"{method} request to {self.settings.base_url} cannot be built: {type(error).__name__}",
                system=self.settings.system,
            ) from error

    def _retrying(self, request: httpx.Request, idempotent: bool | None, read_body: bool) -> httpx.Response:
        policy = self.settings.retry
        safe = self._safe_to_repeat(request, idempotent)
        started = self._clock()
        attempts = 0

        def attempt() -> httpx.Response:
            nonlocal attempts
            attempts += 1
            return self._send_with_auth(request, read_body, started)

        retrying = Retrying(
            retry=retry_if_exception(lambda e: _worth_retrying(e, safe)),
            wait=self._wait,
            stop=stop_after_attempt(policy.max_attempts) | stop_before_delay(policy.deadline),
            sleep=self._sleep,
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            return retrying(attempt)
        except IntegrationError as error:
            error.attempts = attempts
            raise

    def _safe_to_repeat(self, request: httpx.Request, idempotent: bool | None) -> bool:
        if idempotent is not None:
            return idempotent
        return (
            request.method in IDEMPOTENT_METHODS
            or self.settings.idempotency_header.lower() in request.headers
        )

    def _send_with_auth(self, request: httpx.Request, read_body: bool, started: float) -> httpx.Response:
        refreshed = False
        while True:
            if self._auth is not None:
                self._auth.apply(request)
            try:
                return self._send_once(request, read_body, started)
            except AuthError as refused:
                if self._auth is None or refreshed:
                    raise
                log.info("%s: credentials refused, refreshing them once", self.settings.system)
                try:
                    self._auth.refresh()
                except AuthError as cannot:
                    raise AuthError(
                        f"{refused.message}; {cannot.message}", system=refused.system, code=refused.code
                    ) from refused
                refreshed = True

    def _send_once(self, request: httpx.Request, read_body: bool, started: float) -> httpx.Response:
        host = request.url.host
        breaker = self.breaker_for(host)
        try:
            breaker.before_call()
        except CircuitOpenError as open_error:
            open_error.system = self.settings.system
            if host in self._last_failure:
                open_error.message += f"; last failure: {self._last_failure[host]}"
            raise
        self._wait_for_bucket(host, started)
        self.calls += 1
        try:
            response = self._client.send(request, stream=True)
            if read_body or response.status_code >= 400:
                response.read()
        except HTTPX_ERRORS as exc:
            raise self._transport_failure(exc, request) from exc
        self._note_rate_limit_headers(host, response)
        error = self._classify(response)
        if error is None:
            breaker.record_success()
            if self._on_response is not None:
                self._on_response(response)
            return response
        response.close()
        if isinstance(error, TransientError) and not isinstance(error, RateLimitedError):
            breaker.record_failure()
            self._last_failure[host] = error.message[:200] + (f" [{error.code}]" if error.code else "")
        else:
            breaker.record_success()
        raise error

    def _wait_for_bucket(self, host: str, started: float) -> None:
        bucket = self._bucket_for(host)
        delay = bucket.delay_needed()
        remaining = self.settings.retry.deadline - (self._clock() - started)
        if delay > remaining:
            raise RateLimitedError(
                f"rate limit for {host} needs a {delay:.1f}s wait, past this call's deadline",
                retry_after=delay,
                system=self.settings.system,
            )
        bucket.acquire()

    def _bucket_for(self, host: str) -> TokenBucket:
        if host not in self._buckets:
            self._buckets[host] = TokenBucket(
                self.settings.rate_limit_per_second,
                self.settings.rate_limit_burst,
                clock=self._clock,
                sleep=self._sleep,
            )
        return self._buckets[host]

    def _note_rate_limit_headers(self, host: str, response: httpx.Response) -> None:
        remaining = response.headers.get("x-ratelimit-remaining") or response.headers.get(
            "ratelimit-remaining"
        )
        if remaining is None or response.status_code == 429:
            return
        try:
            spent = float(remaining) <= 0
        except ValueError:
            return
        reset_in = rate_limit_reset_in(response.headers)
        if spent and reset_in:
            self._bucket_for(host).pause_until(self._clock() + reset_in)

    def _wait(self, state: RetryCallState) -> float:
        policy = self.settings.retry
        error = state.outcome.exception() if state.outcome else None
        told = getattr(error, "retry_after", None)
        if told is not None:
            return float(told)
        ceiling = min(policy.max_delay, policy.base_delay * 2 ** (state.attempt_number - 1))
        return random.uniform(0, ceiling)  # noqa: S311 - jitter, not cryptography

    def _log_retry(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning(
            "%s: attempt %d failed (%s); retrying in %.2fs",
            self.settings.system,
            state.attempt_number,
            error,
            wait,
        )


def _tls_verification(settings: HttpSettings) -> ssl.SSLContext | bool:
    if not settings.verify_tls:
        return False
    if settings.ca_bundle:
        try:
            return ssl.create_default_context(cafile=settings.ca_bundle)
        except (OSError, ssl.SSLError) as error:
            raise ConfigError(
                f"ca_bundle {settings.ca_bundle!r} cannot be read as a PEM file of CA certificates: {error}",
                system=settings.system,
            ) from None
    return True


def _root_cause(error: BaseException) -> BaseException:
    for _ in range(20):
        inner = error.__cause__ or error.__context__
        if inner is None:
            break
        error = inner
    return error


def _tls_refused(error: BaseException) -> bool:
    return isinstance(_root_cause(error), ssl.SSLCertVerificationError)


def _worth_retrying(error: BaseException, safe_to_repeat: bool) -> bool:
    if not isinstance(error, TransientError) or isinstance(error, CircuitOpenError):
        return False
    if safe_to_repeat or isinstance(error, RateLimitedError):
        return True
    return isinstance(error.__cause__, _NEVER_SENT)
