"""The Workday emulator over HTTPS: OAuth refresh-token grant, paged collections, effective dating, limits."""

from __future__ import annotations

import ssl
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from integrations_sandbox.emulator.faults import FaultProfile, Faults
from integrations_sandbox.emulator.systems.workday import Workday

STRICT = "sandbox_strict"


@pytest.fixture(scope="module")
def conn(sandbox: Any) -> dict[str, Any]:
    return Workday.connection(f"{sandbox.saas_url}/workday")


def tls(sandbox: Any) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=sandbox.ca_bundle)


@pytest.fixture(scope="module")
def client(sandbox: Any) -> Iterator[httpx.Client]:
    with httpx.Client(verify=tls(sandbox), timeout=30) as http:
        yield http


def token_form(conn: dict[str, Any], **changes: str) -> dict[str, str]:
    extra = conn["extra"]
    form = {
        "grant_type": "refresh_token",
        "refresh_token": extra["refresh_token"],
        "client_id": extra["client_id"],
        "client_secret": extra["client_secret"],
    }
    return {**form, **changes}


def access_token(client: httpx.Client, conn: dict[str, Any], tenant: str | None = None) -> str:
    tenant = tenant or conn["extra"]["tenant"]
    response = client.post(f"{conn['host']}/ccx/oauth2/{tenant}/token", data=token_form(conn))
    response.raise_for_status()
    return str(response.json()["access_token"])


@pytest.fixture(scope="module")
def api(client: httpx.Client, conn: dict[str, Any]) -> Iterator[Any]:
    """GET on the everyday tenant's REST API with a fresh token, waiting out 429s as Retry-After says."""
    token = access_token(client, conn)
    tenant = conn["extra"]["tenant"]

    def get(path: str, **params: Any) -> httpx.Response:
        url = f"{conn['host']}/ccx/api/{path.format(tenant=tenant)}"
        for _ in range(20):
            response = client.get(url, params=params, headers={"Authorization": f"Bearer {token}"})
            if response.status_code != 429:
                return response
            time.sleep(float(response.headers["Retry-After"]))
        raise AssertionError("still rate limited after 20 tries")

    yield get


def read_all(api: Any, path: str, limit: int = 100, **params: Any) -> tuple[int, list[dict[str, Any]]]:
    records: list[dict[str, Any]] = []
    totals = set()
    while True:
        body = api(path, limit=limit, offset=len(records), **params).raise_for_status().json()
        totals.add(body["total"])
        records += body["data"]
        if not body["data"] or len(records) >= body["total"]:
            break
    assert len(totals) == 1, f"the total changed while paging: {totals}"
    return totals.pop(), records


def admin_size(sandbox: Any, stream: str) -> int:
    datasets = httpx.get(f"{sandbox.admin_url}/datasets", verify=tls(sandbox)).json()
    return int(datasets[f"workday/{stream}"]["size"])


def test_connection_secrets_are_long_enough(conn: dict[str, Any]) -> None:
    assert conn["conn_type"] == "workday"
    assert all(len(conn["extra"][k]) >= 8 for k in ("client_id", "client_secret", "refresh_token"))


def test_refresh_token_grant_with_form_or_basic_client_auth(
    client: httpx.Client, conn: dict[str, Any]
) -> None:
    url = f"{conn['host']}/ccx/oauth2/{conn['extra']['tenant']}/token"
    by_form = client.post(url, data=token_form(conn))
    assert by_form.status_code == 200
    assert by_form.json()["token_type"] == "Bearer" and by_form.json()["expires_in"] > 0
    basic = (conn["extra"]["client_id"], conn["extra"]["client_secret"])
    form = {"grant_type": "refresh_token", "refresh_token": conn["extra"]["refresh_token"]}
    assert client.post(url, data=form, auth=basic).status_code == 200

    wrong_secret = client.post(url, data=token_form(conn, client_secret="not-the-secret"))
    assert (wrong_secret.status_code, wrong_secret.json()["error"]) == (401, "invalid_client")
    wrong_grant = client.post(url, data=token_form(conn, refresh_token="not-the-refresh-token"))
    assert (wrong_grant.status_code, wrong_grant.json()["error"]) == (400, "invalid_grant")


