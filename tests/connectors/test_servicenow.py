"""The ServiceNow connector against the sandbox's ServiceNow emulator (and a scripted server for edges)."""

from __future__ import annotations

import json
import ssl
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from integrations_sandbox.emulator.faults import FaultProfile, Faults

from airflow_provider_integrations.connectors import servicenow
from airflow_provider_integrations.connectors.base import Stream, WriteOutcome, load_catalog
from airflow_provider_integrations.connectors.servicenow import (
    ServiceNowConnector,
    ServiceNowSettings,
    authenticator,
    query_value,
    row_error_is_transient,
    window_bound,
)
from airflow_provider_integrations.core.auth import OAuth2Token
from airflow_provider_integrations.core.errors import AuthError, ConfigError, PaginationError, RecordError
from airflow_provider_integrations.core.http import RetryPolicy
from airflow_provider_integrations.core.watermark import Window
from tests.connectors.conftest import PATH_BREAKERS, Admin
from tests.scripted_http import Reply, ScriptedHttpServer, Seen

FAST = RetryPolicy(max_attempts=8, base_delay=0.01, max_delay=0.05, deadline=60)
CATALOG = load_catalog("servicenow.yaml")


@pytest.fixture(scope="module")
def admin(sandbox: Any) -> Admin:
    return Admin(sandbox)


def settings_for(sandbox: Any, admin: Admin, *, oauth: bool, **override: str) -> ServiceNowSettings:
    conn = admin.connection(sandbox, "servicenow")
    values = {
        "instance_url": conn["host"],
        "username": conn["login"],
        "password": conn["password"],
        "client_id": conn["extra"]["client_id"] if oauth else None,
        "client_secret": conn["extra"]["client_secret"] if oauth else None,
        "ca_bundle": sandbox.ca_bundle,
        **override,
    }
    return ServiceNowSettings(**values)


@pytest.fixture
def sn(sandbox: Any, admin: Admin) -> Iterator[ServiceNowConnector]:
    """OAuth (password grant, then bearer tokens), as the sandbox connection is set up."""
    with ServiceNowConnector.connect(settings_for(sandbox, admin, oauth=True), CATALOG, retry=FAST) as c:
        yield c


@pytest.fixture
def basic(sandbox: Any, admin: Admin) -> Iterator[ServiceNowConnector]:
    with ServiceNowConnector.connect(settings_for(sandbox, admin, oauth=False), CATALOG, retry=FAST) as c:
        yield c


def calls(admin: Admin, endpoint: str) -> int:
    return int(admin.counters()["calls"].get(f"servicenow {endpoint}", 0))


def test_check_with_basic_auth_and_with_oauth(sandbox: Any, admin: Admin, basic: ServiceNowConnector) -> None:
    tokens = calls(admin, "POST /oauth_token.do")
    assert "reached ServiceNow" in basic.check()
    assert calls(admin, "POST /oauth_token.do") == tokens, "basic auth must not ask for tokens"
    settings = settings_for(sandbox, admin, oauth=True)
    with ServiceNowConnector.connect(settings, CATALOG, retry=FAST) as oauth:
        assert "reached ServiceNow" in oauth.check()
        assert "reached ServiceNow" in oauth.check()
    assert calls(admin, "POST /oauth_token.do") == tokens + 1, "one token serves both calls"

    for wrong in (
        settings_for(sandbox, admin, oauth=False, password="not-the-password-0000"),
        settings_for(sandbox, admin, oauth=True, password="not-the-password-0000"),
        settings_for(sandbox, admin, oauth=True, client_secret="not-the-client-secret-0000"),
    ):
        with ServiceNowConnector.connect(wrong, CATALOG, retry=FAST) as bad, pytest.raises(AuthError) as err:
            bad.check()
        assert "not-the-" not in str(err.value) and "not-the-" not in repr(wrong)


