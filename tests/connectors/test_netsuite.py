"""The NetSuite connector against the sandbox's NetSuite emulator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from airflow_provider_integrations.connectors import netsuite
from airflow_provider_integrations.connectors.base import WriteOutcome, load_catalog
from airflow_provider_integrations.connectors.netsuite import NetSuiteConnector, NetSuiteSettings
from airflow_provider_integrations.core.errors import AuthError, ConfigError, RecordError
from airflow_provider_integrations.core.http import RetryPolicy
from airflow_provider_integrations.core.watermark import Window
from tests.connectors.conftest import PATH_BREAKERS, Admin

FAST = RetryPolicy(max_attempts=8, base_delay=0.01, max_delay=0.05, deadline=60)


@pytest.fixture(scope="module")
def admin(sandbox: Any) -> Admin:
    return Admin(sandbox)


def settings_for(sandbox: Any, admin: Admin, **override: str) -> NetSuiteSettings:
    conn = admin.connection(sandbox, "netsuite")
    extra = {**conn["extra"], **override}
    return NetSuiteSettings(
        base_url=conn["host"],
        account_id=extra["account_id"],
        consumer_key=extra["consumer_key"],
        consumer_secret=extra["consumer_secret"],
        token_id=extra["token_id"],
        token_secret=extra["token_secret"],
        ca_bundle=sandbox.ca_bundle,
    )


@pytest.fixture
def suite(sandbox: Any, admin: Admin) -> Iterator[NetSuiteConnector]:
    with NetSuiteConnector.connect(
        settings_for(sandbox, admin), load_catalog("netsuite.yaml"), retry=FAST
    ) as c:
        yield c


def test_check_and_a_wrong_token_secret(suite: NetSuiteConnector, sandbox: Any, admin: Admin) -> None:
    assert "reached NetSuite" in suite.check()
    wrong = settings_for(sandbox, admin, token_secret="not-the-token-secret")
    bad = NetSuiteConnector.connect(wrong, load_catalog("netsuite.yaml"), retry=FAST)
    with bad, pytest.raises(AuthError) as err:
        bad.check()
    assert "INVALID_LOGIN" in str(err.value)
    assert "not-the-token-secret" not in str(err.value)


def test_full_read_crosses_chunks_without_loss(
    suite: NetSuiteConnector, admin: Admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(netsuite, "CHUNK", 2000)
    with admin.sized("netsuite", "transaction", 6500):
        ids = [int(r["id"]) for r in suite.read("transaction")]
    assert len(ids) == 6500 == len(set(ids))


def test_faults_are_survived_with_exact_counts(suite: NetSuiteConnector, admin: Admin) -> None:
    with (
        admin.sized("netsuite", "item", 4200),
        admin.faults("netsuite", seed=5, rate_429=0.15, rate_5xx=0.1, rate_reset=0.05, retry_after=0.01),
    ):
        ids = [r["id"] for r in suite.read("item")]
    assert len(ids) == 4200 == len(set(ids))


def test_poison_rows_fail_the_schema_by_name(suite: NetSuiteConnector, admin: Admin) -> None:
    schema = suite.stream("customer").schema
    errors = []
    with admin.faults("netsuite", seed=2, poison_rate=0.02):
        for row in suite.read("customer"):
            try:
                schema.validate(row)
            except RecordError as error:
                errors.append(str(error))
    assert 20 <= len(errors) <= 110
    assert all("companyname is required" in e for e in errors)


def test_incremental_window_sees_updates_and_deletes(suite: NetSuiteConnector, admin: Admin) -> None:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=2)
    with admin.restored("netsuite", "employee"):
        changed = admin.mutate("netsuite", "employee", update=6, delete=3, insert=2)
        window = Window(start, datetime.now(UTC) + timedelta(seconds=2))
        rows = list(suite.read("employee", window))
    assert changed == {"updated": 6, "inserted": 2, "deleted": 3}
    assert sum(1 for r in rows if r.get("_deleted")) == 3
    assert sum(1 for r in rows if not r.get("_deleted")) == 8


@pytest.mark.parametrize(
    ("date_format", "time_format"),
    [("D.M.YYYY", "H:mm"), ("DD-Mon-YYYY", "hh:mm a"), ("YYYY/M/D", "h:mm:ss a")],
)
def test_dates_read_the_same_whatever_the_account_date_preferences(
    suite: NetSuiteConnector, admin: Admin, date_format: str, time_format: str
) -> None:
    """SuiteQL writes unformatted dates by the account's preferences (`12.5.2026 15:04`); the connector
    formats every date it reads and every literal it sends, so records and the cursor stay exact."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=2)
    preferences = {"date_format": date_format, "time_format": time_format}
    url = f"{admin.url}/schema/netsuite"
    try:
        admin.client.post(url, json={"action": "set_preferences", **preferences}).raise_for_status()
        with admin.restored("netsuite", "employee"):
            admin.mutate("netsuite", "employee", update=5, delete=2, insert=1)
            end = datetime.now(UTC) + timedelta(seconds=2)
            changed = list(suite.read("employee", Window(start, end)))
            every = list(suite.read("employee"))
    finally:
        default = {"date_format": "M/D/YYYY", "time_format": "h:mm a"}
        admin.client.post(url, json={"action": "set_preferences", **default}).raise_for_status()
    assert sum(1 for r in changed if r.get("_deleted")) == 2
    assert sum(1 for r in changed if not r.get("_deleted")) == 6
    for row in changed:
        assert start <= datetime.fromisoformat(row["lastmodifieddate"]).replace(tzinfo=UTC) < end
    schema = suite.stream("employee").schema
    assert len(every) == len({r["id"] for r in every}) == admin.size("netsuite", "employee") - 2 + 1
    for row in every:
        values = schema.validate(row).values
        assert values["datecreated"] <= values["lastmodifieddate"]


