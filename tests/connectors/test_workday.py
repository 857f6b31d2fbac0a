"""The Workday connector against the sandbox's Workday emulator."""

from __future__ import annotations

import dataclasses
import itertools
import json
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from integrations_sandbox.emulator.data import BASE_TIME
from integrations_sandbox.emulator.faults import FaultProfile, Faults

from airflow_provider_integrations.connectors.base import Stream, WriteOutcome, load_catalog
from airflow_provider_integrations.connectors.workday import WorkdayConnector, WorkdaySettings
from airflow_provider_integrations.core.errors import AuthError, ConfigError, PaginationError, RecordError
from airflow_provider_integrations.core.http import RetryPolicy
from airflow_provider_integrations.core.watermark import Window, parse_timestamp
from airflow_provider_integrations.hooks.workday import WorkdayHook
from tests.connectors.conftest import PATH_BREAKERS, Admin

FAST = RetryPolicy(max_attempts=8, base_delay=0.01, max_delay=0.05, deadline=60)
PACE = 20.0  # the everyday tenant allows 25 requests a second
STRICT = "sandbox_strict"  # 2-second tokens, 2 requests a second


@pytest.fixture(scope="module")
def admin(sandbox: Any) -> Admin:
    return Admin(sandbox)


def settings_for(sandbox: Any, admin: Admin, **override: Any) -> WorkdaySettings:
    conn = admin.connection(sandbox, "workday")
    extra = {**conn["extra"], **override}
    return WorkdaySettings(
        host=conn["host"],
        tenant=extra["tenant"],
        client_id=extra["client_id"],
        client_secret=extra["client_secret"],
        refresh_token=extra["refresh_token"],
        ca_bundle=extra["ca_bundle"],
        rate_limit_per_second=extra.get("rate_limit_per_second"),
    )


def connect(
    sandbox: Any, admin: Admin, streams: dict[str, Stream] | None = None, **override: Any
) -> WorkdayConnector:
    settings = settings_for(sandbox, admin, **{"rate_limit_per_second": PACE, **override})
    return WorkdayConnector.connect(settings, streams or load_catalog("workday.yaml"), retry=FAST)


@pytest.fixture
def wd(sandbox: Any, admin: Admin) -> Iterator[WorkdayConnector]:
    with connect(sandbox, admin) as connector:
        yield connector


