"""`make demo` keeps its promise: it runs on its own and says nothing was lost or duplicated."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_demo_runs_end_to_end_and_reports_no_loss(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "nothing lost, nothing duplicated" in result.stdout
    report = json.loads((tmp_path / ".sandbox" / "demo-report.json").read_text())
    core = report["core"]
    assert core["missing"] == 0 and core["duplicated"] == 0
    assert core["delivered"] + core["dead_lettered"] == core["served"]
    assert core["http_calls"] > core["pages"], "the scripted faults should have forced retries"
    streams = report["streams"]
    assert {s["system"] for s in streams} == {"salesforce", "netsuite", "stripe", "workday", "servicenow"}
    for stream in streams:
        assert stream["read"] == stream["source"] and stream["duplicated"] == 0, stream
        assert stream["valid"] + stream["dlq"] == stream["read"]
    assert sum(s["dlq"] for s in streams) > 0, "the 1% poison profile should have fed the DLQ"
    assert list((tmp_path / ".sandbox" / "dlq" / "entries").rglob("*.jsonl"))
    assert (tmp_path / ".sandbox" / "snowflake").is_dir()
