"""Salesforce Bulk API 2.0 jobs on a network that drops connections after the server did the work.

A quarter of all requests to the Salesforce emulator lose their reply: cut mid-body (`rate_reset`), or
applied and answered with headers only (`rate_drop_reply`, which also loses empty replies such as an
upload's 201). Job creation, upload, close, polling and every result download meet these faults. Each
seeded run must still end with every record written exactly once (the emulator's `accepted` counter
counts each record it applied) and every result read exactly once; a bulk query must return the same
rows as on a quiet network. The last test runs a whole reverse-ETL sync through a Bulk API job on the
same network, as the issue's seeded runs did.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_integrations.connectors.base import WriteOutcome
from airflow_provider_integrations.connectors.salesforce import SalesforceConnector
from airflow_provider_integrations.connectors.salesforce_bulk import BulkQuery, BulkWriter
from tests.connectors.conftest import Admin
from tests.connectors.test_salesforce import connect
from tests.operators.test_reverse_etl import sync

RECORDS = 150
LOSSES = {
    "reset": {"rate_reset": 0.25},
    "drop_reply": {"rate_drop_reply": 0.25},
}


@pytest.fixture
def sf(sandbox: Any, admin: Admin) -> Iterator[SalesforceConnector]:
    with connect(sandbox, admin) as connector:
        yield connector


def accepted(admin: Admin, keys: list[str]) -> dict[str, int]:
    counts = admin.counters()["accepted"].get("salesforce/Account", {})
    return {k: counts[k] for k in keys if k in counts}


@pytest.mark.parametrize("seed", range(1, 7))
@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_a_bulk_write_with_a_quarter_of_replies_lost_writes_every_record_once(
    sf: SalesforceConnector, admin: Admin, loss: str, seed: int
) -> None:
    prefix = f"BR{uuid.uuid4().hex[:6]}"
    records = [{"External_Id__c": f"{prefix}-{i:04d}", "Name": f"Retry {i}"} for i in range(RECORDS)]
    keys = [r["External_Id__c"] for r in records]
    writer = BulkWriter(sf.client, sf.api)
    with admin.faults("salesforce", seed=seed, **LOSSES[loss]):
        before = admin.counters()["requests"].get("salesforce", 0)
        results = list(writer.write("Account", "upsert", records, "External_Id__c"))
        requests = admin.counters()["requests"]["salesforce"] - before
    assert Counter(r.key for r in results) == Counter(keys), "one result per record, none twice"
    assert {r.outcome for r in results} == {WriteOutcome.SUCCESS}
    assert accepted(admin, keys) == dict.fromkeys(keys, 1), "every record applied exactly once"
    print(f"{loss} seed {seed}: {requests} requests for one job of {RECORDS} records")


@pytest.mark.parametrize("seed", range(1, 4))
@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_a_bulk_query_with_a_quarter_of_replies_lost_returns_every_row_once(
    sf: SalesforceConnector, admin: Admin, loss: str, seed: int
) -> None:
    soql = "SELECT Id, Name FROM Account ORDER BY Id LIMIT 400"
    query = BulkQuery(sf.client, sf.api, page_records=60)
    quiet = [(r["Id"], r["Name"]) for r in query.records(soql, include_deleted=False)]
    assert len(quiet) == 400
    with admin.faults("salesforce", seed=seed, **LOSSES[loss]):
        lossy = [(r["Id"], r["Name"]) for r in query.records(soql, include_deleted=False)]
    assert lossy == quiet, "the same rows in the same order: none twice, none skipped"


@pytest.mark.parametrize("seed", [3, 4])
def test_a_reverse_etl_sync_through_a_bulk_job_with_a_quarter_of_resets_applies_every_row_once(
    admin: Admin, snowflake_query: Any, sandbox_env: Any, tmp_path: Any, seed: int
) -> None:
    rows = 2500  # past the 2,000 rows above which a batch goes to a Bulk API job
    table = f"BULK_RETRY_{uuid.uuid4().hex[:6]}".upper()
    prefix = table[-6:].lower()
    snowflake_query(
        f'CREATE TABLE "{table}" (ACCOUNT_KEY VARCHAR, ACCOUNT_NAME VARCHAR, SCORE NUMBER(12,2), SEATS INT)'
    )
    snowflake_query(
        f"INSERT INTO \"{table}\" SELECT '{prefix}-' || LPAD(TO_VARCHAR(i), 6, '0'), 'Account ' || i, "
        f"i * 1.5, i % 50 FROM (SELECT SEQ4() AS i FROM TABLE(GENERATOR(ROWCOUNT => {rows})))"
    )
    keys = [f"{prefix}-{i:06d}" for i in range(rows)]
    with admin.faults("salesforce", seed=seed, rate_reset=0.25):
        outcome = sync(table, tmp_path, batch_size=10_000)
    assert outcome["succeeded"] == rows and outcome["failed_permanently"] == 0, outcome
    assert accepted(admin, keys) == dict.fromkeys(keys, 1), "every row applied exactly once"
