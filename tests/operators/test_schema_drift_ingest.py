"""Schema changes caught at run time, end to end on the sandbox: an admin changes Salesforce's Account
through the stand-in's admin API between DAG runs, and the extract's drift check, the manifest and the
load's schema-change table follow the stream's schema_policy."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from airflow_provider_integrations.core.sql.snowflake import SCHEMA_CHANGES_TABLE
from airflow_provider_integrations.hooks.registry import hook_for
from tests.connectors.conftest import Admin

Query = Callable[[str], list[tuple[Any, ...]]]
POLICIES = ("add", "ignore", "fail")


@pytest.fixture(scope="module")
def admin(sandbox: Any) -> Admin:
    return Admin(sandbox)


@pytest.fixture
def live_account(sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> Callable[[], dict[str, Any]]:
    """Account as the stand-in describes it now, as a catalog entry (what discovery would commit)."""
    for name, value in sandbox.env().items():
        monkeypatch.setenv(name, value)

    def describe() -> dict[str, Any]:
        hook = hook_for("sandbox_salesforce")
        try:
            (described,) = hook.get_conn().describe_streams(["Account"])
        finally:
            hook.close()
        return described.to_config()

    return describe


@pytest.fixture
def custom_field(admin: Admin) -> Iterator[str]:
    """A custom field name of this test's own, removed from Account afterwards if it is still there."""
    name = f"Drift_{uuid.uuid4().hex[:6]}__c"
    yield name
    admin.client.post(
        f"{admin.url}/schema/salesforce", json={"action": "remove_field", "object": "Account", "field": name}
    )


def change(admin: Admin, **body: Any) -> None:
    response = admin.client.post(f"{admin.url}/schema/salesforce", json={"object": "Account", **body})
    assert response.status_code == 200, response.text


def describe_calls(admin: Admin) -> int:
    return sum(n for key, n in admin.counters()["calls"].items() if key.startswith("salesforce POST") and
               key.endswith("/composite/batch"))  # fmt: skip


def declare(sandbox: Any, streams: dict[str, Any]) -> dict[str, str]:
    """The run's environment: the Salesforce connection declaring `streams` (catalog entries)."""
    conn = json.loads(sandbox.env()["AIRFLOW_CONN_SANDBOX_SALESFORCE"])
    with_streams = {**conn, "extra": {**conn["extra"], "streams": streams}}
    return {"AIRFLOW_CONN_SANDBOX_SALESFORCE": json.dumps(with_streams)}


def output(result: Any) -> str:
    return str(result.stdout) + str(result.stderr)


def test_schema_changes_follow_the_policy_and_land_in_the_change_table(
    run_ingest: Any,
    admin: Admin,
    sandbox: Any,
    snowflake_query: Query,
    live_account: Callable[[], dict[str, Any]],
    custom_field: str,
) -> None:
    suffix = uuid.uuid4().hex[:6].upper()
    tables = {p: f"ACCOUNT_DRIFT_{p.upper()}_{suffix}" for p in POLICIES}
    entry = live_account()
    conn = json.loads(sandbox.env()["AIRFLOW_CONN_SANDBOX_SALESFORCE"])
    streams = {f"Account_{p}": entry for p in POLICIES}
    env = {
        "AIRFLOW_CONN_SANDBOX_SALESFORCE": json.dumps(
            {**conn, "extra": {**conn["extra"], "streams": streams}}
        )
    }

    def spec(*policies: str) -> list[dict[str, Any]]:
        return [
            {"system": "salesforce", "stream": f"Account_{p}", "table": tables[p], "mode": "full",
             "schema_policy": p}
            for p in policies
        ]  # fmt: skip

    def changes(table: str) -> list[tuple[Any, ...]]:
        if not columns(SCHEMA_CHANGES_TABLE):
            return []
        return snowflake_query(
            f'SELECT "FIELD", "CHANGE", "ACTION", "OLD_TYPE", "NEW_TYPE", "STREAM", "DAG_ID", "TASK_ID" '
            f'FROM "{SCHEMA_CHANGES_TABLE}" WHERE "TARGET_TABLE" = \'{table}\' '
            'ORDER BY "DETECTED_AT", "FIELD"'
        )

    def columns(table: str) -> set[str]:
        rows = snowflake_query(
            f"SELECT COLUMN_NAME FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_NAME = '{table}'"
        )
        return {str(r[0]) for r in rows}

    with admin.sized("salesforce", "Account", 150):
        day = datetime(2026, 1, 1, tzinfo=UTC)
        first = run_ingest(spec(*POLICIES), day, env)
        assert first.returncode == 0, output(first)[-4000:]
        assert all(changes(tables[p]) == [] for p in POLICIES), "no drift, no change rows"

        change(admin, action="add_field", field=custom_field, type="string")
        before = describe_calls(admin)
        second = run_ingest(spec(*POLICIES), day + timedelta(hours=1), env)
        assert describe_calls(admin) - before == len(POLICIES), "one describe call per stream per run"
        assert second.returncode != 0, "'fail' fails the run"
        assert f"new fields {custom_field} (schema_policy is 'fail')" in output(second)

        column = custom_field.upper()
        source = {r["Id"]: r[custom_field] for r in read_account(custom_field)}
        added = snowflake_query(f'SELECT "ID", "{column}" FROM "{tables["add"]}"')
        assert dict(added) == source and any(v is not None for v in source.values()), "values land"
        assert changes(tables["add"]) == [
            (custom_field, "field_added", "added", None, "string (string)", "Account_add", "ingest_test",
             "salesforce_account_add.extract"),
        ]  # fmt: skip
        assert column not in columns(tables["ignore"]), "'ignore' leaves it out"
        assert [r[:3] for r in changes(tables["ignore"])] == [(custom_field, "field_added", "ignored")]
        assert column not in columns(tables["fail"]) and changes(tables["fail"]) == []

        again = run_ingest(spec("add", "ignore"), day + timedelta(hours=1), env)
        assert again.returncode == 0, output(again)[-4000:]
        assert len(changes(tables["add"])) == 1 and len(changes(tables["ignore"])) == 1, "no duplicates"

        rediscovered = {"Account_add": live_account()}  # the catalog now declares the field
        env = declare(sandbox, rediscovered)
        change(admin, action="remove_field", field=custom_field)
        third = run_ingest(spec("add"), day + timedelta(hours=2), env)
        assert third.returncode == 0, output(third)[-4000:]
        assert column in columns(tables["add"]), "a removed field keeps its column"
        assert {r[0] for r in snowflake_query(f'SELECT DISTINCT "{column}" FROM "{tables["add"]}"')} == {None}
        assert f"field {custom_field} field removed" in output(third)
        assert [r[:3] for r in changes(tables["add"])][-1:] == [(custom_field, "field_removed", "nulled")]


