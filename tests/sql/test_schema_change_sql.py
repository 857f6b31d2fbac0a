"""The schema-change table's SQL and column widening, run on fakesnow."""

from __future__ import annotations

from typing import Any

from airflow_provider_integrations.core.schema import FieldType
from airflow_provider_integrations.core.sql import snowflake as sql


def row(batch: str, change: str = "field_added", action: str = "added") -> dict[str, str | None]:
    return {
        "SYSTEM": "salesforce",
        "STREAM": "Account",
        "FIELD": "Tier__c",
        "CHANGE": change,
        "ACTION": action,
        "OLD_TYPE": None,
        "NEW_TYPE": "string (picklist)",
        "DETECTED_AT": f"2026-01-01T0{len(batch)}:00:00+00:00",
        "DAG_ID": "d",
        "RUN_ID": "r",
        "TASK_ID": "t",
        "TARGET_TABLE": "ACCOUNT",
        "BATCH_ID": batch,
    }


def test_schema_changes_table_lands_in_the_targets_schema() -> None:
    assert sql.schema_changes_table("db.raw.account") == "db.raw._INTEGRATIONS_SCHEMA_CHANGES"
    assert sql.schema_changes_table("account") == "_INTEGRATIONS_SCHEMA_CHANGES"
    assert sql.schema_changes_table("raw.account", "CHANGES") == "raw.CHANGES"
    assert sql.schema_changes_table("raw.account", "audit.CHANGES") == "audit.CHANGES"


def test_a_change_is_recorded_once_per_batch_and_again_only_when_it_differs(snowflake_conn: Any) -> None:
    cursor = snowflake_conn.cursor()
    cursor.execute(sql.create_schema_changes("CHANGES"))

    def record(values: dict[str, str | None]) -> None:
        cursor.execute(*sql.record_schema_change("CHANGES", values))

    record(row("b1"))
    record(row("b1"))
    record(row("b22"))
    record(row("b333", "field_removed", "nulled"))
    record(row("b4444"))
    cursor.execute('SELECT "BATCH_ID", "CHANGE" FROM "CHANGES" ORDER BY "DETECTED_AT"')
    assert cursor.fetchall() == [("b1", "field_added"), ("b333", "field_removed"), ("b4444", "field_added")]


def test_widening_rebuilds_a_keyed_table_keeping_every_value(snowflake_conn: Any) -> None:
    cursor = snowflake_conn.cursor()
    cursor.execute(
        'CREATE OR REPLACE TABLE "W" ("ID" VARCHAR, "N" NUMBER(38,0), "F" FLOAT, PRIMARY KEY ("ID"))'
    )
    cursor.execute("INSERT INTO \"W\" VALUES ('a', 5, 1.5), ('b', NULL, NULL)")
    cursor.execute(*sql.column_types("W"))
    columns = cursor.fetchall()
    widened = {"N": FieldType.STRING, "F": FieldType.STRING}
    for statement in sql.widen_columns("W", columns, widened, ["ID"]):
        cursor.execute(statement)
    cursor.execute('SELECT "ID", "N", "F" FROM "W" ORDER BY "ID"')
    assert cursor.fetchall() == [("a", "5", "1.5"), ("b", None, None)]
    cursor.execute(*sql.column_types("W"))
    assert [(r[0], r[1]) for r in cursor.fetchall()] == [("ID", "TEXT"), ("N", "TEXT"), ("F", "TEXT")]


def test_a_stopped_widening_is_finished_or_undone() -> None:
    assert sql.finish_widening("T", table_exists=True, rebuild_exists=False) == []
    assert sql.finish_widening("T", table_exists=True, rebuild_exists=True) == ['DROP TABLE "T__WIDENING"']
    assert sql.finish_widening("T", table_exists=False, rebuild_exists=True) == [
        'ALTER TABLE "T__WIDENING" RENAME TO "T"'
    ]
