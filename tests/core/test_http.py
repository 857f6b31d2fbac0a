"""The HTTP client against a real local server that misbehaves on purpose."""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Iterator

import httpx
import pytest

from airflow_provider_integrations.core.errors import (
    AuthError,
    CircuitOpenError,
    ConfigError,
    IntegrationError,
    PermanentError,
    RateLimitedError,
    TransientError,
)
from airflow_provider_integrations.core.http import (
    HttpClient,
    HttpSettings,
    RetryPolicy,
    parse_retry_after,
    rate_limit_reset_in,
    reads_json_errors,
)
from airflow_provider_integrations.core.resilience import BreakerSettings, BreakerState
from tests.scripted_http import Reply, ScriptedHttpServer

OK = Reply(200, json={"ok": True})


def make_client(server: ScriptedHttpServer, **overrides: object) -> HttpClient:
    retry = overrides.pop("retry", RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05, deadline=10))
    settings = HttpSettings(
        base_url=server.url,
        system="testsys",
        read_timeout=float(overrides.pop("read_timeout", 2.0)),  # type: ignore[arg-type]
        retry=retry,  # type: ignore[arg-type]
        **overrides,  # type: ignore[arg-type]
    )
    return HttpClient(settings)


class CountingAuth:
    def __init__(self) -> None:
        self.token = "first-token-value"
        self.refreshes = 0

    def apply(self, request: httpx.Request) -> None:
        request.headers["Authorization"] = f"Bearer {self.token}"

    def refresh(self) -> None:
        self.refreshes += 1
        self.token = f"refreshed-token-{self.refreshes}"


def test_429_waits_for_retry_after_then_succeeds(http_server: ScriptedHttpServer) -> None:
    http_server.script("/r", Reply(429, headers={"Retry-After": "0.4"}), OK)
    with make_client(http_server) as client:
        response = client.request("GET", "/r")
    assert response.json() == {"ok": True}
    first, second = http_server.seen("/r")
    assert second.at - first.at >= 0.35


def test_503_then_success_is_retried(http_server: ScriptedHttpServer) -> None:
    http_server.script("/r", Reply(503), Reply(502), OK)
    with make_client(http_server) as client:
        assert client.request("GET", "/r").status_code == 200
        assert client.calls == 3
    assert len(http_server.seen("/r")) == 3


def test_connection_reset_is_retried_for_get(http_server: ScriptedHttpServer) -> None:
    http_server.script("/r", Reply(action="reset"), OK)
    with make_client(http_server) as client:
        assert client.request("GET", "/r").json() == {"ok": True}
    assert len(http_server.seen("/r")) == 2


def test_hanging_server_times_out_and_is_retried(http_server: ScriptedHttpServer) -> None:
    http_server.script("/r", Reply(action="hang", hang_for=3), OK)
    started = time.monotonic()
    with make_client(http_server, read_timeout=0.3) as client:
        assert client.request("GET", "/r").status_code == 200
    assert time.monotonic() - started < 2.5
    assert len(http_server.seen("/r")) == 2


def test_hang_every_time_fails_with_a_timeout_error_not_a_hang(http_server: ScriptedHttpServer) -> None:
    http_server.script("/r", Reply(action="hang", hang_for=3))
    retry = RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.01, deadline=5)
    started = time.monotonic()
    with (
        make_client(http_server, read_timeout=0.2, retry=retry) as client,
        pytest.raises(TransientError) as err,
    ):
        client.request("GET", "/r")
    assert "timed out" in str(err.value)
    assert err.value.attempts == 2
    assert time.monotonic() - started < 2


def test_gives_up_after_max_attempts_with_the_count_in_the_message(http_server: ScriptedHttpServer) -> None:
    http_server.script("/r", Reply(503, json={"message": "down"}))
    with make_client(http_server) as client, pytest.raises(TransientError) as err:
        client.request("GET", "/r")
    assert err.value.attempts == 4
    assert "after 4 attempts" in str(err.value)
    assert "503" in str(err.value)
    assert len(http_server.seen("/r")) == 4


