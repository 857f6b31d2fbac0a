"""The Salesforce connector against the sandbox's Salesforce emulator."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from airflow_provider_integrations.connectors.base import WriteOutcome, load_catalog
from airflow_provider_integrations.connectors.salesforce import SalesforceConnector
from airflow_provider_integrations.connectors.salesforce_api import SalesforceSettings
from airflow_provider_integrations.core.errors import AuthError, PermanentError, RecordError
from airflow_provider_integrations.core.http import RetryPolicy
from airflow_provider_integrations.core.watermark import Window
from tests.connectors.conftest import PATH_BREAKERS, Admin

FAST = RetryPolicy(max_attempts=8, base_delay=0.01, max_delay=0.05, deadline=60)


@pytest.fixture(scope="module")
def admin(sandbox: Any) -> Admin:
    return Admin(sandbox)


def settings_for(sandbox: Any, admin: Admin, **override: Any) -> SalesforceSettings:
    conn = admin.connection(sandbox, "salesforce")
    extra = conn["extra"]
    settings = SalesforceSettings(
        login_url=extra.get("auth_url") or conn["host"],
        client_id=extra["client_id"],
        client_secret=extra["client_secret"],
        username=conn["login"],
        password=conn["password"],
        security_token=extra.get("security_token", ""),
        private_key=extra.get("private_key"),
        api_version=extra.get("api_version", "59.0"),
        ca_bundle=sandbox.ca_bundle,
    )
    return replace(settings, **override)


def connect(sandbox: Any, admin: Admin, **override: Any) -> SalesforceConnector:
    return SalesforceConnector.connect(
        settings_for(sandbox, admin, **override), load_catalog("salesforce.yaml"), retry=FAST
    )


@pytest.fixture
def sf(sandbox: Any, admin: Admin) -> Iterator[SalesforceConnector]:
    with connect(sandbox, admin) as connector:
        yield connector


def test_check_and_every_auth_flow(sandbox: Any, admin: Admin, sf: SalesforceConnector) -> None:
    assert "reached Salesforce" in sf.check()
    with connect(sandbox, admin, auth="jwt") as jwt_flow:
        assert "reached Salesforce" in jwt_flow.check()
    with pytest.raises(AuthError) as err:
        connect(sandbox, admin, password="not-the-password-123")
    assert "not-the-password-123" not in str(err.value)


def test_rest_read_returns_every_record_once_in_cursor_order(sf: SalesforceConnector, admin: Admin) -> None:
    with admin.sized("salesforce", "Account", 4321):
        records = list(sf.read("Account"))
    assert sf.last_read_api == "rest"
    assert len(records) == 4321 == len({r["Id"] for r in records})
    keys = [(r["SystemModstamp"], r["Id"]) for r in records]
    assert keys == sorted(keys)


def test_large_reads_go_through_bulk_api(sandbox: Any, admin: Admin) -> None:
    with admin.sized("salesforce", "Contact", 6000), connect(sandbox, admin, bulk_threshold=1000) as sf:
        records = list(sf.read("Contact"))
        assert sf.last_read_api == "bulk"
    assert len(records) == 6000 == len({r["Id"] for r in records})
    assert all(r["LastName"] for r in records[:100])
    assert {r["IsDeleted"] for r in records} == {False}, "CSV's 'false' must not read as a delete"


def test_incremental_windows_catch_shared_timestamps_and_deletes(
    sf: SalesforceConnector, admin: Admin
) -> None:
    start = datetime.now(UTC) - timedelta(seconds=1)
    with admin.restored("salesforce", "Opportunity"):
        changed = admin.mutate("salesforce", "Opportunity", update=9, insert=4, delete=3, same_timestamp=True)
        middle = datetime.now(UTC) + timedelta(milliseconds=300)
        time.sleep(0.6)
        later = admin.mutate("salesforce", "Opportunity", update=5)
        end = datetime.now(UTC) + timedelta(seconds=2)
        first = list(sf.read("Opportunity", Window(start, middle)))
        second = list(sf.read("Opportunity", Window(middle, end)))
    assert changed == {"updated": 9, "inserted": 4, "deleted": 3} and later["updated"] == 5
    assert len(first) == 16 and sum(1 for r in first if r["IsDeleted"]) == 3
    assert len({r["SystemModstamp"] for r in first}) == 1, "the mutation gave every change one timestamp"
    assert len(second) == 5
    assert not {(r["Id"], r["SystemModstamp"]) for r in first} & {
        (r["Id"], r["SystemModstamp"]) for r in second
    }


def test_faults_and_expired_locators_are_survived_with_exact_counts(
    sf: SalesforceConnector, admin: Admin
) -> None:
    profile = {"seed": 6, "rate_429": 0.1, "rate_5xx": 0.1, "rate_reset": 0.05, "rate_expired_cursor": 0.15}
    with admin.sized("salesforce", "Account", 9000), admin.faults("salesforce", retry_after=0.01, **profile):
        ids = [r["Id"] for r in sf.read("Account")]
    assert len(ids) == 9000 == len(set(ids))


def test_poison_records_fail_the_schema_by_name(sf: SalesforceConnector, admin: Admin) -> None:
    schema = sf.stream("Account").schema
    errors = []
    with admin.sized("salesforce", "Account", 3000), admin.faults("salesforce", seed=3, poison_rate=0.02):
        for record in sf.read("Account"):
            try:
                schema.validate(record)
            except RecordError as error:
                errors.append(str(error))
    assert 20 <= len(errors) <= 110
    assert all(e.startswith(("AnnualRevenue", "Name")) for e in errors)


def test_budget_guard_stops_before_the_org_runs_out(sandbox: Any, admin: Admin) -> None:
    with admin.faults("salesforce", api_budget=100_000), connect(sandbox, admin, budget_share=0.5) as sf:
        used = admin.counters()["budget_used"].get("salesforce", 0)
        with admin.faults("salesforce", api_budget=used + 10), pytest.raises(PermanentError) as err:
            list(sf.read("Account"))
    assert err.value.code == "BUDGET_GUARD"


def test_collection_upserts_report_each_record(sf: SalesforceConnector, admin: Admin) -> None:
    records = [{"External_Id__c": f"RETL-{i:05d}", "Name": f"Reverse {i}"} for i in range(450)]
    with admin.faults("salesforce", seed=12, write_permanent_rate=0.05, write_transient_rate=0.05):
        results = list(sf.write("Account", "upsert", records, "External_Id__c"))
    assert [r.key for r in results] == [r["External_Id__c"] for r in records]
    outcomes = {o: sum(1 for r in results if r.outcome is o) for o in WriteOutcome}
    assert outcomes[WriteOutcome.PERMANENT] > 0 and outcomes[WriteOutcome.TRANSIENT] > 0
    assert all(r.destination_id for r in results if r.outcome is WriteOutcome.SUCCESS)
    again = list(sf.write("Account", "upsert", records[:10], "External_Id__c"))
    assert all(r.created is False for r in again if r.outcome is WriteOutcome.SUCCESS)


def test_bulk_upserts_return_one_result_per_record(sf: SalesforceConnector, admin: Admin) -> None:
    records = [{"External_Id__c": f"BULK-{i:05d}", "Name": f"Bulk {i}"} for i in range(2600)]
    with admin.faults("salesforce", seed=13, write_permanent_rate=0.02):
        results = list(sf.write("Account", "upsert", records, "External_Id__c"))
    assert sorted(r.key for r in results) == sorted(r["External_Id__c"] for r in records)
    failed = [r for r in results if r.outcome is WriteOutcome.PERMANENT]
    assert failed and all(r.code for r in failed)


def test_reading_200k_records_keeps_memory_flat(sandbox: Any, admin: Admin) -> None:
    settings = settings_for(sandbox, admin)
    script = f"""
