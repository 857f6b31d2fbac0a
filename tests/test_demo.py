"""`make demo` keeps its promise: it runs on its own and says nothing was lost or duplicated."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_demo_runs_and_reports_no_loss(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "nothing lost, nothing duplicated" in result.stdout
    report = json.loads((tmp_path / ".sandbox" / "demo-report.json").read_text())
    assert report["missing"] == 0 and report["duplicated"] == 0
    assert report["delivered"] + report["dead_lettered"] == report["served"]
    assert report["poison_in_dlq"] == report["dead_lettered"] > 0
    assert report["http_calls"] > report["pages"], "the fault profile should have forced retries"
    assert list((tmp_path / ".sandbox" / "dlq" / "entries").rglob("*.jsonl"))
