"""A real distributed Airflow on this machine: CeleryExecutor, PostgreSQL metadata DB, Redis broker.

The same services as `docker-compose.yml`, run natively: `airflow api-server`, `airflow scheduler`,
`airflow dag-processor` and `airflow celery worker` (optionally `airflow triggerer`), one process group
each, sharing one AIRFLOW_HOME and JWT secret. The metadata database is a fresh PostgreSQL database
(`airflow_deploy_<token>`, dropped at the end); the broker is Redis on a database number other than 0
with a queue of the run's own; Celery results go to PostgreSQL.

    with DistributedAirflow(dags_folder, extra_env={"AIRFLOW_CONN_X": "..."}) as airflow:
        result = airflow.run_dag("my_dag", conf={"n": 1}, timeout=120)
        assert result.succeeded and result.ran_on_celery_worker

CLI (exits 0 only if the run succeeded and every task ran on the Celery worker):

    python scripts/distributed.py --dags-folder DIR --dag-id ID [--conf JSON] [--timeout S]
        [--env KEY=VALUE ...] [--work-dir DIR] [--triggerer]

Every process is stopped by its process group (its PID) on exit, also on failure; the components' logs,
AIRFLOW_HOME and the task logs stay under the work directory.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Self

import httpx
import psycopg2

VENV_BIN = Path(sys.executable).parent
TERMINAL_RUN_STATES = {"success", "failed"}
CELERY_READY_STATES = {"SUCCESS", "FAILURE", "REVOKED"}
COMPONENTS = ("api-server", "scheduler", "dag-processor", "celery-worker")


class DeploymentError(RuntimeError):
    """The deployment did not come up, or a component died; the message names the log to read."""


@dataclass
class TaskResult:
    task_id: str
    map_index: int
    state: str | None
    try_number: int
    hostname: str | None
    pid: int | None
    queue: str | None
    executor: str | None  # the task's own executor override; None means the default (Celery here)
    external_executor_id: str | None  # the Celery task id the executor sent
    scheduler_executor: str | None  # the executor the scheduler enqueued it to (from its log)
    celery_status: str | None  # from celery_taskmeta (the Celery result backend in PostgreSQL)
    celery_worker: str | None  # the Celery worker that executed it (result_extended)
    in_worker_log: bool  # the Celery task id appears in the worker's log
    duration: float | None

    @property
    def ran_on_celery_worker(self) -> bool:
        return bool(
            self.external_executor_id
            and self.scheduler_executor == "CeleryExecutor"
            and self.executor in (None, "CeleryExecutor")
            and self.celery_status == "SUCCESS"
            and self.in_worker_log
        )


@dataclass
class RunResult:
    dag_id: str
    run_id: str
    state: str | None
    tasks: list[TaskResult]
    worker_name: str
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def succeeded(self) -> bool:
        return self.state == "success" and bool(self.tasks) and all(t.state == "success" for t in self.tasks)

    @property
    def ran_on_celery_worker(self) -> bool:
        return bool(self.tasks) and all(
            t.ran_on_celery_worker and t.celery_worker == self.worker_name for t in self.tasks
        )

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for task, raw in zip(self.tasks, data["tasks"], strict=True):
            raw["ran_on_celery_worker"] = task.ran_on_celery_worker
        data["succeeded"] = self.succeeded
        data["ran_on_celery_worker"] = self.ran_on_celery_worker
        return data

    def table(self) -> str:
        lines = [f"dag run {self.dag_id} / {self.run_id}: {self.state} in {self.seconds:.1f} s"]
        lines.append(f"{'task':<24} {'state':<9} {'try':>3} {'scheduler executor':<18} {'celery worker':<40}")
        for t in self.tasks:
            lines.append(
                f"{t.task_id:<24} {t.state or '-':<9} {t.try_number:>3} {t.scheduler_executor or '-':<18} "
                f"{t.celery_worker or '-':<40} celery={t.celery_status} host={t.hostname} pid={t.pid}"
            )
        return "\n".join(lines)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pick_pg_user(host: str, port: int, candidates: tuple[str, ...]) -> str:
    """The first role that can log in (trust auth) and create databases."""
    errors = []
    for user in candidates:
        try:
            conn = psycopg2.connect(host=host, port=port, user=user, dbname="postgres", connect_timeout=5)
        except psycopg2.Error as exc:
            errors.append(f"{user}: {str(exc).strip()}")
            continue
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT rolsuper OR rolcreatedb FROM pg_roles WHERE rolname = current_user")
                row = cur.fetchone()
            if row and row[0]:
                return user
            errors.append(f"{user}: cannot create databases")
        finally:
            conn.close()
    raise DeploymentError(f"no PostgreSQL role on {host}:{port} can create a database: {errors}")


class DistributedAirflow:
    """Context manager: a fresh database, the migrated schema, the components running and healthy."""

    def __init__(
        self,
        dags_folder: str | os.PathLike[str],
        *,
        work_dir: str | os.PathLike[str] | None = None,
        extra_env: Mapping[str, str] | None = None,
        worker_concurrency: int = 2,
        triggerer: bool = False,
        pg_host: str = "127.0.0.1",
        pg_port: int = 5432,
        pg_user: str | None = None,
        redis_host: str = "127.0.0.1",
        redis_port: int = 6379,
        redis_db: int | None = None,
        start_timeout: float = 120.0,
        keep_database: bool = False,
    ) -> None:
        self.dags_folder = Path(dags_folder).resolve()
        if not self.dags_folder.is_dir():
            raise DeploymentError(f"DAGs folder {self.dags_folder} does not exist")
        self.token = secrets.token_hex(4)
        self.work_dir = Path(work_dir or tempfile.mkdtemp(prefix=f"airflow-deploy-{self.token}-")).resolve()
        self.logs_dir = self.work_dir / "logs"
        self.home = self.work_dir / "airflow_home"
        self.extra_env = dict(extra_env or {})
        self.worker_concurrency = worker_concurrency
        self.components = (*COMPONENTS, "triggerer") if triggerer else COMPONENTS
        self.pg_host, self.pg_port = pg_host, pg_port
        self.pg_user = pg_user or os.environ.get("DEPLOY_PG_USER")
        self.redis_host, self.redis_port = redis_host, redis_port
        self.redis_db = redis_db if redis_db is not None else random.randint(1, 15)  # noqa: S311
        self.start_timeout = start_timeout
        self.keep_database = keep_database
        self.database = f"airflow_deploy_{self.token}"
        self.queue = f"deploy_{self.token}"
        self.worker_name = f"deploy-{self.token}@{socket.gethostname()}"
        self.api_port = free_port()
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.timings: dict[str, float] = {}
        self._database_created = False
        self._token: str | None = None
        self._log_handles: list[Any] = []
        self._fernet_key = _fernet_key()
        self._jwt_secret = secrets.token_urlsafe(64)  # one secret for every component
        self._api_secret = secrets.token_urlsafe(32)
        self._worker_log_port, self._trigger_log_port = free_port(), free_port()

    # -- environment ---------------------------------------------------------------------------------

    @property
    def sql_alchemy_conn(self) -> str:
        return f"postgresql+psycopg2://{self.pg_user}@{self.pg_host}:{self.pg_port}/{self.database}"

    @property
    def broker_url(self) -> str:
        return f"redis://{self.redis_host}:{self.redis_port}/{self.redis_db}"

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
                "AIRFLOW__CORE__FERNET_KEY": self._fernet_key,
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.sql_alchemy_conn,
                "AIRFLOW__API__BASE_URL": self.api_url,
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__API__SECRET_KEY": self._api_secret,
                "AIRFLOW__API_AUTH__JWT_SECRET": self._jwt_secret,
                "AIRFLOW__CELERY__BROKER_URL": self.broker_url,
                "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql://{self.pg_user}@{self.pg_host}:"
                f"{self.pg_port}/{self.database}",
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(self.worker_concurrency),
                # result_extended: celery_taskmeta records which worker ran each task (the proof).
                "AIRFLOW__CELERY__EXTRA_CELERY_CONFIG": json.dumps({"result_extended": True}),
                "AIRFLOW__OPERATORS__DEFAULT_QUEUE": self.queue,
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(self._worker_log_port),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(self._trigger_log_port),
                "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
            }
        )
        env.update(self.extra_env)
        return env

    # -- lifecycle -----------------------------------------------------------------------------------

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        started = time.monotonic()
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        self.home.mkdir(parents=True, exist_ok=True)
        self.pg_user = self.pg_user or _pick_pg_user(self.pg_host, self.pg_port, ("postgres", "root"))
        self._admin_sql(f'CREATE DATABASE "{self.database}"')
        self._database_created = True
        self._write_description()

        migrate = self.processes["db-migrate"] = self._spawn("db-migrate", ["airflow", "db", "migrate"])
        try:
            code = migrate.wait(timeout=self.start_timeout)
        except subprocess.TimeoutExpired:
            code = None
        if code != 0:
            raise DeploymentError(f"airflow db migrate failed ({code}):\n{self._tail('db-migrate')}")
        del self.processes["db-migrate"]
        self.timings["db_migrate"] = time.monotonic() - started

        commands = {
            "api-server": ["airflow", "api-server", "--host", "127.0.0.1", "--port", str(self.api_port)],
            "scheduler": ["airflow", "scheduler"],
            "dag-processor": ["airflow", "dag-processor"],
            "celery-worker": [
                "airflow",
                "celery",
                "worker",
                "--concurrency",
                str(self.worker_concurrency),
                "--queues",
                self.queue,
                "--celery-hostname",
                self.worker_name,
                "--without-mingle",
                "--without-gossip",
            ],
            "triggerer": ["airflow", "triggerer"],
        }
        for name in self.components:
            self.processes[name] = self._spawn(name, commands[name])
        self._wait_healthy(started)
        self.timings["start_total"] = time.monotonic() - started

    def stop(self) -> None:
        """SIGTERM every process group, SIGKILL what is left after a grace period; drop the database."""
        for proc in self.processes.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for proc in self.processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        for proc in self.processes.values():
            # The leader may be gone while its children (Celery pool, uvicorn, log servers) still run.
            while time.monotonic() < deadline and _group_alive(proc.pid):
                time.sleep(0.2)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        self.processes.clear()
        for handle in self._log_handles:
            handle.close()
        self._log_handles = []
        self._cleanup_redis()
        if self._database_created and not self.keep_database:
            with contextlib.suppress(psycopg2.Error):
                self._admin_sql(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
            self._database_created = False

    # -- running a DAG -------------------------------------------------------------------------------

    def run_dag(self, dag_id: str, conf: Mapping[str, Any] | None = None, timeout: float = 120) -> RunResult:
        started = time.monotonic()
        self.wait_for_dag(dag_id, timeout=min(timeout, 60))
        self.unpause(dag_id)
        run_id = self.trigger(dag_id, conf)
        triggered = time.monotonic()
        result = self.wait_for_run(dag_id, run_id, timeout=timeout)
        result.timings = {
            **self.timings,
            "dag_parsed_and_triggered": triggered - started,
            "run": result.seconds,
            "run_and_celery_results": time.monotonic() - triggered,
        }
        return result

    def wait_for_dag(self, dag_id: str, timeout: float = 60) -> None:
        """Until the dag-processor has serialized the DAG into the database."""
        sql = (
            "SELECT count(*) FROM dag d JOIN serialized_dag s ON s.dag_id = d.dag_id "
            "WHERE d.dag_id = %s AND NOT d.is_stale"
        )
        deadline = time.monotonic() + timeout
        while True:
            self._check_alive()
            rows = self._query(sql, (dag_id,))
            if rows and rows[0][0]:
                return
            if time.monotonic() > deadline:
                errors = self._query("SELECT filename, stacktrace FROM import_error")
                raise DeploymentError(
                    f"DAG {dag_id!r} not parsed from {self.dags_folder} in {timeout:.0f} s; "
                    f"import errors: {errors}; see {self.logs_dir / 'dag-processor.log'}"
                )
            time.sleep(0.5)

    def unpause(self, dag_id: str) -> None:
        response = self._api("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": False})
        if response.json().get("is_paused") is not False:
            raise DeploymentError(f"DAG {dag_id} still paused: {response.text}")

    def trigger(self, dag_id: str, conf: Mapping[str, Any] | None = None) -> str:
        body = {"logical_date": None, "conf": dict(conf or {})}
        response = self._api("POST", f"/api/v2/dags/{dag_id}/dagRuns", json=body)
        return str(response.json()["dag_run_id"])

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 120) -> RunResult:
        """Poll dag_run with SQL until success or failed (or the timeout); then collect the tasks."""
        started = time.monotonic()
        state: str | None = None
        while time.monotonic() - started < timeout:
            self._check_alive()
            rows = self._query(
                "SELECT state FROM dag_run WHERE dag_id = %s AND run_id = %s", (dag_id, run_id)
            )
            state = rows[0][0] if rows else None
            if state in TERMINAL_RUN_STATES:
                break
            time.sleep(0.5)
        seconds = time.monotonic() - started
        # The worker's Celery task ends a little after its task instance does (the supervisor notices
        # the task process's exit on its next poll, up to ~5 s later): wait for the Celery results.
        settle_until = time.monotonic() + 20
        tasks = self.task_results(dag_id, run_id)
        while time.monotonic() < settle_until and any(
            t.external_executor_id and t.celery_status not in CELERY_READY_STATES for t in tasks
        ):
            self._check_alive()
            time.sleep(0.5)
            tasks = self.task_results(dag_id, run_id)
        return RunResult(
            dag_id=dag_id,
            run_id=run_id,
            state=state,
            tasks=tasks,
            worker_name=self.worker_name,
            seconds=seconds,
        )

    def task_results(self, dag_id: str, run_id: str) -> list[TaskResult]:
        rows = self._query(
            """
            SELECT ti.task_id, ti.map_index, ti.state, ti.try_number, ti.hostname, ti.pid, ti.queue,
                   ti.executor, ti.external_executor_id, CAST(ti.id AS TEXT), ti.duration
            FROM task_instance ti
            WHERE ti.dag_id = %s AND ti.run_id = %s
            ORDER BY ti.start_date NULLS LAST, ti.task_id, ti.map_index
            """,
            (dag_id, run_id),
        )
        celery_ids = [row[8] for row in rows if row[8]]
        celery: dict[str, tuple[str, str | None]] = {}
        if celery_ids:
            for task_id, status, worker in self._query(
                "SELECT task_id, status, worker FROM celery_taskmeta WHERE task_id = ANY(%s)", (celery_ids,)
            ):
                celery[task_id] = (status, worker)
        enqueued_by = _executors_by_ti(self._read_log("scheduler"))
        worker_log = self._read_log("celery-worker")
        results = []
        for row in rows:
            status, worker = celery.get(row[8] or "", (None, None))
            results.append(
                TaskResult(
                    task_id=row[0],
                    map_index=row[1],
                    state=row[2],
                    try_number=row[3],
                    hostname=row[4],
                    pid=row[5],
                    queue=row[6],
                    executor=row[7],
                    external_executor_id=row[8],
                    scheduler_executor=enqueued_by.get(row[9]),
                    celery_status=status,
                    celery_worker=worker,
                    in_worker_log=bool(row[8]) and row[8] in worker_log,
                    duration=row[10],
                )
            )
        return results

    # -- internals -----------------------------------------------------------------------------------

    def _spawn(self, name: str, command: list[str]) -> subprocess.Popen[bytes]:
        handle = (self.logs_dir / f"{name}.log").open("ab")
        self._log_handles.append(handle)
        return subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            command,
            env=self.environment(),
            cwd=self.work_dir,
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: stop() signals the group by the leader's PID
        )

    def _wait_healthy(self, started: float) -> None:
        deadline = started + self.start_timeout
        pending = {"api", "scheduler", "dag_processor", "worker"}
        if "triggerer" in self.components:
            pending.add("triggerer")
        health: Any = None
        while pending:
            self._check_alive()
            if time.monotonic() > deadline:
                raise DeploymentError(
                    f"not healthy after {self.start_timeout:.0f} s: {sorted(pending)}; health {health}; "
                    f"logs in {self.logs_dir}"
                )
            try:
                health = httpx.get(f"{self.api_url}/api/v2/monitor/health", timeout=2).json()
            except (httpx.HTTPError, ValueError):
                health = None
            now = time.monotonic() - started
            if health is not None:
                self._mark(pending, "api", now)
                for part in ("scheduler", "dag_processor", "triggerer"):
                    if part in pending and (health.get(part) or {}).get("status") == "healthy":
                        self._mark(pending, part, now)
            if "worker" in pending and self._worker_answers():
                self._mark(pending, "worker", now)
            time.sleep(0.5)

    def _mark(self, pending: set[str], part: str, now: float) -> None:
        if part in pending:
            pending.discard(part)
            self.timings[f"healthy_{part}"] = now

    def _worker_answers(self) -> bool:
        """A Celery ping to our worker by name, over the broker."""
        from celery import Celery

        app = Celery(broker=self.broker_url)
        try:
            return bool(app.control.ping(destination=[self.worker_name], timeout=1.0))
        except Exception:
            return False
        finally:
            app.close()

    def _api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        if self._token is None:
            # GET /auth/token gives an admin token when [core] simple_auth_manager_all_admins is True.
            response = httpx.get(f"{self.api_url}/auth/token", timeout=10)
            response.raise_for_status()
            self._token = response.json()["access_token"]
        headers = {"Authorization": f"Bearer {self._token}"}
        response = httpx.request(method, f"{self.api_url}{path}", headers=headers, timeout=30, **kwargs)
        if response.status_code >= 400:
            raise DeploymentError(f"{method} {path}: {response.status_code} {response.text}")
        return response

    def _check_alive(self) -> None:
        for name, proc in self.processes.items():
            if proc.poll() is not None:
                raise DeploymentError(
                    f"{name} exited with {proc.returncode}; last lines of "
                    f"{self.logs_dir / (name + '.log')}:\n{self._tail(name)}"
                )

    def _read_log(self, name: str) -> str:
        path = self.logs_dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _tail(self, name: str, lines: int = 40) -> str:
        return "\n".join(self._read_log(name).splitlines()[-lines:])

    def _connect(self, dbname: str) -> Any:
        return psycopg2.connect(
            host=self.pg_host, port=self.pg_port, user=self.pg_user, dbname=dbname, connect_timeout=5
        )

    def _admin_sql(self, sql: str) -> None:
        if not re.fullmatch(r"airflow_deploy_[0-9a-f]+", self.database):
            raise DeploymentError(f"refusing to touch database {self.database!r}")
        conn = self._connect("postgres")
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(sql)
        finally:
            conn.close()

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        conn = self._connect(self.database)
        try:
            with conn.cursor() as cur:
                try:
                    cur.execute(sql, params)
                except psycopg2.errors.UndefinedTable:
                    return []
                return list(cur.fetchall())
        finally:
            conn.close()

    def _cleanup_redis(self) -> None:
        """Delete this run's queue and bindings from the broker database (other keys are shared)."""
        try:
            import redis

            client = redis.Redis(host=self.redis_host, port=self.redis_port, db=self.redis_db)
            keys = list(client.scan_iter(match=f"*{self.queue}*"))
            if keys:
                client.delete(*keys)
            client.close()
        except Exception:  # noqa: S110 - best effort: the broker may be gone, nothing to undo then
            pass

    def _write_description(self) -> None:
        (self.work_dir / "deployment.json").write_text(
            json.dumps(
                {
                    "database": self.database,
                    "sql_alchemy_conn": self.sql_alchemy_conn,
                    "broker_url": self.broker_url,
                    "queue": self.queue,
                    "worker_name": self.worker_name,
                    "api_url": self.api_url,
                    "dags_folder": str(self.dags_folder),
                    "airflow_home": str(self.home),
                    "logs": str(self.logs_dir),
                },
                indent=2,
            )
        )


