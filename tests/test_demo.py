"""`make demo` keeps its promise: it runs the DAGs on its own and says nothing was lost or duplicated."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEMO = [sys.executable, str(ROOT / "scripts" / "demo.py"), "--s3-port", "0", "--snowflake-port", "0",
        "--saas-port", "0"]  # fmt: skip
"""The demo on free ports, so that it meets no other sandbox."""


def assert_demo_kept_its_promise(stdout: str, sandbox: Path) -> dict[str, Any]:
    """Everything the demo promises, checked in its report; returns the report."""
    assert "nothing lost, nothing duplicated, every change read" in stdout
    report: dict[str, Any] = json.loads((sandbox / "demo-report.json").read_text())
    assert report["ok"]
    assert {r["dag_id"] for r in report["runs"]} == {
        "ingest_salesforce", "ingest_netsuite", "ingest_stripe", "ingest_workday", "ingest_servicenow",
        "reverse_etl_account_scores",
    }  # fmt: skip
    assert all(r["state"] == "success" for r in report["runs"])
    assert len(report["tables"]) == 18
    for table in report["tables"]:
        assert table["missing"] == table["unexpected"] == table["duplicated"] == 0, table
        assert table["landed"] == table["expected"] > 0
        # Round 2 must really read the changes (an incremental window in the future reads nothing and
        # the end state alone would not show updated rows that kept their old values).
        assert table["changed"] >= 9, table
        assert table["read_in_round_2"] >= table["changed"], table
        assert table["changes_not_read"] == 0, table
    assert sum(t["poison_in_dlq"] for t in report["tables"]) > 0, "the 1% poison profile fed the DLQ"
    reverse = report["reverse_etl"]
    assert reverse["delivered"] + reverse["dead_lettered"] + reverse["pending"] == reverse["model_rows"] > 0
    assert reverse["second_run_sent"] == 0
    assert list((sandbox / "dlq").rglob("*.jsonl"))
    assert (sandbox / "snowflake").is_dir()
    return report


def test_demo_runs_the_dags_end_to_end_and_reports_no_loss(tmp_path: Path) -> None:
    result = subprocess.run(DEMO, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert_demo_kept_its_promise(result.stdout, tmp_path / ".sandbox")
    assert not (tmp_path / ".sandbox" / "sandbox.json").exists(), "the demo stops its sandbox"


def test_demo_names_a_busy_port_and_starts_nothing(tmp_path: Path) -> None:
    import os
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        command = [*DEMO[:-1], str(busy)]
        result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stdout[-3000:] + result.stderr[-3000:]
    assert f"port {busy} (SaaS emulator) is already in use by pid {os.getpid()}" in result.stderr
    assert "--saas-port" in result.stderr
    assert "Traceback" not in result.stderr