def test_an_expired_token_is_refused_until_refreshed(client: httpx.Client, conn: dict[str, Any]) -> None:
    url = f"{conn['host']}/ccx/api/v1/{STRICT}/workers"
    token = access_token(client, conn, STRICT)
    assert (
        client.get(url, params={"limit": 1}, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    )
    time.sleep(Workday.tenants[STRICT].token_lifetime + 0.2)
    expired = client.get(url, params={"limit": 1}, headers={"Authorization": f"Bearer {token}"})
    assert expired.status_code == 401
    assert expired.json()["error"] == "invalid_token"
    fresh = access_token(client, conn, STRICT)
    assert (
        client.get(url, params={"limit": 1}, headers={"Authorization": f"Bearer {fresh}"}).status_code == 200
    )
    garbage = client.get(url, headers={"Authorization": "Bearer not-a-token"})
    assert garbage.status_code == 401


def test_paging_returns_every_worker_once_and_the_exact_total(sandbox: Any, api: Any) -> None:
    size = admin_size(sandbox, "workers")
    total, workers = read_all(api, "v1/{tenant}/workers", limit=100)
    ids = [w["id"] for w in workers]
    assert total == size == len(ids) == len(set(ids))
    assert ids == sorted(ids)
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
    _, odd_pages = read_all(api, "v1/{tenant}/workers", limit=37)
    assert [w["id"] for w in odd_pages] == ids
    beyond = api("v1/{tenant}/workers", limit=10, offset=size).json()
    assert beyond == {"total": size, "data": []}


def test_every_collection_pages_with_its_total(sandbox: Any, api: Any) -> None:
    for stream, path in (
        ("organizations", "v1/{tenant}/organizations"),
        ("jobs", "staffing/v6/{tenant}/jobs"),
    ):
        total, records = read_all(api, path)
        assert total == admin_size(sandbox, stream) == len({r["id"] for r in records})
    one = api("v1/{tenant}/workers", limit=1, offset=7).json()["data"][0]
    assert api(f"v1/{{tenant}}/workers/{one['id']}").json() == one
    missing = api("v1/{tenant}/workers/" + "0" * 32)
    assert missing.status_code == 404 and missing.json()["errors"]


def test_a_limit_over_100_is_rejected_in_workdays_shape(api: Any) -> None:
    for bad in (101, 0, "ten"):
        response = api("v1/{tenant}/workers", limit=bad)
        assert response.status_code == 400
        body = response.json()
        assert isinstance(body["error"], str) and body["errors"][0]["field"] == "limit"
    assert len(api("v1/{tenant}/workers", limit=100).json()["data"]) == 100


def test_as_of_effective_date_hides_later_hires_and_later_changes(api: Any) -> None:
    _, today = read_all(api, "v1/{tenant}/workers")
    as_of = "2016-06-30"
    total, then = read_all(api, "v1/{tenant}/workers", asOfEffectiveDate=as_of)
    hired_by_then = [w["id"] for w in today if w["hireDate"] <= as_of]
    assert 0 < total < len(today)
    assert [w["id"] for w in then] == hired_by_then
    now_by_id = {w["id"]: w for w in today}
    changed = [w for w in then if w["businessTitle"] != now_by_id[w["id"]]["businessTitle"]]
    assert changed, "some workers were promoted after the as-of date"
    assert all(now_by_id[w["id"]]["effectiveDate"] > as_of >= w["effectiveDate"] for w in changed)
    early = api("v1/{tenant}/workers", asOfEffectiveDate="2009-12-31").json()
    assert early == {"total": 0, "data": []}
    assert api("v1/{tenant}/workers", asOfEffectiveDate="June 2016").status_code == 400


def test_updated_from_and_through_select_by_last_modified(sandbox: Any, api: Any) -> None:
    _, today = read_all(api, "staffing/v6/{tenant}/jobs")
    stamps = sorted({j["lastModified"] for j in today})
    since, until = stamps[len(stamps) // 3], stamps[2 * len(stamps) // 3]
    _, window = read_all(api, "staffing/v6/{tenant}/jobs", updatedFrom=since, updatedThrough=until)
    assert [j["id"] for j in window] == [j["id"] for j in today if since <= j["lastModified"] <= until]

    size = admin_size(sandbox, "organizations")
    mutate = f"{sandbox.admin_url}/datasets/workday/organizations"
    before = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 1))
    try:
        changed = httpx.post(f"{mutate}/mutate", json={"update": 3, "delete": 2}, verify=tls(sandbox)).json()
        assert changed == {"updated": 3, "inserted": 0, "deleted": 2}
        total, recent = read_all(api, "v1/{tenant}/organizations", updatedFrom=before)
        assert total == 3 and all(o["lastModified"] >= before for o in recent)
        assert read_all(api, "v1/{tenant}/organizations")[0] == size - 2
    finally:
        httpx.put(mutate, json={"size": size}, verify=tls(sandbox)).raise_for_status()


