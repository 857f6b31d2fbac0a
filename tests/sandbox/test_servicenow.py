"""The ServiceNow emulator over HTTPS: auth, the Table API's encoded queries and paging, limits, imports."""

from __future__ import annotations

import random
import ssl
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from integrations_sandbox.emulator.data import Dataset
from integrations_sandbox.emulator.faults import FaultProfile, Faults
from integrations_sandbox.emulator.systems._common_wd_sn import MergedView
from integrations_sandbox.emulator.systems.servicenow import ServiceNow

Record = dict[str, Any]
NOT_AUTHENTICATED = {
    "error": {"message": "User Not Authenticated", "detail": "Required to provide Auth information"},
    "status": "failure",
}


def tls(sandbox: Any) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=sandbox.ca_bundle)


@pytest.fixture(scope="module")
def conn(sandbox: Any) -> dict[str, Any]:
    return ServiceNow.connection(f"{sandbox.saas_url}/servicenow")


@pytest.fixture(scope="module")
def client(sandbox: Any, conn: dict[str, Any]) -> Iterator[httpx.Client]:
    """Basic auth with the connection's login, as most ServiceNow integrations use."""
    auth = (conn["login"], conn["password"])
    with httpx.Client(base_url=conn["host"], verify=tls(sandbox), auth=auth, timeout=60) as http:
        yield http


@pytest.fixture(scope="module")
def admin(sandbox: Any) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.admin_url, verify=tls(sandbox), timeout=60) as http:
        yield http


def table(client: httpx.Client, name: str, **params: Any) -> httpx.Response:
    return client.get(f"/api/now/table/{name}", params=params).raise_for_status()


def read_all(client: httpx.Client, name: str, limit: int = 1000, **params: Any) -> tuple[int, list[Record]]:
    """Every record by sysparm_offset, checking that X-Total-Count stays put."""
    records: list[Record] = []
    totals = set()
    while True:
        response = table(client, name, sysparm_limit=limit, sysparm_offset=len(records), **params)
        totals.add(int(response.headers["X-Total-Count"]))
        page = response.json()["result"]
        records += page
        if len(page) < limit:
            break
    assert len(totals) == 1, f"X-Total-Count changed while paging: {totals}"
    return totals.pop(), records


def sizes(admin: httpx.Client) -> dict[str, int]:
    return {k: v["size"] for k, v in admin.get("/datasets").json().items()}


def test_basic_auth_and_wrong_credentials(sandbox: Any, client: httpx.Client, conn: dict[str, Any]) -> None:
    assert conn["conn_type"] == "servicenow" and len(conn["password"]) >= 8
    assert all(len(v) >= 8 for v in conn["extra"].values())
    assert len(table(client, "sys_user", sysparm_limit=1).json()["result"]) == 1
    with httpx.Client(base_url=conn["host"], verify=tls(sandbox)) as anonymous:
        wrong = anonymous.get("/api/now/table/incident", auth=(conn["login"], "not-the-password"))
        missing = anonymous.get("/api/now/table/incident")
    assert wrong.status_code == missing.status_code == 401
    assert wrong.json() == missing.json() == NOT_AUTHENTICATED


