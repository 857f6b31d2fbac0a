"""The one place where the core's error tree becomes an Airflow task outcome."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from airflow.sdk.exceptions import AirflowException, AirflowFailException

from airflow_provider_integrations.core.errors import IntegrationError, Outcome, classify


def airflow_outcome(error: BaseException) -> BaseException:
    """The exception an operator should raise for `error`.

    Transient and rate-limit errors stay retryable (Airflow's task retries take over); configuration,
    auth, permanent and record errors that reach the task level fail it at once, because retrying
    cannot fix them. Exceptions from outside our tree are returned unchanged.
    """
    if not isinstance(error, IntegrationError):
        return error
    message = f"{type(error).__name__}: {error}"
    if classify(error) is Outcome.RETRY:
        return AirflowException(message)
    return AirflowFailException(message)


@contextmanager
def task_outcomes() -> Iterator[None]:
    """Wrap an operator's work so every failure leaves as the right Airflow exception."""
    try:
        yield
    except IntegrationError as error:
        raise airflow_outcome(error) from error
