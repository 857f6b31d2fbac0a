"""Bulk API 2.0 ingest in pieces (submit, state, results) against the sandbox's Salesforce emulator.

The emulator completes a closed ingest job on its second status call, or one second after the upload was
closed, whichever comes first; there is no setting to make jobs take longer, so tests poll until done.
"""

from __future__ import annotations

import csv
import fnmatch
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_integrations.connectors.base import WriteOutcome
from airflow_provider_integrations.connectors.salesforce import SalesforceConnector
from airflow_provider_integrations.connectors.salesforce_bulk import (
    BulkJob,
    BulkJobState,
    BulkQuery,
    BulkWriter,
)
from airflow_provider_integrations.core.errors import IntegrationError, PaginationError, PermanentError
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


INGEST_JOB = "*/jobs/ingest/{id}"
LOST = {"rate_drop_reply": 1.0, "max_faults": 1}


def accepted(admin: Admin, keys: list[str]) -> dict[str, int]:
    counts = admin.counters()["accepted"].get("salesforce/Account", {})
    return {k: counts[k] for k in keys if k in counts}


def calls(admin: Admin, endpoint: str) -> int:
    """Requests the emulator counted so far for an endpoint pattern such as "PATCH */jobs/ingest/{id}"."""
    counted = admin.counters()["calls"].items()
    return sum(n for call, n in counted if fnmatch.fnmatchcase(call, f"salesforce {endpoint}"))


@pytest.mark.parametrize(
    ("step", "endpoint"),
    [
        ("create", "POST */jobs/ingest"),
        ("upload", "PUT */jobs/ingest/{id}/batches"),
        ("close", f"PATCH {INGEST_JOB}"),
    ],
)
def test_a_lost_reply_to_any_step_of_a_write_still_writes_every_record_once(
    bulk: BulkWriter, admin: Admin, step: str, endpoint: str
) -> None:
    """The server applied the step and its answer was lost, so the client cannot know; whatever it does
    next, no record may be written twice or left out (the emulator counts every record it applied)."""
    records = accounts(f"BL-{step.upper()}", 40)
    keys = [r["External_Id__c"] for r in records]
    before = calls(admin, endpoint)
    with admin.faults("salesforce", only_endpoints=[endpoint], **LOST):
        results = list(bulk.write("Account", "upsert", records, "External_Id__c"))
    assert sorted(r.key for r in results) == sorted(keys)
    assert {r.outcome for r in results} == {WriteOutcome.SUCCESS}
    assert accepted(admin, keys) == dict.fromkeys(keys, 1), "every record applied exactly once"
    sent = calls(admin, endpoint) - before
    assert sent == 2, f"the lost {step} was sent again (or its job replaced) once"


def test_a_job_whose_upload_reply_was_lost_is_aborted_not_left_to_run(bulk: BulkWriter, admin: Admin) -> None:
    def jobs() -> dict[str, str]:
        return {job["id"]: job["state"] for job in bulk.job.client.get_json(bulk.job.base)["records"]}

    before = jobs()
    with admin.faults("salesforce", only_endpoints=["PUT */jobs/ingest/{id}/batches"], **LOST):
        job_id = bulk.submit("Account", "upsert", accounts("BL-ABANDON", 5), "External_Id__c")
    new = {k: v for k, v in jobs().items() if k not in before}
    assert set(new) - {job_id} and {v for k, v in new.items() if k != job_id} == {"Aborted"}
    assert poll(bulk, job_id)[0].done


@pytest.mark.parametrize("kind", ["ingest", "query"])
def test_abort_and_delete_are_done_when_their_reply_is_lost(
    sf: SalesforceConnector, admin: Admin, kind: str
) -> None:
    job = BulkJob(sf.client, sf.api, kind)
    body = (
        {"object": "Account", "operation": "insert"}
        if kind == "ingest"
        else {"operation": "query", "query": "SELECT Id FROM Account LIMIT 3"}
    )
    job_id = job.create(body)
    with admin.faults("salesforce", only_endpoints=[f"PATCH */jobs/{kind}/{{id}}"], **LOST):
        assert job.abort(job_id).state == "Aborted"
    assert job.abort(job_id).state == "Aborted", "aborting an aborted job is done, not an error"
    with admin.faults("salesforce", only_endpoints=[f"DELETE */jobs/{kind}/{{id}}"], **LOST):
        job.delete(job_id)
    job.delete(job_id)
    with pytest.raises(IntegrationError) as gone:
        job.state(job_id)
    assert gone.value.code == "NOT_FOUND"