def test_a_widened_type_widens_the_column_and_an_incompatible_one_fails_naming_the_field(
    run_ingest: Any,
    admin: Admin,
    sandbox: Any,
    snowflake_query: Query,
    live_account: Callable[[], dict[str, Any]],
    custom_field: str,
) -> None:
    table = f"ACCOUNT_DRIFT_TYPES_{uuid.uuid4().hex[:6].upper()}"
    change(admin, action="add_field", field=custom_field, type="int")
    entry = live_account()
    env = declare(sandbox, {"Account_types": entry})
    spec = [{"system": "salesforce", "stream": "Account_types", "table": table, "mode": "full"}]
    column = custom_field.upper()

    def column_type() -> str:
        rows = snowflake_query(
            "SELECT DATA_TYPE FROM INFORMATION_SCHEMA.COLUMNS "
            f"WHERE TABLE_NAME = '{table}' AND COLUMN_NAME = '{column}'"
        )
        return str(rows[0][0])

    with admin.sized("salesforce", "Account", 80):
        day = datetime(2026, 2, 1, tzinfo=UTC)
        first = run_ingest(spec, day, env)
        assert first.returncode == 0, output(first)[-4000:]
        assert column_type() == "NUMBER"
        change(admin, action="change_type", field=custom_field, type="string")
        second = run_ingest(spec, day + timedelta(hours=1), env)
        assert second.returncode == 0, output(second)[-4000:]
        assert column_type() == "TEXT", "integer -> string widens the column"
        source = {r["Id"]: r[custom_field] for r in read_account(custom_field)}
        loaded: dict[Any, Any] = dict(snowflake_query(f'SELECT "ID", "{column}" FROM "{table}"'))
        assert loaded == source

        change(admin, action="change_type", field=custom_field, type="date")
        third = run_ingest(spec, day + timedelta(hours=2), env)
        assert third.returncode != 0
        assert f"{custom_field} changed type integer (int) -> date (date)" in output(third)


def read_account(field: str) -> list[dict[str, Any]]:
    """Account's Id and `field` as the stand-in serves them now (the environment is the sandbox's)."""
    hook = hook_for("sandbox_salesforce")
    try:
        connector = hook.get_conn()
        (described,) = connector.describe_streams(["Account"])
        entry = described.to_config()
        entry["fields"] = {
            name: spec for name, spec in entry["fields"].items() if name in ("Id", "SystemModstamp", field)
        }
        from airflow_provider_integrations.connectors.base import Stream

        connector.streams["Account_probe"] = Stream.from_config("Account_probe", entry)
        return list(connector.read("Account_probe"))
    finally:
        hook.close()


def test_backfill_new_fields_reads_the_stream_in_full_once_after_a_field_is_added(
    run_ingest: Any,
    admin: Admin,
    sandbox: Any,
    snowflake_query: Query,
    live_account: Callable[[], dict[str, Any]],
    custom_field: str,
) -> None:
    table = f"ACCOUNT_DRIFT_BACKFILL_{uuid.uuid4().hex[:6].upper()}"
    entry = {**live_account(), "options": {"backfill_new_fields": True}}
    env = declare(sandbox, {"Account_backfill": entry})
    spec = [{"system": "salesforce", "stream": "Account_backfill", "table": table, "mode": "auto"}]
    column = custom_field.upper()
    with admin.sized("salesforce", "Account", 120):
        day = datetime(2026, 3, 1, tzinfo=UTC)
        first = run_ingest(spec, day, env)
        assert first.returncode == 0, output(first)[-4000:]
        change(admin, action="add_field", field=custom_field, type="string")
        second = run_ingest(spec, day + timedelta(hours=1), env)
        assert second.returncode == 0, output(second)[-4000:]
        assert f"reading in full to fill in the new fields {custom_field}" in output(second)
        source = {r["Id"]: r[custom_field] for r in read_account(custom_field)}
        loaded: dict[Any, Any] = dict(snowflake_query(f'SELECT "ID", "{column}" FROM "{table}"'))
        assert loaded == source and len(loaded) == 120, "rows the incremental read skipped are filled"

        admin.mutate("salesforce", "Account", update=3)
        third = run_ingest(spec, day + timedelta(hours=2), env)
        assert third.returncode == 0, output(third)[-4000:]
        assert "reading in full" not in output(third), "a field is backfilled once"
        assert "window (full)" not in output(third) and "extracted salesforce/Account_backfill: 3 rows" in (
            output(third)
        ), "the next run reads incrementally from where the full read left off"
