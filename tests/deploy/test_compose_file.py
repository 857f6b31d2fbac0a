"""docker-compose.yml cannot run here (no Docker engine), so its shape is checked instead: the services,
the CeleryExecutor settings, the health checks, and that every file and flag it names exists."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
AIRFLOW_SERVICES = {
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-worker",
    "airflow-triggerer",
    "sandbox",
}
LONG_RUNNING = {"postgres", "redis"} | AIRFLOW_SERVICES - {"airflow-init"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["services"]


def _interpolate_defaults(text: str) -> str:
    """What compose makes of ${VAR:-default} with VAR unset."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", text)


def test_the_services(services: dict[str, Any]) -> None:
    assert set(services) == {"postgres", "redis"} | AIRFLOW_SERVICES
    assert services["airflow-apiserver"]["command"] == "api-server"
    assert services["airflow-scheduler"]["command"] == "scheduler"
    assert services["airflow-dag-processor"]["command"] == "dag-processor"
    assert services["airflow-worker"]["command"] == "celery worker"
    assert services["airflow-triggerer"]["command"] == "triggerer"
    init = services["airflow-init"]
    assert init["environment"]["_AIRFLOW_DB_MIGRATE"] == "true"
    assert init["environment"]["_AIRFLOW_WWW_USER_CREATE"] == "true"
    assert "/entrypoint airflow version" in init["command"][-1]


def test_every_airflow_service_runs_the_celery_executor_on_postgres_and_redis(
    services: dict[str, Any],
) -> None:
    for name in AIRFLOW_SERVICES:
        env = services[name]["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://"), name
        assert "@postgres/" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"], name
        assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql://"), name
        assert (
            env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://")
            and "@redis:6379" in (env["AIRFLOW__CELERY__BROKER_URL"])
        ), name
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
        for secret in (
            "AIRFLOW__API_AUTH__JWT_SECRET",
            "AIRFLOW__API__SECRET_KEY",
            "AIRFLOW__CORE__FERNET_KEY",
        ):
            assert env[secret].startswith("${") and ":?" in env[secret], f"{name}: {secret} must be required"
        assert env["AIRFLOW_INTEGRATIONS_DLQ"] == "/opt/airflow/dlq"
        volumes = services[name]["volumes"]
        for mount in ("./dags:/opt/airflow/dags", "./include:/opt/airflow/include", "dlq:/opt/airflow/dlq"):
            assert mount in volumes, f"{name}: {mount}"


def test_health_checks_and_start_order(services: dict[str, Any]) -> None:
    for name in LONG_RUNNING:
        check = services[name].get("healthcheck")
        assert check and check["test"][0] in ("CMD", "CMD-SHELL"), name
        assert services[name].get("restart") == "always", name
    for name in AIRFLOW_SERVICES - {"airflow-init"}:
        depends = services[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy", name
        assert depends["redis"]["condition"] == "service_healthy", name
        assert depends["airflow-init"]["condition"] == "service_completed_successfully", name
    for worker in ("airflow-worker", "sandbox"):
        assert services[worker]["depends_on"]["airflow-apiserver"]["condition"] == "service_healthy"
        assert services[worker]["environment"]["DUMB_INIT_SETSID"] == "0"
        assert "inspect ping" in " ".join(services[worker]["healthcheck"]["test"])
    assert "8974/health" in " ".join(services["airflow-scheduler"]["healthcheck"]["test"])
    assert services["airflow-scheduler"]["environment"]["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"] == "true"
    assert "/api/v2/monitor/health" in " ".join(services["airflow-apiserver"]["healthcheck"]["test"])


def test_build_and_image_references_exist(services: dict[str, Any], compose: dict[str, Any]) -> None:
    import airflow

    for name, service in services.items():
        assert "image" in service or "build" in service, name
        if "build" in service:
            context = ROOT / service["build"]["context"]
            dockerfile = context / service["build"]["dockerfile"]
            assert dockerfile.is_file(), dockerfile
            text = dockerfile.read_text()
            base = re.search(r"^FROM\s+(\S+)", text, re.MULTILINE)
            assert base and base.group(1) == f"apache/airflow:{airflow.__version__}-python3.11"
            for sources in re.findall(r"^COPY\s+(?:--\S+\s+)*(.+)\s+\S+$", text, re.MULTILINE):
                for source in sources.split():
                    assert (context / source).exists(), f"{dockerfile}: COPY {source}"
        else:
            assert re.fullmatch(r"[\w./-]+:[\w.-]+", service["image"]), f"{name}: pin the image tag"
    named = {
        v.split(":")[0] for s in services.values() for v in s.get("volumes", []) if not v.startswith(".")
    }
    assert named <= set(compose["volumes"])


def test_the_sandbox_is_an_optional_profile_with_real_cli_flags(
    services: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox = services["sandbox"]
    assert sandbox["profiles"] == ["sandbox"]
    assert all("profiles" not in s for n, s in services.items() if n != "sandbox")
    script = _interpolate_defaults(sandbox["command"][-1])
    line = next(x for x in script.splitlines() if "integrations_sandbox" in x)
    argv = shlex.split(line)
    assert argv[:3] == ["python", "-m", "integrations_sandbox"]
    # Parse the arguments with the sandbox's own CLI, with `up` replaced so nothing starts.
    from integrations_sandbox import __main__ as cli
    from integrations_sandbox import runner

    calls: list[tuple[Path, dict[str, Any]]] = []

    class Info:
        s3_url = saas_url = "http://x"
        snowflake_port = 0

    monkeypatch.setattr(runner, "up", lambda data_dir, **kw: calls.append((data_dir, kw)) or Info())
    assert cli.main(argv[3:]) == 0
    assert calls and calls[0][0] == Path("/opt/airflow/sandbox") and calls[0][1]["seed"] == 0
    assert ". /opt/airflow/sandbox/sandbox.env" in script, "the worker beside it gets the connections"
    assert "exec airflow celery worker" in script
    assert "sandbox-data:/opt/airflow/sandbox" in sandbox["volumes"]


def test_the_deploy_readme_names_every_required_variable(compose: dict[str, Any]) -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    required = set(re.findall(r"\$\{([A-Z_]+):\?", text))
    assert required == {"AIRFLOW_JWT_SECRET", "AIRFLOW_SECRET_KEY", "AIRFLOW_FERNET_KEY"}
    readme = (ROOT / "deploy" / "README.md").read_text()
    for name in required | {"AIRFLOW_UID"}:
        assert name in readme, name