def test_a_query_survives_a_lost_create_reply_and_pages_cut_short(
    sf: SalesforceConnector, admin: Admin
) -> None:
    soql = "SELECT Id, Name FROM Account ORDER BY Id LIMIT 230"
    query = BulkQuery(sf.client, sf.api, page_records=50)
    clean = [r["Id"] for r in query.records(soql, include_deleted=False)]
    assert len(clean) == 230
    with admin.faults("salesforce", only_endpoints=["POST */jobs/query"], **LOST):
        assert [r["Id"] for r in query.records(soql, include_deleted=False)] == clean
    cut = {"rate_reset": 1.0, "max_faults": 3, "only_endpoints": ["GET */jobs/query/{id}/results"]}
    with admin.faults("salesforce", **cut):
        assert [r["Id"] for r in query.records(soql, include_deleted=False)] == clean, (
            "a page cut short is read again from where it broke off: nothing twice, nothing skipped"
        )


def test_ingest_results_cut_short_are_read_again_from_where_they_broke_off(
    bulk: BulkWriter, admin: Admin
) -> None:
    records = accounts("BJOB-CUT", 120)
    keys = [r["External_Id__c"] for r in records]
    job_id = bulk.submit("Account", "upsert", records, "External_Id__c")
    assert poll(bulk, job_id)[0].done
    with admin.faults(
        "salesforce",
        rate_reset=1.0,
        max_faults=2,
        only_endpoints=["GET */jobs/ingest/{id}/successfulResults"],
    ):
        results = list(bulk.results(job_id, "External_Id__c", keys))
    assert sorted(r.key for r in results) == sorted(keys)


@pytest.fixture
def default_csv_limit() -> Iterator[None]:
    """Python's default csv field limit (131,072), whatever another module of this process set."""
    before = csv.field_size_limit(131_072)
    yield
    csv.field_size_limit(before)


@pytest.mark.usefixtures("default_csv_limit")
def test_a_value_longer_than_the_csv_default_comes_back_as_that_records_failure(bulk: BulkWriter) -> None:
    """Failed results carry the refused record's data back, so they hold the over-long value too."""
    records = accounts("BJOB-LONG", 3)
    records[1]["Name"] = "x" * 200_000
    results = {r.key: r for r in bulk.write("Account", "upsert", records, "External_Id__c")}
    long_key = records[1]["External_Id__c"]
    assert results[long_key].outcome is WriteOutcome.PERMANENT and results[long_key].code == "STRING_TOO_LONG"
    assert [r.outcome for k, r in sorted(results.items()) if k != long_key] == [WriteOutcome.SUCCESS] * 2


@pytest.mark.parametrize(
    "bad", ["../../sobjects/Account", "750 00000000000001", "", "7" * 19, "750000000000001/"]
)
def test_a_job_id_that_is_not_a_salesforce_id_never_reaches_a_path(bulk: BulkWriter, bad: str) -> None:
    before = bulk.job.client.calls
    for call in (
        lambda: bulk.state(bad),
        lambda: list(bulk.results(bad, "External_Id__c", ["x"])),
        lambda: bulk.job.abort(bad),
        lambda: bulk.job.delete(bad),
    ):
        with pytest.raises(PermanentError) as err:
            call()
        assert "job id" in str(err.value)
    assert bulk.job.client.calls == before, "nothing was sent"
    assert bulk.job.url("750000000000001").endswith("/jobs/ingest/750000000000001"), "15 characters is an id"


@pytest.mark.parametrize(
    "body",
    [{"id": "750000000000001AAA"}, ["not", "a", "job"], {"state": "Open", "numberRecordsProcessed": "many"}],
)
def test_a_job_status_that_is_not_one_is_a_clear_permanent_error(body: Any) -> None:
    with pytest.raises(PermanentError) as err:
        BulkJobState.from_info(body)
    assert "bulk job status" in str(err.value)
