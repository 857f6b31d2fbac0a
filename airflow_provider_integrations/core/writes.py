"""What a write reports per record: the contract between connectors (which send) and the core (which
records outcomes, retries and dead-letters them)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from airflow_provider_integrations.core.errors import IntegrationError, TransientError


class WriteOutcome(enum.StrEnum):
    SUCCESS = "success"
    TRANSIENT = "transient"
    PERMANENT = "permanent"


@dataclass(frozen=True)
class WriteResult:
    """What happened to one record sent to a system."""

    key: str
    outcome: WriteOutcome
    destination_id: str | None = None
    created: bool | None = None
    code: str | None = None
    message: str | None = None

    @classmethod
    def failed(cls, key: str, error: IntegrationError) -> WriteResult:
        """The result of a record whose call failed or was refused unsent: transient when another attempt
        may help, else permanent (a dead letter)."""
        outcome = WriteOutcome.TRANSIENT if isinstance(error, TransientError) else WriteOutcome.PERMANENT
        return cls(key, outcome, None, None, error.code, error.message)
