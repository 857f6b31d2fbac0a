"""The reverse-ETL engine without Airflow: a SyncRun over a fakesnow model, real connectors against the
sandbox's emulators, and a local DLQ. Outcomes are typed, dead letters hold the payload the replay reads,
and a large batch goes to an asynchronous job only where the destination declares it runs them."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import snowflake.connector

from airflow_provider_integrations.connectors.base import Connector, WriteOutcome, WriteResult
from airflow_provider_integrations.connectors.salesforce_bulk import BulkWriter
from airflow_provider_integrations.connectors.servicenow import ServiceNowConnector
from airflow_provider_integrations.core.dlq import LocalDLQStore, RunContext
from airflow_provider_integrations.core.reverse_etl.dead_letter import DeadLetterPayload, ErrorClass
from airflow_provider_integrations.core.reverse_etl.delivery import Delivered
from airflow_provider_integrations.core.reverse_etl.run import AsyncBatch, SyncRun
from airflow_provider_integrations.core.reverse_etl.settings import Endpoints, RunOptions
from airflow_provider_integrations.core.reverse_etl.spec import SyncSpec
from airflow_provider_integrations.core.reverse_etl.state import RecordOutcome
from airflow_provider_integrations.core.sql.sync_state import OutcomeStatus, StateColumn
from airflow_provider_integrations.hooks.snowflake_types import column_types
from tests.connectors.conftest import Admin
from tests.connectors.test_salesforce import connect as connect_salesforce
from tests.connectors.test_servicenow import CATALOG as SERVICENOW_CATALOG
from tests.connectors.test_servicenow import FAST, settings_for

RUNS = RunContext("core_test", "sync", "manual__core", 1)
SF_MAPPING = {"ACCOUNT_NAME": "Name", "SCORE": "AnnualRevenue", "SEATS": "NumberOfEmployees"}


@pytest.fixture(scope="module")
def admin(sandbox: Any) -> Admin:
    return Admin(sandbox)


@pytest.fixture
def warehouse(sandbox: Any) -> Iterator[Any]:
    conn = snowflake.connector.connect(**sandbox.snowflake_kwargs())
    yield conn
    conn.close()


def make_model(warehouse: Any, n: int) -> str:
    table = f"CS_{uuid.uuid4().hex[:6]}".upper()  # keys fit External_Id__c (20 characters)
    prefix = table.lower()
    with warehouse.cursor() as cursor:
        cursor.execute(
            f'CREATE TABLE "{table}" (ACCOUNT_KEY VARCHAR, ACCOUNT_NAME VARCHAR, SCORE INT, SEATS INT)'
        )
        cursor.execute(
            f"INSERT INTO \"{table}\" SELECT '{prefix}-' || LPAD(TO_VARCHAR(i), 6, '0'), 'Account ' || i, "
            f"i * 10, i % 500 FROM (SELECT SEQ4() AS i FROM TABLE(GENERATOR(ROWCOUNT => {n})))"
        )
    return table


def salesforce_run(
    warehouse: Any,
    connector: Connector,
    table: str,
    dlq: Path,
    options: RunOptions | None = None,
    mode: str = "upsert",
) -> SyncRun:
    spec = SyncSpec(target="Account", key="ACCOUNT_KEY", mapping=SF_MAPPING, external_id="External_Id__c",
                    mode=mode, id_field="Id", batch_size=2500)  # fmt: skip
    endpoints = Endpoints(table, f"STATE_{table}", "sandbox_salesforce", "sandbox_snowflake")
    return SyncRun(spec, endpoints, connector, warehouse, RUNS, open_dlq=lambda: LocalDLQStore(dlq),
                   column_types=column_types, options=options or RunOptions(retry_backoff=0.01))  # fmt: skip


def state_of(warehouse: Any, table: str) -> dict[str, tuple[Any, ...]]:
    """key -> (last status, destination id, in-flight batch)."""
    columns = (StateColumn.SYNC_KEY, StateColumn.LAST_STATUS, StateColumn.DEST_ID, StateColumn.INFLIGHT_BATCH)
    with warehouse.cursor() as cursor:
        cursor.execute(f'SELECT {", ".join(columns)} FROM "STATE_{table}"')
        return {str(row[0]): tuple(row[1:]) for row in cursor.fetchall()}


def test_a_run_records_every_outcome_and_its_dead_letters_carry_the_replay_contract(
    sandbox: Any, admin: Admin, warehouse: Any, tmp_path: Path
) -> None:
    table = make_model(warehouse, 200)
    with (
        connect_salesforce(sandbox, admin) as connector,
        admin.faults("salesforce", seed=7, write_permanent_rate=0.1),
    ):
        run = salesforce_run(warehouse, connector, table, tmp_path)
        assert run.run() is None
    summary = run.summary
    assert summary.succeeded + summary.failed_permanently == summary.sent == 200
    assert summary.succeeded > summary.failed_permanently > 0
    dead = LocalDLQStore(tmp_path).find(limit=1000)
    assert len(dead) == summary.failed_permanently > 0
    state = state_of(warehouse, table)
    parked = {key for key, (status, *_rest) in state.items() if status == OutcomeStatus.DEAD_LETTER}
    assert parked == {str(e.record_key) for e in dead}
    assert all(state[k][0] == OutcomeStatus.SUCCESS and state[k][1] for k in set(state) - parked)
    for entry in dead:
        payload = DeadLetterPayload.from_dict(entry.payload)
        assert payload is not None and payload.record is not None
        assert payload.record["External_Id__c"] == entry.record_key
        assert payload.sync == run.endpoints.settings(run.spec, "upsert")
        assert payload.to_dict() == entry.payload


def test_an_update_of_keys_never_synced_is_parked_as_destination_unknown(
    sandbox: Any, admin: Admin, warehouse: Any, tmp_path: Path
) -> None:
    table = make_model(warehouse, 5)
    with connect_salesforce(sandbox, admin) as connector:
        run = salesforce_run(warehouse, connector, table, tmp_path, mode="update")
        assert run.run() is None
    assert (run.summary.sent, run.summary.dead_letter_reasons) == (0, {ErrorClass.DESTINATION_UNKNOWN: 5})
    assert {status for status, *_ in state_of(warehouse, table).values()} == {OutcomeStatus.DEAD_LETTER}


def test_a_large_batch_goes_to_an_asynchronous_job_and_its_results_are_recorded_once_finished(
    sandbox: Any, admin: Admin, warehouse: Any, tmp_path: Path
) -> None:
    table = make_model(warehouse, 2200)
    options = RunOptions(retry_backoff=0.01, async_batch_from=2000)
    with connect_salesforce(sandbox, admin) as connector:
        assert connector.async_batches
        run = salesforce_run(warehouse, connector, table, tmp_path, options)
        batch = run.run()
        assert isinstance(batch, AsyncBatch) and batch.records == 2200
        state = state_of(warehouse, table)
        assert {row[2] for row in state.values()} == {batch.job_id}, "every key in flight on the job"
        writer = BulkWriter(connector.client, connector.api)
        deadline = time.monotonic() + 120
        while not writer.state(batch.job_id).finished:
            assert time.monotonic() < deadline, "the bulk job did not finish"
            time.sleep(0.2)

        run.finish_async_batch(batch.job_id)
        assert run.run() is None, "nothing left for another job"
    assert (run.summary.sent, run.summary.succeeded) == (2200, 2200), run.summary
    state = state_of(warehouse, table)
    assert {row[0] for row in state.values()} == {OutcomeStatus.SUCCESS}
    assert {row[2] for row in state.values()} == {None}, "the job no longer holds any key"


def test_a_destination_without_asynchronous_batches_gets_every_batch_through_write(
    sandbox: Any, admin: Admin, warehouse: Any, tmp_path: Path
) -> None:
    table = f"CORE_SN_{uuid.uuid4().hex[:6]}".upper()
    with warehouse.cursor() as cursor:
        cursor.execute(f'CREATE TABLE "{table}" (K VARCHAR, NAME VARCHAR)')
        rows = ", ".join(f"('{table}-{i}', 'n{i}')" for i in range(12))
        cursor.execute(f'INSERT INTO "{table}" VALUES {rows}')
    spec = SyncSpec(
        target="u_account_import", key="K", mapping={"NAME": "u_name"}, external_id="u_external_id"
    )
    endpoints = Endpoints(table, f"STATE_{table}", "sandbox_servicenow", "sandbox_snowflake")
    settings = settings_for(sandbox, admin, oauth=True)
    with ServiceNowConnector.connect(settings, SERVICENOW_CATALOG, retry=FAST) as connector:
        assert not connector.async_batches
        run = SyncRun(spec, endpoints, connector, warehouse, RUNS, open_dlq=lambda: LocalDLQStore(tmp_path),
                      column_types=column_types, options=RunOptions(async_batch_from=1))  # fmt: skip
        assert run.run() is None
    assert (run.summary.sent, run.summary.succeeded) == (12, 12)


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        (
            WriteResult("k", WriteOutcome.SUCCESS, "001X"),
            RecordOutcome("k", "h", OutcomeStatus.SUCCESS, "001X"),
        ),
        (
            WriteResult("k", WriteOutcome.PERMANENT, code="INVALID_FIELD", message="bad"),
            RecordOutcome("k", "h", OutcomeStatus.DEAD_LETTER, error="INVALID_FIELD: bad"),
        ),
        (
            WriteResult("k", WriteOutcome.TRANSIENT, code="UNABLE_TO_LOCK_ROW", message="busy"),
            RecordOutcome("k", "h", OutcomeStatus.PENDING, error="UNABLE_TO_LOCK_ROW: busy"),
        ),
    ],
    ids=["success", "permanent", "transient"],
)
def test_a_write_result_becomes_the_state_outcome_of_its_key(
    result: WriteResult, expected: RecordOutcome
) -> None:
    assert RecordOutcome.of(Delivered("k", {}, result, 1), "h") == expected
