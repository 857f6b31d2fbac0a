"""A system down for a minute, end to end: the breaker opens, the task's try fails fast naming the host,
the system and the breaker, no call leaves while it is open, and after the system recovers a retry past
the cool-down closes it and the extract lands exactly the source's records.

Real time on the sandbox (Stripe answers every request 503 while `down`); the breaker and retry settings
are the ones every hook uses: the defaults, with `max_attempts` raised in the connection's extra so that
only the breaker can explain a fast failure.
"""

from __future__ import annotations

import io
import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pyarrow.parquet as pq
import pytest
from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from airflow_provider_integrations.core.errors import CircuitOpenError
from airflow_provider_integrations.core.http import RetryPolicy
from airflow_provider_integrations.core.resilience import BreakerSettings, BreakerState
from airflow_provider_integrations.hooks.stripe import StripeHook
from airflow_provider_integrations.operators.extract import SaaSToS3Operator
from tests.connectors.conftest import Admin
from tests.operators.conftest import s3_client

SYSTEM, STREAM, SIZE = "stripe", "customers", 250
HOST = "127.0.0.1"
OUTAGE = 60.0
MAX_ATTEMPTS = 12
BREAKER = BreakerSettings()
RETRY = RetryPolicy(max_attempts=MAX_ATTEMPTS)
SLACK = 5.0
"""Seconds allowed on top of the backoff waits for the requests themselves, on a busy two-core machine."""


def backoff_ceiling(failures: int, policy: RetryPolicy = RETRY) -> float:
    """The longest the client can sleep between `failures` failed attempts and the next one."""
    return sum(min(policy.max_delay, policy.base_delay * 2**i) for i in range(failures))


def requests_to(admin: Admin, system: str) -> int:
    return int(admin.counters()["requests"].get(system, 0))


def wait_for(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not reached within {timeout:.0f}s"
        time.sleep(0.2)


def extract(bucket: str, dlq: Path, try_number: int) -> str:
    operator = SaaSToS3Operator(
        task_id="extract",
        conn_id="chaos_stripe",
        stream=STREAM,
        bucket=bucket,
        aws_conn_id="sandbox_s3",
        mode="full",
        dlq_uri=str(dlq),
    )
    ti = SimpleNamespace(
        dag_id="chaos_breaker", task_id="extract", try_number=try_number, xcom_push=lambda **_: None
    )
    return operator.execute(cast(Context, {"ti": ti, "run_id": "manual__breaker"}))


def landed_ids(sandbox: Any, manifest_uri: str) -> list[str]:
    s3 = s3_client(sandbox)
    bucket, key = manifest_uri.removeprefix("s3://").split("/", 1)
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    ids: list[str] = []
    for part in manifest["files"]:
        body = s3.get_object(Bucket=bucket, Key=part["key"].removeprefix(f"s3://{bucket}/"))["Body"].read()
        ids += [str(i) for i in pq.read_table(io.BytesIO(body)).column("id").to_pylist()]
    assert manifest["rows"] == len(ids)
    return ids


def test_a_system_down_for_a_minute_opens_the_breaker_then_a_retry_after_recovery_completes(
    sandbox: Any, admin: Admin, sandbox_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    conn = admin.connection(sandbox, SYSTEM)
    conn["extra"]["max_attempts"] = MAX_ATTEMPTS
    monkeypatch.setenv("AIRFLOW_CONN_CHAOS_STRIPE", json.dumps(conn))
    bucket = f"breaker-{uuid.uuid4().hex[:8]}"
    s3_client(sandbox).create_bucket(Bucket=bucket)
    # Without the breaker a try would retry for minutes: 11 waits of up to 0.5 s doubling to 30 s.
    assert backoff_ceiling(MAX_ATTEMPTS - 1) > 150
    fail_fast_bound = backoff_ceiling(BREAKER.failure_threshold) + SLACK

    with admin.sized(SYSTEM, STREAM, SIZE):
        reference = StripeHook("chaos_stripe")
        expected = sorted(str(r["id"]) for r in reference.get_conn().read(STREAM))
        reference.close()
        assert len(expected) == SIZE

        held_hook = StripeHook("chaos_stripe")
        held = held_hook.get_conn()
        breaker = held.client.breaker_for(HOST)
        admin.client.put(f"{admin.url}/faults/{SYSTEM}", json={"down": True}).raise_for_status()
        down_at = time.monotonic()
        try:
            # The task's try: the breaker opens after `failure_threshold` failed calls and ends it.
            before, started = requests_to(admin, SYSTEM), time.monotonic()
            with pytest.raises(AirflowException) as failed:
                extract(bucket, tmp_path / "dlq", try_number=1)
            took = time.monotonic() - started
            assert not isinstance(failed.value, AirflowFailException), "an outage stays retryable"
            message = str(failed.value)
            assert message.startswith(f"CircuitOpenError: {SYSTEM}: circuit breaker for {HOST} is open"), (
                message
            )
            assert "; last failure: An unknown error occurred. Please try again later. [api_error]" in message
            assert requests_to(admin, SYSTEM) - before == BREAKER.failure_threshold, (
                "the breaker, not the attempt limit, stopped the calls"
            )
            assert took < fail_fast_bound, f"took {took:.1f}s, more than {fail_fast_bound:.1f}s"

            # One client kept across the outage shows the breaker's states.
            with pytest.raises(CircuitOpenError):
                list(held.read(STREAM))
            assert breaker.state is BreakerState.OPEN
            before, started = requests_to(admin, SYSTEM), time.monotonic()
            with pytest.raises(CircuitOpenError) as refused:
                list(held.read(STREAM))
            assert time.monotonic() - started < 1.0
            assert requests_to(admin, SYSTEM) == before, "no call leaves while the breaker is open"
            assert 0 < refused.value.reopens_in <= BREAKER.cool_down

            # Cool-down over while the system is still down: one trial call, it fails, the breaker reopens.
            wait_for(lambda: breaker.state is BreakerState.HALF_OPEN, BREAKER.cool_down + 2)
            before = requests_to(admin, SYSTEM)
            with pytest.raises(CircuitOpenError):
                list(held.read(STREAM))
            assert requests_to(admin, SYSTEM) == before + 1, "half-open lets exactly one trial through"
            assert breaker.state is BreakerState.OPEN

            time.sleep(max(0.0, down_at + OUTAGE - time.monotonic()))
        finally:
            admin.client.delete(f"{admin.url}/faults/{SYSTEM}").raise_for_status()
        assert time.monotonic() - down_at >= OUTAGE

        try:
            # Recovered, but the breaker waits out its cool-down before it tries again.
            before = requests_to(admin, SYSTEM)
            with pytest.raises(CircuitOpenError):
                list(held.read(STREAM))
            assert requests_to(admin, SYSTEM) == before
            wait_for(lambda: breaker.state is BreakerState.HALF_OPEN, BREAKER.cool_down + 2)
            records = list(held.read(STREAM))
            assert breaker.state is BreakerState.CLOSED
            assert sorted(str(r["id"]) for r in records) == expected
        finally:
            held_hook.close()

        # The task's retry (a new try, as Airflow runs it) lands exactly the source's records.
        manifest_uri = extract(bucket, tmp_path / "dlq", try_number=2)
        assert sorted(landed_ids(sandbox, manifest_uri)) == expected
    assert not list((tmp_path / "dlq").rglob("*.jsonl")), "an outage is not a dead letter"