def test_the_tenant_rate_limit_answers_429_with_retry_after(
    client: httpx.Client, conn: dict[str, Any]
) -> None:
    url = f"{conn['host']}/ccx/api/v1/{STRICT}/organizations"
    headers = {"Authorization": f"Bearer {access_token(client, conn, STRICT)}"}
    responses = [client.get(url, params={"limit": 1}, headers=headers) for _ in range(8)]
    limited = [r for r in responses if r.status_code == 429]
    assert limited and responses[0].status_code == 200
    retry_after = float(limited[0].headers["Retry-After"])
    assert retry_after >= 1
    assert limited[0].json()["errors"][0]["error"]
    time.sleep(retry_after)
    assert client.get(url, params={"limit": 1}, headers=headers).status_code == 200


def test_poison_workers_carry_an_invalid_hire_date(sandbox: Any, api: Any) -> None:
    profile = {"seed": 5, "poison_rate": 0.05}
    local = Faults()
    local.set_profile("workday", FaultProfile(**profile))
    faults = f"{sandbox.admin_url}/faults/workday"
    try:
        httpx.put(faults, json=profile, verify=tls(sandbox)).raise_for_status()
        workers = api("v1/{tenant}/workers", limit=100).json()["data"]
    finally:
        httpx.delete(faults, verify=tls(sandbox)).raise_for_status()
    poisoned = {int(w["workerId"]) - 100001 for w in workers if w["hireDate"] == "not-a-date"}
    assert poisoned == {i for i in range(100) if local.is_poison("workday", "workers", i)}
    assert poisoned


def test_an_expired_paging_fault_is_answered_in_workdays_shape(sandbox: Any, api: Any) -> None:
    faults = f"{sandbox.admin_url}/faults/workday"
    try:
        httpx.put(faults, json={"rate_expired_cursor": 1.0}, verify=tls(sandbox)).raise_for_status()
        first = api("v1/{tenant}/workers", limit=5)
        later = api("v1/{tenant}/workers", limit=5, offset=5)
    finally:
        httpx.delete(faults, verify=tls(sandbox)).raise_for_status()
    assert first.status_code == 200
    assert later.status_code == 400 and later.json()["errors"][0]["field"] == "offset"


