from __future__ import annotations

import pytest
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from airflow_provider_integrations.core.errors import (
    AuthError,
    ConfigError,
    RateLimitedError,
    RecordError,
    TransientError,
)
from airflow_provider_integrations.operators.outcomes import airflow_outcome, task_outcomes


@pytest.mark.parametrize("error", [TransientError("reset"), RateLimitedError("429", retry_after=5)])
def test_transient_errors_stay_retryable(error: Exception) -> None:
    mapped = airflow_outcome(error)
    assert type(mapped) is AirflowException
    assert str(error) in str(mapped)


@pytest.mark.parametrize("error", [AuthError("refused"), ConfigError("bad stream"), RecordError("bad row")])
def test_hopeless_errors_fail_without_retries(error: Exception) -> None:
    assert isinstance(airflow_outcome(error), AirflowFailException)


def test_foreign_errors_pass_through_unchanged() -> None:
    error = ValueError("boom")
    assert airflow_outcome(error) is error


def test_task_outcomes_maps_inside_an_operator_body() -> None:
    with pytest.raises(AirflowFailException, match="ConfigError: unknown stream 'x'") as err, task_outcomes():
        raise ConfigError("unknown stream 'x'")
    assert isinstance(err.value.__cause__, ConfigError)
    with pytest.raises(ValueError), task_outcomes():
        raise ValueError("not ours")