def test_retry_after_past_the_deadline_fails_fast_with_the_wait(http_server: ScriptedHttpServer) -> None:
    http_server.script("/r", Reply(429, headers={"Retry-After": "60"}))
    retry = RetryPolicy(max_attempts=5, base_delay=0.01, max_delay=1, deadline=2)
    started = time.monotonic()
    with make_client(http_server, retry=retry) as client, pytest.raises(RateLimitedError) as err:
        client.request("GET", "/r")
    assert time.monotonic() - started < 1
    assert err.value.retry_after == 60
    assert len(http_server.seen("/r")) == 1


def test_post_without_idempotency_key_is_not_retried_on_503(http_server: ScriptedHttpServer) -> None:
    http_server.script("/w", Reply(503), OK)
    with make_client(http_server) as client, pytest.raises(TransientError):
        client.request("POST", "/w", json={"a": 1})
    assert len(http_server.seen("/w")) == 1


def test_post_without_key_is_not_resent_after_a_reset(http_server: ScriptedHttpServer) -> None:
    http_server.script("/w", Reply(action="reset"), OK)
    with make_client(http_server) as client, pytest.raises(TransientError):
        client.request("POST", "/w", json={"a": 1})
    assert len(http_server.seen("/w")) == 1


def test_post_is_retried_on_429_because_the_server_did_not_process_it(
    http_server: ScriptedHttpServer,
) -> None:
    http_server.script("/w", Reply(429, headers={"Retry-After": "0"}), OK)
    with make_client(http_server) as client:
        assert client.request("POST", "/w", json={"a": 1}).status_code == 200
    assert len(http_server.seen("/w")) == 2


def test_post_with_idempotency_key_is_retried_with_the_same_key(http_server: ScriptedHttpServer) -> None:
    http_server.script("/w", Reply(503), Reply(action="reset"), OK)
    with make_client(http_server) as client:
        client.request("POST", "/w", json={"a": 1}, headers={"Idempotency-Key": "key-123"})
    keys = [seen.headers.get("Idempotency-Key") for seen in http_server.seen("/w")]
    assert keys == ["key-123"] * 3


def test_post_marked_idempotent_by_the_caller_is_retried(http_server: ScriptedHttpServer) -> None:
    http_server.script("/q", Reply(503), OK)
    with make_client(http_server) as client:
        client.request("POST", "/q", json={"q": "SELECT 1"}, idempotent=True)
    assert len(http_server.seen("/q")) == 2


def test_bad_request_is_permanent_and_not_retried(http_server: ScriptedHttpServer) -> None:
    http_server.script("/r", Reply(400, json={"error": "bad field"}))
    with make_client(http_server) as client, pytest.raises(PermanentError) as err:
        client.request("GET", "/r")
    assert "bad field" in str(err.value)
    assert len(http_server.seen("/r")) == 1


def test_auth_refreshes_once_then_succeeds(http_server: ScriptedHttpServer) -> None:
    http_server.script("/r", Reply(401), OK)
    auth = CountingAuth()
    settings = HttpSettings(base_url=http_server.url, system="testsys")
    with HttpClient(settings, auth=auth) as client:
        assert client.request("GET", "/r").status_code == 200
    assert auth.refreshes == 1
    tokens = [seen.headers["Authorization"] for seen in http_server.seen("/r")]
    assert tokens == ["Bearer first-token-value", "Bearer refreshed-token-1"]


def test_auth_refused_after_refresh_is_an_auth_error(http_server: ScriptedHttpServer) -> None:
    http_server.script("/r", Reply(401, json=[{"errorCode": "INVALID_SESSION_ID"}]))
    auth = CountingAuth()
    settings = HttpSettings(base_url=http_server.url, system="testsys")
    with HttpClient(settings, auth=auth) as client, pytest.raises(AuthError):
        client.request("GET", "/r")
    assert auth.refreshes == 1
    assert len(http_server.seen("/r")) == 2


