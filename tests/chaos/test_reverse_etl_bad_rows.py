"""Reverse ETL of models holding bad rows: NULL keys, duplicated keys, NaN and Infinity among good rows,
with plan pages of several sizes so that bad rows fall before, on and after every page boundary.

Whatever the page size: every good row is delivered exactly once (the emulator counts what it accepts),
every bad row is in the DLQ with its reason and no copy of it is delivered, a dry run predicts exactly
what the run does, and the next run refuses the same rows again and sends nothing twice.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_provider_integrations.core.dlq import LocalDLQStore
from airflow_provider_integrations.core.errors import ConfigError
from airflow_provider_integrations.core.reverse_etl.spec import (
    SyncSpec,
    UnsendableValue,
    readable,
    wire_value,
)
from airflow_provider_integrations.dag_config import reverse_etl_dag
from airflow_provider_integrations.operators.reverse_etl import SnowflakeToSaaSOperator, default_state_table
from tests.connectors.conftest import Admin
from tests.operators.test_reverse_etl import INF, NAN, BadRow, accepted, create_rows_model, sync

# Keys k00..k29, with bad rows spread so that a page of any size from 1 to 8 has one at its edge.
ROWS: list[BadRow] = [(f"k{i:02d}", float(i)) for i in range(30)]
ROWS[2] = ("k02", NAN)
ROWS[6:6] = [("k05", 50.0)]  # k05 twice
ROWS[12:12] = [("k10", 100.0), ("k10", 101.0)]  # k10 three times
ROWS[20] = ("k17", INF)
ROWS[25] = ("k22", -INF)
ROWS += [("k29", 290.0), (None, 1.0), (None, 1.0), (None, 2.0)]  # k29 twice; NULL keys, two identical
ROOT = Path(__file__).resolve().parents[2]
EXPECTED = {"DuplicateKey": 2 + 3 + 2, "NullKey": 3, "UnsendableValue": 3}


@pytest.mark.parametrize("page_rows", [1, 2, 3, 5, 8, 50_000])
def test_bad_rows_are_refused_and_good_ones_delivered_once_whatever_the_page_size(
    admin: Admin, snowflake_query: Any, sandbox_env: Any, tmp_path: Any, page_rows: int
) -> None:
    table, prefix = create_rows_model(snowflake_query, ROWS)
    counts = Counter(k for k, _ in ROWS if k is not None)
    unsendable = {k for k, score in ROWS if score is not None and not math.isfinite(score)}
    good = {f"{prefix}-{k}" for k, n in counts.items() if n == 1 and k not in unsendable}
    options = {"page_rows": page_rows, "batch_size": 4, "max_rejected_share": 0.5}

    planned = sync(table, tmp_path, dry_run=True, **options)
    assert (planned["would_insert"], planned["rejected_reasons"]) == (len(good), EXPECTED)
    assert planned["unchanged"] == 0 and planned["model_rows"] == len(ROWS)

    result = sync(table, tmp_path, **options)
    assert (result["succeeded"], result["rejected_reasons"], result["unchanged"]) == (len(good), EXPECTED, 0)
    assert accepted(admin, prefix) == dict.fromkeys(good, 1), "every good row once, no bad one"
    dead = LocalDLQStore(tmp_path).find(limit=1000)
    assert Counter(e.error_class for e in dead) == EXPECTED, "every bad row (every copy) has its entry"
    by_reason = {reason: {str(e.record_key) for e in dead if e.error_class == reason} for reason in EXPECTED}
    assert by_reason["DuplicateKey"] == {f"{prefix}-{k}#{n}" for k, c in counts.items() if c > 1
                                         for n in range(1, c + 1)}  # fmt: skip
    assert by_reason["UnsendableValue"] == {f"{prefix}-{k}" for k in unsendable}
    assert all(e.message for e in dead)

    again = sync(table, tmp_path, **options)
    assert (again["sent"], again["rejected_reasons"], again["unchanged"]) == (0, EXPECTED, len(good))
    assert accepted(admin, prefix) == dict.fromkeys(good, 1), "nothing sent twice"


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        (decimal.Decimal("12.50"), 12.5),
        (decimal.Decimal("12"), 12),
        (dt.date(2026, 1, 2), "2026-01-02"),
        (dt.time(10, 30), "10:30:00"),
        (dt.datetime(2026, 1, 2, 3, 4, tzinfo=dt.UTC), "2026-01-02T03:04:00+00:00"),
        (b"\x00\xffbin", "AP9iaW4="),
        ([1, decimal.Decimal("2.5")], [1, 2.5]),
        ({"a": dt.date(2026, 1, 2)}, {"a": "2026-01-02"}),
    ],
)
def test_every_warehouse_value_with_a_wire_form_is_sent_in_it(value: Any, wire: Any) -> None:
    assert wire_value(value) == wire


@pytest.mark.parametrize(
    ("value", "named"),
    [
        (NAN, "NaN"),
        (INF, "Infinity"),
        (-INF, "-Infinity"),
        (decimal.Decimal("NaN"), "NaN"),
        (decimal.Decimal("-Infinity"), "-Infinity"),
        (decimal.Decimal("9" * 400 + ".5"), "beyond the range"),
        (object(), "has no JSON form"),
        ([1.0, NAN], "NaN"),
    ],
)
def test_a_value_without_a_wire_form_refuses_its_record_naming_the_column(value: Any, named: str) -> None:
    spec = SyncSpec(target="Account", key="K", mapping={"NAME": "Name", "SCORE": "Score__c"}, external_id="X")
    with pytest.raises(UnsendableValue, match=f"column SCORE holds .*{named}") as refused:
        spec.record({"NAME": "ok", "SCORE": value}, "k1", None)
    assert refused.value.record_key == "k1"
    assert readable(value) is not None, "a DLQ entry can still show the value"


def test_max_rejected_share_is_read_from_the_sync_config_and_checked_with_the_file(tmp_path: Path) -> None:
    config = yaml.safe_load((ROOT / "include" / "reverse_etl" / "account_scores.yaml").read_text())
    path = tmp_path / "syncs.yaml"
    config["syncs"][0]["max_rejected_share"] = 0.25
    path.write_text(yaml.safe_dump(config))
    task = reverse_etl_dag(path).get_task(config["syncs"][0]["task_id"])
    assert isinstance(task, SnowflakeToSaaSOperator) and task.spec.max_rejected_share == 0.25

    config["syncs"][0]["max_rejected_share"] = 1.5
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError, match=rf"^{path}: sync .*max_rejected_share must be between 0 and 1"):
        reverse_etl_dag(path)


def test_a_delete_sync_refuses_null_and_duplicated_keys_and_deletes_the_rest(
    admin: Admin, snowflake_query: Any, sandbox_env: Any, tmp_path: Any
) -> None:
    table, prefix = create_rows_model(snowflake_query, [(f"k{i}", float(i)) for i in range(8)])
    assert sync(table, tmp_path)["succeeded"] == 8
    state = default_state_table(table, "sandbox_salesforce", "Account")
    gone, _ = create_rows_model(snowflake_query, [("k1", 0.0), ("k2", 0.0), ("k2", 1.0), (None, 0.0)])
    snowflake_query(f"UPDATE \"{gone}\" SET ACCOUNT_KEY = REPLACE(ACCOUNT_KEY, '{gone.lower()}', '{prefix}')")
    options = {"mode": "delete", "state_table": state, "max_rejected_share": 0.9, "page_rows": 1}

    planned = sync(gone, tmp_path, dry_run=True, **options)
    assert (planned["would_delete"], planned["rejected_reasons"]) == (1, {"DuplicateKey": 2, "NullKey": 1})
    result = sync(gone, tmp_path, **options)
    assert (result["deleted"], result["rejected_reasons"]) == (1, {"DuplicateKey": 2, "NullKey": 1})
    held = snowflake_query(f'SELECT "SYNC_KEY" FROM "{state}" WHERE "DELETED"')
    assert held == [(f"{prefix}-k1",)], "only the key named once was deleted"
