"""Token bucket and circuit breaker on a fake clock, so every transition is exact."""

from __future__ import annotations

import pytest

from airflow_provider_integrations.core.errors import CircuitOpenError, ConfigError
from airflow_provider_integrations.core.resilience import (
    BreakerSettings,
    BreakerState,
    CircuitBreaker,
    TokenBucket,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_bucket_allows_a_burst_then_spaces_calls_at_the_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=10, capacity=3, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        assert bucket.acquire() == 0
    waited = [bucket.acquire() for _ in range(5)]
    assert waited == pytest.approx([0.1] * 5)
    assert clock.now == pytest.approx(100.5)


def test_bucket_refills_while_idle_but_not_past_capacity() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=1, capacity=2, clock=clock, sleep=clock.sleep)
    bucket.acquire()
    bucket.acquire()
    clock.now += 60
    assert bucket.acquire() == 0
    assert bucket.acquire() == 0
    assert bucket.acquire() == pytest.approx(1.0)


def test_pause_holds_even_an_unlimited_bucket() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=None, clock=clock, sleep=clock.sleep)
    assert bucket.acquire() == 0
    bucket.pause_until(clock.now + 7)
    assert bucket.delay_needed() == pytest.approx(7)
    assert bucket.acquire() == pytest.approx(7)
    assert bucket.acquire() == 0


def test_bucket_rejects_bad_rates() -> None:
    with pytest.raises(ConfigError, match="positive"):
        TokenBucket(rate=0)
    with pytest.raises(ConfigError, match="capacity"):
        TokenBucket(rate=5, capacity=0.5)


def test_breaker_walks_closed_open_half_open_closed() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("api.example", BreakerSettings(failure_threshold=3, cool_down=30), clock=clock)
    for _ in range(2):
        breaker.before_call()
        breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED
    breaker.before_call()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN

    clock.now += 10
    with pytest.raises(CircuitOpenError) as err:
        breaker.before_call()
    assert err.value.reopens_in == pytest.approx(20)
    assert "api.example" in str(err.value)

    clock.now += 20
    assert breaker.state is BreakerState.HALF_OPEN
    breaker.before_call()
    with pytest.raises(CircuitOpenError):
        breaker.before_call()
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    breaker.before_call()


def test_failed_trial_reopens_for_a_full_cool_down() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("h", BreakerSettings(failure_threshold=1, cool_down=5), clock=clock)
    breaker.record_failure()
    clock.now += 5
    breaker.before_call()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    clock.now += 4.9
    assert breaker.state is BreakerState.OPEN
    clock.now += 0.1
    assert breaker.state is BreakerState.HALF_OPEN


def test_success_resets_the_consecutive_failure_count() -> None:
    breaker = CircuitBreaker("h", BreakerSettings(failure_threshold=2, cool_down=5), clock=FakeClock())
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED


def test_breaker_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="failure_threshold"):
        BreakerSettings(failure_threshold=0)
    with pytest.raises(ConfigError, match="cool_down"):
        BreakerSettings(cool_down=0)