def test_circuit_breaker_opens_fails_fast_and_recovers(http_server: ScriptedHttpServer) -> None:
    http_server.script("/r", Reply(503))
    retry = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.01, deadline=10)
    breaker = BreakerSettings(failure_threshold=3, cool_down=0.5)
    with make_client(http_server, retry=retry, breaker=breaker) as client:
        with pytest.raises(TransientError):
            client.request("GET", "/r")
        assert client.breaker_for("127.0.0.1").state is BreakerState.OPEN

        started = time.monotonic()
        with pytest.raises(CircuitOpenError) as err:
            client.request("GET", "/r")
        assert time.monotonic() - started < 0.1
        assert "circuit breaker for 127.0.0.1 is open" in str(err.value)
        assert len(http_server.seen("/r")) == 3

        time.sleep(0.55)
        assert client.breaker_for("127.0.0.1").state is BreakerState.HALF_OPEN
        http_server.script("/r", OK)
        assert client.request("GET", "/r").status_code == 200
        assert client.breaker_for("127.0.0.1").state is BreakerState.CLOSED


def test_rate_limit_headers_hold_the_next_call_until_reset(http_server: ScriptedHttpServer) -> None:
    http_server.script(
        "/r",
        Reply(200, json={}, headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "0.5"}),
        OK,
    )
    with make_client(http_server) as client:
        client.request("GET", "/r")
        client.request("GET", "/r")
    first, second = http_server.seen("/r")
    assert second.at - first.at >= 0.45


def test_rate_limit_reset_as_unix_time_is_honoured_on_429(http_server: ScriptedHttpServer) -> None:
    reset_at = time.time() + 0.5
    http_server.script("/r", Reply(429, headers={"X-RateLimit-Reset": f"{reset_at:.3f}"}), OK)
    with make_client(http_server) as client:
        client.request("GET", "/r")
    assert time.time() >= reset_at - 0.05, (
        "the retry waited for the reset time, however long the first call took"
    )
    assert len(http_server.seen("/r")) == 2


def test_token_bucket_spaces_calls_per_host(http_server: ScriptedHttpServer) -> None:
    http_server.script("/r", OK)
    with make_client(http_server, rate_limit_per_second=20.0, rate_limit_burst=1.0) as client:
        for _ in range(6):
            client.request("GET", "/r")
    times = [seen.at for seen in http_server.seen("/r")]
    assert times[-1] - times[0] >= 5 / 20 * 0.9


def test_errors_and_logs_never_carry_query_strings(
    http_server: ScriptedHttpServer, caplog: pytest.LogCaptureFixture
) -> None:
    http_server.script("/r", Reply(503))
    caplog.set_level(logging.DEBUG)
    with make_client(http_server) as client, pytest.raises(TransientError) as err:
        client.request("GET", "/r", params={"api_key": "sk_live_very_secret_value"})
    assert "sk_live_very_secret_value" not in str(err.value)
    assert "sk_live_very_secret_value" not in caplog.text
    assert "/r" in str(err.value)


def test_stream_reads_a_large_body_in_chunks_after_a_retry(http_server: ScriptedHttpServer) -> None:
    body = b"x" * (3 * 1024 * 1024)
    http_server.script("/big", Reply(503), Reply(200, body=body))
    with make_client(http_server) as client, client.stream("GET", "/big") as response:
        chunks = list(response.iter_bytes(chunk_size=65536))
    assert len(chunks) > 1
    assert sum(len(c) for c in chunks) == len(body)


def test_tls_is_verified_by_default() -> None:
    assert HttpSettings(base_url="https://example.invalid", system="s").verify_tls is True


