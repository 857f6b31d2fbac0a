"""The reverse-ETL dead letter's payload: what a sync writes is what the replay reads back, and a payload
missing any part of its contract reads as None (the replay reports it malformed) instead of failing."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_integrations.core.reverse_etl.dead_letter import (
    DeadLetterPayload,
    ErrorClass,
    PayloadKind,
    SyncSettings,
)
from airflow_provider_integrations.core.reverse_etl.spec import UnsendableValue

SETTINGS = SyncSettings("sandbox_salesforce", "Account", "upsert", "External_Id__c", "SYNC_STATE__X", "snow")
WRITTEN = {
    "record": {"External_Id__c": "k1", "Name": "Acme"},
    "sync": {
        "conn_id": "sandbox_salesforce",
        "target": "Account",
        "operation": "upsert",
        "key_field": "External_Id__c",
        "state_table": "SYNC_STATE__X",
        "snowflake_conn_id": "snow",
    },
}


def test_a_record_payload_reads_back_as_written() -> None:
    payload = DeadLetterPayload.from_dict(WRITTEN)
    assert payload == DeadLetterPayload(SETTINGS, WRITTEN["record"])
    assert payload is not None and payload.record == WRITTEN["record"] and payload.to_dict() == WRITTEN


def test_a_refused_row_is_kept_under_row_and_has_no_record_to_replay() -> None:
    row = {"ACCOUNT_KEY": None, "SCORE": "NaN"}
    payload = DeadLetterPayload(SETTINGS, row, PayloadKind.ROW)
    written = payload.to_dict()
    assert set(written) == {"row", "sync"} and written["row"] == row
    assert DeadLetterPayload.from_dict(written) == payload and payload.record is None


def broken(change: dict[str, Any], *, drop: str | None = None) -> dict[str, Any]:
    sync = {**WRITTEN["sync"], **change}
    if drop:
        del sync[drop]
    return {"record": WRITTEN["record"], "sync": sync}


@pytest.mark.parametrize(
    "payload",
    [
        None,
        {},
        {"record": WRITTEN["record"]},
        {"record": "not a mapping", "sync": WRITTEN["sync"]},
        {"record": WRITTEN["record"], "sync": "conn"},
        broken({}, drop="state_table"),
        broken({"operation": ""}),
        broken({"target": 42}),
    ],
    ids=[
        "none",
        "empty",
        "no-sync",
        "record-not-mapping",
        "sync-not-mapping",
        "missing",
        "blank",
        "not-text",
    ],
)
def test_a_payload_missing_part_of_its_contract_reads_as_none(payload: dict[str, Any] | None) -> None:
    assert DeadLetterPayload.from_dict(payload) is None


def test_the_state_table_is_read_even_from_a_malformed_payload() -> None:
    assert DeadLetterPayload.state_table_of(broken({"operation": ""})) == "SYNC_STATE__X"
    assert DeadLetterPayload.state_table_of({"sync": "x"}) is None


def test_the_error_class_of_an_unsendable_value_is_its_exception_name() -> None:
    assert UnsendableValue.__name__ == ErrorClass.UNSENDABLE_VALUE