def test_business_title_changes_validate_write_and_replay(
    sandbox: Any, client: httpx.Client, conn: dict[str, Any], api: Any
) -> None:
    tenant = conn["extra"]["tenant"]
    worker = api("v1/{tenant}/workers", limit=1, offset=250).raise_for_status().json()["data"][0]
    base = f"{conn['host']}/ccx/api/staffing/v6/{tenant}/workers"
    auth = {"Authorization": f"Bearer {access_token(client, conn)}"}

    def post(worker_id: str, body: Any, **headers: str) -> httpx.Response:
        for _ in range(20):
            url = f"{base}/{worker_id}/businessTitleChanges"
            response = client.post(url, json=body, headers={**auth, **headers})
            if response.status_code != 429:
                return response
            time.sleep(float(response.headers["Retry-After"]))
        raise AssertionError("still rate limited after 20 tries")

    def writes() -> int:
        counters = httpx.get(f"{sandbox.admin_url}/counters", verify=tls(sandbox)).json()
        return int(counters["writes"].get("workday/workers", {}).get(worker["id"], 0))

    change = {"proposedBusinessTitle": "Principal Emulator", "effective": "2025-03-01"}
    url = f"{base}/{worker['id']}/businessTitleChanges"
    unauthorized = client.post(url, json=change)
    assert unauthorized.status_code == 401 and unauthorized.json()["error"] == "invalid_token"
    missing = post("0" * 32, change)
    assert missing.status_code == 404 and missing.json()["errors"][0]["code"] == "NOT_FOUND"
    for body, field in (
        ({"effective": "2025-03-01"}, "proposedBusinessTitle"),
        ({"proposedBusinessTitle": ""}, "proposedBusinessTitle"),
        ({"proposedBusinessTitle": "X", "effective": "March 1st"}, "effective"),
        (["not", "an", "object"], "body"),
    ):
        bad = post(worker["id"], body)
        assert bad.status_code == 400, body
        assert bad.json()["errors"][0] | {"error": ""} == {
            "error": "",
            "field": field,
            "code": "INVALID_PARAMETER",
        }
    key = f"sandbox-title-change-{uuid.uuid4()}"
    earlier_path = "v1/{tenant}/workers/" + worker["id"]
    earlier = api(earlier_path, asOfEffectiveDate="2025-02-28").raise_for_status().json()
    before = writes()

    made = post(worker["id"], change, **{"Idempotency-Key": key})
    assert made.status_code == 201
    body = made.json()
    assert len(body["id"]) == 32 and body["businessTitle"] == "Principal Emulator"
    assert body["worker"]["id"] == worker["id"] and worker["descriptor"] in body["descriptor"]
    assert writes() == before + 1
    replay = post(worker["id"], change, **{"Idempotency-Key": key})
    assert (replay.status_code, replay.json()) == (201, body)
    assert writes() == before + 1, "a replay does not write again"
    reused = post(
        worker["id"],
        {**change, "proposedBusinessTitle": "Other"},
        **{"Idempotency-Key": key},
    )
    assert reused.status_code == 409

    written = httpx.get(f"{sandbox.admin_url}/written/workday/workers", verify=tls(sandbox)).json()
    assert written[worker["id"]] == {
        "businessTitle": "Principal Emulator",
        "effective": "2025-03-01",
        "changeId": body["id"],
    }
    now = api("v1/{tenant}/workers/" + worker["id"]).json()
    assert now["businessTitle"] == "Principal Emulator" and now["effectiveDate"] >= "2025-03-01"
    assert api(earlier_path, asOfEffectiveDate="2025-02-28").json() == earlier, "not before its date"

    faults = f"{sandbox.admin_url}/faults/workday"
    try:
        httpx.put(faults, json={"write_permanent_rate": 1.0}, verify=tls(sandbox)).raise_for_status()
        refused = post(worker["id"], {"proposedBusinessTitle": "Refused"})
        httpx.put(
            faults, json={"write_permanent_rate": 0.0, "write_transient_rate": 1.0}, verify=tls(sandbox)
        ).raise_for_status()
        busy = post(worker["id"], {"proposedBusinessTitle": "Busy"})
    finally:
        httpx.delete(faults, verify=tls(sandbox)).raise_for_status()
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["code"] == "BUSINESS_PROCESS_VALIDATION"
    assert busy.status_code == 503


@pytest.mark.parametrize("path", ["v1/{tenant}/workers/", "v1/{tenant}/workers/a%2Fb", "v1/{tenant}/nothing"])
def test_a_path_naming_no_resource_is_a_404_in_workdays_shape(api: Any, path: str) -> None:
    """No redirect for a trailing slash, no plain-text page: Workday's own error body."""
    response = api(path)
    assert response.status_code == 404, response.text
    assert response.json()["errors"][0]["code"] == "NOT_FOUND"