@pytest.mark.parametrize(
    ("kwargs", "complaint"),
    [
        ({"base_url": "ftp://x", "system": "s"}, "base_url"),
        ({"base_url": "http://x", "system": "s", "read_timeout": 0}, "timeouts"),
    ],
)
def test_bad_settings_are_named(kwargs: dict[str, object], complaint: str) -> None:
    with pytest.raises(ConfigError, match=complaint):
        HttpSettings(**kwargs)  # type: ignore[arg-type]


def test_bad_retry_policy_is_refused() -> None:
    with pytest.raises(ConfigError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ConfigError, match="deadline"):
        RetryPolicy(deadline=0)


def test_parse_retry_after_accepts_seconds_and_http_dates() -> None:
    now = time.time()
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert 28 <= (parse_retry_after(date, now=now) or 0) <= 31


def test_rate_limit_reset_reads_deltas_and_epochs() -> None:
    now = 1_800_000_000.0
    assert rate_limit_reset_in({"x-ratelimit-reset": "12"}, now=now) == 12
    assert rate_limit_reset_in({"x-ratelimit-reset": str(now + 40)}, now=now) == 40
    assert rate_limit_reset_in({}, now=now) is None


SECRET = "sk_live_never_in_errors"


def _named(value: object) -> str:
    return str(getattr(value, "__name__", value))


def _httpx_exception_classes() -> list[type[Exception]]:
    """Every exception class httpx exports, found by walking the package: a new kind shows up here."""
    found = {
        value
        for value in vars(httpx).values()
        if isinstance(value, type) and issubclass(value, Exception) and value.__module__.startswith("httpx")
    }
    assert httpx.RemoteProtocolError in found and httpx.PoolTimeout in found and httpx.DecodingError in found
    return sorted(found, key=lambda cls: cls.__name__)


def _instance(kind: type[Exception], request: httpx.Request) -> Exception:
    if issubclass(kind, httpx.HTTPStatusError):
        return kind("status", request=request, response=httpx.Response(418, request=request))
    if issubclass(kind, httpx.RequestError):
        return kind(f"failed for {request.url}", request=request)
    try:
        return kind(f"failed for {request.url}")
    except TypeError:  # the stream errors take no message
        return kind()


def _raising_client(kind: type[Exception], *, mid_body: bool = False) -> HttpClient:
    class BrokenBody(httpx.SyncByteStream):
        def __init__(self, request: httpx.Request) -> None:
            self.request = request

        def __iter__(self) -> Iterator[bytes]:
            yield b"first,"
            raise _instance(kind, self.request)

    def handler(request: httpx.Request) -> httpx.Response:
        if mid_body:
            return httpx.Response(200, stream=BrokenBody(request))
        raise _instance(kind, request)

    retry = RetryPolicy(max_attempts=2, base_delay=0.0, max_delay=0.0, deadline=5)
    settings = HttpSettings(base_url="https://api.example.test", system="testsys", retry=retry)
    return HttpClient(settings, transport=httpx.MockTransport(handler), sleep=lambda _: None)


@pytest.mark.parametrize("kind", _httpx_exception_classes(), ids=_named)
def test_every_httpx_exception_maps_into_the_error_tree(kind: type[Exception]) -> None:
    with _raising_client(kind) as client, pytest.raises(IntegrationError) as err:
        client.request("GET", "/v1/things", params={"api_key": SECRET})
    assert "api.example.test" in str(err.value) and SECRET not in str(err.value)
    assert isinstance(err.value.__cause__, kind), "the original error stays attached as the cause"

    with (
        _raising_client(kind, mid_body=True) as client,
        pytest.raises(IntegrationError) as err,
        client.stream("GET", "/v1/things", params={"api_key": SECRET}) as response,
    ):
        b"".join(response.iter_bytes())
    assert "api.example.test" in str(err.value) and SECRET not in str(err.value)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (httpx.RemoteProtocolError, TransientError),
        (httpx.ReadError, TransientError),
        (httpx.WriteError, TransientError),
        (httpx.ConnectError, TransientError),
        (httpx.CloseError, TransientError),
        (httpx.ReadTimeout, TransientError),
        (httpx.WriteTimeout, TransientError),
        (httpx.ConnectTimeout, TransientError),
        (httpx.PoolTimeout, TransientError),
        (httpx.ProxyError, TransientError),
        (httpx.DecodingError, TransientError),
        (httpx.LocalProtocolError, PermanentError),
        (httpx.TooManyRedirects, PermanentError),
        (httpx.StreamConsumed, PermanentError),
        (httpx.UnsupportedProtocol, ConfigError),
        (httpx.InvalidURL, ConfigError),
    ],
    ids=_named,
)
def test_transport_errors_are_transient_only_where_a_retry_can_help(
    kind: type[Exception], expected: type[IntegrationError]
) -> None:
    with _raising_client(kind) as client, pytest.raises(IntegrationError) as err:
        client.request("GET", "/v1/things")
    assert type(err.value) is expected
    assert err.value.system == "testsys" and kind.__name__ in str(err.value)


