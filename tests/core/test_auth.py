"""Authenticators against a real local token endpoint."""

from __future__ import annotations

from urllib.parse import parse_qs

import httpx
import pytest

from airflow_provider_integrations.core.auth import BasicAuth, BearerKey, OAuth2Token, TokenPoster
from airflow_provider_integrations.core.errors import AuthError
from airflow_provider_integrations.core.http import HttpClient, HttpSettings, RetryPolicy
from tests.scripted_http import Reply, ScriptedHttpServer

SECRET = "client-secret-value-123"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def make_token(server: ScriptedHttpServer, clock: Clock) -> tuple[OAuth2Token, HttpClient]:
    retry = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.01, deadline=5)
    client = HttpClient(HttpSettings(base_url=server.url, system="crm", retry=retry))
    grant = {
        "grant_type": "password",
        "client_id": "cid",
        "client_secret": SECRET,
        "username": "u",
        "password": "p",
    }
    return OAuth2Token(f"{server.url}/token", lambda: grant, TokenPoster(client), clock=clock), client


def forms(server: ScriptedHttpServer) -> list[dict[str, str]]:
    return [{k: v[0] for k, v in parse_qs(seen.body.decode()).items()} for seen in server.seen("/token")]


def test_token_is_fetched_once_and_refreshed_before_expiry(http_server: ScriptedHttpServer) -> None:
    http_server.script(
        "/token",
        Reply(json={"access_token": "tok-1", "refresh_token": "ref-1", "expires_in": 3600}),
        Reply(json={"access_token": "tok-2", "expires_in": 3600}),
    )
    clock = Clock()
    token, client = make_token(http_server, clock)
    request = httpx.Request("GET", "https://x/y")
    token.apply(request)
    token.apply(request)
    assert request.headers["Authorization"] == "Bearer tok-1"
    clock.now += 3600 - 30
    token.apply(request)
    assert request.headers["Authorization"] == "Bearer tok-2"
    grants = [f["grant_type"] for f in forms(http_server)]
    assert grants == ["password", "refresh_token"]
    assert forms(http_server)[1]["refresh_token"] == "ref-1"
    client.close()


def test_refused_refresh_token_falls_back_to_the_grant(http_server: ScriptedHttpServer) -> None:
    http_server.script(
        "/token",
        Reply(json={"access_token": "tok-1", "refresh_token": "stale"}),
        Reply(400, json={"error": "invalid_grant", "error_description": "expired"}),
        Reply(json={"access_token": "tok-3"}),
    )
    token, client = make_token(http_server, Clock())
    assert token.token.access_token == "tok-1"
    token.refresh()
    assert token.token.access_token == "tok-3"
    assert [f["grant_type"] for f in forms(http_server)] == ["password", "refresh_token", "password"]
    client.close()


def test_refused_grant_is_an_auth_error_without_secrets(http_server: ScriptedHttpServer) -> None:
    http_server.script("/token", Reply(400, json={"error": "invalid_client", "error_description": SECRET}))
    token, client = make_token(http_server, Clock())
    with pytest.raises(AuthError) as err:
        token.apply(httpx.Request("GET", "https://x/y"))
    assert "invalid_client" in str(err.value) and "password" in str(err.value)
    assert SECRET not in str(err.value)
    assert len(http_server.seen("/token")) == 1
    client.close()


def test_static_credentials_cannot_refresh_and_hide_in_repr() -> None:
    key = BearerKey("sk_test_abcdefgh", {"Stripe-Version": "2024-06-20"})
    request = httpx.Request("GET", "https://x/y")
    key.apply(request)
    assert request.headers["Authorization"] == "Bearer sk_test_abcdefgh"
    assert request.headers["Stripe-Version"] == "2024-06-20"
    assert "sk_test" not in repr(key)
    with pytest.raises(AuthError):
        key.refresh()
    basic = BasicAuth("admin", "pw-123456")
    basic.apply(request)
    assert request.headers["Authorization"] == "Basic YWRtaW46cHctMTIzNDU2"
    assert "pw-123456" not in repr(basic)
