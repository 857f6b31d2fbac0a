"""The DAG package: every DAG file imports cleanly and fast, without network or database calls, and every
task carries retries with backoff, a timeout and the DLQ callbacks."""

from __future__ import annotations

import socket
import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_provider_integrations.core.errors import ConfigError
from airflow_provider_integrations.dag_config import ingest_dag, reverse_etl_dag
from tests.include_configs import ingest_config

ROOT = Path(__file__).resolve().parents[2]
DAG_FILES = sorted((ROOT / "dags").glob("*.py"))


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a DAG file opened a network connection at parse time")

    monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.mark.parametrize("path", DAG_FILES, ids=[p.stem for p in DAG_FILES])
def test_every_dag_file_parses_without_errors_warnings_or_network(path: Path, no_network: None) -> None:
    from airflow.dag_processing.dagbag import DagBag

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bag = DagBag(dag_folder=str(path), safe_mode=False)
    assert not bag.import_errors, bag.import_errors
    assert len(bag.dags) == 1
    dag = next(iter(bag.dags.values()))
    assert dag.tasks
    for task in dag.tasks:
        assert task.retries >= 1, task.task_id
        assert task.retry_exponential_backoff, task.task_id
        assert task.max_retry_delay is not None and task.execution_timeout is not None, task.task_id
        assert task.on_failure_callback and task.on_retry_callback, task.task_id


def test_every_system_has_an_ingest_dag_over_every_catalog_stream() -> None:
    from airflow_provider_integrations.connectors.base import load_catalog

    for system in ("salesforce", "netsuite", "stripe", "workday", "servicenow"):
        dag = ingest_dag(ROOT / "include" / "ingest" / f"{system}.yaml")
        groups = {t.task_id.split(".")[0] for t in dag.tasks}
        assert groups == {name.lower() for name in load_catalog(f"{system}.yaml")}, system
        loads = [t for t in dag.tasks if t.task_id.endswith(".load")]
        assert all(t.outlets for t in loads), "each load updates its table's Asset"


def test_the_reverse_etl_dag_is_scheduled_on_the_ingest_tables_asset() -> None:
    dag = reverse_etl_dag(ROOT / "include" / "reverse_etl" / "account_scores.yaml")
    ingest = ingest_dag(ROOT / "include" / "ingest" / "salesforce.yaml")
    produced = {a.uri for t in ingest.tasks for a in t.outlets}
    consumed = {a.uri for a in dag.timetable.asset_condition.objects}
    assert consumed and consumed <= produced


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"streams": "Account"}, "must be a mapping"),
        ({"colour": "blue"}, "unknown keys \\['colour'\\]"),
        ({"connections": {"source": "x"}}, "missing \\["),
        ({"lookback": "soon"}, "not a duration"),
    ],
)
def test_a_bad_config_names_what_is_wrong(tmp_path: Path, change: dict[str, Any], message: str) -> None:
    config = ingest_config("stripe")
    if change.get("streams") == "Account":
        config["streams"] = ["Account"]
    else:
        config.update(change)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError, match=message):
        ingest_dag(path)
