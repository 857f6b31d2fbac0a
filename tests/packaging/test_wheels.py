"""The provider's wheel holds the provider and nothing of the sandbox; the sandbox is its own wheel."""

from __future__ import annotations

import ast
import subprocess
import sys
import zipfile
from email.parser import HeaderParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROVIDER = ROOT / "airflow_provider_integrations"
SANDBOX = ROOT / "sandbox"


def build_wheel(project: Path, out: Path) -> zipfile.ZipFile:
    """Build `project`'s wheel with the build backend its pyproject names (hatchling), offline."""
    script = "import sys; from hatchling.build import build_wheel; print(build_wheel(sys.argv[1]))"
    name = subprocess.run(
        [sys.executable, "-c", script, str(out)], cwd=project, check=True, capture_output=True, text=True
    ).stdout.split()[-1]
    return zipfile.ZipFile(out / name)


def source_files(package: Path) -> set[str]:
    return {
        str(path.relative_to(package.parent))
        for path in package.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }


def metadata(wheel: zipfile.ZipFile) -> dict[str, list[str]]:
    name = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
    headers = HeaderParser().parsestr(wheel.read(name).decode())
    return {key: headers.get_all(key) or [] for key in ("Name", "Requires-Dist", "Provides-Extra")}


@pytest.fixture(scope="module")
def provider_wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    return build_wheel(ROOT, tmp_path_factory.mktemp("provider"))


@pytest.fixture(scope="module")
def sandbox_wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    return build_wheel(SANDBOX, tmp_path_factory.mktemp("sandbox"))


def test_provider_wheel_holds_every_provider_file_and_nothing_else(provider_wheel: zipfile.ZipFile) -> None:
    names = set(provider_wheel.namelist())
    packaged = {n for n in names if ".dist-info/" not in n}
    assert packaged == source_files(PROVIDER)
    assert {n.split("/")[0] for n in names} == {"airflow_provider_integrations", dist_info(names)}
    for expected in (
        "airflow_provider_integrations/operators/reverse_etl.py",
        "airflow_provider_integrations/plugins/dlq_page.html",
        "airflow_provider_integrations/connectors/catalogs/salesforce.yaml",
    ):
        assert expected in names


def test_provider_wheel_holds_no_sandbox_and_no_test_helper(provider_wheel: zipfile.ZipFile) -> None:
    names = provider_wheel.namelist()
    forbidden = ("sandbox", "emulator", "fakesnow", "scripted_http", "conftest", "tests/")
    assert [n for n in names if any(word in n for word in forbidden)] == []
    for name in names:
        if name.endswith(".py"):
            assert b"integrations_sandbox" not in provider_wheel.read(name), name
    info = metadata(provider_wheel)
    assert info["Name"] == ["airflow-provider-integrations"]
    assert "sandbox" not in info["Provides-Extra"]
    requirements = [r for r in info["Requires-Dist"] if "extra ==" not in r]
    assert not [r for r in requirements if r.split()[0].lower().startswith(("moto", "fakesnow", "trustme"))]


def test_the_provider_never_imports_the_sandbox() -> None:
    for path in PROVIDER.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            else:
                continue
            assert not [m for m in modules if m.startswith("integrations_sandbox")], path


def test_sandbox_wheel_holds_the_sandbox_only(sandbox_wheel: zipfile.ZipFile) -> None:
    names = set(sandbox_wheel.namelist())
    assert {n for n in names if ".dist-info/" not in n} == source_files(SANDBOX / "integrations_sandbox")
    assert {n.split("/")[0] for n in names} == {"integrations_sandbox", dist_info(names)}
    assert metadata(sandbox_wheel)["Name"] == ["airflow-provider-integrations-sandbox"]
    requirements = " ".join(metadata(sandbox_wheel)["Requires-Dist"])
    assert "moto" in requirements
    assert "fakesnow" in requirements


def dist_info(names: set[str]) -> str:
    return next(n.split("/")[0] for n in names if n.split("/")[0].endswith(".dist-info"))
