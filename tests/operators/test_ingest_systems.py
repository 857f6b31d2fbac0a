"""Every stream of every catalog through real DAG runs: a full load, then incremental loads after the
sandbox changes records (updates, inserts, deletes, all at one shared timestamp), the same interval run
again and an overlapping window, then a full load that also finds deletes the systems do not report,
each checked against what the emulator serves and reports serving."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from airflow_provider_integrations.connectors.base import load_catalog
from airflow_provider_integrations.core.dlq import LocalDLQStore
from airflow_provider_integrations.core.records import batch_id
from tests.connectors.conftest import Admin

SIZE = 300
POISON = {"seed": 11, "poison_rate": 0.02}
Query = Callable[[str], list[tuple[Any, ...]]]
Source = Callable[[str, str], list[dict[str, Any]]]


@dataclass(frozen=True)
class Stream:
    system: str
    name: str
    key: str
    deletes: bool = True
    """Whether the system reports deletes (Workday lists only live records and has no delete feed)."""

    @property
    def cancels(self) -> bool:
        """A delete in the sandbox cancels a Stripe subscription: it stays listed, canceled, as on Stripe."""
        return (self.system, self.name) == ("stripe", "subscriptions")

    @property
    def changes(self) -> tuple[int, int, int]:
        """(updated, inserted, deleted) at the source after `mutate(update=8, insert=4, delete=3)`."""
        return (11, 4, 0) if self.cancels else (8, 4, 3)

    @property
    def column(self) -> str:
        return f'"{self.key.upper()}"'


SYSTEMS = ("netsuite", "salesforce", "servicenow", "stripe", "workday")
STREAMS = tuple(
    Stream(system, spec.name, spec.primary_key[0], spec.deletes)
    for system in SYSTEMS
    for spec in load_catalog(f"{system}.yaml").values()
)


@pytest.fixture(scope="module")
def admin(sandbox: Any) -> Admin:
    return Admin(sandbox)


@pytest.fixture
def seeded(admin: Admin) -> Iterator[None]:
    """Every stream at SIZE records with poison records in each; restored afterwards."""
    with ExitStack() as stack:
        for stream in STREAMS:
            stack.enter_context(admin.sized(stream.system, stream.name, SIZE))
        for system in SYSTEMS:
            stack.enter_context(admin.faults(system, **POISON))
        yield


def ok(result: Any) -> None:
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]


def served(admin: Admin) -> dict[str, int]:
    return dict(admin.counters()["records_served"])


METADATA = {"servicenow/sys_db_object", "servicenow/sys_dictionary"}
"""Tables the extract's schema check reads (ServiceNow describes its tables with records of these)."""


def served_since(admin: Admin, before: dict[str, int]) -> dict[str, int]:
    """Records of data the emulator served since `before`, by "system/resource" (metadata left out)."""
    now = served(admin)
    return {k: now[k] - before.get(k, 0) for k in now if now[k] != before.get(k, 0) and k not in METADATA}


def by_system(counts: dict[str, int], system: str) -> int:
    return sum(n for k, n in counts.items() if k.startswith(f"{system}/"))


def poison_keys(dlq: Any, stream: Stream) -> set[str]:
    entries = LocalDLQStore(dlq).find(limit=10_000)
    return {str(e.record_key) for e in entries if (e.system, e.stream) == (stream.system, stream.name)}


def live_source(source: Source, stream: Stream) -> dict[str, dict[str, Any]]:
    """The records the system serves as live now, by key (Salesforce also serves its deleted records)."""
    records = source(stream.system, stream.name)
    return {str(r[stream.key]): r for r in records if not (r.get("IsDeleted") or r.get("_deleted"))}


def target_rows(query: Query, table: str, stream: Stream) -> dict[str, tuple[Any, ...]]:
    """key -> (_ROW_HASH, _DELETED, _BATCH_ID, _LOADED_AT)."""
    rows = query(f'SELECT {stream.column}, "_ROW_HASH", "_DELETED", "_BATCH_ID", "_LOADED_AT" FROM "{table}"')
    return {str(r[0]): tuple(r[1:]) for r in rows}


def assert_unique(query: Query, table: str, stream: Stream) -> int:
    count, distinct = query(f'SELECT COUNT(*), COUNT(DISTINCT {stream.column}) FROM "{table}"')[0]
    assert count == distinct, f"{table}: duplicate primary keys"
    return int(count)


def live_keys(rows: dict[str, tuple[Any, ...]]) -> set[str]:
    return {k for k, (_, is_deleted, *_rest) in rows.items() if not is_deleted}