def test_oauth_password_grant_and_refresh(sandbox: Any, conn: dict[str, Any]) -> None:
    grant = {
        "grant_type": "password",
        "client_id": conn["extra"]["client_id"],
        "client_secret": conn["extra"]["client_secret"],
        "username": conn["login"],
        "password": conn["password"],
    }
    with httpx.Client(base_url=conn["host"], verify=tls(sandbox)) as http:
        token = http.post("/oauth_token.do", data=grant).raise_for_status().json()
        assert token["token_type"] == "Bearer" and token["expires_in"] > 0
        bearer = {"Authorization": f"Bearer {token['access_token']}"}
        assert (
            http.get("/api/now/table/incident", params={"sysparm_limit": 1}, headers=bearer).status_code
            == 200
        )

        refresh = {k: grant[k] for k in ("client_id", "client_secret")}
        renewed = http.post(
            "/oauth_token.do",
            data={**refresh, "grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
        ).raise_for_status()
        bearer = {"Authorization": f"Bearer {renewed.json()['access_token']}"}
        assert (
            http.get("/api/now/table/incident", params={"sysparm_limit": 1}, headers=bearer).status_code
            == 200
        )

        denied = http.post("/oauth_token.do", data={**grant, "client_secret": "not-the-secret"})
        assert denied.status_code == 401 and denied.json()["error_description"] == "access_denied"
        bad_user = http.post("/oauth_token.do", data={**grant, "password": "not-the-password"})
        assert bad_user.status_code == 401
        forged = http.get("/api/now/table/incident", headers={"Authorization": "Bearer forged-token"})
        assert forged.status_code == 401 and forged.json() == NOT_AUTHENTICATED


def _ascending(records: list[Record]) -> list[str]:
    return sorted(r["sys_id"] for r in records)


BETWEEN_HOUR_ONE = (
    "sys_created_onBETWEENjavascript:gs.dateGenerate('2025-01-01','01:00:00')"
    "@javascript:gs.dateGenerate('2025-01-01','01:59:59')^priority<=2"
)
QUERIES: list[tuple[str, Callable[[Record], bool]]] = [
    ("priority=1^ORpriority=2^state!=3", lambda r: r["priority"] in ("1", "2") and r["state"] != "3"),
    (
        "typeINnormal,emergency^short_descriptionLIKEcertificate",
        lambda r: r["type"] != "standard" and "ertificate" in r["short_description"],
    ),
    ("assigned_toISEMPTY", lambda r: r["assigned_to"] == ""),
    ("numberSTARTSWITHCHG00001", lambda r: r["number"].startswith("CHG00001")),
    (
        "risk=2^NQpriority=4^approval!=approved",
        lambda r: r["risk"] == "2" or (r["priority"] == "4" and r["approval"] != "approved"),
    ),
    (
        "sys_updated_on>2025-01-01 02:00:00^sys_updated_on<=2025-01-01 04:30:00",
        lambda r: "2025-01-01 02:00:00" < r["sys_updated_on"] <= "2025-01-01 04:30:00",
    ),
    (
        BETWEEN_HOUR_ONE,
        lambda r: (
            "2025-01-01 01:00:00" <= r["sys_created_on"] <= "2025-01-01 01:59:59" and int(r["priority"]) <= 2
        ),
    ),
]


def test_encoded_queries_select_what_an_independent_filter_selects(client: httpx.Client) -> None:
    total, everything = read_all(client, "change_request")
    assert total == len(everything) and total > 0
    for query, wanted in QUERIES:
        expected = _ascending([r for r in everything if wanted(r)])
        count, found = read_all(client, "change_request", limit=97, sysparm_query=query)
        assert [r["sys_id"] for r in found] == expected, query
        assert count == len(expected) and expected, query


def test_orderby_sorts_and_ranges_on_sys_updated_on(client: httpx.Client) -> None:
    _, everything = read_all(client, "change_request")
    since = "javascript:gs.dateGenerate('2025-01-01','03:00:00')"
    _, ascending = read_all(
        client,
        "change_request",
        limit=150,
        sysparm_query=f"sys_updated_on>={since}^ORDERBYsys_updated_on^ORDERBYsys_id",
    )
    expected = sorted(
        (r["sys_updated_on"], r["sys_id"]) for r in everything if r["sys_updated_on"] >= "2025-01-01 03:00:00"
    )
    assert [(r["sys_updated_on"], r["sys_id"]) for r in ascending] == expected
    _, descending = read_all(client, "change_request", limit=150, sysparm_query="ORDERBYDESCsys_updated_on")
    assert [r["sys_updated_on"] for r in descending] == sorted(
        (r["sys_updated_on"] for r in everything), reverse=True
    )
    _, by_priority = read_all(
        client, "change_request", limit=333, sysparm_query="ORDERBYDESCpriority^ORDERBYnumber"
    )
    keys = [(-int(r["priority"]), r["number"]) for r in by_priority]
    assert keys == sorted(keys) and len(keys) == len(everything)
    fields = table(client, "change_request", sysparm_limit=2, sysparm_fields="number,sys_id").json()["result"]
    assert [set(r) for r in fields] == [{"number", "sys_id"}] * 2
    # As documented: an invalid part of a query is ignored and the rest runs (here: nothing is left).
    typo = client.get(
        "/api/now/table/change_request", params={"sysparm_query": "no_such_field=1", "sysparm_limit": 1}
    )
    assert typo.status_code == 200 and int(typo.headers["x-total-count"]) == len(everything)


def test_offset_paging_returns_everything_once_with_an_exact_total(
    client: httpx.Client, admin: httpx.Client
) -> None:
    size = sizes(admin)["servicenow/incident"]
    total, records = read_all(client, "incident", limit=700)
    ids = [r["sys_id"] for r in records]
    assert total == size == len(ids) == len(set(ids))
    assert ids == sorted(ids) and records[0]["number"] == "INC0000001"
    assert all(len(i) == 32 for i in ids)


def test_link_header_walks_first_next_and_last(client: httpx.Client) -> None:
    query = "priority<=2^ORDERBYsys_updated_on"
    first = table(client, "incident", sysparm_limit=400, sysparm_query=query)
    total = int(first.headers["X-Total-Count"])
    assert set(first.links) == {"first", "next", "last"}
    seen, response = [], first
    while True:
        seen += [r["sys_id"] for r in response.json()["result"]]
        if "next" not in response.links:
            break
        response = client.get(response.links["next"]["url"]).raise_for_status()
        assert "prev" in response.links
    assert len(seen) == len(set(seen)) == total
    assert response.links["last"]["url"] == first.links["last"]["url"]
    last = client.get(first.links["last"]["url"]).raise_for_status()
    assert last.json()["result"] == response.json()["result"]


def test_rate_limit_headers_and_a_per_user_rule_that_answers_429(
    client: httpx.Client, conn: dict[str, Any]
) -> None:
    one, two = table(client, "sys_user", sysparm_limit=1), table(client, "sys_user", sysparm_limit=1)
    assert int(two.headers["X-RateLimit-Remaining"]) == int(one.headers["X-RateLimit-Remaining"]) - 1
    assert int(one.headers["X-RateLimit-Limit"]) == ServiceNow.default_rate_limit
    assert int(one.headers["X-RateLimit-Reset"]) > time.time()

    rule = {
        "name": "cmdb reads",
        "user": conn["login"],
        "resource": "/api/now/table/cmdb_ci",
        "rate_limit": "3",
    }
    created = client.post("/api/now/table/sys_rate_limit_rules", json=rule)
    assert created.status_code == 201
    rule_id = created.json()["result"]["sys_id"]
    try:
        answers = [client.get("/api/now/table/cmdb_ci", params={"sysparm_limit": 1}) for _ in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        assert [a.headers["X-RateLimit-Remaining"] for a in answers] == ["2", "1", "0", "0"]
        assert {a.headers["X-RateLimit-Limit"] for a in answers} == {"3"}
        assert {a.headers["X-RateLimit-Rule"] for a in answers} == {rule_id}
        assert int(answers[3].headers["Retry-After"]) >= 1
        assert answers[3].json()["error"]["message"] == "Rate limit exceeded"
        assert answers[3].json()["status"] == "failure"
        assert table(client, "incident", sysparm_limit=1).status_code == 200
    finally:
        assert client.delete(f"/api/now/table/sys_rate_limit_rules/{rule_id}").status_code == 204
    assert table(client, "cmdb_ci", sysparm_limit=1).headers["X-RateLimit-Rule"] != rule_id


def test_deleted_records_leave_the_table_and_enter_sys_audit_delete(
    client: httpx.Client, admin: httpx.Client
) -> None:
    size = sizes(admin)["servicenow/cmdb_ci"]
    started = datetime.now(UTC).replace(microsecond=0).strftime("%Y-%m-%d %H:%M:%S")
    try:
        admin.put("/datasets/servicenow/cmdb_ci", json={"size": 300}).raise_for_status()
        before = {r["sys_id"]: r for r in read_all(client, "cmdb_ci")[1]}
        admin.post(
            "/datasets/servicenow/cmdb_ci/mutate", json={"update": 3, "delete": 4, "insert": 2}
        ).raise_for_status()
        total, after = read_all(client, "cmdb_ci", limit=77)
        assert total == len(after) == 300 - 4 + 2
        gone = set(before) - {r["sys_id"] for r in after}
        assert len(gone) == 4
        audit = read_all(
            client, "sys_audit_delete", sysparm_query=f"tablename=cmdb_ci^sys_created_on>={started}"
        )[1]
        assert {a["documentkey"] for a in audit} == gone
        assert {a["display_value"] for a in audit} == {before[g]["name"] for g in gone}
        changed = read_all(
            client, "cmdb_ci", sysparm_query=f"sys_updated_on>={started}^ORDERBYsys_updated_on"
        )[1]
        assert sorted(r["sys_mod_count"] for r in changed) == ["0", "0", "1", "1", "1"]
        missing = client.get(f"/api/now/table/cmdb_ci/{next(iter(gone))}")
        assert missing.status_code == 404 and missing.json()["error"]["message"] == "No Record found"
    finally:
        admin.put("/datasets/servicenow/cmdb_ci", json={"size": size}).raise_for_status()


def test_import_set_inserts_then_coalesces_to_updated_and_ignored(client: httpx.Client) -> None:
    key = f"ext-{uuid.uuid4().hex[:10]}"
    row = {"u_external_id": key, "u_name": "Acme Corp", "u_city": "Dublin"}
    statuses = []
    for body in (row, row, {**row, "u_city": "Cork"}):
        answer = client.post("/api/now/import/u_account_import", json=body)
        assert answer.status_code == 201
        result = answer.json()["result"][0]
        assert (
            answer.json()["import_set"].startswith("ISET")
            and answer.json()["staging_table"] == "u_account_import"
        )
        statuses.append(result["status"])
    assert statuses == ["inserted", "ignored", "updated"]
    assert result["table"] == "core_company" and result["display_value"] == "Acme Corp"
    stored = client.get(result["record_link"]).raise_for_status().json()["result"]
    assert (stored["u_external_id"], stored["city"], stored["sys_mod_count"]) == (key, "Cork", "1")
    found = table(client, "core_company", sysparm_query=f"u_external_id={key}").json()["result"]
    assert [r["sys_id"] for r in found] == [result["sys_id"]]

    rows = [
        {"u_external_id": key, "u_name": "Acme Corp", "u_city": "Cork"},
        {"u_name": "no key"},
        {"u_external_id": f"{key}-2"},
    ]
    multiple = client.post("/api/now/import/u_account_import/insertMultiple", json={"records": rows})
    assert multiple.status_code == 201
    assert [r["status"] for r in multiple.json()["result"]] == ["ignored", "error", "inserted"]
    assert "u_external_id" in multiple.json()["result"][1]["error_message"]
    unknown = client.post("/api/now/import/u_nothing_import", json=row)
    assert unknown.status_code == 400


def test_write_faults_are_per_row_and_reproducible(client: httpx.Client, admin: httpx.Client) -> None:
    profile = {"seed": 9, "write_transient_rate": 0.3, "write_permanent_rate": 0.2}
    local = Faults()
    local.set_profile("servicenow", FaultProfile(**profile))
    keys = [f"flaky-{n}" for n in range(40)]
    records = [{"u_external_id": k, "u_name": f"Company {k}"} for k in keys]
    try:
        admin.put("/faults/servicenow", json=profile).raise_for_status()
        first = client.post(
            "/api/now/import/u_account_import/insertMultiple", json={"records": records}
        ).json()
        retry = [
            r
            for r, res in zip(records, first["result"], strict=True)
            if "lock" in res.get("error_message", "")
        ]
        second = client.post(
            "/api/now/import/u_account_import/insertMultiple", json={"records": retry}
        ).json()
    finally:
        admin.delete("/faults/servicenow").raise_for_status()
    expected = [local.write_outcome("servicenow", "core_company", k) for k in keys]
    got = [
        "ok"
        if r["status"] == "inserted"
        else "permanent"
        if "Data Policy" in r["error_message"]
        else "transient"
        for r in first["result"]
    ]
    assert got == expected and {"ok", "transient", "permanent"} <= set(got)
    again = [local.write_outcome("servicenow", "core_company", r["u_external_id"]) for r in retry]
    assert [r["status"] == "inserted" for r in second["result"]] == [o == "ok" for o in again]
    counted = admin.get("/counters").json()["writes"]["servicenow/core_company"]
    assert all(counted[k] == (2 if k in {r["u_external_id"] for r in retry} else 1) for k in keys)


def test_poison_records_break_the_schema_where_the_faults_say(
    client: httpx.Client, admin: httpx.Client
) -> None:
    profile = {"seed": 4, "poison_rate": 0.05}
    local = Faults()
    local.set_profile("servicenow", FaultProfile(**profile))
    try:
        admin.put("/faults/servicenow", json=profile).raise_for_status()
        records = table(client, "incident", sysparm_limit=400).json()["result"]
    finally:
        admin.delete("/faults/servicenow").raise_for_status()
    broken = [i for i, r in enumerate(records) if r["number"] is None or not r["priority"].isdigit()]
    assert broken == [i for i in range(400) if local.is_poison("servicenow", "incident", i)]
    assert broken


def test_an_expired_paging_fault_is_answered_in_servicenows_shape(
    client: httpx.Client, admin: httpx.Client
) -> None:
    try:
        admin.put("/faults/servicenow", json={"rate_expired_cursor": 1.0}).raise_for_status()
        first = client.get("/api/now/table/incident", params={"sysparm_limit": 10})
        later = client.get("/api/now/table/incident", params={"sysparm_limit": 10, "sysparm_offset": 10})
    finally:
        admin.delete("/faults/servicenow").raise_for_status()
    assert first.status_code == 200
    assert later.status_code == 400 and later.json()["status"] == "failure"


def test_table_api_throughput_over_100k_incidents(client: httpx.Client, admin: httpx.Client) -> None:
    size = sizes(admin)["servicenow/incident"]
    try:
        admin.put("/datasets/servicenow/incident", json={"size": 100_000}).raise_for_status()
        started = time.perf_counter()
        total, records = read_all(client, "incident", limit=1000)
        elapsed = time.perf_counter() - started
        capped = table(client, "incident", sysparm_limit=20_000, sysparm_fields="sys_id")
    finally:
        admin.put("/datasets/servicenow/incident", json={"size": size}).raise_for_status()
    assert total == len(records) == len({r["sys_id"] for r in records}) == 100_000
    assert len(capped.json()["result"]) == ServiceNow.max_limit < int(capped.headers["X-Total-Count"])
    print(f"\nServiceNow Table API: {total / elapsed:,.0f} records/s ({total} incidents in {elapsed:.1f} s)")


def test_merged_views_match_a_brute_force_read_under_mutations() -> None:
    rng = random.Random(7)
    for trial in range(150):
        data = Dataset(f"t/v{trial}", size=rng.randint(0, 50), seed=1)
        for _ in range(rng.randint(0, 3)):
            at = datetime(2025, 1, 1, 0, rng.randint(0, 20), rng.randint(0, 59), tzinfo=UTC)
            counts = {k: rng.randint(0, 4) for k in ("update", "insert", "delete")}
            data.mutate(**counts, same_timestamp=rng.random() < 0.5, now=at)
        order = rng.choice(["index", "updated", "created"])
        lo, hi = sorted(rng.randint(0, data.base_size + 2) for _ in range(2))
        keep = None if rng.random() < 0.5 else (lambda row: row.index % 3 != 0)
        extras = [r for r in data.changes.values() if not r.deleted and rng.random() < 0.7]
        base = [data.row(i) for i in range(lo, min(hi, data.base_size)) if i not in data.changes]
        view = MergedView(data, lo, hi, extras, order, keep)
        expected = sorted([r for r in base if r and (keep is None or keep(r))] + extras, key=view.key)
        assert view.count() == len(expected)
        for descending in (False, True):
            wanted = [r.index for r in (expected[::-1] if descending else expected)]
            limit = rng.randint(1, 7)
            pages = [
                view.page(o, limit, descending=descending, cache_key=("v", trial))
                for o in range(0, len(wanted) + 1, limit)
            ]
            assert [r.index for page in pages for r in page] == wanted


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/now/table/"),
        ("GET", "/api/now/table/incident/a%2Fb/c"),
        ("POST", "/api/now/import/u_account_import/%2E"),
        ("POST", "/api/now/import/"),
    ],
)
def test_a_path_naming_no_resource_is_refused_in_servicenows_shape(
    client: httpx.Client, method: str, path: str
) -> None:
    response = client.request(method, path, json={"u_external_id": "x"} if method == "POST" else None)
    assert response.status_code == 400, response.text
    assert response.json() == {
        "error": {"message": "Requested URI does not represent any resource", "detail": None},
        "status": "failure",
    }
