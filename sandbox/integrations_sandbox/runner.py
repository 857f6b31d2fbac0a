"""Start, stop and describe the sandbox: S3, Snowflake and the SaaS emulator as background processes.

`up` starts two processes (stores: moto + fakesnow; emulator: the SaaS APIs over HTTPS), waits until
each answers, and writes `<data dir>/sandbox.env` with one Airflow connection per system. Each process
runs in its own session and carries `--data-dir <data dir>` on its command line, so `down` finds and
stops a sandbox left behind by a killed caller even without its `sandbox.json`, and never stops a
process that only happens to have a recorded pid.
"""

from __future__ import annotations

import argparse
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

from integrations_sandbox import stores
from integrations_sandbox.tls import ensure_certificates

DEFAULT_PORTS = {"s3": 9320, "snowflake": 9321, "saas": 9322}
PORT_NAMES = {"s3": "S3", "snowflake": "Snowflake", "saas": "SaaS emulator"}
PROCESS_PORTS = {"stores": ("s3", "snowflake"), "saas": ("saas",)}
"""The processes `up` starts, in order, and the ports each serves."""
MODULE = "integrations_sandbox"


class PortBusyError(RuntimeError):
    """A port the sandbox needs is taken: the message names the port, what holds it when that can be
    found, and the option that picks another."""


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
        from integrations_sandbox.emulator.systems import connections

        for name, conn in connections(self.saas_url, self.ca_bundle).items():
            values[f"AIRFLOW_CONN_SANDBOX_{name.upper()}"] = json.dumps(conn)
        return values


def add_port_options(parser: argparse.ArgumentParser) -> None:
    """`--s3-port`, `--snowflake-port`, `--saas-port` (0: any free port), shared with `make demo`/`ui`;
    read them back with `chosen_ports`."""
    for name, port in DEFAULT_PORTS.items():
        parser.add_argument(
            f"--{name}-port",
            type=int,
            default=port,
            help=f"{PORT_NAMES[name]} port (default {port}; 0: any free port)",
        )


def chosen_ports(args: argparse.Namespace) -> dict[str, int]:
    """The ports `add_port_options` parsed, as `up` takes them."""
    return {name: int(getattr(args, f"{name}_port")) for name in DEFAULT_PORTS}


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

    `ports` maps `s3`, `snowflake` and `saas` to a port (0: any free port); a port in use raises
    `PortBusyError` before anything starts. `faults` sets fault profiles per system from the start,
    e.g. `{"stripe": {"seed": 7, "rate_429": 0.1}}`. A sandbox already running under `data_dir` is
    returned as it is.
    """
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    running = status(data_dir)
    if running is not None:
        return running
    ports = _free_ports_for_zero({**DEFAULT_PORTS, **(ports or {})})
    for name, port in ports.items():
        _check_port_free(name, port)
    tls = ensure_certificates(data_dir / "tls")
    log_dir = data_dir / "logs"
    log_dir.mkdir(exist_ok=True)
    python = sys.executable
    base = [python, "-m", MODULE, "--data-dir", str(data_dir)]
    commands = {
        "stores": [*base, "serve-stores", "--s3-port", str(ports["s3"]),
                   "--snowflake-port", str(ports["snowflake"])],
        "saas": [*base, "serve-saas", "--port", str(ports["saas"]), "--seed", str(seed),
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


def _free_ports_for_zero(ports: dict[str, int]) -> dict[str, int]:
    for name, port in ports.items():
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ValueError(
                f"the {PORT_NAMES[name]} port must be 0 (any free port) or 1-65535, got {port!r}"
            )
    chosen = {name: port or free_port() for name, port in ports.items()}
    if len(set(chosen.values())) < len(chosen):
        raise ValueError(f"the sandbox needs three different ports, got {chosen}")
    return chosen


def _check_port_free(name: str, port: int) -> None:
    """Raise `PortBusyError` naming the port, its holder if found, and the option to change it."""
    with socket.socket() as sock:
        # As the servers bind: a port held only by connections closing (TIME_WAIT) is free to them.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
            return
        except OSError:
            pass
    raise PortBusyError(busy_port_message(name, port))


def busy_port_message(name: str, port: int) -> str:
    owner = port_owner(port)
    held = f" by {owner}" if owner else ""
    return (
        f"port {port} ({PORT_NAMES[name]}) is already in use{held}; stop it, or choose another port "
        f"with --{name}-port (0 picks a free one)"
    )


def port_owner(port: int) -> str | None:
    """`pid N (command line)` of the process listening on `port`, where /proc tells (Linux), else None."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{fields[9]}]")
    if not inodes:
        return None
    for pid, command in _processes():
        try:
            descriptors = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for fd in descriptors:
            try:
                if os.readlink(fd) in inodes:
                    return f"pid {pid} ({' '.join(command)[:120]})"
            except OSError:
                continue
    return None