def spy_params(wd: WorkdayConnector, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Record the query of every collection call the connector makes."""
    seen: list[dict[str, Any]] = []
    real = wd.client.get_json

    def get_json(url: str, *, params: Any = None) -> Any:
        seen.append(dict(params or {}))
        return real(url, params=params)

    monkeypatch.setattr(wd.client, "get_json", get_json)
    return seen


def token_calls(admin: Admin, tenant: str) -> int:
    calls = admin.counters()["calls"]
    return sum(n for name, n in calls.items() if name.endswith(f"/ccx/oauth2/{tenant}/token"))


def test_check_and_a_wrong_client_secret(wd: WorkdayConnector, sandbox: Any, admin: Admin) -> None:
    assert "reached Workday tenant sandbox" in wd.check()
    wrong = settings_for(sandbox, admin, client_secret="not-the-client-secret-42")
    assert "not-the-client-secret-42" not in repr(wrong)
    with WorkdayConnector.connect(wrong, load_catalog("workday.yaml"), retry=FAST) as bad:
        with pytest.raises(AuthError) as err:
            bad.check()
        with pytest.raises(AuthError):
            next(bad.read("workers"))
    assert "invalid_client" in str(err.value)
    assert "not-the-client-secret-42" not in str(err.value)
    stale = settings_for(sandbox, admin, refresh_token="not-the-refresh-token-42")
    with (
        WorkdayConnector.connect(stale, load_catalog("workday.yaml"), retry=FAST) as bad,
        pytest.raises(AuthError) as err,
    ):
        bad.check()
    assert "invalid_grant" in str(err.value) and "not-the-refresh-token-42" not in str(err.value)


def test_settings_name_what_is_wrong(sandbox: Any, admin: Admin) -> None:
    with pytest.raises(ConfigError, match="refresh_token"):
        settings_for(sandbox, admin, refresh_token="")
    with pytest.raises(ConfigError, match="tenant"):
        settings_for(sandbox, admin, tenant="sandbox/../other")
    with pytest.raises(ConfigError, match="rate_limit_per_second"):
        settings_for(sandbox, admin, rate_limit_per_second=0)
    assert settings_for(sandbox, admin).token_url.endswith("/workday/ccx/oauth2/sandbox/token")


def test_full_reads_return_every_record_once(wd: WorkdayConnector, admin: Admin) -> None:
    with admin.sized("workday", "workers", 2345):
        workers = [r["id"] for r in wd.read("workers")]
        assert len(workers) == 2345 == len(set(workers))
        assert workers == sorted(workers)
    for stream in ("organizations", "jobs"):
        ids = [r["id"] for r in wd.read(stream)]
        assert len(ids) == admin.size("workday", stream) == len(set(ids)) > 0, stream


def test_full_reads_ask_as_of_today(wd: WorkdayConnector, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = spy_params(wd, monkeypatch)
    assert sum(1 for _ in wd.read("jobs")) == 500
    today = datetime.now(UTC).date().isoformat()
    assert [p["offset"] for p in seen] == [0, 100, 200, 300, 400]
    assert all(p["asOfEffectiveDate"] == today and p["limit"] == 100 for p in seen)
    assert not any("updatedFrom" in p for p in seen)


def test_as_of_effective_date_hides_later_hires_and_later_changes(wd: WorkdayConnector) -> None:
    today = {r["id"]: r for r in wd.read("workers")}
    as_of = date(2016, 6, 30)
    then = list(wd.read("workers", as_of=as_of))
    assert 0 < len(then) < len(today)
    assert [w["id"] for w in then] == [i for i, w in today.items() if w["hireDate"] <= as_of.isoformat()]
    promoted = [w for w in then if w["businessTitle"] != today[w["id"]]["businessTitle"]]
    assert promoted, "some workers changed title after the as-of date"
    assert all(w["effectiveDate"] <= as_of.isoformat() < today[w["id"]]["effectiveDate"] for w in promoted)

    streams = load_catalog("workday.yaml")
    pinned = dataclasses.replace(streams["workers"], options={**streams["workers"].options, "as_of": as_of})
    wd.streams["workers"] = pinned
    assert [w["id"] for w in wd.read("workers")] == [w["id"] for w in then]
    wd.streams["workers"] = dataclasses.replace(pinned, options={"as_of": "last tuesday"})
    with pytest.raises(ConfigError, match="as_of"):
        next(wd.read("workers"))


def test_window_bounds_are_half_open_on_shared_timestamps(
    wd: WorkdayConnector, admin: Admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Base jobs share a lastModified three at a time; boundaries on those instants lose nothing."""
    seen = spy_params(wd, monkeypatch)
    with admin.sized("workday", "jobs", 500):
        boundary = BASE_TIME + timedelta(minutes=10)
        first = wd.read("jobs", Window(BASE_TIME, boundary))
        early = {r["id"]: parse_timestamp(r["lastModified"]) for r in first}
        later = {r["id"] for r in wd.read("jobs", Window(boundary, boundary + timedelta(minutes=10)))}
        assert len(early) == 30 == len(later) and not early.keys() & later
        assert max(early.values()) == BASE_TIME + timedelta(minutes=9)
        assert seen[0]["updatedFrom"] == "2025-01-01T00:00:00.000000Z"
        assert seen[0]["updatedThrough"] == "2025-01-01T00:09:59.999999Z"
        assert seen[0]["asOfEffectiveDate"] == "2025-01-01", "as of the window's end date"

        everything: list[str] = []
        for window in Window(BASE_TIME - timedelta(hours=1), BASE_TIME + timedelta(hours=3)).split(
            timedelta(minutes=11)
        ):
            everything += [r["id"] for r in wd.read("jobs", window)]
        assert len(everything) == 500 == len(set(everything))


def test_incremental_read_returns_exactly_the_changed_live_records(
    wd: WorkdayConnector, admin: Admin
) -> None:
    with admin.sized("workday", "workers", 600):
        start = datetime.now(UTC)
        time.sleep(0.05)
        assert admin.mutate("workday", "workers", update=6, insert=2, delete=3) == {
            "updated": 6,
            "inserted": 2,
            "deleted": 3,
        }
        time.sleep(0.05)
        window = Window(start, datetime.now(UTC))
        changed = list(wd.read("workers", window))
        everyone = {r["id"]: r for r in wd.read("workers")}
    assert len(everyone) == 599
    recent = {i for i, r in everyone.items() if parse_timestamp(r["lastModified"]) >= start}
    assert len(changed) == 8 == len(recent)
    assert {r["id"] for r in changed} == recent
    assert all(window.contains(parse_timestamp(r["lastModified"])) for r in changed)
    assert sum(1 for r in changed if int(r["workerId"]) - 100001 >= 600) == 2


def test_consecutive_windows_neither_overlap_nor_miss(wd: WorkdayConnector, admin: Admin) -> None:
    with admin.sized("workday", "organizations", 300):
        t0 = datetime.now(UTC)
        time.sleep(0.05)
        admin.mutate("workday", "organizations", update=5)
        time.sleep(0.05)
        t1 = datetime.now(UTC)
        time.sleep(0.05)
        admin.mutate("workday", "organizations", update=4, insert=3, delete=2)
        time.sleep(0.05)
        t2 = datetime.now(UTC)
        first = [r["id"] for r in wd.read("organizations", Window(t0, t1))]
        second = [r["id"] for r in wd.read("organizations", Window(t1, t2))]
        everything = {r["id"]: parse_timestamp(r["lastModified"]) for r in wd.read("organizations")}
    assert len(everything) == 301
    assert len(second) == 7 and 3 <= len(first) <= 5
    assert not set(first) & set(second)
    assert set(first) == {i for i, ts in everything.items() if t0 <= ts < t1}
    assert set(second) == {i for i, ts in everything.items() if t1 <= ts < t2}


def test_faults_are_survived_with_exact_counts(wd: WorkdayConnector, admin: Admin) -> None:
    with (
        admin.sized("workday", "workers", 1500),
        admin.faults(
            "workday",
            seed=3,
            rate_429=0.08,
            rate_5xx=0.12,
            rate_reset=0.08,
            rate_expired_cursor=0.08,
            retry_after=0.01,
        ),
    ):
        ids = [r["id"] for r in wd.read("workers")]
    assert len(ids) == 1500 == len(set(ids))
    assert wd.client.calls > 15, "the fault profile should have cost some retries"


def test_a_read_short_of_the_total_raises(wd: WorkdayConnector, monkeypatch: pytest.MonkeyPatch) -> None:
    real = wd.client.get_json

    def capped(url: str, *, params: Any = None) -> Any:
        body = real(url, params=params)
        return {**body, "data": []} if params["offset"] >= 300 else body

    monkeypatch.setattr(wd.client, "get_json", capped)
    got = 0
    with pytest.raises(PaginationError, match="truncated"):
        for _ in wd.read("jobs"):
            got += 1
    assert got == 300


def test_poison_workers_fail_the_schema_naming_hire_date(wd: WorkdayConnector, admin: Admin) -> None:
    profile = {"seed": 6, "poison_rate": 0.02}
    local = Faults()
    local.set_profile("workday", FaultProfile(**profile))
    expected = sum(1 for i in range(2000) if local.is_poison("workday", "workers", i))
    schema = wd.stream("workers").schema
    errors = []
    with admin.faults("workday", **profile):
        for record in wd.read("workers"):
            try:
                schema.validate(record)
            except RecordError as error:
                errors.append(str(error))
    assert 15 <= expected <= 70
    assert len(errors) == expected
    assert all(e.startswith("hireDate:") and "not-a-date" in e for e in errors)


def test_short_lived_tokens_are_refreshed(
    sandbox: Any, admin: Admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    streams = load_catalog("workday.yaml")
    orgs = streams["organizations"]
    streams["organizations"] = dataclasses.replace(orgs, options={**orgs.options, "page_size": 100})
    before = token_calls(admin, STRICT)
    with connect(sandbox, admin, streams, tenant=STRICT, rate_limit_per_second=None) as wd:
        # one page each: a read far shorter than the 2-second token, so the count below cannot race
        assert len({r["id"] for r in wd.read("organizations")}) == 100
        time.sleep(2.3)
        assert len({r["id"] for r in wd.read("organizations")}) == 100
        assert token_calls(admin, STRICT) - before == 2, "one token per lifetime, refreshed before expiry"

        auth: Any = wd.client._auth
        monkeypatch.setattr(auth, "_expiring", lambda token: False)
        time.sleep(2.3)
        calls = wd.client.calls
        assert wd.check().startswith(f"reached Workday tenant {STRICT}")
        assert wd.client.calls - calls == 2, "the expired token was refused once, then refreshed"
        assert token_calls(admin, STRICT) - before == 3


def test_title_changes_give_one_result_per_record_in_order(wd: WorkdayConnector, admin: Admin) -> None:
    workers = list(itertools.islice(wd.read("workers"), 31))
    ids = [w["id"] for w in workers[:30]]
    records: list[dict[str, Any]] = [
        {"id": worker_id, "businessTitle": f"Reverse ETL Title {n}", "ignored": n}
        | ({"effective": date(2025, 6, 1)} if n % 3 else {})
        for n, worker_id in enumerate(ids)
    ]
    records.insert(7, {"id": "f" * 32, "businessTitle": "Ghost"})
    records.insert(20, {"id": workers[30]["id"], "businessTitle": "  "})
    before = admin.counters()["writes"].get("workday/workers", {})
    # Outcomes follow the seed and each worker's earlier writes on this sandbox (other tests' too): take
    # the first seed from 11 whose outcomes, foreseen locally, cost some retries and refuse a few records.
    for seed in range(11, 111):
        profile: dict[str, Any] = {"seed": seed, "write_permanent_rate": 0.1, "write_transient_rate": 0.1}
        local = Faults()
        local.set_profile("workday", FaultProfile(**profile))
        local.writes["workday/workers"].update(before)
        attempts = {}
        for worker_id in ids:
            outcomes = [local.write_outcome("workday", "workers", worker_id)]
            while outcomes[-1] == "transient":
                outcomes.append(local.write_outcome("workday", "workers", worker_id))
            attempts[worker_id] = outcomes
        refused = {worker_id for worker_id, outcomes in attempts.items() if outcomes[-1] == "permanent"}
        if 1 <= len(refused) <= 8 and any(len(outcomes) > 1 for outcomes in attempts.values()):
            break
    assert 1 <= len(refused) <= 8
    assert any(len(outcomes) > 1 for outcomes in attempts.values()), "the seed should cost some retries"

    with admin.faults("workday", **profile):
        results = list(wd.write("businessTitleChanges", "update", records))
        after = admin.counters()["writes"]["workday/workers"]
        again = list(wd.write("businessTitleChanges", "update", records))
        replayed = admin.counters()["writes"]["workday/workers"]

    assert [r.key for r in results] == [str(r["id"]) for r in records]
    by_key = {r.key: r for r in results}
    assert (by_key["f" * 32].outcome, by_key["f" * 32].code) == (
        WriteOutcome.PERMANENT,
        "NOT_FOUND",
    )
    blank = by_key[workers[30]["id"]]
    assert (blank.outcome, blank.code) == (WriteOutcome.PERMANENT, "INVALID_PARAMETER")
    assert "proposedBusinessTitle" in (blank.message or "")
    for worker_id in ids:
        result = by_key[worker_id]
        if worker_id in refused:
            assert (result.outcome, result.code) == (WriteOutcome.PERMANENT, "BUSINESS_PROCESS_VALIDATION")
            assert result.message and "validation rule" in result.message and result.destination_id is None
        else:
            assert result.outcome is WriteOutcome.SUCCESS and result.destination_id
        assert after.get(worker_id, 0) - before.get(worker_id, 0) == len(attempts[worker_id]), worker_id

    # The same records again: successes replay under their Idempotency-Key without a second write.
    assert [(r.key, r.outcome, r.destination_id) for r in again] == [
        (r.key, r.outcome, r.destination_id) for r in results
    ]
    assert {k: replayed[k] - after[k] for k in ids if replayed[k] != after[k]} == dict.fromkeys(refused, 1)

    written = admin.written("workday", "workers")
    today = datetime.now(UTC).date().isoformat()
    titles = {w["id"]: w["businessTitle"] for w in wd.read("workers")}
    for n, worker_id in enumerate(ids):
        if worker_id in refused:
            assert titles[worker_id] != f"Reverse ETL Title {n}"
            continue
        effective = "2025-06-01" if n % 3 else today
        change = {"businessTitle": f"Reverse ETL Title {n}", "effective": effective}
        assert written[worker_id] == {**change, "changeId": by_key[worker_id].destination_id}
        assert titles[worker_id] == f"Reverse ETL Title {n}"


def test_worker_ids_that_are_not_workday_ids_fail_alone_unsent(wd: WorkdayConnector, admin: Admin) -> None:
    """A worker id goes into `.../workers/<id>/businessTitleChanges`: only a Workday ID may."""
    good = [w["id"] for w in itertools.islice(wd.read("workers"), 2)]
    keys = [good[0], *PATH_BREAKERS, "no-such-worker", f"{good[1]}/..", good[1]]
    records = [{"id": key, "businessTitle": "Path checked"} for key in keys]
    before = admin.counters()["writes"].get("workday/workers", {})

    results = list(wd.write("businessTitleChanges", "update", records))

    assert [r.key for r in results] == keys
    for result in results:
        if result.key in good:
            assert result.outcome is WriteOutcome.SUCCESS
        else:
            assert (result.outcome, result.code) == (WriteOutcome.PERMANENT, "INVALID_PATH_SEGMENT")
            assert (result.message or "").startswith("id ")
    by_key = {r.key: r for r in results}
    assert "is not a Workday ID" in str(by_key["no-such-worker"].message)
    after = admin.counters()["writes"]["workday/workers"]
    assert {k for k in after if after[k] != before.get(k)} == set(good), "only the good ids were sent"


def test_unsupported_writes_are_refused_naming_what_is_supported(wd: WorkdayConnector) -> None:
    consumed: list[int] = []

    def records() -> Iterator[dict[str, Any]]:
        consumed.append(1)
        yield {"id": "x", "businessTitle": "y"}

    with pytest.raises(ConfigError, match="businessTitleChanges \\(update\\)"):
        wd.write("workers", "update", records())
    with pytest.raises(ConfigError, match="'insert'"):
        wd.write("businessTitleChanges", "insert", records())
    assert not consumed


def test_hook_takes_the_rate_limit_from_the_connection(
    sandbox: Any, admin: Admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = admin.connection(sandbox, "workday")
    conn["extra"] = {**conn["extra"], "rate_limit_per_second": "12.5"}
    monkeypatch.setenv("AIRFLOW_CONN_WORKDAY_PACED", json.dumps(conn))
    hook = WorkdayHook("workday_paced")
    try:
        connector = hook.get_conn()
        assert isinstance(connector, WorkdayConnector)
        assert connector.client.settings.rate_limit_per_second == 12.5
        assert hook.test_connection()[0]
    finally:
        hook.close()
    conn["extra"] = {k: v for k, v in conn["extra"].items() if k != "tenant"}
    monkeypatch.setenv("AIRFLOW_CONN_WORKDAY_NO_TENANT", json.dumps(conn))
    ok, message = WorkdayHook("workday_no_tenant").test_connection()
    assert not ok and "ConfigError" in message and "tenant" in message
