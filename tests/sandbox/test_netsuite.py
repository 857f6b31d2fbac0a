"""The NetSuite emulator over HTTPS: TBA signatures, SuiteQL paging and its caps, upserts, governance."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import socket
import ssl
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import pytest
import requests
from integrations_sandbox.emulator.systems.netsuite import NetSuite

SUITEQL = "/services/rest/query/v1/suiteql"
ID_BASE = 1_000_001
CAP = NetSuite.max_query_rows
CREDS = NetSuite.connection("https://unused")["extra"]
TS_FORMAT = "'YYYY-MM-DD HH24:MI:SS'"


# --- a TBA client, as a NetSuite connector would sign (RFC 5849 with HMAC-SHA256) ----------------------


def _enc(value: str) -> str:
    return quote(value, safe="-._~")


def tba_header(
    method: str, url: str, *, timestamp: int | None = None, nonce: str | None = None, **over: str
) -> str:
    """The `Authorization` header for `method url`; keyword arguments override credentials."""
    creds = {**CREDS, **over}
    oauth = {
        "oauth_consumer_key": creds["consumer_key"],
        "oauth_token": creds["token_id"],
        "oauth_signature_method": "HMAC-SHA256",
        "oauth_timestamp": str(timestamp if timestamp is not None else int(time.time())),
        "oauth_nonce": nonce or secrets.token_hex(12),
        "oauth_version": "1.0",
    }
    parts = urlsplit(url)
    params = sorted(
        (_enc(k), _enc(v)) for k, v in [*parse_qsl(parts.query, keep_blank_values=True), *oauth.items()]
    )
    base_url = f"{parts.scheme}://{parts.netloc.lower()}{parts.path}"
    base = "&".join((method, _enc(base_url), _enc("&".join(f"{k}={v}" for k, v in params))))
    key = f"{_enc(creds['consumer_secret'])}&{_enc(creds['token_secret'])}"
    signature = base64.b64encode(hmac.new(key.encode(), base.encode(), hashlib.sha256).digest()).decode()
    fields = {"realm": creds["account_id"], **oauth, "oauth_signature": signature}
    return "OAuth " + ", ".join(f'{k}="{_enc(v)}"' for k, v in fields.items())


class Tba(requests.auth.AuthBase):
    """Signs each request with TBA; keyword arguments override the nonce, timestamp or credentials."""

    def __init__(self, **over: Any) -> None:
        self.over = over

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        assert request.method and request.url
        request.headers["Authorization"] = tba_header(request.method, request.url, **self.over)
        return request


# --- fixtures and helpers ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ns(sandbox: Any) -> Iterator[NsClient]:
    client = NsClient(f"{sandbox.saas_url}/netsuite", sandbox.admin_url, sandbox.ca_bundle)
    yield client
    client.http.close()


class NsClient:
    """The emulator's NetSuite API and the sandbox admin API, over HTTPS with the sandbox CA."""

    def __init__(self, base: str, admin: str, ca_bundle: str) -> None:
        self.base, self.admin = base, admin
        self.http = requests.Session()
        self.http.verify = ca_bundle
        self.http.trust_env = False  # REQUESTS_CA_BUNDLE would otherwise replace the sandbox's CA

    def suiteql(
        self, q: str, limit: int = 1000, offset: int = 0, *, auth: Tba | None = None, prefer: bool = True
    ) -> requests.Response:
        headers = {"Prefer": "transient"} if prefer else {}
        return self.http.post(
            f"{self.base}{SUITEQL}",
            params={"limit": limit, "offset": offset},
            json={"q": q},
            headers=headers,
            auth=auth or Tba(),
            timeout=30,
        )

    def page(self, q: str, limit: int = 1000, offset: int = 0) -> dict[str, Any]:
        response = self.suiteql(q, limit, offset)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def follow(self, url: str, q: str) -> requests.Response:
        return self.http.post(url, json={"q": q}, headers={"Prefer": "transient"}, auth=Tba(), timeout=30)

    def upsert(self, recordtype: str, external_id: str, body: dict[str, Any]) -> requests.Response:
        url = f"{self.base}/services/rest/record/v1/{recordtype}/eid:{external_id}"
        return self.http.put(url, json=body, auth=Tba(), timeout=30)

    def size(self, stream: str) -> int:
        return int(self.http.get(f"{self.admin}/datasets", timeout=30).json()[f"netsuite/{stream}"]["size"])

    def resize(self, stream: str, size: int) -> None:
        url = f"{self.admin}/datasets/netsuite/{stream}"
        self.http.put(url, json={"size": size}, timeout=30).raise_for_status()

    def faults(self, **profile: Any) -> None:
        self.http.delete(f"{self.admin}/faults/netsuite", timeout=30).raise_for_status()
        if profile:
            self.http.put(f"{self.admin}/faults/netsuite", json=profile, timeout=30).raise_for_status()

    def counters(self) -> dict[str, Any]:
        return dict(self.http.get(f"{self.admin}/counters", timeout=30).json())