def _processes() -> list[tuple[int, list[str]]]:
    """Every process /proc shows, with its command line (empty where unreadable)."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            raw = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        found.append((int(entry.name), [part.decode(errors="replace") for part in raw.split(b"\0") if part]))
    return found


def _is_ours(command: list[str], data_dir: Path) -> bool:
    """A sandbox process serving `data_dir`: our module, with the data dir or a file in it as an argument."""
    root = str(data_dir)
    serving = "serve-stores" in command or "serve-saas" in command
    return (
        MODULE in command and serving and any(arg == root or arg.startswith(root + os.sep) for arg in command)
    )


def _sandbox_pids(data_dir: Path, recorded: list[int]) -> list[int]:
    """The live processes of the sandbox under `data_dir`: recorded ones that are really ours, plus any
    found by their command line. Without /proc (not Linux), the recorded pids are trusted."""
    if not Path("/proc/self/cmdline").exists():
        return [pid for pid in recorded if _alive(pid)]
    return [
        pid
        for pid, command in _processes()
        if pid != os.getpid() and _is_ours(command, data_dir) and _alive(pid)
    ]


def write_env(info: SandboxInfo, path: Path) -> None:
    lines = [f"{name}={_shell_quote(value)}" for name, value in info.env().items()]
    path.write_text("\n".join(lines) + "\n")


def _shell_quote(value: str) -> str:
    return "'" + value.replace("'", "'\"'\"'") + "'"


def status(data_dir: Path) -> SandboxInfo | None:
    """The running sandbox under `data_dir`, or None if it is not running."""
    data_dir = data_dir.resolve()
    path = data_dir / "sandbox.json"
    if not path.exists():
        return None
    raw = json.loads(path.read_text())
    info = SandboxInfo(**{**raw, "pids": tuple(raw["pids"])})
    ours = set(_sandbox_pids(data_dir, list(info.pids)))
    if info.pids and ours.issuperset(info.pids) and _healthy(info):
        return info
    return None


def down(data_dir: Path) -> bool:
    """Stop the sandbox under `data_dir`, recorded or left behind; returns whether anything was running."""
    data_dir = data_dir.resolve()
    path = data_dir / "sandbox.json"
    recorded = json.loads(path.read_text())["pids"] if path.exists() else []
    pids = _sandbox_pids(data_dir, recorded)
    for pid in pids:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in pids:
        if _alive(pid):
            _signal(pid, signal.SIGKILL)
    path.unlink(missing_ok=True)
    return bool(pids)


def _signal(pid: int, signum: int) -> None:
    """Signal the process and, when it leads its own group (as `up` starts it), the whole group."""
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, signum)
        else:
            os.kill(pid, signum)
    except ProcessLookupError:
        pass


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
    ports = {"s3": info.s3_port, "snowflake": info.snowflake_port, "saas": info.saas_port}
    while time.monotonic() < deadline:
        for (process, names), pid in zip(PROCESS_PORTS.items(), info.pids, strict=True):
            if not _alive(pid):
                for name in names:
                    _check_port_free(name, ports[name])
                log = Path(info.data_dir) / "logs" / f"{process}.log"
                raise RuntimeError(
                    f"the sandbox's {process} process exited at start:\n{_tail(log)}\n(log: {log})"
                )
        if _healthy(info):
            return
        time.sleep(0.2)
    raise TimeoutError(f"the sandbox did not answer within {timeout:.0f}s; see {info.data_dir}/logs/")


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