def test_changes_and_deletes_past_the_chunk_cap_resume_after_the_last_key(
    suite: NetSuiteConnector, admin: Admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deleted records page like rows: a query cut at the cap carries on after its last key."""
    monkeypatch.setattr(netsuite, "PAGE", 3)
    monkeypatch.setattr(netsuite, "CHUNK", 5)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=2)
    with admin.restored("netsuite", "employee"):
        admin.mutate("netsuite", "employee", update=9, delete=14, insert=4)
        window = Window(start, datetime.now(UTC) + timedelta(seconds=2))
        rows = list(suite.read("employee", window))
    deleted = [r["id"] for r in rows if r.get("_deleted")]
    changed = [r["id"] for r in rows if not r.get("_deleted")]
    assert len(deleted) == 14 == len(set(deleted))
    assert len(changed) == 13 == len(set(changed))


def test_upserts_report_each_record(suite: NetSuiteConnector, admin: Admin) -> None:
    records = [{"externalid": f"sync-cust-{i}", "companyname": f"Sync Co {i}", "email": f"s{i}@x.example"}
               for i in range(25)]  # fmt: skip
    with admin.faults("netsuite", seed=9, write_permanent_rate=0.12, write_transient_rate=0.2):
        results = list(suite.write("customer", "upsert", records))
    assert [r.key for r in results] == [r["externalid"] for r in records]
    by = {outcome: [r for r in results if r.outcome is outcome] for outcome in WriteOutcome}
    assert by[WriteOutcome.PERMANENT], "the fault profile should refuse some records for good"
    assert all(r.code == "USER_ERROR" for r in by[WriteOutcome.PERMANENT])
    assert all(r.destination_id for r in by[WriteOutcome.SUCCESS])
    written = admin.written("netsuite", "customer")
    assert {r.key for r in by[WriteOutcome.SUCCESS]} <= set(written)


def test_external_ids_that_would_change_the_path_fail_alone(suite: NetSuiteConnector, admin: Admin) -> None:
    """External ids are free text, encoded into `eid:<value>`; what no path can carry fails unsent."""
    good = [f"path-ok-{i}" for i in range(3)]
    keys = [good[0], *PATH_BREAKERS[:4], good[1], *PATH_BREAKERS[4:], "a|b", good[2]]
    records = [{"externalid": k, "companyname": f"Path {i}"} for i, k in enumerate(keys)]
    before = set(admin.written("netsuite", "customer"))

    results = list(suite.write("customer", "upsert", records))

    assert [r.key for r in results] == keys
    refused = {".", "..", "", "line\nbreak", "a|b"}
    for result in results:
        if result.key in refused:
            assert (result.outcome, result.code) == (WriteOutcome.PERMANENT, "INVALID_PATH_SEGMENT")
            assert (result.message or "").startswith("externalid ")
        elif result.key in good:
            assert result.outcome is WriteOutcome.SUCCESS
    written = admin.written("netsuite", "customer")
    assert set(written) - before <= {*good, "a/b", "x?y", "%2F"}, "nothing upserted under another key"
    assert all(r.key in written for r in results if r.outcome is WriteOutcome.SUCCESS)


def test_an_account_id_that_would_change_the_host_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_provider_integrations.hooks.netsuite import NetSuiteHook

    extra = {
        "consumer_key": "ck",
        "consumer_secret": "cs-secret",
        "token_id": "ti",
        "token_secret": "ts-secret",
    }
    for account in ("evil.example/x#", "1234567@evil.example", "../1234567"):
        conn = {"conn_type": "integrations_netsuite", "extra": {**extra, "account_id": account}}
        monkeypatch.setenv("AIRFLOW_CONN_NS_HOSTILE", json.dumps(conn))
        with pytest.raises(ConfigError, match=r"'ns_hostile' account_id .* is not a NetSuite account id"):
            NetSuiteHook("ns_hostile").get_conn()


@pytest.mark.parametrize("status", [400, 403, 429])
def test_netsuite_error_codes_mean_what_they_say_whatever_the_status(status: int) -> None:
    from airflow_provider_integrations.core.errors import RateLimitedError

    def answer(code: str, headers: dict[str, str] | None = None) -> Any:
        body = {"o:errorDetails": [{"o:errorCode": code, "detail": "from the test"}]}
        request = httpx.Request("POST", "https://1234567.suitetalk.api.netsuite.com/services/rest/query")
        return netsuite.netsuite_error(httpx.Response(status, json=body, headers=headers, request=request))

    busy = answer("CONCURRENCY_LIMIT_EXCEEDED", {"Retry-After": "3"})
    assert isinstance(busy, RateLimitedError) and busy.retry_after == 3.0
    assert busy.code == "CONCURRENCY_LIMIT_EXCEEDED" and busy.system == "netsuite"
    refused = answer("INVALID_LOGIN")
    assert isinstance(refused, AuthError) and refused.message == "INVALID_LOGIN: from the test"
