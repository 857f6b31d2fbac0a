"""Interrupted demos and runs whose dates are not a scheduler's: nothing may be lost or skipped.

`make demo` is killed (SIGKILL to its process group, as a terminal's kill would) between its two rounds,
then its rerun is killed in the middle of the reverse ETL (after the first records reached Salesforce),
and the next rerun must exit 0 with nothing missing or duplicated and every change read by round 2.
Each kill leaves the sandbox running (it has its own session) with changed data, as in issue 14.

`mode="auto"` must not be misled by a run's dates: a run recorded as starting in the future (a manual
trigger with a future logical date, a skewed clock, `dag.test(logical_date=...)`) or a stream added to a
DAG that already ran. The next run must still read every change since the last successful read.
"""

from __future__ import annotations

import os
import queue
import signal
import ssl
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from integrations_sandbox import runner

from airflow_provider_integrations.core.watermark import parse_timestamp
from tests.connectors.conftest import Admin
from tests.operators.conftest import migrated_airflow_home
from tests.test_demo import DEMO, assert_demo_kept_its_promise


@pytest.fixture(scope="module")
def own_airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A metadata database of our own: `auto` reads the previous successful run, which must be ours."""
    return migrated_airflow_home(tmp_path_factory.mktemp("airflow_home_auto"))


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


class Demo:
    """`make demo` in the background, in its own process group, its output read line by line."""

    def __init__(self, cwd: Path) -> None:
        self.process = subprocess.Popen(
            DEMO, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def until(self, marker: str, timeout: float = 300) -> None:
        """Wait for a line starting with `marker`; fail if the demo ends or takes too long first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                pytest.fail(f"the demo ended before {marker!r}:\n{''.join(self.seen[-60:])}")
            self.seen.append(line)
            if line.startswith(marker):
                return
        pytest.fail(f"no {marker!r} within {timeout:.0f} s:\n{''.join(self.seen[-60:])}")

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def finish(self, timeout: float = 600) -> str:
        self.process.wait(timeout=timeout)
        while (line := self.lines.get(timeout=30)) is not None:
            self.seen.append(line)
        return "".join(self.seen)


def left_running(sandbox: Path) -> runner.SandboxInfo:
    """The sandbox a killed demo left behind: still running and answering."""
    info = runner.status(sandbox)
    assert info is not None, "the killed demo's sandbox kept running (it has its own session)"
    return info


def test_demo_killed_between_rounds_then_during_the_reverse_etl_recovers_on_the_next_run(
    tmp_path: Path,
) -> None:
    sandbox = tmp_path / ".sandbox"
    try:
        first = Demo(tmp_path)
        first.until("== demo: round 2")
        first.kill()
        between_rounds = left_running(sandbox)

        second = Demo(tmp_path)
        second.until("== demo: round 1")
        assert not any(runner._alive(pid) for pid in between_rounds.pids), "the leftover sandbox was stopped"
        assert any("stopped the sandbox an earlier demo left running" in line for line in second.seen)
        second.until("== demo: reverse ETL")
        during_reverse_etl = left_running(sandbox)
        admin = httpx.Client(
            base_url=during_reverse_etl.admin_url,
            verify=ssl.create_default_context(cafile=during_reverse_etl.ca_bundle),
            timeout=30,
        )
        # Each Salesforce call now waits a second first: the kill lands between two batches of writes.
        admin.put("/faults/salesforce", json={"rate_slow": 1.0, "slow_seconds": 1.0}).raise_for_status()
        deadline = time.monotonic() + 120
        while not (written := admin.get("/written/salesforce/Account").json()):
            assert time.monotonic() < deadline, "the reverse ETL wrote nothing within 120 s"
            assert second.process.poll() is None, "the demo ended before the reverse ETL wrote"
            time.sleep(0.05)
        second.kill()
        assert 0 < len(written) < 390, f"killed in the middle of the sync: {len(written)} records written"
        left_running(sandbox)

        third = Demo(tmp_path)
        output = third.finish()
        assert third.process.returncode == 0, output[-5000:]
        assert "stopped the sandbox an earlier demo left running" in output
        assert not any(runner._alive(pid) for pid in during_reverse_etl.pids)
        assert_demo_kept_its_promise(output, sandbox)
    finally:
        runner.down(sandbox)