import json, resource, sys
from dataclasses import asdict
from airflow_provider_integrations.connectors.base import load_catalog
from airflow_provider_integrations.connectors.salesforce import SalesforceConnector
from airflow_provider_integrations.connectors.salesforce_api import SalesforceSettings
settings = SalesforceSettings(**json.loads({json.dumps(json.dumps(settings.__dict__))}))
sf = SalesforceConnector.connect(settings, load_catalog("salesforce.yaml"))
sf.check()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
count = sum(1 for _ in sf.read("Account"))
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"count": count, "growth_mb": (after - before) / 1024, "api": sf.last_read_api}}))
"""
    with admin.sized("salesforce", "Account", 200_000):
        result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    print(f"read {measured['count']} via {measured['api']}: peak RSS grew {measured['growth_mb']:.1f} MB")
    assert measured["count"] == 200_000
    assert measured["growth_mb"] < 100, measured


def test_records_changed_during_a_read_move_to_the_next_window(sf: SalesforceConnector, admin: Admin) -> None:
    end = datetime.now(UTC)
    window = Window(end - timedelta(days=3650), end)
    with admin.sized("salesforce", "Contact", 7000):
        reader = sf.read("Contact", window)
        seen = [next(reader)["Id"] for _ in range(3000)]
        admin.mutate("salesforce", "Contact", update=50, delete=5)
        seen += [r["Id"] for r in reader]
        later = list(sf.read("Contact", Window(end, datetime.now(UTC) + timedelta(seconds=1))))
        everything = {r["Id"] for r in sf.read("Contact")} | {r["Id"] for r in later if r["IsDeleted"]}
    assert len(seen) == len(set(seen)), "a change during the read must not duplicate rows"
    assert len(later) == 55, "every change lands in the window it moved to"
    assert set(seen) | {r["Id"] for r in later} == everything, "nothing is lost between the two windows"


def test_a_custom_stream_is_declared_by_configuration(sandbox: Any, admin: Admin) -> None:
    custom = {
        "BigAccounts": {
            "source": "Account",
            "primary_key": ["Id"],
            "cursor": ["SystemModstamp", "Id"],
            "fields": {
                "Id": "string",
                "Name": "string",
                "AnnualRevenue": "number",
                "SystemModstamp": "timestamp",
            },
        }
    }
    streams = load_catalog("salesforce.yaml", custom)
    with SalesforceConnector.connect(settings_for(sandbox, admin), streams, retry=FAST) as sf:
        first = next(sf.read("BigAccounts"))
    assert set(first) == {"Id", "Name", "AnnualRevenue", "SystemModstamp"}


def test_lookup_keys_that_would_change_the_path_are_never_found(sf: SalesforceConnector) -> None:
    """`GET .../sobjects/Account/External_Id__c/..` leaves the client as `GET .../sobjects/Account`,
    whose answer (the object's description) must not be taken for a record."""
    [saved] = sf.write(
        "Account", "upsert", [{"External_Id__c": "PATH-OK-1", "Name": "Path ok"}], "External_Id__c"
    )
    assert saved.outcome is WriteOutcome.SUCCESS and saved.destination_id
    keys = [*PATH_BREAKERS[:3], "PATH-OK-1", *PATH_BREAKERS[3:]]

    by_external_id = sf.lookup("Account", "External_Id__c", keys, ["Name"])
    by_id = sf.lookup("Account", "Id", [*PATH_BREAKERS, saved.destination_id, "001/../x"], ["Name"])

    assert list(by_external_id) == ["PATH-OK-1"] and by_external_id["PATH-OK-1"]["Name"] == "Path ok"
    assert list(by_id) == [saved.destination_id] and by_id[saved.destination_id]["Name"] == "Path ok"


def test_deletes_by_ids_that_would_change_the_request_fail_alone(sf: SalesforceConnector) -> None:
    """Ids travel as one comma-separated `ids` parameter: `a,b` would delete two records."""
    made = list(sf.write("Account", "insert", [{"Name": f"Path delete {i}"} for i in range(3)], "Name"))
    ids = [str(r.destination_id) for r in made]
    assert all(r.outcome is WriteOutcome.SUCCESS for r in made)
    joined = f"{ids[1]},{ids[2]}"
    records = [{"Id": ids[0]}, {"Id": joined}, *({"Id": bad} for bad in PATH_BREAKERS), {"Id": ids[1]}]

    results = list(sf.write("Account", "delete", records, "Id"))

    assert [r.key for r in results] == [r["Id"] for r in records]
    by_key = {r.key: r for r in results}
    assert by_key[ids[0]].outcome is by_key[ids[1]].outcome is WriteOutcome.SUCCESS
    for bad in [joined, *PATH_BREAKERS]:
        assert (by_key[bad].outcome, by_key[bad].code) == (WriteOutcome.PERMANENT, "INVALID_PATH_SEGMENT")
        assert (by_key[bad].message or "").startswith("Id ")
    assert list(sf.lookup("Account", "Id", [ids[2]], ["Name"])) == [ids[2]], "the third record is still there"
