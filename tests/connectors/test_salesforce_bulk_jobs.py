"""Bulk API 2.0 ingest in pieces (submit, state, results) against the sandbox's Salesforce emulator.

The emulator completes a closed ingest job on its second status call, or one second after the upload was
closed, whichever comes first; there is no setting to make jobs take longer, so tests poll until done.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_integrations.connectors.base import WriteOutcome
from airflow_provider_integrations.connectors.salesforce import SalesforceConnector
from airflow_provider_integrations.connectors.salesforce_bulk import BulkJobState, BulkWriter
from airflow_provider_integrations.core.errors import PaginationError, PermanentError
from tests.connectors.conftest import Admin
from tests.connectors.test_salesforce import connect


@pytest.fixture(scope="module")
def admin(sandbox: Any) -> Admin:
    return Admin(sandbox)


@pytest.fixture
def sf(sandbox: Any, admin: Admin) -> Iterator[SalesforceConnector]:
    with connect(sandbox, admin) as connector:
        yield connector


@pytest.fixture
def bulk(sf: SalesforceConnector) -> BulkWriter:
    return BulkWriter(sf.client, sf.api)


def accounts(prefix: str, n: int) -> list[dict[str, Any]]:
    return [{"External_Id__c": f"{prefix}-{i:05d}", "Name": f"{prefix} {i}"} for i in range(n)]


def poll(bulk: BulkWriter, job_id: str, timeout: float = 30) -> tuple[BulkJobState, list[str]]:
    """Poll until the job ends; return its final state and every state seen."""
    seen = []
    deadline = time.monotonic() + timeout
    while True:
        state = bulk.state(job_id)
        seen.append(state.state)
        if state.finished or time.monotonic() > deadline:
            return state, seen
        time.sleep(0.05)


def test_submit_then_poll_then_read_mixed_outcomes(bulk: BulkWriter, admin: Admin) -> None:
    records = accounts("BJOB-MIX", 700)
    with admin.faults("salesforce", seed=21, write_permanent_rate=0.05, write_transient_rate=0.05):
        started = time.monotonic()
        job_id = bulk.submit("Account", "upsert", records, "External_Id__c")
        submitted = time.monotonic()
        final, seen = poll(bulk, job_id)
        done = time.monotonic()
    print(f"submit {submitted - started:.2f}s, done after {done - submitted:.2f}s, states {seen}")
    assert seen[0] == "InProgress", "a job just closed is still being processed"
    assert final.done and not final.failed and final.error_message is None
    assert final.records_processed == 700

    expected = [r["External_Id__c"] for r in records]
    results = list(bulk.results(job_id, "External_Id__c", expected))
    assert sorted(r.key for r in results) == sorted(expected), "one result per record, none twice"
    outcomes = Counter(r.outcome for r in results)
    assert outcomes[WriteOutcome.PERMANENT] > 0 and outcomes[WriteOutcome.TRANSIENT] > 0
    assert outcomes[WriteOutcome.SUCCESS] > 600
    assert final.records_failed == outcomes[WriteOutcome.PERMANENT] + outcomes[WriteOutcome.TRANSIENT]
    assert all(r.destination_id and r.created for r in results if r.outcome is WriteOutcome.SUCCESS)
    assert {r.code for r in results if r.outcome is WriteOutcome.TRANSIENT} == {"UNABLE_TO_LOCK_ROW"}
    assert all(r.code and r.message for r in results if r.outcome is WriteOutcome.PERMANENT)
    written = admin.written("salesforce", "Account")
    assert all(r.key in written for r in results if r.outcome is WriteOutcome.SUCCESS)


def test_a_job_that_fails_reports_why(bulk: BulkWriter) -> None:
    records = [{"External_Id__c": "BJOB-BAD-1", "Name": "x", "No_Such_Field__c": "y"}]
    job_id = bulk.submit("Account", "upsert", records, "External_Id__c")
    final, _ = poll(bulk, job_id)
    assert final.failed and not final.done and final.state == "Failed"
    assert final.error_message and "No_Such_Field__c" in final.error_message
    assert "No_Such_Field__c" in str(final.error(job_id)) and final.error(job_id).code == "BULK_FAILED"
    with pytest.raises(PaginationError) as err:
        list(bulk.results(job_id, "External_Id__c", ["BJOB-BAD-1"]))
    assert "no result for 1 of 1 records" in str(err.value) and "BJOB-BAD-1" in str(err.value)


def test_an_aborted_job_is_a_failure(bulk: BulkWriter, sf: SalesforceConnector) -> None:
    job_id = bulk.submit("Account", "upsert", accounts("BJOB-ABORT", 5), "External_Id__c")
    sf.client.request("PATCH", f"{sf.api}/jobs/ingest/{job_id}", json={"state": "Aborted"})
    state = bulk.state(job_id)
    assert state.state == "Aborted" and state.failed and not state.done


def test_results_name_records_that_got_no_result(bulk: BulkWriter) -> None:
    records = accounts("BJOB-SHORT", 20)
    job_id = bulk.submit("Account", "upsert", records, "External_Id__c")
    assert poll(bulk, job_id)[0].done
    expected = [r["External_Id__c"] for r in records] + ["BJOB-GHOST-1", "BJOB-GHOST-2"]
    results = []
    with pytest.raises(PaginationError) as err:
        results.extend(bulk.results(job_id, "External_Id__c", expected))
    assert len(results) == 20, "every result that came back is yielded before the error"
    assert "no result for 2 of 22 records" in str(err.value)
    assert "BJOB-GHOST-1" in str(err.value)


def test_write_still_submits_waits_and_reads_in_one_call(bulk: BulkWriter, admin: Admin) -> None:
    records = accounts("BJOB-WRITE", 300)
    with admin.faults("salesforce", seed=22, write_permanent_rate=0.05):
        results = list(bulk.write("Account", "upsert", records, "External_Id__c"))
    assert sorted(r.key for r in results) == sorted(r["External_Id__c"] for r in records)
    assert any(r.outcome is WriteOutcome.PERMANENT for r in results)
    succeeded = {r.key for r in results if r.outcome is WriteOutcome.SUCCESS}
    repeat = [r for r in records if r["External_Id__c"] in succeeded][:5]
    again = list(bulk.write("Account", "upsert", repeat, "External_Id__c"))
    assert [(r.outcome, r.created) for r in again] == [(WriteOutcome.SUCCESS, False)] * 5

    bad = [{"External_Id__c": "BJOB-W-BAD", "Nope__c": 1}]
    with pytest.raises(PermanentError) as err:
        list(bulk.write("Account", "upsert", bad, "External_Id__c"))
    assert err.value.code == "BULK_FAILED" and "Nope__c" in str(err.value)