def test_oauth_refresh_sends_the_refresh_token_with_the_client_credentials(
    http_server: ScriptedHttpServer,
) -> None:
    issued = iter(range(100))

    def token(request: Seen) -> Reply:
        n = next(issued)
        return Reply(json={"access_token": f"a{n}", "refresh_token": f"r{n}", "expires_in": 1799})

    http_server.route("/oauth_token.do", token)
    settings = ServiceNowSettings(http_server.url, "integration", "pw-123", "cid", "csecret")
    auth = authenticator(settings, retry=FAST)
    assert isinstance(auth, OAuth2Token)
    request = httpx.Request("GET", f"{http_server.url}/api/now/table/incident")
    auth.apply(request)
    auth.refresh()
    auth.apply(request)
    assert request.headers["Authorization"] == "Bearer a1"
    forms = [
        {k: v[0] for k, v in parse_qs(s.body.decode()).items()} for s in http_server.seen("/oauth_token.do")
    ]
    assert forms[0] == {
        "grant_type": "password",
        "username": "integration",
        "password": "pw-123",
        "client_id": "cid",
        "client_secret": "csecret",
    }
    assert forms[1] == {
        "grant_type": "refresh_token",
        "refresh_token": "r0",
        "client_id": "cid",
        "client_secret": "csecret",
    }


