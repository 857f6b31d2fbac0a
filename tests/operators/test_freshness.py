"""SnowflakeFreshnessCheckOperator against the sandbox's Snowflake (fakesnow over the wire protocol)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_integrations.core.errors import ConfigError
from airflow_provider_integrations.operators.freshness import SnowflakeFreshnessCheckOperator
from tests.operators.test_reverse_etl import Query, context, sandbox_env  # noqa: F401 - fixture, shared

Table = Callable[..., str]


@pytest.fixture
def lineage_table(snowflake_query: Query, sandbox_env: None) -> Iterator[Table]:  # noqa: F811
    """A target table with lineage columns, loaded `ages` ago (changed an hour before each load)."""
    made: list[str] = []

    def make(*ages: timedelta) -> str:
        table = f"FRESH_{uuid.uuid4().hex[:6]}".upper()
        snowflake_query(
            f'CREATE TABLE "{table}" (ID INT, "_CHANGED_AT" TIMESTAMP_TZ, "_LOADED_AT" TIMESTAMP_TZ)'
        )
        now = datetime.now(UTC)
        for i, age in enumerate(ages):
            loaded, changed = now - age, now - age - timedelta(hours=1)
            snowflake_query(
                f"INSERT INTO \"{table}\" VALUES ({i}, '{changed.isoformat()}'::TIMESTAMP_TZ, "
                f"'{loaded.isoformat()}'::TIMESTAMP_TZ)"
            )
        made.append(table)
        return table

    yield make
    for table in made:
        snowflake_query(f'DROP TABLE IF EXISTS "{table}"')


def check(table: str, sla: timedelta, **options: Any) -> dict[str, Any]:
    operator = SnowflakeFreshnessCheckOperator(
        task_id="freshness", table=table, sla=sla, snowflake_conn_id="sandbox_snowflake", **options
    )
    return operator.execute(context())


def test_a_recently_loaded_table_is_fresh(lineage_table: Table) -> None:
    table = lineage_table(timedelta(hours=5), timedelta(minutes=10))
    status = check(table, timedelta(hours=1), on_stale="fail")
    assert status["fresh"] is True and status["table"] == table
    assert 9 * 60 <= status["age_seconds"] <= 11 * 60, "the newest row counts"
    assert status["sla_seconds"] == 3600
    newest = datetime.fromisoformat(status["newest"])
    assert abs(datetime.now(UTC) - timedelta(minutes=10) - newest) < timedelta(minutes=1)


def test_a_stale_table_warns_and_returns_its_status(
    lineage_table: Table, caplog: pytest.LogCaptureFixture
) -> None:
    table = lineage_table(timedelta(hours=3))
    with caplog.at_level(logging.WARNING):
        status = check(table, timedelta(hours=1))
    assert status["fresh"] is False
    assert 3 * 3600 - 60 <= status["age_seconds"] <= 3 * 3600 + 60
    assert f"{table} is stale: newest _LOADED_AT is " in caplog.text
    assert "the SLA is 1:00:00" in caplog.text


def test_a_stale_table_fails_the_task_naming_table_newest_value_and_sla(lineage_table: Table) -> None:
    table = lineage_table(timedelta(minutes=30))
    assert check(table, timedelta(hours=1), on_stale="fail")["fresh"] is True
    expected = rf"{table} is stale: newest _CHANGED_AT is 20\d\d-.*, 1:30:0\d old; the SLA is 1:00:00"
    with pytest.raises(AirflowFailException, match=expected):
        check(table, timedelta(hours=1), column="_CHANGED_AT", on_stale="fail")


def test_an_empty_table_is_stale(lineage_table: Table) -> None:
    table = lineage_table()
    status = check(table, timedelta(days=1))
    assert status == {
        "table": table,
        "newest": None,
        "age_seconds": None,
        "sla_seconds": 86400.0,
        "fresh": False,
    }
    with pytest.raises(AirflowFailException, match=f"{table} is stale: it is empty"):
        check(table, timedelta(days=1), on_stale="fail")


def test_names_are_validated_before_any_query(sandbox_env: None) -> None:  # noqa: F811
    with pytest.raises(AirflowFailException, match="not a valid SQL name"):
        check("T; DROP TABLE X", timedelta(hours=1))
    with pytest.raises(ConfigError, match="on_stale"):
        SnowflakeFreshnessCheckOperator(task_id="f", table="T", sla=timedelta(hours=1), on_stale="page")
