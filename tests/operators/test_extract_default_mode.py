"""The extract's default mode is one: the operator, the task group and the YAML DAG factory agree with
the README's `mode="auto"` (the default)."""

from __future__ import annotations

import inspect
from pathlib import Path

import yaml

from airflow_provider_integrations.dag_config import ingest_dag
from airflow_provider_integrations.operators.extract import DEFAULT_MODE, SaaSToS3Operator
from airflow_provider_integrations.operators.ingest_group import ingest_stream

ROOT = Path(__file__).resolve().parents[2]


def test_the_default_is_auto_as_the_readme_says() -> None:
    assert DEFAULT_MODE == "auto"
    assert '`mode="auto"` (the default)' in (ROOT / "README.md").read_text()


def test_an_operator_given_no_mode_reads_in_the_default_mode() -> None:
    operator = SaaSToS3Operator(task_id="extract", conn_id="c", stream="s", bucket="b")
    assert operator.mode == DEFAULT_MODE


def test_the_task_group_and_the_yaml_factory_default_to_the_same_mode() -> None:
    assert inspect.signature(ingest_stream).parameters["mode"].default == DEFAULT_MODE
    config = yaml.safe_load((ROOT / "include" / "ingest" / "stripe.yaml").read_text())
    assert all("mode" not in stream for stream in config["streams"]) and "mode" not in config["defaults"]
    dag = ingest_dag(ROOT / "include" / "ingest" / "stripe.yaml")
    extracts = [t for t in dag.tasks if t.task_id.endswith(".extract")]
    assert extracts and {t.mode for t in extracts} == {DEFAULT_MODE}
