"""Interrupted demos and runs whose dates are not a scheduler's: nothing may be lost or skipped.

`mode="auto"` must not be misled by a run's dates: a run recorded as starting in the future (a manual
trigger with a future logical date, a skewed clock, `dag.test(logical_date=...)`) or a stream added to a
DAG that already ran. The next run must still read every change since the last successful read.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_integrations.core.watermark import parse_timestamp
from tests.connectors.conftest import Admin


@pytest.fixture(scope="module")
def own_airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A metadata database of our own: `auto` reads the previous successful run, which must be ours."""
    home = tmp_path_factory.mktemp("airflow_home_auto")
    env = {**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    airflow = Path(sys.executable).parent / "airflow"
    subprocess.run([str(airflow), "db", "migrate"], env=env, check=True, capture_output=True, timeout=300)
    return home


def ok(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]


def landed(snowflake_query: Callable[[str], list[tuple[Any, ...]]], table: str) -> dict[str, str]:
    """Live rows of a target table: id -> modification stamp."""
    rows = snowflake_query(f'SELECT "ID", "SYSTEMMODSTAMP" FROM "{table}" WHERE NOT "_DELETED"')
    return {str(key): parse_timestamp(stamp).isoformat() for key, stamp in rows}


def live(source_records: Callable[[str, str], list[dict[str, Any]]], stream: str) -> dict[str, str]:
    """Live records of a Salesforce stream now: id -> modification stamp, in UTC."""
    return {
        r["Id"]: parse_timestamp(r["SystemModstamp"]).isoformat()
        for r in source_records("salesforce", stream)
        if not r["IsDeleted"]
    }


def test_auto_is_not_misled_by_a_run_dated_in_the_future_nor_by_a_stream_new_to_the_dag(
    run_ingest: Any,
    own_airflow_home: Path,
    admin: Admin,
    snowflake_query: Callable[[str], list[tuple[Any, ...]]],
    source_records: Callable[[str, str], list[dict[str, Any]]],
) -> None:
    """The first run is dated two hours ahead (dag.test records its logical date as its start, as a
    skewed clock or a manual run with a future date would). The next run must read the changes made in
    between, not a window starting in the future; and Contact, new to the DAG in that run, must get its
    full load although the DAG already succeeded once."""
    suffix = uuid.uuid4().hex[:6].upper()
    account = {"system": "salesforce", "stream": "Account", "table": f"AUTO_ACC_{suffix}", "mode": "auto"}
    contact = {"system": "salesforce", "stream": "Contact", "table": f"AUTO_CON_{suffix}", "mode": "auto"}
    env = {"AIRFLOW_HOME": str(own_airflow_home)}
    with admin.sized("salesforce", "Account", 300), admin.sized("salesforce", "Contact", 250):
        ahead = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
        ok(run_ingest([account], ahead, env))
        assert landed(snowflake_query, account["table"]) == live(source_records, "Account")
        time.sleep(1)
        admin.mutate("salesforce", "Account", update=5, insert=3, delete=2, same_timestamp=True)
        ok(run_ingest([account, contact], ahead + timedelta(hours=1), env))
        assert landed(snowflake_query, account["table"]) == live(source_records, "Account"), (
            "every update, insert and delete made after the future-dated run reached the table"
        )
        assert len(live(source_records, "Contact")) == 250
        assert landed(snowflake_query, contact["table"]) == live(source_records, "Contact")
