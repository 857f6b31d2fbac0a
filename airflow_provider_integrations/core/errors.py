"""The error tree every connector raises, and the one place that decides what each error means.

Connectors translate what a system answers into one of these classes; `classify` turns any exception
into an :class:`Outcome` (retry, fail, dead-letter), which the Airflow layer maps onto task states.
"""

from __future__ import annotations

import enum


class Outcome(enum.Enum):
    """What the orchestrator should do with a failure."""

    RETRY = "retry"
    """Try the task again later (Airflow task retries)."""
    FAIL = "fail"
    """Fail now without retrying: retrying cannot help until a person acts."""
    DEAD_LETTER = "dead_letter"
    """One record is bad: send it to the DLQ and carry on with the others."""


class IntegrationError(Exception):
    """Base class of every error this package raises on purpose."""

    outcome: Outcome = Outcome.FAIL

    def __init__(self, message: str, *, system: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.system = system
        self.code = code
        self.attempts: int | None = None

    def __str__(self) -> str:
        parts = [self.message]
        if self.code:
            parts.append(f"[{self.code}]")
        if self.attempts and self.attempts > 1:
            parts.append(f"(after {self.attempts} attempts)")
        text = " ".join(parts)
        return f"{self.system}: {text}" if self.system else text


class TransientError(IntegrationError):
    """A failure that may go away by itself: timeouts, resets, 5xx. Retried.

    `retry_after` is how long the system asked us to wait (seconds), when it said so.
    """

    outcome = Outcome.RETRY

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        system: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message, system=system, code=code)
        self.retry_after = retry_after


class RateLimitedError(TransientError):
    """The system asked us to slow down (429 or its own limit code)."""


class CircuitOpenError(TransientError):
    """Calls to a host are suspended because it kept failing; raised at once instead of waiting."""

    def __init__(self, host: str, reopens_in: float) -> None:
        super().__init__(
            f"circuit breaker for {host} is open after repeated failures; "
            f"no calls for another {reopens_in:.1f}s",
            retry_after=reopens_in,
        )
        self.host = host
        self.reopens_in = reopens_in


class AuthError(IntegrationError):
    """Credentials were refused. The client refreshes them once; if that fails too, the task fails."""


class PermanentError(IntegrationError):
    """A request the system will never accept as sent (4xx other than auth and rate limits)."""


class RecordError(PermanentError):
    """One record was refused (validation rule, bad value, duplicate...). It goes to the DLQ."""

    outcome = Outcome.DEAD_LETTER

    def __init__(
        self,
        message: str,
        *,
        record_key: str | None = None,
        system: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message, system=system, code=code)
        self.record_key = record_key


class ConfigError(IntegrationError):
    """Bad configuration, connection or identifier: fail fast with a message naming what is wrong."""


class PaginationError(PermanentError):
    """Paging went wrong: a loop (same cursor twice) or a result shorter than the reported total."""


class LoadError(PermanentError):
    """A staged load did not load exactly what its manifest lists (a file missing, corrupt or short).
    Re-running the load cannot fix it; re-running the extract can."""


def classify(exc: BaseException) -> Outcome:
    """Decide what to do with any exception.

    Exceptions from outside this tree keep Airflow's default treatment (retry while tries remain).
    """
    if isinstance(exc, IntegrationError):
        return exc.outcome
    return Outcome.RETRY
