"""`catalog discover` and `catalog diff` against the sandbox, run in-process through `cli.main`."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_integrations.cli import main
from airflow_provider_integrations.core import catalog_file
from airflow_provider_integrations.core.errors import ConfigError
from tests.connectors.conftest import Admin

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def admin(sandbox: Any) -> Admin:
    return Admin(sandbox)


@pytest.fixture(autouse=True)
def connections(sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in sandbox.env().items():
        monkeypatch.setenv(name, value)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["catalog", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def salesforce_catalog(sandbox: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Account, Contact and every custom object the sandbox user may read, discovered once."""
    path = tmp_path_factory.mktemp("catalogs") / "salesforce.yaml"
    with pytest.MonkeyPatch.context() as patch:
        for name, value in sandbox.env().items():
            patch.setenv(name, value)
        code = main(["catalog", "discover", "--conn-id", "sandbox_salesforce", "--include",
                     "Account,Contact,*__c", "--exclude", "Salary_Band__c", "-o", str(path)])  # fmt: skip
    assert code == 0
    return path


def test_discover_writes_the_selected_streams_and_reports_the_ones_the_user_may_not_read(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "salesforce.yaml"
    code, out, err = run(
        capsys, "discover", "--conn-id", "sandbox_salesforce", "--include", "Account, *__c", "-o", str(path)
    )
    assert code == 1, "a stream left out makes the exit code 1"
    assert "left out 1 stream(s) the user may not read" in err
    assert "Salary_Band__c: " in err and "INSUFFICIENT_ACCESS" in err
    catalog = catalog_file.read(path)
    assert catalog.system == "salesforce" and catalog.connection == "sandbox_salesforce"
    assert catalog.include == ("Account", "*__c")
    assert "Salary_Band__c" not in catalog.names
    assert catalog.names[0] == "Account" and len(catalog.names) >= 4
    assert all(name.endswith("__c") for name in catalog.names[1:])
    assert all(catalog.entries[name].get("custom") for name in catalog.names[1:])
    account = catalog.streams["Account"]
    assert len(account.schema.fields) >= 60 and account.cursor == ("SystemModstamp", "Id")
    assert f"{len(catalog.names)} described" in out and str(path) in out

    again = tmp_path / "again.yaml"
    args = ["discover", "--conn-id", "sandbox_salesforce", "--include", "Account,*__c", "-o", str(again)]
    code, _, err = run(capsys, *args, "--skip-inaccessible")
    assert code == 0 and "Salary_Band__c" in err, "still reported, but accepted"
    assert catalog_file.read(again).entries == catalog.entries


def test_diff_is_quiet_until_the_system_changes_then_lists_each_change(
    capsys: pytest.CaptureFixture[str], admin: Admin, salesforce_catalog: Path
) -> None:
    code, out, _ = run(capsys, "diff", "--conn-id", "sandbox_salesforce", str(salesforce_catalog))
    assert (code, out.strip()) == (0, f"no changes: salesforce matches {salesforce_catalog.resolve()}")

    added = {"action": "add_field", "object": "Shipment__c", "field": "Catalog_Probe__c", "type": "double"}
    with schema_change(
        admin, added, {"action": "remove_field", "object": "Shipment__c", "field": added["field"]}
    ):
        code, out, _ = run(capsys, "diff", "--conn-id", "sandbox_salesforce", str(salesforce_catalog))
    assert code == 1
    assert out.splitlines()[0] == "Shipment__c.Catalog_Probe__c: field added (number (double))"
    assert "1 change(s) since" in out

    code, _, _ = run(capsys, "diff", "--conn-id", "sandbox_salesforce", str(salesforce_catalog))
    assert code == 0


def test_diff_reports_a_stream_the_user_may_no_longer_read(
    capsys: pytest.CaptureFixture[str], admin: Admin, salesforce_catalog: Path
) -> None:
    denied = {"action": "deny_access", "object": "Shipment__c"}
    with schema_change(admin, denied, {"action": "allow_access", "object": "Shipment__c"}):
        code, out, err = run(capsys, "diff", "--conn-id", "sandbox_salesforce", str(salesforce_catalog))
        skipped, _, _ = run(
            capsys, "diff", "--conn-id", "sandbox_salesforce", str(salesforce_catalog), "--skip-inaccessible"
        )
    assert code == 1 and out.startswith("no changes"), "not read is not removed"
    assert "Shipment__c: " in err and "INSUFFICIENT_ACCESS" in err
    assert skipped == 0


def test_bad_input_exits_2_naming_what_is_wrong(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, salesforce_catalog: Path
) -> None:
    out_path = tmp_path / "never.yaml"
    code, _, err = run(
        capsys, "discover", "--conn-id", "sandbox_salesforce", "--include", "Acount", "-o", str(out_path)
    )
    assert code == 2 and not out_path.exists()
    assert "salesforce (connection 'sandbox_salesforce') has no stream 'Acount'; closest: Account" in err

    corrupt = tmp_path / "corrupt.yaml"
    corrupt.write_text(salesforce_catalog.read_text().replace("primary_key: [Id]", "primary_key: [Id", 1))
    code, _, err = run(capsys, "diff", "--conn-id", "sandbox_salesforce", str(corrupt))
    assert code == 2 and f"catalog {corrupt.resolve()}, line " in err

    code, _, err = run(capsys, "diff", "--conn-id", "sandbox_servicenow", str(salesforce_catalog))
    assert code == 2 and "describes salesforce, but connection 'sandbox_servicenow' is servicenow" in err


def test_the_module_runs_as_a_command(sandbox: Any, tmp_path: Path) -> None:
    path = tmp_path / "contact.yaml"
    done = subprocess.run(
        [sys.executable, "-m", "airflow_provider_integrations", "catalog", "discover", "--conn-id",
         "sandbox_salesforce", "--include", "Contact", "-o", str(path)],
        env={**os.environ, **sandbox.env()}, capture_output=True, text=True, cwd=ROOT, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert catalog_file.read(path).names == ["Contact"]


@contextmanager
def schema_change(admin: Admin, change: dict[str, Any], undo: dict[str, Any]) -> Iterator[None]:
    """Apply a sandbox schema change for the block, and its undoing after it."""
    admin.client.post(f"{admin.url}/schema/salesforce", json=change).raise_for_status()
    try:
        yield
    finally:
        admin.client.post(f"{admin.url}/schema/salesforce", json=undo).raise_for_status()


def test_a_hook_takes_its_streams_from_a_discovered_catalog(salesforce_catalog: Path) -> None:
    from airflow_provider_integrations.hooks.registry import hook_for

    hook = hook_for("sandbox_salesforce", catalog_file=salesforce_catalog)
    try:
        connector = hook.get_conn()
        assert set(connector.streams) == set(catalog_file.read(salesforce_catalog).names)
        shipment = connector.stream("Shipment__c")
        records = [
            shipment.schema.validate(r).values
            for r, _ in zip(connector.read("Shipment__c"), range(5), strict=False)
        ]
    finally:
        hook.close()
    assert len(records) == 5 and set(records[0]) == set(shipment.schema.names)
    assert "Tracking_Url__c" in shipment.schema.names

    refused = hook_for("sandbox_stripe", catalog_file=salesforce_catalog)
    with pytest.raises(ConfigError, match="describes salesforce, but connection 'sandbox_stripe' is stripe"):
        refused.get_conn()


@pytest.mark.parametrize(
    ("system", "custom"),
    [("servicenow", True), ("netsuite", True), ("stripe", False), ("workday", False)],
)
def test_discover_then_diff_every_stream_of_a_system(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, system: str, custom: bool
) -> None:
    path = tmp_path / f"{system}.yaml"
    code, out, err = run(
        capsys, "discover", "--conn-id", f"sandbox_{system}", "-o", str(path), "--skip-inaccessible"
    )
    assert code == 0, err
    catalog = catalog_file.read(path)
    assert catalog.system == system and len(catalog.names) >= 3
    assert f"{len(catalog.names)} described" in out
    assert all(stream.schema.fields for stream in catalog.streams.values())
    assert any(entry.get("custom") for entry in catalog.entries.values()) is custom, "custom streams"
    code, out, _ = run(capsys, "diff", "--conn-id", f"sandbox_{system}", str(path), "--skip-inaccessible")
    assert (code, out.splitlines()[0]) == (0, f"no changes: {system} matches {path.resolve()}")
