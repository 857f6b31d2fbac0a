"""The core against a scripted local HTTP server: offset pages answered with 429 (Retry-After), 503
and TCP resets, a few poison records sent to the DLQ, and a check that every other record arrived
exactly once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from airflow_provider_integrations.core.dlq import DLQEntry, DLQFilter, LocalDLQStore, RunContext
from airflow_provider_integrations.core.errors import RecordError
from airflow_provider_integrations.core.http import HttpClient, HttpSettings, RetryPolicy
from airflow_provider_integrations.core.pagination import OffsetPaginator, Page, paginate
from airflow_provider_integrations.sandbox.scripted_http import Reply, ScriptedHttpServer, Seen

RECORDS = 2_500
PAGE = 100
POISON_EVERY = 499


def faulty_api(seen: Seen) -> Reply:
    """Offset-paginated records; every 4th request is throttled, every 7th fails, every 11th resets."""
    n = len(SERVER.requests)
    if n % 11 == 0:
        return Reply(action="reset")
    if n % 7 == 0:
        return Reply(503, json={"error": "temporarily unavailable"})
    if n % 4 == 0:
        return Reply(429, headers={"Retry-After": "0.05"}, json={"error": "slow down"})
    query = parse_qs(seen.query)
    offset, limit = int(query["offset"][0]), int(query["limit"][0])
    rows = [
        {"id": f"rec-{i:06d}", "amount": None if i % POISON_EVERY == 0 else i * 10}
        for i in range(offset, min(offset + limit, RECORDS))
    ]
    return Reply(200, json={"total": RECORDS, "items": rows})


def validate(record: Mapping[str, Any]) -> None:
    if record.get("amount") is None:
        raise RecordError("amount is required", record_key=str(record["id"]))


SERVER = ScriptedHttpServer()


def run_core_selfcheck(sandbox: Path) -> dict[str, Any]:
    """Run the check; returns its numbers and `ok`."""
    store = LocalDLQStore(sandbox / "dlq")
    context = RunContext(dag_id="demo_core", task_id="read_items", run_id="demo", try_number=1)
    with SERVER:
        SERVER.route("/items", faulty_api)
        settings = HttpSettings(
            base_url=SERVER.url,
            system="demo-api",
            read_timeout=5,
            retry=RetryPolicy(max_attempts=6, base_delay=0.02, max_delay=0.2, deadline=30),
        )
        with HttpClient(settings) as client:

            def fetch(offset: int) -> Page:
                body = client.get_json("/items", params={"offset": offset, "limit": PAGE})
                return Page(records=body["items"], body=body)

            ids: Counter[str] = Counter()
            bad: list[DLQEntry] = []
            for record in paginate(fetch, OffsetPaginator(PAGE, lambda page: page.body["total"])):
                try:
                    validate(record)
                    ids[str(record["id"])] += 1
                except RecordError as error:
                    bad.append(
                        DLQEntry.create(
                            system="demo-api",
                            stream="items",
                            operation="extract",
                            error=error,
                            record_key=error.record_key,
                            payload=record,
                            context=context,
                        )
                    )
            store.write(bad)
            calls = client.calls

    poison = {f"rec-{i:06d}" for i in range(RECORDS) if i % POISON_EVERY == 0}
    expected = {f"rec-{i:06d}" for i in range(RECORDS)} - poison
    duplicated = sorted(k for k, n in ids.items() if n > 1)
    missing = sorted(expected - set(ids))
    in_dlq = {
        e.record_key for e in store.find(DLQFilter(system="demo-api", dag_id="demo_core"), limit=10_000)
    }
    report = {
        "served": RECORDS,
        "delivered": sum(ids.values()),
        "dead_lettered": len(bad),
        "poison_in_dlq": len(poison & in_dlq),
        "duplicated": len(duplicated),
        "missing": len(missing),
        "http_calls": calls,
        "pages": -(-RECORDS // PAGE),
    }
    report["ok"] = not duplicated and not missing and poison <= in_dlq
    print("Core self-check (429 / 503 / reset faults, poison records to the DLQ):")
    print("  " + ", ".join(f"{name} {value}" for name, value in report.items()))
    return report