def test_every_stream_full_then_incremental_then_full_again(
    run_ingest: Any,
    admin: Admin,
    seeded: None,
    snowflake_query: Query,
    source_records: Source,
) -> None:
    suffix = uuid.uuid4().hex[:6].upper()
    tables = {s: f"{s.system}_{s.name}_{suffix}".upper() for s in STREAMS}
    full = [{"system": s.system, "stream": s.name, "table": tables[s], "mode": "full"} for s in STREAMS]

    before = served(admin)
    ok(run_ingest(full, datetime.now(UTC)))
    assert served_since(admin, before) == {f"{s.system}/{s.name}": SIZE for s in STREAMS}, (
        "the emulator served every record of each stream exactly once"
    )

    loaded: dict[Stream, dict[str, tuple[Any, ...]]] = {}
    sources: dict[Stream, dict[str, dict[str, Any]]] = {}
    for stream in STREAMS:
        table = tables[stream]
        poison = poison_keys(run_ingest.dlq, stream)
        assert poison, f"{stream.system}/{stream.name}: the fault profile makes some poison records"
        sources[stream] = live_source(source_records, stream)
        assert len(sources[stream]) == SIZE
        assert assert_unique(snowflake_query, table, stream) == SIZE - len(poison)
        loaded[stream] = target_rows(snowflake_query, table, stream)
        assert set(loaded[stream]) == set(sources[stream]) - poison, "target = source minus poison"

    time.sleep(1)
    window_start = datetime.now(UTC)
    for stream in STREAMS:
        changed = admin.mutate(stream.system, stream.name, update=8, insert=4, delete=3, same_timestamp=True)
        assert changed == {"updated": 8, "inserted": 4, "deleted": 3}
    incremental = [
        {"system": s.system, "stream": s.name, "table": tables[s], "lookback_hours": 1} for s in STREAMS
    ]
    before = served(admin)
    ok(run_ingest(incremental, window_start + timedelta(minutes=30)))
    counts = served_since(admin, before)
    for system in SYSTEMS:
        expected = sum(12 + (3 if s.deletes or s.cancels else 0) for s in STREAMS if s.system == system)
        if system == "stripe":
            expected += 15  # `customer.*` also matches `customer.subscription.*`, as on Stripe
        assert by_system(counts, system) == expected, (
            f"{system}: the incremental read fetched exactly the changed records ({counts})"
        )

    after: dict[Stream, dict[str, tuple[Any, ...]]] = {}
    unreported: dict[Stream, set[str]] = {}
    for stream in STREAMS:
        table = tables[stream]
        poison = poison_keys(run_ingest.dlq, stream)
        now = live_source(source_records, stream)
        old = sources[stream]
        updated = {k for k in now.keys() & old.keys() if now[k] != old[k]}
        inserted = set(now) - set(old)
        deleted = set(old) - set(now)
        assert (len(updated), len(inserted), len(deleted)) == stream.changes, f"{stream}: source changes"

        assert_unique(snowflake_query, table, stream)
        rows = after[stream] = target_rows(snowflake_query, table, stream)
        unreported[stream] = set() if stream.deletes else deleted - poison
        assert live_keys(rows) == (set(now) | unreported[stream]) - poison, f"{table}: live rows"
        if stream.deletes:
            assert {k for k, row in rows.items() if row[1]} == deleted - poison, (
                "deletes land as soft deletes"
            )
        full_batch = batch_id(stream.system, stream.name, None, None)
        rewritten = {k for k, row in rows.items() if row[2] != full_batch and not row[1]}
        assert rewritten == (updated | inserted) - poison, (
            f"{table}: exactly the changed records were rewritten"
        )
        unchanged = set(old) - updated - deleted - poison
        assert all(rows[k] == loaded[stream][k] for k in unchanged), "untouched rows are not rewritten"

    ok(run_ingest(incremental, window_start + timedelta(minutes=30)))
    ok(run_ingest(incremental, window_start + timedelta(minutes=40)))
    for stream in STREAMS:
        assert target_rows(snowflake_query, tables[stream], stream) == after[stream], (
            f"{stream.system}/{stream.name}: the same interval again and an overlapping window change nothing"
        )

    ok(run_ingest(full, datetime.now(UTC)))
    for stream in STREAMS:
        table = tables[stream]
        poison = poison_keys(run_ingest.dlq, stream)
        now = live_source(source_records, stream)
        assert_unique(snowflake_query, table, stream)
        rows = target_rows(snowflake_query, table, stream)
        assert live_keys(rows) == set(now) - poison, f"{table}: a full load finds the deletes never reported"
        kept = {k for k in after[stream] if k not in unreported[stream]}
        assert all(rows[k][:2] == after[stream][k][:2] for k in kept), f"{table}: nothing else changed"