def test_full_read_past_the_10000_cap_is_exact(
    sn: ServiceNowConnector, admin: Admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(servicenow, "PAGE", 20_000)  # asks past the cap: the instance answers 10,000
    with admin.sized("servicenow", "incident", 12_500):
        ids = [r["sys_id"] for r in sn.read("incident")]
        assert len(ids) == 12_500 == len(set(ids))
        assert sn.client.calls == 2

        monkeypatch.setattr(servicenow, "PAGE", 700)
        monkeypatch.setattr(servicenow, "CHUNK", 2500)  # chunks cut inside groups sharing a timestamp
        chunked = [(r["sys_updated_on"], r["sys_id"]) for r in sn.read("incident")]
    assert len(chunked) == 12_500 == len(set(chunked))
    assert chunked == sorted(chunked)
    assert set(ids) == {i for _, i in chunked}


def test_a_result_shorter_than_its_total_is_refused(
    http_server: ScriptedHttpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(servicenow, "PAGE", 3)
    rows = [
        {"sys_id": f"{n:032x}", "number": f"INC{n}", "sys_updated_on": "2025-01-01 00:00:00"}
        for n in range(3)
    ]

    def capped(request: Seen) -> Reply:
        offset = int(parse_qs(request.query)["sysparm_offset"][0])
        return Reply(json={"result": rows[offset:]}, headers={"X-Total-Count": "5"})

    http_server.route("/api/now/table/incident", capped)
    settings = ServiceNowSettings(http_server.url, "integration", "pw")
    with (
        ServiceNowConnector.connect(settings, CATALOG, retry=FAST) as sn,
        pytest.raises(PaginationError) as err,
    ):
        list(sn.read("incident"))
    assert "5" in str(err.value) and "truncated" in str(err.value)


def test_incremental_read_returns_exactly_the_changes_and_deletes(
    sn: ServiceNowConnector, admin: Admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    with admin.sized("servicenow", "change_request", 600):
        before = {r["sys_id"]: r for r in sn.read("change_request")}
        start = datetime.now(UTC) - timedelta(seconds=2)
        changed = admin.mutate(
            "servicenow", "change_request", update=7, insert=4, delete=3, same_timestamp=True
        )
        end = datetime.now(UTC) + timedelta(seconds=2)
        after = {r["sys_id"]: r for r in sn.read("change_request")}
        with monkeypatch.context() as tiny:
            tiny.setattr(servicenow, "PAGE", 2)
            tiny.setattr(servicenow, "CHUNK", 3)  # the 11 changes share one second: keyset inside it
            rows = list(sn.read("change_request", Window(start, end)))
    assert changed == {"updated": 7, "inserted": 4, "deleted": 3}
    live = [r for r in rows if not r.get("_deleted")]
    gone = [r for r in rows if r.get("_deleted")]
    expected = {
        i for i, r in after.items() if i not in before or r["sys_mod_count"] != before[i]["sys_mod_count"]
    }
    assert [r["sys_id"] for r in live] == sorted(expected) and len(expected) == 11
    assert len({r["sys_updated_on"] for r in live}) == 1, "same_timestamp: one second for every change"
    assert {r["sys_id"] for r in gone} == set(before) - set(after) and len(gone) == 3
    assert all(r["sys_updated_on"] == live[0]["sys_updated_on"] for r in gone)
    assert sum(1 for i in expected if i not in before) == 4


def test_consecutive_windows_neither_overlap_nor_miss(sn: ServiceNowConnector, admin: Admin) -> None:
    # base records: three share each minute from 2025-01-01 00:00:00 on
    base = datetime(2025, 1, 1, tzinfo=UTC)
    with admin.sized("servicenow", "cmdb_ci", 300):
        everything = [(r["sys_updated_on"], r["sys_id"]) for r in sn.read("cmdb_ci")]
        span = Window(base - timedelta(hours=1), base + timedelta(hours=2))
        pieces = [
            [(r["sys_updated_on"], r["sys_id"]) for r in sn.read("cmdb_ci", w)]
            for w in span.split(timedelta(minutes=7, seconds=30, microseconds=500_000))
        ]
        at_boundary = [
            r["sys_updated_on"] for r in sn.read("cmdb_ci", Window(base + timedelta(minutes=30), span.end))
        ]
        before_boundary = [
            r["sys_updated_on"] for r in sn.read("cmdb_ci", Window(span.start, base + timedelta(minutes=30)))
        ]
    joined = [key for piece in pieces for key in piece]
    assert joined == everything and len(everything) == 300
    assert at_boundary[:3] == ["2025-01-01 00:30:00"] * 3 and len(at_boundary) == 210
    assert before_boundary[-1] == "2025-01-01 00:29:00" and len(before_boundary) == 90
    assert window_bound(base + timedelta(microseconds=1)) == "2025-01-01 00:00:01"


def test_live_windows_split_changes_at_their_boundary(sn: ServiceNowConnector, admin: Admin) -> None:
    with admin.sized("servicenow", "sys_user", 200):
        start = datetime.now(UTC) - timedelta(seconds=2)
        admin.mutate("servicenow", "sys_user", update=5, same_timestamp=True)
        time.sleep(1.1)
        middle = datetime.now(UTC)
        time.sleep(1.1)
        admin.mutate("servicenow", "sys_user", update=4, insert=2, delete=2, same_timestamp=True)
        end = datetime.now(UTC) + timedelta(seconds=2)
        first = {(r["sys_id"], bool(r.get("_deleted"))) for r in sn.read("sys_user", Window(start, middle))}
        second = {(r["sys_id"], bool(r.get("_deleted"))) for r in sn.read("sys_user", Window(middle, end))}
        whole = [(r["sys_id"], bool(r.get("_deleted"))) for r in sn.read("sys_user", Window(start, end))]
    assert not first & second
    assert first | second == set(whole) and len(whole) == len(set(whole))
    assert len(second) == 8 and 1 <= len(first) <= 5  # a second update may move a first one forward


def test_faults_are_survived_with_exact_counts(
    sn: ServiceNowConnector, admin: Admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(servicenow, "PAGE", 250)
    with (
        admin.sized("servicenow", "incident", 3000),
        admin.faults("servicenow", seed=3, rate_429=0.15, rate_5xx=0.1, rate_reset=0.05, retry_after=0.01),
    ):
        ids = [r["sys_id"] for r in sn.read("incident")]
    assert len(ids) == 3000 == len(set(ids))
    assert sn.client.calls > 14


def test_an_expired_result_set_restarts_after_the_last_key(
    sn: ServiceNowConnector, admin: Admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(servicenow, "PAGE", 200)
    with (
        admin.sized("servicenow", "change_request", 2000),
        admin.faults("servicenow", seed=6, rate_expired_cursor=0.4),
    ):
        ids = [r["sys_id"] for r in sn.read("change_request")]
    assert len(ids) == 2000 == len(set(ids)) and ids == sorted(ids)


def test_rate_limit_headers_pause_before_the_rule_answers_429(
    sandbox: Any, admin: Admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A `sys_rate_limit_rules` rule of 3 calls: after the third answer (X-RateLimit-Remaining: 0) the
    client waits for X-RateLimit-Reset (a Unix time) before the fourth call instead of meeting a 429."""
    monkeypatch.setattr(servicenow, "PAGE", 100)
    conn = admin.connection(sandbox, "servicenow")
    rules = httpx.Client(
        base_url=conn["host"],
        auth=(conn["login"], conn["password"]),
        verify=ssl.create_default_context(cafile=sandbox.ca_bundle),
        timeout=30,
    )
    rule = {"name": "cmdb", "user": conn["login"], "resource": "/api/now/table/cmdb_ci", "rate_limit": "3"}
    rule_id = (
        rules.post("/api/now/table/sys_rate_limit_rules", json=rule)
        .raise_for_status()
        .json()["result"]["sys_id"]
    )
    now, pauses = [0.0], []

    def sleep(seconds: float) -> None:  # the window "passes": the rule's count would start over
        if seconds > 1:
            pauses.append(seconds)
            rules.delete(f"/api/now/table/sys_rate_limit_rules/{rule_id}").raise_for_status()
        now[0] += seconds

    slow = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05, deadline=7200)
    settings = settings_for(sandbox, admin, oauth=False)
    try:
        with (
            admin.sized("servicenow", "cmdb_ci", 450),
            ServiceNowConnector.connect(
                settings, CATALOG, retry=slow, sleep=sleep, clock=lambda: now[0]
            ) as sn,
        ):
            ids = [r["sys_id"] for r in sn.read("cmdb_ci")]
    finally:
        rules.delete(f"/api/now/table/sys_rate_limit_rules/{rule_id}")
        rules.close()
    assert len(ids) == 450 == len(set(ids))
    assert len(pauses) == 1 and 0 < pauses[0] <= 3600
    assert sn.client.calls == 5, "the fourth call waited for the window instead of meeting a 429"


def test_poison_records_fail_the_schema_naming_the_field(sn: ServiceNowConnector, admin: Admin) -> None:
    profile: dict[str, Any] = {"seed": 4, "poison_rate": 0.02}
    local = Faults()
    local.set_profile("servicenow", FaultProfile(**profile))
    schema = sn.stream("incident").schema
    errors = []
    with admin.sized("servicenow", "incident", 2000), admin.faults("servicenow", **profile):
        for record in sn.read("incident"):
            try:
                schema.validate(record)
            except RecordError as error:
                errors.append(str(error))
    assert len(errors) == sum(local.is_poison("servicenow", "incident", i) for i in range(2000)) > 10
    priority = [e for e in errors if e == "priority: expected an integer, got 'urgent!!'"]
    number = [e for e in errors if e == "number is required but missing"]
    assert priority and number and len(priority) + len(number) == len(errors)


def test_query_values_that_could_rewrite_the_query_are_refused(sn: ServiceNowConnector) -> None:
    for bad in ("network^ORpriority=1", "a\nb", "x\r", "javascript:gs.getUser()"):
        with pytest.raises(ConfigError):
            query_value(bad)
    assert query_value("hardware") == "hardware" and query_value(True) == "true"
    config = {"source": "incident", "primary_key": ["sys_id"], "cursor": ["sys_updated_on", "sys_id"],
              "fields": {"sys_id": "string", "sys_updated_on": "timestamp"}}  # fmt: skip
    sn.streams["sneaky"] = Stream.from_config(
        "sneaky", {**config, "options": {"filters": {"category": "a^NQactive=true"}}}
    )
    sn.streams["bad_table"] = Stream.from_config("bad_table", {**config, "source": "incident^ORactive=true"})
    for name in ("sneaky", "bad_table"):
        with pytest.raises(ConfigError) as err:
            next(sn.read(name))
        assert "servicenow" in str(err.value)
    assert sn.client.calls == 0, "refused before any call"


def test_stream_filters_narrow_the_read(sn: ServiceNowConnector, admin: Admin) -> None:
    config = {"source": "incident", "primary_key": ["sys_id"], "cursor": ["sys_updated_on", "sys_id"],
              "fields": {"sys_id": "string", "category": "string", "sys_updated_on": "timestamp"},
              "options": {"filters": {"category": "network"}}}  # fmt: skip
    sn.streams["network"] = Stream.from_config("network", config)
    with admin.sized("servicenow", "incident", 1500):
        everything = [r for r in sn.read("incident") if r["category"] == "network"]
        network = list(sn.read("network"))
    assert [r["sys_id"] for r in network] == [r["sys_id"] for r in everything] and network


def test_import_set_writes_insert_then_ignore_then_update(sn: ServiceNowConnector, admin: Admin) -> None:
    run = uuid.uuid4().hex[:8]
    records = [
        {"u_external_id": f"acct-{run}-{n}", "u_name": f"Company {n}", "u_city": "Dublin"} for n in range(5)
    ]
    multiple, single = (
        calls(admin, "POST /api/now/import/u_account_import/insertMultiple"),
        calls(admin, "POST /api/now/import/u_account_import"),
    )
    first = list(sn.write("u_account_import", "upsert", records))
    again = list(sn.write("u_account_import", "upsert", records))
    moved = [{**r, "u_city": "Cork"} if n % 2 else r for n, r in enumerate(records)]
    third = list(sn.write("u_account_import", "upsert", moved))
    lone = list(sn.write("u_account_import", "upsert", [{**records[0], "u_city": "Galway"}]))
    keys = [r["u_external_id"] for r in records]
    assert [r.key for r in first] == [r.key for r in again] == [r.key for r in third] == keys
    assert all(r.outcome is WriteOutcome.SUCCESS for r in first + again + third + lone)
    assert [(r.code, r.created) for r in first] == [("inserted", True)] * 5
    assert [(r.code, r.created) for r in again] == [("ignored", False)] * 5
    assert [r.code for r in third] == ["ignored", "updated", "ignored", "updated", "ignored"]
    assert [r.code for r in lone] == ["updated"]
    assert [r.destination_id for r in again] == [r.destination_id for r in first] and all(
        r.destination_id for r in first
    )
    written = admin.written("servicenow", "core_company")
    assert [written[k]["city"] for k in keys] == ["Galway", "Cork", "Dublin", "Cork", "Dublin"]
    assert calls(admin, "POST /api/now/import/u_account_import/insertMultiple") == multiple + 3
    assert calls(admin, "POST /api/now/import/u_account_import") == single + 1


def test_import_rows_get_their_own_outcomes_under_write_faults(
    sn: ServiceNowConnector, admin: Admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(servicenow, "BATCH", 16)
    profile: dict[str, Any] = {"seed": 11, "write_transient_rate": 0.25, "write_permanent_rate": 0.15}
    local = Faults()
    local.set_profile("servicenow", FaultProfile(**profile))
    run = uuid.uuid4().hex[:8]
    records: list[dict[str, Any]] = [
        {"u_external_id": f"mixed-{run}-{n}", "u_name": f"Co {n}"} for n in range(40)
    ]
    records[7] = {"u_name": "no key"}
    records[20] = {"u_external_id": f"mixed-{run}-nested", "u_name": {"nested": True}}
    with admin.faults("servicenow", **profile):
        results = list(sn.write("u_account_import", "upsert", records))
    assert len(results) == 40
    assert [r.key for r in results] == [str(r.get("u_external_id", "")) for r in records]
    assert (results[7].code, results[20].code) == ("MISSING_KEY", "NOT_FLAT")
    assert results[7].outcome is results[20].outcome is WriteOutcome.PERMANENT
    wanted = {
        "ok": WriteOutcome.SUCCESS,
        "transient": WriteOutcome.TRANSIENT,
        "permanent": WriteOutcome.PERMANENT,
    }
    sent = [n for n in range(40) if n not in (7, 20)]
    expected = [
        wanted[local.write_outcome("servicenow", "core_company", records[n]["u_external_id"])] for n in sent
    ]
    assert [results[n].outcome for n in sent] == expected and set(expected) == set(WriteOutcome)
    assert all(
        "lock" in (results[n].message or "") for n in sent if results[n].outcome is WriteOutcome.TRANSIENT
    )
    assert all(
        "Data Policy" in (results[n].message or "")
        for n in sent
        if results[n].outcome is WriteOutcome.PERMANENT
    )
    assert row_error_is_transient("Transaction cancelled: lock wait timeout") and not row_error_is_transient(
        "Data Policy Exception: name is mandatory (record block-7 rejected)"
    )


def test_a_call_failing_as_a_whole_makes_each_of_its_rows_transient(
    sn: ServiceNowConnector, admin: Admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(servicenow, "BATCH", 4)
    records = [{"u_external_id": f"down-{n}", "u_name": f"Co {n}"} for n in range(10)]
    sn.check()  # the token is fetched before the instance goes down
    with admin.faults("servicenow", down=True):
        results = list(sn.write("u_account_import", "upsert", records))
    assert [r.key for r in results] == [r["u_external_id"] for r in records]
    assert all(r.outcome is WriteOutcome.TRANSIENT and r.message for r in results)


def test_a_short_import_answer_is_not_mapped_onto_the_wrong_rows(http_server: ScriptedHttpServer) -> None:
    answer = {"import_set": "ISET1", "result": [{"status": "inserted", "sys_id": "a" * 32}]}
    http_server.script("/api/now/import/u_account_import/insertMultiple", Reply(201, json=answer))
    settings = ServiceNowSettings(http_server.url, "integration", "pw")
    rows = [{"u_external_id": "k1"}, {"u_external_id": "k2"}]
    with ServiceNowConnector.connect(settings, CATALOG, retry=FAST) as sn:
        results = list(sn.write("u_account_import", "upsert", rows))
        with pytest.raises(ConfigError):
            list(sn.write("u_account_import; drop", "upsert", rows))
        with pytest.raises(ConfigError):
            list(sn.write("u_account_import", "insert", rows))
    assert [(r.key, r.outcome, r.code) for r in results] == [
        ("k1", WriteOutcome.TRANSIENT, "RESULT_COUNT"),
        ("k2", WriteOutcome.TRANSIENT, "RESULT_COUNT"),
    ]
    sent = json.loads(http_server.seen("/api/now/import/u_account_import/insertMultiple")[0].body)
    assert sent == {"records": rows}


def test_keys_that_would_break_a_path_stay_in_the_body_and_land_under_themselves(
    sn: ServiceNowConnector, admin: Admin
) -> None:
    """Import Set keys travel in the body, never the path; only table names reach the path."""
    run = uuid.uuid4().hex[:8]
    keys = [f"{run}-ok", *PATH_BREAKERS]
    records = [{"u_external_id": key, "u_name": f"Path {n}", "u_city": "Sligo"} for n, key in enumerate(keys)]
    multiple = calls(admin, "POST /api/now/import/u_account_import/insertMultiple")

    results = list(sn.write("u_account_import", "upsert", records))

    assert [r.key for r in results] == keys
    by_key = {r.key: r for r in results}
    assert (by_key[""].outcome, by_key[""].code) == (WriteOutcome.PERMANENT, "MISSING_KEY")
    sent = [key for key in keys if key]
    assert all(by_key[key].outcome is WriteOutcome.SUCCESS for key in sent)
    written = admin.written("servicenow", "core_company")
    assert all(written[key]["name"] == f"Path {keys.index(key)}" for key in sent)
    assert calls(admin, "POST /api/now/import/u_account_import/insertMultiple") == multiple + 1

    for table in ("..", ".", "u_account_import/../sys_user", "u_account_import?x=1", ""):
        with pytest.raises(ConfigError, match="import set table"):
            list(sn.write(table, "upsert", records))
