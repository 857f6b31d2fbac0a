"""Per-host protection: a token-bucket rate limiter and a circuit breaker.

Both are thread-safe and take their clock and sleep from the caller so they can be tested exactly.
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from airflow_provider_integrations.core.errors import CircuitOpenError, ConfigError

Clock = Callable[[], float]
_EPSILON = 1e-9  # float refills can land a hair under one whole token
Sleep = Callable[[float], None]


class TokenBucket:
    """Allows `rate` calls per second on average with bursts up to `capacity` (None: no limit).

    `pause_until` lets a server's own rate-limit headers (remaining 0, reset at T) hold every caller
    back until the window resets.
    """

    def __init__(
        self,
        rate: float | None,
        capacity: float | None = None,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        if rate is not None and rate <= 0:
            raise ConfigError(f"rate limit must be a positive number of calls per second, got {rate}")
        self.rate = rate
        self.capacity = capacity if capacity is not None else max(1.0, rate or 1.0)
        if self.capacity < 1:
            raise ConfigError(f"rate limit burst capacity must be at least 1, got {self.capacity}")
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.capacity
        self._updated = clock()
        self._paused_until = 0.0
        self._lock = threading.Lock()

    def pause_until(self, when: float) -> None:
        """Hold all calls until the clock reads `when` (a server said the window is spent)."""
        with self._lock:
            self._paused_until = max(self._paused_until, when)

    def delay_needed(self) -> float:
        """Seconds the next call would have to wait, without taking a token."""
        with self._lock:
            return self._delay_locked(self._clock())

    def acquire(self) -> float:
        """Take one token, sleeping as long as needed; returns the seconds slept."""
        slept = 0.0
        while True:
            with self._lock:
                now = self._clock()
                delay = self._delay_locked(now)
                if delay <= 0:
                    self._tokens -= 1
                    return slept
            self._sleep(delay)
            slept += delay

    def _delay_locked(self, now: float) -> float:
        if now < self._paused_until:
            return self._paused_until - now
        if self.rate is None:
            self._tokens = self.capacity
            return 0.0
        self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
        self._updated = now
        if self._tokens >= 1 - _EPSILON:
            return 0.0
        return (1 - self._tokens) / self.rate


class BreakerState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True)
class BreakerSettings:
    """When to stop calling a failing host, and for how long.

    After `failure_threshold` consecutive failures the breaker opens for `cool_down` seconds; then one
    trial call is let through (half-open): success closes it, failure opens it again.
    """

    failure_threshold: int = 5
    cool_down: float = 30.0

    def __post_init__(self) -> None:
        if self.failure_threshold < 1:
            raise ConfigError(f"failure_threshold must be at least 1, got {self.failure_threshold}")
        if self.cool_down <= 0:
            raise ConfigError(f"cool_down must be positive seconds, got {self.cool_down}")


class CircuitBreaker:
    """Closed / open / half-open breaker for one host. Its open state raises, it never waits."""

    def __init__(self, host: str, settings: BreakerSettings, *, clock: Clock = time.monotonic) -> None:
        self.host = host
        self.settings = settings
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._trial_in_flight = False
        self._lock = threading.Lock()

    @property
    def state(self) -> BreakerState:
        with self._lock:
            self._refresh_locked()
            return self._state

    def before_call(self) -> None:
        """Raise :class:`CircuitOpenError` unless a call may go out now."""
        with self._lock:
            self._refresh_locked()
            if self._state is BreakerState.OPEN:
                reopens_in = self._opened_at + self.settings.cool_down - self._clock()
                raise CircuitOpenError(self.host, max(0.0, reopens_in))
            if self._state is BreakerState.HALF_OPEN:
                if self._trial_in_flight:
                    raise CircuitOpenError(self.host, 0.0)
                self._trial_in_flight = True

    def record_success(self) -> None:
        with self._lock:
            self._state = BreakerState.CLOSED
            self._failures = 0
            self._trial_in_flight = False

    def record_failure(self) -> None:
        with self._lock:
            self._trial_in_flight = False
            self._failures += 1
            if self._state is BreakerState.HALF_OPEN or self._failures >= self.settings.failure_threshold:
                self._state = BreakerState.OPEN
                self._opened_at = self._clock()

    def _refresh_locked(self) -> None:
        if self._state is BreakerState.OPEN and self._clock() >= self._opened_at + self.settings.cool_down:
            self._state = BreakerState.HALF_OPEN
            self._trial_in_flight = False
