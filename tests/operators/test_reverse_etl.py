"""Reverse ETL on the sandbox: a Snowflake model (fakesnow) synced into the emulated systems over HTTP."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_integrations.core.dlq import LocalDLQStore
from airflow_provider_integrations.operators.reverse_etl import SnowflakeToSaaSOperator
from tests.connectors.conftest import Admin

Query = Callable[[str], list[tuple[Any, ...]]]
SF_MAPPING = {"ACCOUNT_NAME": "Name", "SCORE": "AnnualRevenue", "SEATS": "NumberOfEmployees"}


@pytest.fixture(scope="module")
def admin(sandbox: Any) -> Admin:
    return Admin(sandbox)


@pytest.fixture
def sandbox_env(sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in sandbox.env().items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def model(snowflake_query: Query, sandbox_env: None) -> Iterator[Callable[[int], str]]:
    """A scores model of n rows in Snowflake, keyed by ACCOUNT_KEY (unique per test)."""
    tables: list[str] = []

    def make(n: int) -> str:
        table = f"SCORES_{uuid.uuid4().hex[:6]}".upper()
        prefix = table.lower()
        columns = "ACCOUNT_KEY VARCHAR, ACCOUNT_NAME VARCHAR, SCORE NUMBER(12,2), SEATS INT"
        snowflake_query(f'CREATE TABLE "{table}" ({columns})')
        snowflake_query(
            f"INSERT INTO \"{table}\" SELECT '{prefix}-' || LPAD(TO_VARCHAR(i), 6, '0'), 'Account ' || i, "
            f"i * 10.5, i % 500 FROM (SELECT SEQ4() AS i FROM TABLE(GENERATOR(ROWCOUNT => {n})))"
        )
        tables.append(table)
        return table

    yield make
    for table in tables:
        snowflake_query(f'DROP TABLE IF EXISTS "{table}"')


def context() -> Context:
    ti = SimpleNamespace(dag_id="reverse_etl_test", task_id="sync", try_number=1)
    return cast(Context, {"ti": ti, "run_id": f"manual__{uuid.uuid4().hex[:6]}"})


def sync(table: str, dlq: Any, **overrides: Any) -> dict[str, Any]:
    options: dict[str, Any] = {
        "task_id": "sync",
        "model": table,
        "key": "ACCOUNT_KEY",
        "mapping": SF_MAPPING,
        "external_id": "External_Id__c",
        "id_field": "Id",
        "conn_id": "sandbox_salesforce",
        "target": "Account",
        "snowflake_conn_id": "sandbox_snowflake",
        "retry_backoff": 0.01,
        "dlq_uri": str(dlq),
        **overrides,
    }
    return SnowflakeToSaaSOperator(**options).execute(context())


def writes(admin: Admin, stream: str = "salesforce/Account") -> dict[str, int]:
    return dict(admin.counters()["writes"].get(stream, {}))


def api_calls(admin: Admin) -> int:
    return sum(
        n for name, n in admin.counters()["calls"].items() if "salesforce" in name and "composite" in name
    )


def test_upsert_then_only_changed_rows_are_sent(
    model: Any, admin: Admin, snowflake_query: Query, tmp_path: Any
) -> None:
    table = model(1000)
    first = sync(table, tmp_path)
    assert (first["planned"], first["succeeded"], first["failed_permanently"], first["unchanged"]) == (
        1000,
        1000,
        0,
        0,
    )
    before_writes, before_calls = writes(admin), api_calls(admin)

    again = sync(table, tmp_path)
    assert (again["planned"], again["sent"], again["unchanged"]) == (0, 0, 1000)
    assert api_calls(admin) == before_calls, "unchanged rows cost no API call"

    snowflake_query(f'UPDATE "{table}" SET SCORE = SCORE + 1 WHERE MOD(SEATS, 100) = 7')
    changed = {r[0] for r in snowflake_query(f'SELECT ACCOUNT_KEY FROM "{table}" WHERE MOD(SEATS, 100) = 7')}
    assert len(changed) == 10
    third = sync(table, tmp_path)
    assert (third["sent"], third["succeeded"], third["unchanged"]) == (10, 10, 990)
    after = writes(admin)
    moved = {k for k in after if after[k] != before_writes.get(k, 0)}
    assert moved == changed, "exactly the changed rows were written, once each"
    assert all(after[k] == before_writes.get(k, 0) + 1 for k in changed)


def test_transient_failures_are_retried_and_permanent_ones_parked_in_the_dlq(
    model: Any, admin: Admin, snowflake_query: Query, tmp_path: Any
) -> None:
    table = model(400)
    with admin.faults("salesforce", seed=5, write_transient_rate=0.1, write_permanent_rate=0.05):
        # Eight resends: a record still failing after them (a 1e-9 chance each) would be left pending.
        first = sync(table, tmp_path, transient_retries=8)
        assert first["retried"] > 0 and first["left_pending"] == 0
        assert first["succeeded"] + first["failed_permanently"] == 400
        dead = LocalDLQStore(tmp_path).find(limit=1000)
        assert len(dead) == first["failed_permanently"] > 0
        assert all(e.payload and e.payload["record"]["External_Id__c"] == e.record_key for e in dead)
        assert all(e.operation == "reverse_etl.upsert" and e.stream == "Account" for e in dead)

        second = sync(table, tmp_path)
        assert second["sent"] == 0, "a parked failure is not sent again while the row is unchanged"

    parked = sorted(str(e.record_key) for e in dead)
    snowflake_query(f"UPDATE \"{table}\" SET ACCOUNT_NAME = 'Fixed' WHERE ACCOUNT_KEY = '{parked[0]}'")
    third = sync(table, tmp_path)
    assert (third["sent"], third["succeeded"]) == (1, 1), "a changed row is sent again"


def test_transient_failures_that_outlast_the_retries_stay_pending(
    model: Any, admin: Admin, tmp_path: Any
) -> None:
    table = model(50)
    with admin.faults("salesforce", seed=3, write_transient_rate=1.0):
        first = sync(table, tmp_path, transient_retries=1)
    assert (first["left_pending"], first["succeeded"], first["failed_permanently"]) == (50, 0, 0)
    assert not LocalDLQStore(tmp_path).find(limit=10), "transient failures are not dead letters"
    second = sync(table, tmp_path)
    assert (second["sent"], second["succeeded"]) == (50, 50), "pending rows go in the next run"


def test_dry_run_sends_nothing(model: Any, admin: Admin, tmp_path: Any) -> None:
    table = model(120)
    before = api_calls(admin)
    planned = sync(table, tmp_path, dry_run=True)
    assert (planned["would_insert"], planned["would_update"], planned["sent"]) == (120, 0, 0)
    assert api_calls(admin) == before
    sync(table, tmp_path)
    assert sync(table, tmp_path, dry_run=True)["would_insert"] == 0


def test_mirror_deletes_departed_keys_within_its_guard(
    model: Any, admin: Admin, snowflake_query: Query, tmp_path: Any
) -> None:
    table = model(100)
    assert sync(table, tmp_path, mode="mirror")["succeeded"] == 100
    snowflake_query(f'DELETE FROM "{table}" WHERE SEATS < 5')
    mirrored = sync(table, tmp_path, mode="mirror")
    assert (mirrored["deleted"], mirrored["sent"]) == (5, 5)

    snowflake_query(f'DELETE FROM "{table}" WHERE SEATS < 60')
    before = api_calls(admin)
    with pytest.raises(AirflowFailException, match=r"would delete 55 of 95 .*max_delete_share=0.1"):
        sync(table, tmp_path, mode="mirror")
    assert api_calls(admin) == before, "a refused mirror sends nothing"
    assert sync(table, tmp_path, mode="mirror", max_delete_share=0.6)["deleted"] == 55


def test_update_of_a_never_synced_key_is_a_dead_letter(model: Any, tmp_path: Any) -> None:
    table = model(20)
    result = sync(table, tmp_path, mode="update")
    assert (result["sent"], result["failed_permanently"]) == (0, 20)
    assert result["dead_letter_reasons"] == {"DestinationUnknown": 20}


DESTINATIONS = {
    # system: (target, external id, mode, mapping, keys from: stream or None for new keys)
    "stripe": ("customers", "id", "update", {"SEGMENT": "metadata.segment"}, "customers"),
    "netsuite": ("customer", "externalid", "upsert", {"NAME": "companyname", "EMAIL": "email"}, None),
    "servicenow": ("u_account_import", "u_external_id", "upsert", {"NAME": "u_name", "CITY": "u_city"}, None),
    "workday": ("businessTitleChanges", "id", "update", {"TITLE": "businessTitle"}, "workers"),
}


@pytest.mark.parametrize("system", sorted(DESTINATIONS))
def test_other_destinations_get_new_and_changed_rows_only(
    system: str, admin: Admin, snowflake_query: Query, source_records: Any, sandbox_env: None, tmp_path: Any
) -> None:
    target, external_id, mode, mapping, stream = DESTINATIONS[system]
    run = uuid.uuid4().hex[:6]
    if stream:
        key = "id"
        keys = [str(r[key]) for r in source_records(system, stream)[:30]]
    else:
        keys = [f"retl-{run}-{i}" for i in range(30)]
    table = f"MODEL_{system}_{run}".upper()
    snowflake_query(f'CREATE TABLE "{table}" (K VARCHAR, SEGMENT VARCHAR, NAME VARCHAR, EMAIL VARCHAR, '
                    "CITY VARCHAR, TITLE VARCHAR)")  # fmt: skip
    rows = ", ".join(
        f"('{k}', 'tier-{i % 3}', 'Company {i}', 'c{i}@example.com', 'Dublin', 'Analyst {i}')"
        for i, k in enumerate(keys)
    )
    snowflake_query(f'INSERT INTO "{table}" VALUES {rows}')

    def go() -> dict[str, Any]:
        return sync(table, tmp_path, key="K", mapping=mapping, external_id=external_id, id_field=None,
                    conn_id=f"sandbox_{system}", target=target, mode=mode)  # fmt: skip

    def system_writes() -> int:
        counts = admin.counters()["writes"]
        return sum(sum(per_key.values()) for name, per_key in counts.items() if name.startswith(f"{system}/"))

    before = system_writes()
    first = go()
    assert (first["sent"], first["succeeded"], first["failed_permanently"]) == (30, 30, 0)
    assert go()["sent"] == 0
    snowflake_query(f"UPDATE \"{table}\" SET SEGMENT = 'moved', NAME = 'Moved', TITLE = 'Moved' WHERE K IN "
                    f"('{keys[3]}', '{keys[11]}')")  # fmt: skip
    third = go()
    assert (third["sent"], third["succeeded"]) == (2, 2)
    assert system_writes() - before == 32, f"{system}: 30 writes, then the 2 changed ones"
    snowflake_query(f'DROP TABLE "{table}"')


KILLABLE_SYNC = """
import sys
from tests.operators.test_reverse_etl import sync
sync(sys.argv[1], sys.argv[2], batch_size=int(sys.argv[3]))
"""


@pytest.mark.parametrize("batch_size", [200, 2500], ids=["collections", "bulk-job"])
def test_a_sync_killed_mid_run_and_retried_neither_loses_nor_resends(
    model: Any, admin: Admin, sandbox: Any, tmp_path: Any, batch_size: int
) -> None:
    table = model(3000)
    keys = {f"{table.lower()}-{i:06d}" for i in range(3000)}

    def written() -> dict[str, int]:
        return {k: n for k, n in writes(admin).items() if k in keys}

    env = {**os.environ, **sandbox.env()}
    child = subprocess.Popen(
        [sys.executable, "-c", KILLABLE_SYNC, table, str(tmp_path), str(batch_size)],
        env=env,
        cwd=Path(__file__).parents[2],
    )
    deadline = time.monotonic() + 120
    while len(written()) < 700 and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL, "the sync was killed mid-run"
    settled = -1
    while (delivered_before := len(written())) != settled:  # a bulk job may still be running
        settled = delivered_before
        time.sleep(1)
    assert 700 <= delivered_before < 3000

    retried = sync(table, tmp_path)
    counts = written()
    assert set(counts) == keys, "nothing is lost"
    assert set(counts.values()) == {1}, "nothing is sent twice"
    assert retried["sent"] == retried["succeeded"] == 3000 - delivered_before, "only what had not arrived"
    assert sync(table, tmp_path)["sent"] == 0


def test_records_in_doubt_that_arrived_are_reconciled_not_resent(
    model: Any, admin: Admin, snowflake_query: Query, tmp_path: Any
) -> None:
    """A run stopped after sending, before recording: the next one reads the destination back."""
    from airflow_provider_integrations.core.sql import sync_state
    from airflow_provider_integrations.hooks.registry import hook_for
    from airflow_provider_integrations.operators.reverse_etl import default_state_table

    table = model(60)
    sync(table, tmp_path)
    snowflake_query(f"UPDATE \"{table}\" SET ACCOUNT_NAME = 'Renamed ' || ACCOUNT_KEY WHERE SEATS < 10")
    state = default_state_table(table, "sandbox_salesforce", "Account")
    planned = snowflake_query(sync_state.changes(table, state, "ACCOUNT_KEY", list(SF_MAPPING)))
    assert len(planned) == 10
    hook = hook_for("sandbox_salesforce")
    records = [{"External_Id__c": r[3], "Name": r[0], "AnnualRevenue": float(r[1]), "NumberOfEmployees": r[2]}
               for r in planned]  # fmt: skip
    assert all(
        r.outcome.value == "success"
        for r in hook.get_conn().write("Account", "upsert", records, "External_Id__c")
    )
    hook.close()
    for row in planned[:7]:
        snowflake_query(f"UPDATE \"{state}\" SET INFLIGHT_HASH = '{row[4]}' WHERE SYNC_KEY = '{row[3]}'")
    before = writes(admin)

    result = sync(table, tmp_path)
    assert (result["reconciled"], result["sent"]) == (7, 3), "in doubt and arrived: recorded, not sent"
    after = writes(admin)
    assert sum(after.values()) - sum(before.values()) == 3
    assert sync(table, tmp_path)["sent"] == 0


def test_a_bad_mapping_fails_before_any_call(model: Any, admin: Admin, tmp_path: Any) -> None:
    table = model(10)
    before = api_calls(admin)
    bad = {
        "ACCOUNT_NAME": "Nmae",
        "SEATS": "Revenue_Per_Employee__c",
        "SCORE": "NumberOfEmployees",
        "MISSING": "Phone",
    }
    with pytest.raises(AirflowFailException) as error:
        sync(table, tmp_path, mapping=bad)
    message = str(error.value)
    for problem in ("Nmae", "Name", "Revenue_Per_Employee__c", "NumberOfEmployees", "MISSING"):
        assert problem in message, problem
    assert api_calls(admin) == before
    assert not LocalDLQStore(tmp_path).find(limit=5)


def test_a_large_batch_goes_to_a_bulk_job_waited_on_by_the_trigger(
    model: Any, admin: Admin, sandbox: Any, snowflake_query: Query, airflow_home: Path, tmp_path: Any
) -> None:
    table = model(2600)
    twice = f"{table.lower()}-000005"
    snowflake_query(f"INSERT INTO \"{table}\" VALUES ('{twice}', 'Copy', 1, 5), (NULL, 'No key', 1, 1)")
    keys = {f"{table.lower()}-{i:06d}" for i in range(2600)} - {twice}
    env = {
        **os.environ,
        **sandbox.env(),
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(Path(__file__).parent / "dag_files"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "RETL_MODEL": table,
        "RETL_DLQ": str(tmp_path),
    }
    script = Path(__file__).parent / "dag_files" / "reverse_etl_dag.py"
    with admin.faults("salesforce", seed=17, write_permanent_rate=0.02):
        result = subprocess.run(
            [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=600
        )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "deferring" in output and "Pausing task as DEFERRED" in output, (
        "the bulk job was waited on by the trigger"
    )
    assert "rejected 3 (DuplicateKey: 2, NullKey: 1)" in output, "refusals counted once across the resume"
    counts = {k: n for k, n in writes(admin).items() if k.startswith(table.lower())}
    assert set(counts) == keys and set(counts.values()) == {1}, "every good record sent once, no copy"
    entries = LocalDLQStore(tmp_path).find(limit=1000)
    dead = [e for e in entries if e.error_class not in ("DuplicateKey", "NullKey")]
    assert dead and all(e.payload and e.payload["record"]["External_Id__c"] == e.record_key for e in dead)
    assert sorted(e.error_class for e in entries if e not in dead) == [
        "DuplicateKey",
        "DuplicateKey",
        "NullKey",
    ]
    again = sync(table, tmp_path)
    assert again["sent"] == 0, "after the bulk job, the state holds every outcome"


NAN, INF = float("nan"), float("inf")
BadRow = tuple[str | None, float | None]


def create_rows_model(query: Query, rows: list[BadRow]) -> tuple[str, str]:
    """A model of `rows` (key suffix or None for a NULL key, SCORE); SCORE is a FLOAT, so it can hold
    NaN and Infinity. Returns the table and the prefix of its keys (unique per table)."""
    table = f"ROWS_{uuid.uuid4().hex[:6]}".upper()
    prefix = table.lower()

    def literal(value: Any) -> str:
        if value is None:
            return "NULL"
        if isinstance(value, float) and value != value:
            return "'NaN'::FLOAT"
        if isinstance(value, float) and value in (INF, -INF):
            return f"'{'-' if value < 0 else ''}inf'::FLOAT"
        return repr(value) if not isinstance(value, str) else f"'{value}'"

    query(f'CREATE TABLE "{table}" (ACCOUNT_KEY VARCHAR, ACCOUNT_NAME VARCHAR, SCORE FLOAT, SEATS INT)')
    values = ", ".join(
        f"({literal(None if k is None else f'{prefix}-{k}')}, 'Account {i}', {literal(score)}, {i})"
        for i, (k, score) in enumerate(rows)
    )
    query(f'INSERT INTO "{table}" VALUES {values}')
    return table, prefix


def accepted(admin: Admin, prefix: str) -> dict[str, int]:
    """Writes the emulator let through, per key of one model."""
    counts = admin.counters()["accepted"].get("salesforce/Account", {})
    return {k: n for k, n in counts.items() if k.startswith(f"{prefix}-")}


def dead_letters(dlq: Any) -> dict[str, str]:
    """record key -> reason (error class) of every DLQ entry."""
    return {str(e.record_key): e.error_class for e in LocalDLQStore(dlq).find(limit=10_000)}


def keys_of(rows: list[BadRow]) -> list[str | None]:
    return [k for k, _ in rows]


# 3-row pages: where the two copies of k03 sit relative to the first page boundary (after row 3).
BOUNDARY_CASES = {
    "before": ["k01", "k03", "k03", "k04", "k05", "k06", "k07", "k08"],
    "straddling": ["k01", "k02", "k03", "k03", "k04", "k05", "k06", "k07"],
    "after": ["k01", "k02", "k025", "k03", "k03", "k04", "k05", "k06"],
}


@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "real-run"])
@pytest.mark.parametrize("where", sorted(BOUNDARY_CASES))
def test_duplicate_and_null_keys_at_a_plan_page_boundary_are_refused_as_anywhere_else(
    snowflake_query: Query, sandbox_env: None, admin: Admin, tmp_path: Any, where: str, dry_run: bool
) -> None:
    rows: list[BadRow] = [(k, 1.5) for k in BOUNDARY_CASES[where]] + [(None, 2.5)]
    table, prefix = create_rows_model(snowflake_query, rows)
    good = {f"{prefix}-{k}" for k in BOUNDARY_CASES[where] if k != "k03"}

    result = sync(table, tmp_path, page_rows=3, dry_run=dry_run, max_rejected_share=0.5)

    done = result["would_insert"] if dry_run else result["succeeded"]
    assert (done, result["unchanged"]) == (6, 0), "every good row planned, no bad one counted unchanged"
    assert (result["rejected"], result["rejected_reasons"]) == (3, {"DuplicateKey": 2, "NullKey": 1})
    if dry_run:
        assert result["sent"] == 0 and not accepted(admin, prefix) and not dead_letters(tmp_path)
        return
    assert accepted(admin, prefix) == dict.fromkeys(good, 1), "good rows once each, no copy of k03"
    dead = dead_letters(tmp_path)
    assert sorted(dead.values()) == ["DuplicateKey", "DuplicateKey", "NullKey"]
    assert {k for k, reason in dead.items() if reason == "DuplicateKey"} == {
        f"{prefix}-k03#1",
        f"{prefix}-k03#2",
    }, "every copy of a duplicated key is a dead letter of its own"


def test_nan_and_infinity_are_refused_per_record_and_the_rest_delivered(
    snowflake_query: Query, sandbox_env: None, admin: Admin, tmp_path: Any
) -> None:
    rows: list[BadRow] = [(f"k{i:02d}", float(i)) for i in range(40)]
    rows[4], rows[9], rows[15] = ("k04", NAN), ("k09", INF), ("k15", -INF)
    table, prefix = create_rows_model(snowflake_query, rows)
    bad = {f"{prefix}-k04", f"{prefix}-k09", f"{prefix}-k15"}

    planned = sync(table, tmp_path, dry_run=True)
    assert (planned["would_insert"], planned["rejected_reasons"]) == (37, {"UnsendableValue": 3})
    first = sync(table, tmp_path)
    assert (first["succeeded"], first["rejected"], first["unchanged"]) == (37, 3, 0)
    assert set(accepted(admin, prefix)) == {f"{prefix}-{k}" for k, _ in rows} - bad
    dead = LocalDLQStore(tmp_path).find(limit=100)
    assert {str(e.record_key): e.error_class for e in dead} == dict.fromkeys(bad, "UnsendableValue")
    messages = {str(e.record_key): e.message for e in dead}
    assert "SCORE" in messages[f"{prefix}-k04"] and "NaN" in messages[f"{prefix}-k04"]
    assert "Infinity" in messages[f"{prefix}-k09"] and "-Infinity" in messages[f"{prefix}-k15"]
    assert all(e.payload and e.payload["row"]["ACCOUNT_KEY"] == e.record_key for e in dead)

    again = sync(table, tmp_path)
    assert (again["sent"], again["rejected"]) == (0, 3), "still bad: refused again, nothing re-sent"
    snowflake_query(f"UPDATE \"{table}\" SET SCORE = 4 WHERE ACCOUNT_KEY = '{prefix}-k04'")
    fixed = sync(table, tmp_path)
    assert (fixed["sent"], fixed["succeeded"], fixed["rejected"]) == (1, 1, 2)
    assert accepted(admin, prefix)[f"{prefix}-k04"] == 1


def test_a_duplicated_key_is_refused_every_run_until_it_appears_once_then_delivered_once(
    snowflake_query: Query, sandbox_env: None, admin: Admin, tmp_path: Any
) -> None:
    rows: list[BadRow] = [("k1", 1.0), ("k2", 2.0), ("k2", 3.0), ("k3", 4.0), (None, 5.0), (None, 5.0)]
    table, prefix = create_rows_model(snowflake_query, rows)
    options = {"max_rejected_share": 0.7}
    for _ in range(2):
        result = sync(table, tmp_path, **options)
        assert result["rejected_reasons"] == {"DuplicateKey": 2, "NullKey": 2}
        assert accepted(admin, prefix) == {f"{prefix}-k1": 1, f"{prefix}-k3": 1}
    null_entries = [e for e in LocalDLQStore(tmp_path).find(limit=100) if e.error_class == "NullKey"]
    assert len({e.record_key for e in null_entries}) == 2, "two identical NULL-key rows, two entries"
    assert all(str(e.record_key).startswith("null-key:") for e in null_entries)
    assert all("ACCOUNT_KEY" in e.message and "NULL" in e.message for e in null_entries)

    snowflake_query(f"DELETE FROM \"{table}\" WHERE ACCOUNT_KEY = '{prefix}-k2' AND SCORE = 2")
    fixed = sync(table, tmp_path, **options)
    assert (fixed["sent"], fixed["rejected_reasons"]) == (1, {"NullKey": 2})
    assert accepted(admin, prefix)[f"{prefix}-k2"] == 1
    assert sync(table, tmp_path, **options)["sent"] == 0


def test_too_many_bad_rows_fail_the_task_before_anything_is_sent(
    snowflake_query: Query, sandbox_env: None, admin: Admin, tmp_path: Any
) -> None:
    rows: list[BadRow] = [(f"k{i}", float(i)) for i in range(10)] + [("k1", 9.0), (None, 1.0)]
    table, prefix = create_rows_model(snowflake_query, rows)
    before = api_calls(admin)
    with pytest.raises(AirflowFailException, match=r"3 of 12 .*max_rejected_share=0.1.*DuplicateKey: 2"):
        sync(table, tmp_path)
    with pytest.raises(AirflowFailException, match="max_rejected_share"):
        sync(table, tmp_path, dry_run=True)
    assert api_calls(admin) == before and not accepted(admin, prefix), "nothing sent"
    assert not dead_letters(tmp_path), "nothing parked: the run stopped before refusing row by row"
    result = sync(table, tmp_path, max_rejected_share=0.25)
    assert (result["succeeded"], result["rejected"]) == (9, 3)


def test_too_many_unsendable_values_stop_the_run_where_found_and_the_next_run_resends_nothing(
    snowflake_query: Query, sandbox_env: None, admin: Admin, tmp_path: Any
) -> None:
    rows: list[BadRow] = [(f"k{i:02d}", float(i) if i < 16 else NAN) for i in range(20)]
    table, prefix = create_rows_model(snowflake_query, rows)
    with pytest.raises(
        AirflowFailException, match=r"4 of 20 .*max_rejected_share=0.1 \(UnsendableValue: 4\)"
    ):
        sync(table, tmp_path, batch_size=4)
    sent_before = accepted(admin, prefix)
    assert set(sent_before) == {f"{prefix}-k{i:02d}" for i in range(16)}, "the batches before the stop"
    result = sync(table, tmp_path, batch_size=4, max_rejected_share=0.2)
    assert (result["sent"], result["rejected"], result["unchanged"]) == (0, 4, 16)
    assert accepted(admin, prefix) == sent_before, "what the stopped run delivered is not sent again"


def test_a_model_query_holding_a_percent_sign_is_planned_as_written(
    model: Any, snowflake_query: Query, tmp_path: Any
) -> None:
    table = model(30)
    query = f"SELECT * FROM \"{table}\" WHERE ACCOUNT_NAME LIKE 'Account 1%' OR ACCOUNT_NAME = '100%'"
    result = sync(query, tmp_path, dry_run=True)
    assert (result["model_rows"], result["would_insert"]) == (11, 11), "Account 1, 10..19"