_ENQUEUE = re.compile(r"Trying to enqueue tasks: \[(?P<tis>.*?)\] for executor: (?P<executor>\w+)")
_TI_ID = re.compile(r"ti_id=(?P<id>[0-9a-f-]{36})")


def _executors_by_ti(scheduler_log: str) -> dict[str, str]:
    """{task instance id: executor name} from the scheduler's "Trying to enqueue tasks" lines."""
    found = {}
    for match in _ENQUEUE.finditer(scheduler_log):
        for ti in _TI_ID.finditer(match["tis"]):
            found[ti["id"]] = match["executor"]
    return found


def _fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dags-folder", required=True, type=Path)
    parser.add_argument("--dag-id", required=True)
    parser.add_argument("--conf", default="{}", help="JSON conf for the DAG run")
    parser.add_argument("--timeout", type=float, default=180, help="seconds to wait for the run")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="extra environment")
    parser.add_argument("--work-dir", type=Path, help="AIRFLOW_HOME and logs go here (default: a temp dir)")
    parser.add_argument("--concurrency", type=int, default=2, help="Celery worker concurrency")
    parser.add_argument("--triggerer", action="store_true", help="also run `airflow triggerer`")
    parser.add_argument("--pg-user", help="PostgreSQL role (default: postgres or root, whichever works)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    extra_env = {}
    for item in args.env:
        key, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--env {item!r}: use KEY=VALUE")
        extra_env[key] = value

    try:
        with DistributedAirflow(
            args.dags_folder,
            work_dir=args.work_dir,
            extra_env=extra_env,
            worker_concurrency=args.concurrency,
            triggerer=args.triggerer,
            pg_user=args.pg_user,
        ) as airflow:
            print(f"airflow up in {airflow.timings['start_total']:.1f} s; logs in {airflow.logs_dir}")
            result = airflow.run_dag(args.dag_id, conf=json.loads(args.conf), timeout=args.timeout)
    except DeploymentError as exc:
        print(f"deployment failed: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result.to_json(), indent=2, default=str))
    else:
        print(result.table())
        print("timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in result.timings.items()))
        print(f"every task ran on Celery worker {result.worker_name}: {result.ran_on_celery_worker}")
    return 0 if result.succeeded and result.ran_on_celery_worker else 1


if __name__ == "__main__":
    # A plain `kill` of this script still stops every component (the context manager's exit runs).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(main())
