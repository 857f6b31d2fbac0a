"""The sandbox comes up with one call, and its parts speak their real protocols."""

from __future__ import annotations

import io
import json
import shlex
import ssl
from typing import Any

import boto3
import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import snowflake.connector
from integrations_sandbox import stores


def s3_client(sandbox: Any) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=sandbox.s3_url,
        region_name=stores.S3_REGION,
        aws_access_key_id=stores.S3_ACCESS_KEY,
        aws_secret_access_key=stores.S3_SECRET_KEY,
    )


def test_env_file_has_a_connection_per_system_and_loads_in_a_shell(sandbox: Any) -> None:
    from pathlib import Path

    lines = (Path(sandbox.data_dir) / "sandbox.env").read_text().splitlines()
    env = dict(line.split("=", 1) for line in lines)
    for name in ("S3", "SNOWFLAKE", "SALESFORCE", "STRIPE", "NETSUITE", "WORKDAY", "SERVICENOW"):
        conn = json.loads(shlex.split(env[f"AIRFLOW_CONN_SANDBOX_{name}"])[0])
        assert conn["conn_type"]
    assert shlex.split(env["SANDBOX_CA_BUNDLE"])[0].endswith("ca.pem")
    assert shlex.split(env["SANDBOX_ADMIN_URL"])[0] == sandbox.admin_url


def test_admin_api_answers_over_verified_tls(sandbox: Any) -> None:
    response = httpx.get(
        f"{sandbox.admin_url}/health", verify=ssl.create_default_context(cafile=sandbox.ca_bundle)
    )
    assert response.json()["ok"] is True
    assert response.json()["seed"] == 1234


def test_snowflake_copies_parquet_from_the_sandbox_s3(sandbox: Any) -> None:
    client = s3_client(sandbox)
    client.create_bucket(Bucket="stage-test")
    table = pa.table({"ID": ["a", "b", "c"], "AMOUNT": [1, 2, 3]})
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    client.put_object(Bucket="stage-test", Key="runs/1/part-0.parquet", Body=buffer.getvalue())

    conn = snowflake.connector.connect(**sandbox.snowflake_kwargs())
    cursor = conn.cursor()
    cursor.execute("CREATE TABLE IF NOT EXISTS copy_test (ID VARCHAR, AMOUNT INTEGER)")
    cursor.execute("CREATE OR REPLACE STAGE copy_stage URL='s3://stage-test/runs/'")
    cursor.execute(
        "COPY INTO copy_test FROM @copy_stage FILES=('1/part-0.parquet') "
        "FILE_FORMAT=(TYPE=PARQUET) MATCH_BY_COLUMN_NAME=CASE_INSENSITIVE"
    )
    results = cursor.fetchall()
    assert [(r[1], r[3]) for r in results] == [("LOADED", 3)]
    cursor.execute("SELECT ID, AMOUNT FROM copy_test ORDER BY ID")
    assert cursor.fetchall() == [("a", 1), ("b", 2), ("c", 3)]
    conn.close()


def test_cli_up_status_down_and_snowflake_data_survives_a_restart(tmp_path: Any) -> None:
    import subprocess
    import sys

    from integrations_sandbox import runner

    ports = [str(runner.free_port()) for _ in range(3)]
    base = [sys.executable, "-m", "integrations_sandbox", "--data-dir", str(tmp_path)]
    up = [*base, "up", "--s3-port", ports[0], "--snowflake-port", ports[1], "--saas-port", ports[2],
          "--faults", json.dumps({"stripe": {"seed": 5, "rate_429": 0.5}})]  # fmt: skip

    def run(command: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(command, capture_output=True, text=True, timeout=90)

    assert run([*base, "status"]).returncode == 1
    try:
        started = run(up)
        assert started.returncode == 0, started.stderr
        assert "sandbox up" in started.stdout
        assert json.loads(run([*base, "status"]).stdout)["saas"].endswith(ports[2])
        info = runner.status(tmp_path)
        assert info is not None
        context = ssl.create_default_context(cafile=info.ca_bundle)
        faults = httpx.get(f"{info.admin_url}/faults", verify=context).json()
        assert faults["stripe"]["rate_429"] == 0.5 and faults["stripe"]["seed"] == 5
        conn = snowflake.connector.connect(**info.snowflake_kwargs())
        conn.cursor().execute("CREATE TABLE kept (ID INTEGER)")
        conn.cursor().execute("INSERT INTO kept VALUES (42)")
        conn.close()
        assert "sandbox stopped" in run([*base, "down"]).stdout
        assert runner.status(tmp_path) is None

        assert run(up).returncode == 0
        info = runner.status(tmp_path)
        assert info is not None
        conn = snowflake.connector.connect(**info.snowflake_kwargs())
        cursor = conn.cursor()
        cursor.execute("SELECT ID FROM kept")
        assert cursor.fetchall() == [(42,)]
        conn.close()
    finally:
        run([*base, "down"])
    assert (tmp_path / "snowflake" / "SANDBOX.db").exists()


def test_a_busy_port_is_named_with_its_option_and_owner_before_anything_starts(tmp_path: Any) -> None:
    import os
    import socket
    import subprocess
    import sys

    from integrations_sandbox import runner

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        command = [sys.executable, "-m", "integrations_sandbox", "--data-dir", str(tmp_path),
                   "up", "--s3-port", "0", "--snowflake-port", str(busy), "--saas-port", "0"]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"port {busy} (Snowflake) is already in use by pid {os.getpid()}" in result.stderr
    assert "--snowflake-port" in result.stderr
    assert "Traceback" not in result.stderr and "exited at start" not in result.stderr
    assert not (tmp_path / "sandbox.json").exists(), "nothing was started"
    assert runner.status(tmp_path) is None


def test_down_stops_a_sandbox_whose_pid_file_is_lost_and_never_a_stranger_with_a_recorded_pid(
    tmp_path: Any,
) -> None:
    """A demo killed at the wrong moment leaves sandbox processes behind (they run in their own
    sessions); a pid file left behind may name a pid the system has since given to another program."""
    import os
    import subprocess
    from dataclasses import asdict

    from integrations_sandbox import runner

    info = runner.up(tmp_path, ports={"s3": 0, "snowflake": 0, "saas": 0})
    assert len({info.s3_port, info.snowflake_port, info.saas_port}) == 3 and 0 not in info.pids
    (tmp_path / "sandbox.json").unlink()
    try:
        assert runner.down(tmp_path) is True
        assert not any(runner._alive(pid) for pid in info.pids)
    finally:
        for pid in info.pids:
            if runner._alive(pid):
                os.killpg(pid, 9)

    stranger = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        (tmp_path / "sandbox.json").write_text(json.dumps({**asdict(info), "pids": [stranger.pid]}))
        assert runner.status(tmp_path) is None
        assert runner.down(tmp_path) is False
        assert stranger.poll() is None, "a process that is not this sandbox's was left alone"
        assert not (tmp_path / "sandbox.json").exists()
    finally:
        stranger.kill()
        stranger.wait()
