"""DLQReplayOperator on the sandbox: reverse-ETL dead letters made by a real sync (fakesnow model,
emulated Salesforce with write faults) are re-delivered once the fault is gone, recorded in the DLQ and
the sync state, and never overwrite a newer version of a row."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from airflow_provider_integrations.core.dlq import DLQEntry, DLQStatus, LocalDLQStore
from airflow_provider_integrations.core.errors import RecordError
from airflow_provider_integrations.operators.dlq_replay import DLQReplayOperator
from tests.connectors.conftest import Admin
from tests.operators.test_reverse_etl import (  # noqa: F401 - fixtures, shared
    Query,
    admin,
    context,
    model,
    sandbox_env,
    sync,
    writes,
)

# Half the records refused: the keys are random per run, and the tests need at least two dead letters.
FAULTS = {"seed": 11, "write_permanent_rate": 0.5}


def replay(dlq: Path, **params: Any) -> dict[str, Any]:
    operator = DLQReplayOperator(task_id="replay", dlq_uri=str(dlq), retry_backoff=0.01, **params)
    return operator.execute(context())


def dead_letters(admin: Admin, table: str, dlq: Path) -> list[DLQEntry]:  # noqa: F811
    """Sync `table` while Salesforce refuses some records for good; the refused ones, from the DLQ."""
    with admin.faults("salesforce", **FAULTS):
        first = sync(table, dlq)
    dead = LocalDLQStore(dlq).find()
    assert len(dead) == first["failed_permanently"] > 0
    return dead


def test_replay_delivers_parked_records_once_and_the_next_sync_sends_nothing(
    model: Any,  # noqa: F811
    admin: Admin,  # noqa: F811
    snowflake_query: Query,
    tmp_path: Path,
) -> None:
    table = model(60)
    dead = dead_letters(admin, table, tmp_path)
    keys = {str(e.record_key) for e in dead}
    before = writes(admin)

    report = replay(tmp_path, system="salesforce")
    assert sorted(report["replayed"]) == sorted(e.id for e in dead)
    assert (report["failed_again"], report["superseded"], report["skipped"]) == ([], [], {})
    after = writes(admin)
    assert {k for k in after if after[k] != before.get(k, 0)} == keys
    assert all(after[k] == before[k] + 1 for k in keys), "each parked record sent exactly once"
    written = admin.written("salesforce", "Account")
    for entry in dead:
        assert entry.payload is not None
        record = entry.payload["record"]
        stored = next(r for r in written.values() if r.get("External_Id__c") == entry.record_key)
        assert stored["Name"] == record["Name"]
    statuses = {e.status for e in LocalDLQStore(tmp_path).find()}
    assert statuses == {DLQStatus.REPLAYED}

    assert sync(table, tmp_path)["sent"] == 0, "the state knows the replayed versions arrived"
    assert replay(tmp_path)["selected"] == 0, "replayed entries are not selected again"
    changed = sorted(keys)[0]
    snowflake_query(f"UPDATE \"{table}\" SET ACCOUNT_NAME = 'Later' WHERE ACCOUNT_KEY = '{changed}'")
    later = sync(table, tmp_path)
    assert (later["sent"], later["succeeded"]) == (1, 1), "a later change of a replayed row is still sent"


def test_a_replay_that_fails_again_leaves_the_entry_new_with_the_new_error(
    model: Any,  # noqa: F811
    admin: Admin,  # noqa: F811
    tmp_path: Path,
) -> None:
    table = model(40)
    dead = dead_letters(admin, table, tmp_path)
    chosen = sorted(e.id for e in dead)[:2]
    operator = DLQReplayOperator(
        task_id="replay",
        dlq_uri=str(tmp_path),
        entry_ids="{{ dag_run.conf.get('entry_ids') }}",
        retry_backoff=0.01,
    )
    operator.render_template_fields({"dag_run": SimpleNamespace(conf={"entry_ids": chosen})})  # type: ignore[arg-type]
    assert operator.entry_ids == str(chosen), "a manual run's conf arrives as rendered text"
    before = writes(admin)
    with admin.faults("salesforce", **FAULTS):
        report = operator.execute(context())
    assert (report["selected"], sorted(report["failed_again"]), report["replayed"]) == (2, chosen, [])
    assert sum(writes(admin).values()) - sum(before.values()) == 2
    for entry_id in chosen:
        entry = LocalDLQStore(tmp_path).get(entry_id)
        assert entry is not None and entry.status is DLQStatus.NEW
        assert (entry.status_note or "").startswith("replay failed (permanent): ")
    assert sync(table, tmp_path)["sent"] == 0, "the rows stay parked"


def test_an_entry_a_later_sync_dealt_with_is_superseded_not_sent(
    model: Any,  # noqa: F811
    admin: Admin,  # noqa: F811
    snowflake_query: Query,
    tmp_path: Path,
) -> None:
    table = model(40)
    dead = dead_letters(admin, table, tmp_path)
    first, second = sorted(dead, key=lambda e: str(e.record_key))[:2]
    store = LocalDLQStore(tmp_path)

    # The first key changes and is delivered by the next sync: its old entry must not overwrite that.
    snowflake_query(f"UPDATE \"{table}\" SET ACCOUNT_NAME = 'Newer' WHERE ACCOUNT_KEY = '{first.record_key}'")
    assert sync(table, tmp_path)["succeeded"] == 1
    # The second key changes and is refused again: only its newer entry may be replayed.
    snowflake_query(
        f"UPDATE \"{table}\" SET ACCOUNT_NAME = 'Newer' WHERE ACCOUNT_KEY = '{second.record_key}'"
    )
    with admin.faults("salesforce", **FAULTS):
        assert sync(table, tmp_path)["failed_permanently"] == 1
    newer = next(e for e in store.find() if e.record_key == second.record_key and e.id != second.id)

    before = writes(admin)
    report = replay(tmp_path, entry_ids=[first.id, second.id])
    assert (sorted(report["superseded"]), report["replayed"]) == (sorted([first.id, second.id]), [])
    assert writes(admin) == before, "nothing sent"
    assert {store.get(i).status for i in (first.id, second.id)} == {DLQStatus.RESOLVED}  # type: ignore[union-attr]

    assert replay(tmp_path, entry_ids=[newer.id])["replayed"] == [newer.id]
    stored = next(
        r
        for r in admin.written("salesforce", "Account").values()
        if r.get("External_Id__c") == second.record_key
    )
    assert stored["Name"] == "Newer"
    assert sync(table, tmp_path)["sent"] == 0


def test_entries_that_cannot_be_replayed_are_reported_and_left_alone(tmp_path: Path) -> None:
    store = LocalDLQStore(tmp_path)
    rejected = DLQEntry.create(
        system="salesforce",
        stream="Account",
        operation="extract",
        error=RecordError("AnnualRevenue: 'lots' is not a number"),
        record_key="001000000000001",
        payload={"Id": "001000000000001", "AnnualRevenue": "lots"},
    )
    failed_task = DLQEntry.create(system="airflow", stream="load", operation="task_failure", error=("E", "x"))
    sync = {"conn_id": "c", "target": "Account", "operation": "delete", "key_field": "External_Id__c",
            "state_table": "SYNC_STATE__X", "snowflake_conn_id": "s"}  # fmt: skip
    deletion = DLQEntry.create(system="salesforce", stream="Account", operation="reverse_etl.delete",
                               error=("ENTITY_IS_LOCKED", "locked"), record_key="k1",
                               payload={"record": {"External_Id__c": "k1"}, "sync": sync})  # fmt: skip
    no_record = DLQEntry.create(system="salesforce", stream="Account", operation="reverse_etl.upsert",
                                error=("E", "x"), record_key="k2", payload={"sync": sync})  # fmt: skip
    refused_row = DLQEntry.create(system="salesforce", stream="Account", operation="reverse_etl.upsert",
                                  error=("NullKey", "the key is NULL"), record_key="null-key:ab12",
                                  payload={"row": {"HEALTH_SCORE": 3}, "sync": sync})  # fmt: skip
    store.write([rejected, failed_task, deletion, no_record, refused_row])

    report = replay(tmp_path)
    assert report["skipped"] == {
        "fix_at_source": [rejected.id],
        "rerun_task": [failed_task.id],
        "resent_by_sync": [deletion.id],
        "malformed": [no_record.id],
        "fix_in_model": [refused_row.id],
    }
    assert "fix it in the model" in report["skip_reasons"]["fix_in_model"]
    assert "fix it in the source" in report["skip_reasons"]["fix_at_source"]
    assert "clear the task" in report["skip_reasons"]["rerun_task"]
    assert report["replayed"] == report["failed_again"] == []
    assert all(e.status is DLQStatus.NEW and e.status_note is None for e in store.find())
