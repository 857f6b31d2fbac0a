"""Start, stop and describe the sandbox: S3, Snowflake and the SaaS emulator as background processes.

`up` starts two processes (stores: moto + fakesnow; emulator: the SaaS APIs over HTTPS), waits until
each answers, and writes `<data dir>/sandbox.env` with one Airflow connection per system.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from airflow_provider_integrations.sandbox import stores
from airflow_provider_integrations.sandbox.tls import ensure_certificates

DEFAULT_PORTS = {"s3": 9320, "snowflake": 9321, "saas": 9322}


@dataclass(frozen=True)
class SandboxInfo:
    """Where a running sandbox listens; saved as `<data dir>/sandbox.json`."""

    data_dir: str
    s3_port: int
    snowflake_port: int
    saas_port: int
    seed: int
    pids: tuple[int, ...] = ()

    @property
    def s3_url(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    @property
    def saas_url(self) -> str:
        return f"https://127.0.0.1:{self.saas_port}"

    @property
    def admin_url(self) -> str:
        return f"{self.saas_url}/__admin"

    @property
    def ca_bundle(self) -> str:
        return str(Path(self.data_dir) / "tls" / "ca.pem")

    def snowflake_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `snowflake.connector.connect`."""
        return {
            "user": stores.SNOWFLAKE_USER,
            "password": stores.SNOWFLAKE_PASSWORD,
            "account": stores.SNOWFLAKE_ACCOUNT,
            "host": "127.0.0.1",
            "port": self.snowflake_port,
            "protocol": "http",
            "database": stores.SNOWFLAKE_DATABASE,
            "schema": stores.SNOWFLAKE_SCHEMA,
            "warehouse": stores.SNOWFLAKE_WAREHOUSE,
        }

    def env(self) -> dict[str, str]:
        """Environment for Airflow and clients: connections, admin URL, CA bundle."""
        s3 = {
            "conn_type": "aws",
            "login": stores.S3_ACCESS_KEY,
            "password": stores.S3_SECRET_KEY,
            "extra": {"endpoint_url": self.s3_url, "region_name": stores.S3_REGION},
        }
        snowflake = {
            "conn_type": "snowflake",
            "login": stores.SNOWFLAKE_USER,
            "password": stores.SNOWFLAKE_PASSWORD,
            "host": "127.0.0.1",
            "port": self.snowflake_port,
            "schema": stores.SNOWFLAKE_SCHEMA,
            "extra": {
                "account": stores.SNOWFLAKE_ACCOUNT,
                "database": stores.SNOWFLAKE_DATABASE,
                "warehouse": stores.SNOWFLAKE_WAREHOUSE,
                "protocol": "http",
            },
        }
        values = {
            "AIRFLOW_CONN_SANDBOX_S3": json.dumps(s3),
            "AIRFLOW_CONN_SANDBOX_SNOWFLAKE": json.dumps(snowflake),
            "SANDBOX_ADMIN_URL": self.admin_url,
            "SANDBOX_SAAS_URL": self.saas_url,
            "SANDBOX_S3_URL": self.s3_url,
            "SANDBOX_CA_BUNDLE": self.ca_bundle,
        }
        from airflow_provider_integrations.sandbox.emulator.systems import connections

        for name, conn in connections(self.saas_url, self.ca_bundle).items():
            values[f"AIRFLOW_CONN_SANDBOX_{name.upper()}"] = json.dumps(conn)
        return values


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def up(
    data_dir: Path,
    *,
    ports: dict[str, int] | None = None,
    seed: int = 0,
    sizes: dict[str, int] | None = None,
    faults: dict[str, dict[str, Any]] | None = None,
    timeout: float = 60.0,
) -> SandboxInfo:
    """Start everything in the background and return where it listens; raises if it does not come up.

    `faults` sets fault profiles per system from the start, e.g. `{"stripe": {"seed": 7, "rate_429": 0.1}}`.
    """
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    running = status(data_dir)
    if running is not None:
        return running
    ports = {**DEFAULT_PORTS, **(ports or {})}
    tls = ensure_certificates(data_dir / "tls")
    log_dir = data_dir / "logs"
    log_dir.mkdir(exist_ok=True)
    python = sys.executable
    module = "airflow_provider_integrations.sandbox"
    commands = {
        "stores": [python, "-m", module, "--data-dir", str(data_dir), "serve-stores",
                   "--s3-port", str(ports["s3"]), "--snowflake-port", str(ports["snowflake"])],
        "saas": [python, "-m", module, "serve-saas", "--port", str(ports["saas"]), "--seed", str(seed),
                 "--cert", str(tls.cert), "--key", str(tls.key),
                 "--sizes", json.dumps(sizes or {}), "--faults", json.dumps(faults or {})],
    }  # fmt: skip
    pids = []
    for name, command in commands.items():
        with open(log_dir / f"{name}.log", "ab") as log:
            process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        pids.append(process.pid)
    info = SandboxInfo(str(data_dir), ports["s3"], ports["snowflake"], ports["saas"], seed, tuple(pids))
    (data_dir / "sandbox.json").write_text(json.dumps(asdict(info)))
    try:
        _wait_until_healthy(info, timeout)
    except Exception:
        down(data_dir)
        raise
    write_env(info, data_dir / "sandbox.env")
    return info


def write_env(info: SandboxInfo, path: Path) -> None:
    lines = [f"{name}={_shell_quote(value)}" for name, value in info.env().items()]
    path.write_text("\n".join(lines) + "\n")


def _shell_quote(value: str) -> str:
    return "'" + value.replace("'", "'\"'\"'") + "'"


def status(data_dir: Path) -> SandboxInfo | None:
    """The running sandbox under `data_dir`, or None if it is not running."""
    path = data_dir.resolve() / "sandbox.json"
    if not path.exists():
        return None
    raw = json.loads(path.read_text())
    info = SandboxInfo(**{**raw, "pids": tuple(raw["pids"])})
    if info.pids and all(_alive(pid) for pid in info.pids) and _healthy(info):
        return info
    return None


def down(data_dir: Path) -> bool:
    """Stop the sandbox under `data_dir`; returns whether anything was running."""
    path = data_dir.resolve() / "sandbox.json"
    if not path.exists():
        return False
    pids = json.loads(path.read_text())["pids"]
    stopped = False
    for pid in pids:
        if _alive(pid):
            os.killpg(pid, signal.SIGTERM)
            stopped = True
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in pids:
        if _alive(pid):
            os.killpg(pid, signal.SIGKILL)
    path.unlink()
    return stopped


def _alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
        if waited == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _healthy(info: SandboxInfo) -> bool:
    import ssl

    context = ssl.create_default_context(cafile=info.ca_bundle)
    checks = [
        (f"{info.admin_url}/health", context),
        (f"{info.s3_url}/", None),
        (f"http://127.0.0.1:{info.snowflake_port}/", None),
    ]
    for url, ctx in checks:
        try:
            with urllib.request.urlopen(url, timeout=2, context=ctx):  # noqa: S310 - local sandbox URLs
                pass
        except urllib.error.HTTPError:
            continue
        except OSError:
            return False
    return True


def _wait_until_healthy(info: SandboxInfo, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not all(_alive(pid) for pid in info.pids):
            raise RuntimeError(f"a sandbox process exited at start; see {info.data_dir}/logs/")
        if _healthy(info):
            return
        time.sleep(0.2)
    raise TimeoutError(f"the sandbox did not answer within {timeout:.0f}s; see {info.data_dir}/logs/")