def error_of(response: requests.Response) -> tuple[int, str]:
    body = response.json()
    assert body["status"] == response.status_code and body["title"] and body["type"].startswith("https://")
    (detail,) = body["o:errorDetails"]
    assert detail["detail"]
    return response.status_code, detail["o:errorCode"]


def ids_of(page: dict[str, Any]) -> list[int]:
    return [int(item["id"]) for item in page["items"]]


# --- authentication ----------------------------------------------------------------------------------


def test_the_connection_carries_tba_credentials_long_enough_to_mask() -> None:
    conn = NetSuite.connection("https://127.0.0.1:1/netsuite")
    assert conn["conn_type"] == "netsuite" and conn["host"] == "https://127.0.0.1:1/netsuite"
    assert set(conn["extra"]) == {"account_id", "consumer_key", "consumer_secret", "token_id", "token_secret"}
    assert all(len(value) >= 8 for value in conn["extra"].values())


def test_a_signed_query_is_answered_with_governance_usage(ns: NsClient) -> None:
    first = ns.suiteql("SELECT id, companyname FROM customer", limit=3)
    second = ns.suiteql("SELECT * FROM customer", limit=3)
    assert first.status_code == second.status_code == 200
    used = [
        re.fullmatch(r"used=(\d+);limit=(\d+)", r.headers["X-NetSuite-Governance"]) for r in (first, second)
    ]
    assert used[0] and used[1] and int(used[1].group(1)) > int(used[0].group(1))
    body = first.json()
    assert set(body) == {"links", "count", "hasMore", "items", "offset", "totalResults"}
    assert body["items"][0] == {
        "links": [],
        "id": str(ID_BASE),
        "companyname": body["items"][0]["companyname"],
    }
    assert all(isinstance(v, str) for item in second.json()["items"] for k, v in item.items() if k != "links")
    assert all(key == key.lower() for key in second.json()["items"][0])


@pytest.mark.parametrize(
    ("auth", "reason"),
    [
        (Tba(token_secret="not-the-token-secret"), "invalid signature"),
        (Tba(consumer_secret="not-the-consumer-secret"), "invalid signature"),
        (Tba(timestamp=int(time.time()) - 400), "timestamp outside the allowed window"),
        (Tba(consumer_key="unknown-consumer-key"), "unknown consumer key"),
        (Tba(token_id="unknown-token-id"), "unknown token"),
        (Tba(account_id="7654321"), "realm is not the account id"),
    ],
)
def test_bad_signatures_and_stale_timestamps_are_refused(ns: NsClient, auth: Tba, reason: str) -> None:
    response = ns.suiteql("SELECT id FROM customer", limit=1, auth=auth)
    assert error_of(response) == (401, "INVALID_LOGIN")
    assert response.json()["type"] == "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.2"
    assert response.json()["o:errorDetails"][0]["detail"].startswith("Invalid login attempt.")
    assert response.headers["X-Sandbox-Auth-Failure"] == reason


def test_a_reused_nonce_is_refused(ns: NsClient) -> None:
    nonce = secrets.token_hex(10)
    assert ns.suiteql("SELECT id FROM customer", limit=1, auth=Tba(nonce=nonce)).status_code == 200
    again = ns.suiteql("SELECT id FROM customer", limit=1, auth=Tba(nonce=nonce))
    assert error_of(again) == (401, "INVALID_LOGIN")
    assert again.headers["X-Sandbox-Auth-Failure"] == "nonce already used"


def test_an_unsigned_request_is_refused(ns: NsClient) -> None:
    response = ns.http.post(f"{ns.base}{SUITEQL}", json={"q": "SELECT id FROM customer"}, timeout=30)
    assert error_of(response) == (401, "INVALID_LOGIN")


# --- SuiteQL -----------------------------------------------------------------------------------------