@pytest.mark.parametrize(
    ("kind", "repeated"),
    [
        (httpx.ConnectError, True),
        (httpx.ConnectTimeout, True),
        (httpx.PoolTimeout, True),
        (httpx.ProxyError, True),
        (httpx.RemoteProtocolError, False),
        (httpx.ReadTimeout, False),
        (httpx.WriteError, False),
    ],
    ids=_named,
)
def test_an_unsafe_request_is_repeated_only_when_it_provably_never_left(
    kind: type[Exception], repeated: bool
) -> None:
    with _raising_client(kind) as client, pytest.raises(TransientError):
        client.request("POST", "/v1/things", json={"a": 1})
    assert client.calls == (2 if repeated else 1)


def test_a_success_whose_body_is_not_json_is_a_permanent_error_naming_the_call(
    http_server: ScriptedHttpServer,
) -> None:
    http_server.script("/j", Reply(200, body=b"<html>maintenance</html>"))
    with make_client(http_server) as client, pytest.raises(PermanentError) as err:
        client.get_json("/j", params={"api_key": SECRET})
    assert "GET" in str(err.value) and "/j" in str(err.value) and "not JSON" in str(err.value)
    assert SECRET not in str(err.value)
    with make_client(http_server) as client, pytest.raises(PermanentError):
        client.request_json("POST", "/j", json={"a": 1})


def _answer(status: int, **body: object) -> httpx.Response:
    return httpx.Response(status, request=httpx.Request("GET", "https://api.example.com/v1/things"), **body)


@reads_json_errors("acme")
def acme_error(response: httpx.Response, body: object) -> IntegrationError | None:
    """Acme errors are `{"fault": code}`."""
    if not isinstance(body, dict) or "fault" not in body:
        return None
    return PermanentError(f"acme says {body['fault']}", system="acme", code=str(body["fault"]))


def test_a_json_error_reader_sees_only_failed_calls_with_json_bodies() -> None:
    assert acme_error(_answer(200, json={"fault": "NOPE"})) is None
    assert acme_error(_answer(302, text="moved")) is None
    error = acme_error(_answer(400, json={"fault": "NOPE"}))
    assert isinstance(error, PermanentError) and (error.code, error.message) == ("NOPE", "acme says NOPE")
    assert acme_error.__name__ == "acme_error" and "Acme errors" in (acme_error.__doc__ or "")


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (503, {"text": "<html>down</html>"}, TransientError),
        (401, {"json": ["not", "the", "shape"]}, AuthError),
        (429, {"json": {"other": 1}}, RateLimitedError),
        (404, {"content": b"\xff\xfe"}, PermanentError),
    ],
)
def test_a_body_that_is_not_json_or_not_the_systems_shape_gets_the_default_error(
    status: int, body: dict[str, object], kind: type[IntegrationError]
) -> None:
    error = acme_error(_answer(status, **body))
    assert type(error) is kind
    assert error.system == "acme" and error.code == f"HTTP {status}"
    assert f"GET https://api.example.com/v1/things answered {status}" in error.message
