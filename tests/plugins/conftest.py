"""One real `airflow api-server` for the plugin tests, with the provider's plugin loaded from its entry point.

It runs on a migrated SQLite metadata database in a temporary AIRFLOW_HOME, with SimpleAuthManager users
`admin` (role admin) and `viewer` (role viewer) and the stand-in replay DAG serialized into the database
(`airflow dags reserialize`, so no dag-processor is needed for triggering). Not all-admins mode: that
mode signs every request in as admin, and the tests must see requests without a user refused.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from airflow_provider_integrations.core.dlq import DLQEntry, LocalDLQStore, RunContext

DAG_FILES = Path(__file__).parent / "dag_files"
REPLAY_DAG_ID = "integrations_dlq_replay"
CSRF = {"X-Requested-By": "dead-letters"}
SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"


@dataclass
class AirflowApi:
    """The running API server: its URL, environment, users and the DLQ directory its page reads."""

    url: str
    env: dict[str, str]
    dlq: Path
    passwords: dict[str, str]
    _tokens: dict[str, str] = field(default_factory=dict)

    def token(self, user: str = "admin") -> str:
        if user not in self._tokens:
            answer = httpx.post(
                f"{self.url}/auth/token", json={"username": user, "password": self.passwords[user]}
            )
            answer.raise_for_status()
            self._tokens[user] = answer.json()["access_token"]
        return self._tokens[user]

    def client(self, user: str | None = "admin") -> httpx.Client:
        """An HTTP client signed in as `user` (bearer token), or anonymous with None."""
        headers = {"Authorization": f"Bearer {self.token(user)}"} if user else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def store(self) -> LocalDLQStore:
        return LocalDLQStore(self.dlq)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _airflow_env(home: Path, dlq: Path, passwords_file: Path) -> dict[str, str]:
    inherited = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_"))
        and k not in ("AIRFLOW_HOME", "AIRFLOW_INTEGRATIONS_DLQ")
    }
    bin_dir = str(Path(sys.executable).parent)
    return {
        **inherited,
        "PATH": f"{bin_dir}{os.pathsep}{inherited.get('PATH', '')}",
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAG_FILES),
        "AIRFLOW__CORE__AUTH_MANAGER": SIMPLE_AUTH_MANAGER,
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin,viewer:viewer",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords_file),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
        "AIRFLOW_INTEGRATIONS_DLQ": str(dlq),
    }


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@pytest.fixture(scope="session")
def airflow_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowApi]:
    root = tmp_path_factory.mktemp("airflow_api")
    home, dlq, passwords_file = root / "home", root / "dlq", root / "passwords.json"
    home.mkdir()
    passwords = {"admin": secrets.token_urlsafe(12), "viewer": secrets.token_urlsafe(12)}
    passwords_file.write_text(json.dumps(passwords))
    env = _airflow_env(home, dlq, passwords_file)
    airflow = str(Path(sys.executable).parent / "airflow")

    subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True, timeout=180)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server_log = (root / "api-server.log").open("wb")
    reserialize = subprocess.Popen(
        [airflow, "dags", "reserialize"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    server = subprocess.Popen(
        [airflow, "api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        env=env,
        stdout=server_log,
        stderr=subprocess.STDOUT,
    )
    try:
        output, _ = reserialize.communicate(timeout=180)
        assert reserialize.returncode == 0, output.decode(errors="replace")[-3000:]
        _wait_healthy(url, server, root / "api-server.log")
        yield AirflowApi(url=url, env=env, dlq=dlq, passwords=passwords)
    finally:
        _stop(reserialize)
        _stop(server)
        server_log.close()


def _wait_healthy(url: str, server: subprocess.Popen[bytes], log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"api-server exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/api/v2/monitor/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"api-server not healthy after {timeout}s:\n{log.read_text()[-3000:]}")


def seed(api: AirflowApi, specs: list[dict[str, Any]]) -> list[DLQEntry]:
    """Write entries into the server's DLQ through the real store; `specs` are `DLQEntry.create` kwargs."""
    entries = [DLQEntry.create(**spec) for spec in specs]
    api.store().write(entries)
    return entries


def tag() -> str:
    return uuid.uuid4().hex[:8]


def run_context(dag_id: str, run_id: str = "scheduled__2026-11-01T00:00:00+00:00") -> RunContext:
    return RunContext(dag_id=dag_id, task_id="extract", run_id=run_id, try_number=1)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)