def test_paging_by_links_returns_every_row_once(ns: NsClient) -> None:
    q = "SELECT id, entityid FROM customer ORDER BY id"
    total = ns.size("customer")
    response, seen, rels = ns.suiteql(q, limit=700), [], []
    while True:
        assert response.status_code == 200, response.text
        page = response.json()
        assert page["totalResults"] == total and page["count"] == len(page["items"])
        seen += ids_of(page)
        links = {link["rel"]: link["href"] for link in page["links"]}
        rels.append(sorted(links))
        assert page["hasMore"] == ("next" in links) == (page["offset"] + page["count"] < total)
        if not page["hasMore"]:
            break
        response = ns.follow(links["next"], q)
    assert seen == list(range(ID_BASE, ID_BASE + total))
    assert rels[0] == ["last", "next", "self"]
    assert rels[1] == ["first", "last", "next", "previous", "self"]
    assert rels[-1] == ["first", "previous", "self"]
    assert len(rels) == -(-total // 700)


def test_limit_prefer_and_query_errors_are_400s(ns: NsClient) -> None:
    assert error_of(ns.suiteql("SELECT id FROM customer", limit=1001)) == (400, "INVALID_PARAMETER")
    assert error_of(ns.suiteql("SELECT id FROM customer", prefer=False))[0] == 400
    assert error_of(ns.suiteql("SELECT nope FROM customer")) == (400, "INVALID_PARAMETER")
    assert error_of(ns.suiteql("SELECT id FROM vendorbill")) == (400, "INVALID_PARAMETER")
    assert error_of(ns.suiteql("DELETE FROM customer")) == (400, "INVALID_PARAMETER")
    assert error_of(ns.suiteql("SELECT id FROM customer", offset=ns.size("customer") + 1000)) == (
        404,
        "NONEXISTENT_OFFSET",
    )


def test_where_and_order_by_are_applied(ns: NsClient) -> None:
    q = (
        f"SELECT c.id FROM customer c WHERE (c.id BETWEEN {ID_BASE + 10} AND {ID_BASE + 19} AND NOT id = "
        f"{ID_BASE + 15}) OR id IN ({ID_BASE}, {ID_BASE + 500}) ORDER BY id DESC"
    )
    expected = sorted(
        {ID_BASE, ID_BASE + 500, *range(ID_BASE + 10, ID_BASE + 20)} - {ID_BASE + 15}, reverse=True
    )
    assert ids_of(ns.page(q)) == expected
    names = [
        item.get("companyname")
        for item in ns.page("SELECT companyname FROM customer ORDER BY companyname")["items"]
    ]
    assert names == sorted(names) and len(set(names)) > 10
    stamp = f"TO_TIMESTAMP('2025-01-01 00:10:00', {TS_FORMAT})"
    early = ns.page(f"SELECT id, lastmodifieddate FROM customer WHERE lastmodifieddate < {stamp}")
    assert ids_of(early) == list(range(ID_BASE, ID_BASE + 30))
    assert ns.page("SELECT id FROM customer WHERE lastmodifieddate >= '2025-01-01 00:10:00'", 1)[
        "totalResults"
    ] == (ns.size("customer") - 30)


def test_the_offset_cap_and_lastmodifieddate_windows_read_every_row(ns: NsClient) -> None:
    original, size = ns.size("employee"), CAP + 20_000
    ns.resize("employee", size)
    try:
        assert ns.page("SELECT id FROM employee", 1000, CAP - 1000)["totalResults"] == size
        assert error_of(ns.suiteql("SELECT id FROM employee", 1000, CAP)) == (400, "INVALID_PARAMETER")
        assert error_of(ns.suiteql("SELECT id FROM employee", 1000, CAP - 999)) == (400, "INVALID_PARAMETER")
        started = time.perf_counter()
        seen, served = _read_in_windows(ns, "employee")
        elapsed = time.perf_counter() - started
        assert seen == set(range(ID_BASE, ID_BASE + size))
        rate = served / elapsed
        print(
            f"\nSuiteQL served {served:,} rows (all columns, page 1000) in {elapsed:.1f}s: {rate:,.0f} rows/s"
        )
    finally:
        ns.resize("employee", original)


def _read_in_windows(ns: NsClient, table: str) -> tuple[set[int], int]:
    """Read a table past the 100k cap: window by an inclusive lastmodifieddate lower bound, dedupe ids.
    The bound is read through TO_CHAR: unformatted, SuiteQL writes it by the account's date preferences."""
    seen: set[int] = set()
    since, served = None, 0
    columns = ", ".join(
        f"TO_CHAR({c}, {TS_FORMAT}) AS {c}" if c in ("datecreated", "lastmodifieddate") else c
        for c in ("id", "entityid", "firstname", "lastname", "email", "title", "isinactive", "datecreated",
                  "lastmodifieddate", "externalid")
    )  # fmt: skip
    while True:
        where = f"WHERE lastmodifieddate >= TO_TIMESTAMP('{since}', {TS_FORMAT})" if since else ""
        q = f"SELECT {columns} FROM {table} {where} ORDER BY lastmodifieddate, id"
        page = ns.page(q)
        while True:
            served += page["count"]
            seen.update(ids_of(page))
            next_offset = page["offset"] + page["count"]
            if not page["hasMore"] or next_offset + 1000 > CAP:
                break
            page = ns.page(q, 1000, next_offset)
        if not page["hasMore"]:
            return seen, served
        since = page["items"][-1]["lastmodifieddate"]


def test_deletedrecord_lists_deletions_made_between_runs(ns: NsClient) -> None:
    original = ns.size("item")
    try:
        response = ns.http.post(
            f"{ns.admin}/datasets/netsuite/item/mutate", json={"delete": 3, "update": 2}, timeout=30
        )
        assert response.json() == {"updated": 2, "inserted": 0, "deleted": 3}
        deleted = ns.page(
            f"SELECT recordid, recordtype, TO_CHAR(deleteddate, {TS_FORMAT}) AS deleteddate, name "
            "FROM deletedrecord WHERE recordtype = 'item'"
        )
        assert deleted["totalResults"] == 3
        gone = {int(item["recordid"]) for item in deleted["items"]}
        assert all(
            item["name"].startswith("SKU-") and item["deleteddate"] > "2025-06" for item in deleted["items"]
        )
        live = ns.page("SELECT id FROM item")
        assert live["totalResults"] == original - 3 and gone.isdisjoint(ids_of(live))
        changed = ns.page("SELECT id FROM item WHERE lastmodifieddate > '2025-06-01 00:00:00'")
        assert changed["totalResults"] == 2 and gone.isdisjoint(ids_of(changed))
    finally:
        ns.resize("item", original)


def test_poison_records_carry_schema_violations_deterministically(ns: NsClient) -> None:
    ns.faults(seed=5, poison_rate=0.05)
    try:
        q = "SELECT id, total FROM transaction ORDER BY id"
        first, again = ns.page(q), ns.page(q)
        bad = [item["id"] for item in first["items"] if item["total"] == "abc"]
        assert 20 < len(bad) < 90 and bad == [item["id"] for item in again["items"] if item["total"] == "abc"]
        customers = ns.page("SELECT id, companyname FROM customer")["items"]
        assert any("companyname" not in item for item in customers)
    finally:
        ns.faults()
    assert all(item["total"] != "abc" for item in ns.page("SELECT total FROM transaction")["items"])


# --- record upserts ------------------------------------------------------------------------------------


def test_upsert_by_external_id_creates_once_then_updates(ns: NsClient) -> None:
    eid = f"crm-{uuid.uuid4().hex[:12]}"
    created = ns.upsert("customer", eid, {"companyName": "Initech", "email": "ap@initech.example.com"})
    updated = ns.upsert("customer", eid, {"email": "billing@initech.example.com"})
    assert created.status_code == updated.status_code == 204
    assert created.headers["Location"] == updated.headers["Location"]
    assert re.fullmatch(
        rf"{re.escape(ns.base)}/services/rest/record/v1/customer/\d+", created.headers["Location"]
    )
    record = ns.http.get(
        f"{ns.base}/services/rest/record/v1/customer/eid:{eid}", auth=Tba(), timeout=30
    ).json()
    assert record["companyname"] == "Initech" and record["email"] == "billing@initech.example.com"
    assert record["id"] == created.headers["Location"].rsplit("/", 1)[1] and record["externalid"] == eid
    assert ns.counters()["writes"]["netsuite/customer"][eid] == 2


def test_invalid_records_are_user_errors(ns: NsClient) -> None:
    eid = f"crm-{uuid.uuid4().hex[:12]}"
    assert error_of(ns.upsert("customer", eid, {"email": "x@y.example.com"})) == (400, "USER_ERROR")
    assert error_of(ns.upsert("customer", eid, {"companyName": "A", "email": "nope"})) == (400, "USER_ERROR")
    assert error_of(ns.upsert("customer", eid, {"companyName": "A", "id": "5"})) == (400, "USER_ERROR")
    assert error_of(ns.upsert("customer", eid, {"companyName": "A", "colour": "red"})) == (400, "USER_ERROR")


def test_write_faults_answer_netsuite_errors_and_retries_succeed(ns: NsClient) -> None:
    eid = f"crm-{uuid.uuid4().hex[:12]}"
    body = {"companyName": "Globex"}
    try:
        ns.faults(write_permanent_rate=1.0)
        assert error_of(ns.upsert("customer", eid, body)) == (400, "USER_ERROR")
        ns.faults(seed=2, write_transient_rate=1.0)
        outcomes = {error_of(ns.upsert("customer", eid, body)) for _ in range(8)}
        assert outcomes == {(429, "CONCURRENCY_LIMIT_EXCEEDED"), (503, "SERVICE_UNAVAILABLE")}
        ns.faults()
        assert ns.upsert("customer", eid, body).status_code == 204
    finally:
        ns.faults()


# --- governance and faults ---------------------------------------------------------------------------


def test_more_concurrent_requests_than_the_limit_get_429(ns: NsClient, sandbox: Any) -> None:
    """Requests whose bodies are still arriving hold their slots, as long uploads do on NetSuite."""
    limit = NetSuite.concurrency_limit
    before = _suiteql_calls(ns)
    held = [_start_request(sandbox, ns) for _ in range(limit)]
    try:
        deadline = time.monotonic() + 10
        while _suiteql_calls(ns) < before + limit:
            assert time.monotonic() < deadline, "held requests never reached the emulator"
            time.sleep(0.05)
        over = ns.suiteql("SELECT id FROM customer", limit=1)
        assert error_of(over) == (429, "CONCURRENCY_LIMIT_EXCEEDED")
        assert ns.upsert("customer", "crm-busy", {"companyName": "Busy"}).status_code == 429
    finally:
        statuses = [_finish_request(*pending) for pending in held]
    assert statuses == [200] * limit
    assert ns.suiteql("SELECT id FROM customer", limit=1).status_code == 200


def _suiteql_calls(ns: NsClient) -> int:
    return sum(
        n for key, n in ns.counters()["calls"].items() if key.startswith("netsuite POST") and "suiteql" in key
    )


def _start_request(sandbox: Any, ns: NsClient) -> tuple[ssl.SSLSocket, bytes]:
    """A signed SuiteQL request with its headers sent and its body held back."""
    url = f"{ns.base}{SUITEQL}?limit=1&offset=0"
    body = b'{"q": "SELECT id FROM customer"}'
    head = (
        f"POST {urlsplit(url).path}?limit=1&offset=0 HTTP/1.1\r\nHost: 127.0.0.1:{sandbox.saas_port}\r\n"
        f"Authorization: {tba_header('POST', url)}\r\nPrefer: transient\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    context = ssl.create_default_context(cafile=sandbox.ca_bundle)
    sock = context.wrap_socket(
        socket.create_connection(("127.0.0.1", sandbox.saas_port), timeout=30), server_hostname="127.0.0.1"
    )
    sock.sendall(head.encode() + body[:5])
    return sock, body[5:]


def _finish_request(sock: ssl.SSLSocket, rest: bytes) -> int:
    with sock:
        sock.sendall(rest)
        status_line = sock.makefile("rb").readline().decode()
    return int(status_line.split()[1])


def test_injected_faults_use_netsuite_shapes(ns: NsClient) -> None:
    q = "SELECT id FROM customer"
    try:
        ns.faults(rate_429=1.0, retry_after=2)
        throttled = ns.suiteql(q, limit=1)
        assert (
            error_of(throttled) == (429, "CONCURRENCY_LIMIT_EXCEEDED")
            and throttled.headers["Retry-After"] == "2"
        )
        ns.faults(rate_5xx=1.0)
        assert error_of(ns.suiteql(q, limit=1)) == (503, "SERVICE_UNAVAILABLE")
        ns.faults(rate_expired_cursor=1.0)
        assert ns.suiteql(q, limit=10).status_code == 200
        assert error_of(ns.suiteql(q, limit=10, offset=10)) == (404, "NONEXISTENT_OFFSET")
    finally:
        ns.faults()
