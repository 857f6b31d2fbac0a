from __future__ import annotations

import pytest

from airflow_provider_integrations.core.errors import (
    AuthError,
    CircuitOpenError,
    ConfigError,
    Outcome,
    PaginationError,
    PermanentError,
    RateLimitedError,
    RecordError,
    TransientError,
    classify,
)


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (TransientError("reset"), Outcome.RETRY),
        (RateLimitedError("slow down", retry_after=3), Outcome.RETRY),
        (CircuitOpenError("h", 3), Outcome.RETRY),
        (AuthError("refused"), Outcome.FAIL),
        (PermanentError("bad request"), Outcome.FAIL),
        (PaginationError("truncated"), Outcome.FAIL),
        (ConfigError("no such stream"), Outcome.FAIL),
        (RecordError("validation rule", record_key="A-1"), Outcome.DEAD_LETTER),
        (KeyError("x"), Outcome.RETRY),
    ],
)
def test_every_error_has_one_outcome(error: BaseException, outcome: Outcome) -> None:
    assert classify(error) is outcome


def test_message_names_system_code_and_attempts() -> None:
    error = TransientError("GET /x answered 503", system="stripe", code="HTTP 503")
    error.attempts = 4
    assert str(error) == "stripe: GET /x answered 503 [HTTP 503] (after 4 attempts)"
