"""The Dead letters app in a real `airflow api-server`: auth, filters, detail, resolve, replay, escaping."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from typing import Any

import markupsafe
import pytest

from airflow_provider_integrations.core.dlq import DLQStatus
from tests.plugins.conftest import CSRF, REPLAY_DAG_ID, AirflowApi, at, run_context, seed, tag

XSS = '<script>window.__dlqXss = 1</script><img src=x onerror="window.__dlqXss = 1">'


@pytest.fixture(scope="module")
def entries(airflow_api: AirflowApi) -> dict[str, Any]:
    """Four entries in two systems over two days, with a unique stream name so other tests never match."""
    t = tag()
    a, b, c, d = seed(
        airflow_api,
        [
            dict(
                system="salesforce",
                stream=f"Account_{t}",
                operation="read",
                error=("SchemaError", f"Amount is not a number {XSS}"),
                record_key="001A",
                payload={"Id": "001A", "Name": XSS, "password": "hunter2-long-secret"},
                context=run_context("salesforce_ingest"),
                now=at("2026-11-01T10:00:00+00:00"),
            ),
            dict(
                system="salesforce",
                stream=f"Account_{t}",
                operation="read",
                error=("SchemaError", "Name is missing"),
                record_key="001B",
                payload={"Id": "001B"},
                context=run_context("salesforce_ingest"),
                now=at("2026-11-02T23:30:00+00:00"),
            ),
            dict(
                system="stripe",
                stream=f"customers_{t}",
                operation="upsert",
                error=("PermanentWriteError", "card_declined"),
                record_key="cus_1",
                payload={"id": "cus_1"},
                context=run_context("stripe_reverse_etl"),
                now=at("2026-11-03T08:00:00+00:00"),
            ),
            dict(
                system="stripe",
                stream=f"customers_{t}",
                operation="upsert",
                error=("PermanentWriteError", "no such customer"),
                record_key="cus_2",
                payload={"id": "cus_2"},
                now=at("2026-11-03T09:00:00+00:00"),
            ),
        ],
    )
    return {"a": a, "b": b, "c": c, "d": d, "tag": t}


def _ids(answer: Any) -> set[str]:
    assert answer.status_code == 200, answer.text
    return {e["id"] for e in answer.json()["entries"]}


def test_every_route_refuses_a_request_without_a_user(
    airflow_api: AirflowApi, entries: dict[str, Any]
) -> None:
    entry_id = entries["a"].id
    with airflow_api.client(None) as anonymous:
        for path in (
            "/dead-letters/",
            f"/dead-letters/entries/{entry_id}",
            "/dead-letters/api/entries",
            f"/dead-letters/api/entries/{entry_id}",
            "/dead-letters/static/dlq_page.js",
        ):
            assert anonymous.get(path).status_code == 401, path
        for path, body in (
            (f"/dead-letters/api/entries/{entry_id}/resolve", {}),
            (f"/dead-letters/api/entries/{entry_id}/replay", {}),
            ("/dead-letters/api/resolve", {"entry_ids": [entry_id]}),
            ("/dead-letters/api/replay", {"entry_ids": [entry_id]}),
        ):
            assert anonymous.post(path, json=body, headers=CSRF).status_code == 401, path
        assert anonymous.get("/dead-letters/openapi.json").status_code == 404
    assert airflow_api.store().get(entry_id).status == DLQStatus.NEW  # type: ignore[union-attr]


def _forged_tokens(airflow_api: AirflowApi) -> dict[str, str]:
    """Tokens the server must not accept: tampered claims, unsigned, signed with another key, expired."""
    import base64
    import time

    import jwt

    real = airflow_api.token("viewer")
    header, claims, signature = real.split(".")
    payload = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))

    def encoded(part: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()

    promoted = {**payload, "sub": "admin", "role": "ADMIN"}
    right_key = airflow_api.env["AIRFLOW__API_AUTH__JWT_SECRET"]
    expired = {**payload, "iat": int(time.time()) - 7200, "nbf": int(time.time()) - 7200}
    expired["exp"] = int(time.time()) - 3600
    return {
        "tampered claims": f"{header}.{encoded(promoted)}.{signature}",
        "alg none": f"{encoded({'alg': 'none', 'typ': 'JWT'})}.{encoded(promoted)}.",
        "wrong key": jwt.encode(promoted, "another-key-" * 6, algorithm="HS512"),
        "expired": jwt.encode(expired, right_key, algorithm="HS512"),
        "garbage": "not-a-token",
    }


def test_forged_unsigned_and_expired_tokens_are_401_as_documented(
    airflow_api: AirflowApi, entries: dict[str, Any]
) -> None:
    entry_id = entries["a"].id
    for name, token in _forged_tokens(airflow_api).items():
        for how in ("bearer", "cookie"):
            with airflow_api.client(None) as caller:
                if how == "bearer":
                    caller.headers["Authorization"] = f"Bearer {token}"
                else:
                    caller.cookies.set("_token", token)
                for answer in (
                    caller.get("/dead-letters/api/entries"),
                    caller.get(f"/dead-letters/entries/{entry_id}"),
                    caller.post(f"/dead-letters/api/entries/{entry_id}/replay", json={}, headers=CSRF),
                    caller.post("/dead-letters/api/resolve", json={"entry_ids": [entry_id]}, headers=CSRF),
                ):
                    assert answer.status_code == 401, (name, how, answer.request.url, answer.text)
                    assert answer.headers["www-authenticate"] == "Bearer", (name, how)
    assert airflow_api.store().get(entry_id).status == DLQStatus.NEW  # type: ignore[union-attr]
    with airflow_api.client("viewer") as viewer:
        assert viewer.get("/dead-letters/api/entries").status_code == 200


def test_the_ui_cookie_signs_the_user_in(airflow_api: AirflowApi, entries: dict[str, Any]) -> None:
    with airflow_api.client(None) as browser:
        browser.cookies.set("_token", airflow_api.token("viewer"))
        assert browser.get("/dead-letters/").status_code == 200


def test_filters_by_system_stream_status_and_days(airflow_api: AirflowApi, entries: dict[str, Any]) -> None:
    a, b, c, d, t = entries["a"], entries["b"], entries["c"], entries["d"], entries["tag"]
    with airflow_api.client("viewer") as client:
        listed = client.get("/dead-letters/api/entries", params={"stream": f"Account_{t}"})
        assert _ids(listed) == {a.id, b.id}
        assert [e["id"] for e in listed.json()["entries"]] == [b.id, a.id]  # newest first

        stripe = client.get("/dead-letters/api/entries", params={"system": "stripe"}).json()["entries"]
        assert {c.id, d.id} <= {e["id"] for e in stripe}
        assert {e["system"] for e in stripe} == {"stripe"}

        # A day given as `until` includes that whole day; `since` starts at its midnight (UTC).
        days = {"stream": f"Account_{t}", "since": "2026-11-02", "until": "2026-11-02"}
        assert _ids(client.get("/dead-letters/api/entries", params=days)) == {b.id}
        days = {"system": "stripe", "stream": f"customers_{t}", "until": "2026-11-03T08:30:00Z"}
        assert _ids(client.get("/dead-letters/api/entries", params=days)) == {c.id}

        newest = client.get("/dead-letters/api/entries", params={"stream": f"customers_{t}", "limit": 1})
        assert _ids(newest) == {d.id}

        assert client.get("/dead-letters/api/entries", params={"status": "lost"}).status_code == 400
        assert client.get("/dead-letters/api/entries", params={"since": "yesterday"}).status_code == 400
        assert client.get("/dead-letters/api/entries", params={"limit": 0}).status_code == 422


def test_detail_has_payload_error_context_and_history(
    airflow_api: AirflowApi, entries: dict[str, Any]
) -> None:
    a = entries["a"]
    with airflow_api.client("viewer") as client:
        detail = client.get(f"/dead-letters/api/entries/{a.id}").json()
        assert detail["payload"]["Name"] == XSS
        assert detail["payload"]["password"] == "***REDACTED***"  # the store redacted it on write
        assert detail["error"] == {"class": "SchemaError", "message": a.message, "attempt": 1}
        assert detail["context"]["dag_id"] == "salesforce_ingest"
        assert detail["context"]["record_key"] == "001A"
        assert detail["history"][0]["status"] == "new"
        assert client.get("/dead-letters/api/entries/no-such-entry").status_code == 404
        assert client.get("/dead-letters/entries/no-such-entry").status_code == 404


def test_pages_escape_untrusted_entry_content(airflow_api: AirflowApi, entries: dict[str, Any]) -> None:
    a, t = entries["a"], entries["tag"]
    with airflow_api.client("viewer") as client:
        for path in (f"/dead-letters/entries/{a.id}", f"/dead-letters/?stream=Account_{t}"):
            page = client.get(path)
            assert page.status_code == 200
            assert page.headers["content-type"].startswith("text/html")
            assert "<script>window.__dlqXss" not in page.text
            assert "<img src=x" not in page.text
            assert "&lt;script&gt;window.__dlqXss = 1&lt;/script&gt;" in page.text
            assert "script-src 'self'" in page.headers["content-security-policy"]
            assert "hunter2" not in page.text
        form = client.get("/dead-letters/", params={"stream": '"><script>alert(1)</script>'})
        assert "<script>alert(1)" not in form.text


def test_resolve_marks_the_entry_in_the_store(airflow_api: AirflowApi, entries: dict[str, Any]) -> None:
    b = entries["b"]
    with airflow_api.client("admin") as client:
        answer = client.post(
            f"/dead-letters/api/entries/{b.id}/resolve", json={"note": "fixed the source field"}, headers=CSRF
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == "resolved"
        stored = airflow_api.store().get(b.id)
        assert stored is not None
        assert (stored.status, stored.status_note) == (DLQStatus.RESOLVED, "fixed the source field")
        history = client.get(f"/dead-letters/api/entries/{b.id}").json()["history"]
        assert history[-1]["status"] == "resolved"
        assert history[-1]["note"] == "fixed the source field"
        resolved = client.get(
            "/dead-letters/api/entries", params={"stream": b.stream, "status": "resolved"}
        ).json()["entries"]
        assert [e["id"] for e in resolved] == [b.id]


def test_actions_need_json_and_the_page_header(airflow_api: AirflowApi, entries: dict[str, Any]) -> None:
    """A form posted from another site carries the cookie's user but can send neither."""
    c = entries["c"]
    path = f"/dead-letters/api/entries/{c.id}/resolve"
    with airflow_api.client(None) as browser:
        browser.cookies.set("_token", airflow_api.token("admin"))
        assert browser.post(path, data={"note": "x"}, headers=CSRF).status_code == 415
        assert browser.post(path, json={"note": "x"}).status_code == 403
        assert browser.get(path).status_code == 405
    assert airflow_api.store().get(c.id).status == DLQStatus.NEW  # type: ignore[union-attr]


def test_a_viewer_may_look_but_not_resolve_or_replay(
    airflow_api: AirflowApi, entries: dict[str, Any]
) -> None:
    c = entries["c"]
    with airflow_api.client("viewer") as viewer:
        assert viewer.get(f"/dead-letters/api/entries/{c.id}").status_code == 200
        resolve = viewer.post(f"/dead-letters/api/entries/{c.id}/resolve", json={}, headers=CSRF)
        assert resolve.status_code == 403
        assert "stripe_reverse_etl" in resolve.json()["detail"]
        replay = viewer.post("/dead-letters/api/replay", json={"entry_ids": [c.id]}, headers=CSRF)
        assert replay.status_code == 403
    assert airflow_api.store().get(c.id).status == DLQStatus.NEW  # type: ignore[union-attr]
    with airflow_api.client("admin") as admin:
        runs = admin.get(f"/api/v2/dags/{REPLAY_DAG_ID}/dagRuns", params={"limit": 100}).json()["dag_runs"]
    assert not [r for r in runs if c.id in (r["conf"] or {}).get("entry_ids", [])]


def test_replay_triggers_the_replay_dag_with_the_entry_ids(
    airflow_api: AirflowApi, entries: dict[str, Any]
) -> None:
    c, d = entries["c"], entries["d"]
    with airflow_api.client("admin") as client:
        answer = client.post("/dead-letters/api/replay", json={"entry_ids": [c.id, d.id]}, headers=CSRF)
        assert answer.status_code == 200, answer.text
        replay = answer.json()
        assert replay["dag_id"] == REPLAY_DAG_ID
        assert replay["entry_ids"] == [c.id, d.id]
        assert replay["run_url"].startswith(f"/dags/{REPLAY_DAG_ID}/runs/")

        run = client.get(f"/api/v2/dags/{REPLAY_DAG_ID}/dagRuns/{replay['dag_run_id']}")
        assert run.status_code == 200, run.text
        assert run.json()["conf"] == {"entry_ids": [c.id, d.id]}
        assert run.json()["triggering_user_name"] == "admin"
        assert run.json()["triggered_by"] == "rest_api"
        assert run.json()["state"] == "queued"

        one = client.post(f"/dead-letters/api/entries/{c.id}/replay", json={}, headers=CSRF)
        assert one.status_code == 200, one.text
        listed = client.get(f"/api/v2/dags/{REPLAY_DAG_ID}/dagRuns", params={"limit": 100}).json()
        by_id = {r["dag_run_id"]: r for r in listed["dag_runs"]}
        assert by_id[one.json()["dag_run_id"]]["conf"] == {"entry_ids": [c.id]}

        audit = client.get("/api/v2/eventLogs", params={"event": "dlq_replay", "limit": 100}).json()
        assert any(c.id in (log["extra"] or "") for log in audit["event_logs"])


def test_replay_of_an_unknown_entry_starts_nothing(airflow_api: AirflowApi, entries: dict[str, Any]) -> None:
    with airflow_api.client("admin") as client:
        before = client.get(f"/api/v2/dags/{REPLAY_DAG_ID}/dagRuns").json()["total_entries"]
        answer = client.post(
            "/dead-letters/api/replay", json={"entry_ids": [entries["a"].id, "missing"]}, headers=CSRF
        )
        assert answer.status_code == 404
        assert "missing" in answer.json()["detail"]
        assert (
            client.post("/dead-letters/api/replay", json={"entry_ids": []}, headers=CSRF).status_code == 422
        )
        assert client.get(f"/api/v2/dags/{REPLAY_DAG_ID}/dagRuns").json()["total_entries"] == before


def test_airflow_lists_the_plugin_without_import_errors(airflow_api: AirflowApi) -> None:
    with airflow_api.client("admin") as client:
        plugins = {p["name"]: p for p in client.get("/api/v2/plugins").json()["plugins"]}
        errors = client.get("/api/v2/plugins/importErrors").json()["import_errors"]
    plugin = plugins["integrations_dlq"]
    assert plugin["fastapi_apps"][0]["url_prefix"] == "/dead-letters"
    view = plugin["external_views"][0]
    assert (view["name"], view["href"], view["url_route"]) == (
        "Dead letters",
        "/dead-letters/",
        "dead-letters",
    )
    assert (view["destination"], view["category"]) == ("nav", "browse")
    assert not [e for e in errors if "airflow_provider_integrations" in e["source"] + e["error"]]


def test_an_invalid_view_would_drop_the_whole_plugin() -> None:
    """Airflow validates each plugin as a whole and silently skips it when any view is invalid."""
    from airflow.api_fastapi.core_api.datamodels.plugins import ExternalViewResponse
    from pydantic import ValidationError

    from airflow_provider_integrations.plugins import DeadLettersPlugin

    for view in DeadLettersPlugin.external_views:
        ExternalViewResponse.model_validate(view)
    broken = copy.deepcopy(DeadLettersPlugin.external_views[0])
    broken["destination"] = "sidebar"
    with pytest.raises(ValidationError):
        ExternalViewResponse.model_validate(broken)


def test_loading_the_plugin_leaves_the_page_unimported(airflow_api: AirflowApi) -> None:
    """Every task process loads all plugins; only the API server needs the page and FastAPI."""
    script = (
        "import sys\n"
        "from airflow_provider_integrations.plugins import DeadLettersPlugin\n"
        "page = 'airflow_provider_integrations.plugins.dlq_page'\n"
        "plugin = DeadLettersPlugin()\n"
        "print('loaded:', plugin.name, page in sys.modules)\n"
        "print('app:', plugin.fastapi_apps[0]['url_prefix'], page in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], env=airflow_api.env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [line for line in result.stdout.splitlines() if line.startswith(("loaded:", "app:"))]
    assert lines == ["loaded: integrations_dlq False", "app: /dead-letters True"]


def test_a_sql_store_finds_its_connection_in_the_api_server(airflow_api: AirflowApi) -> None:
    """`sql://<conn_id>/<table>` with the connection only in Airflow's metadata database, opened as the
    API server's process does (`_AIRFLOW_PROCESS_CONTEXT=server`, which `airflow api-server` sets)."""
    psycopg2 = pytest.importorskip("psycopg2")
    dsn = psycopg2.extensions.parse_dsn(
        os.environ.get("TEST_POSTGRES_DSN", "host=127.0.0.1 port=5432 dbname=test")
    )
    conn_id, table = f"dlq_pg_{tag()}", f"dlq_plugin_{tag()}"
    connection = {
        "connection_id": conn_id,
        "conn_type": "postgres",
        "host": dsn.get("host", "127.0.0.1"),
        "port": int(dsn.get("port", 5432)),
        "schema": dsn.get("dbname", "test"),
        "login": dsn.get("user") or os.environ.get("USER") or "root",
        "password": dsn.get("password"),
    }
    with airflow_api.client("admin") as client:
        assert client.post("/api/v2/connections", json=connection).status_code == 201
    script = (
        "from airflow_provider_integrations.core.dlq import DLQEntry\n"
        "from airflow_provider_integrations.plugins.dlq_page import open_store\n"
        "with open_store() as store:\n"
        "    store.write([DLQEntry.create(system='s', stream='t', operation='read', error=('E', 'm'))])\n"
        "    print(type(store).__name__, len(store.find()))\n"
    )
    env = {
        **airflow_api.env,
        "_AIRFLOW_PROCESS_CONTEXT": "server",
        "AIRFLOW_INTEGRATIONS_DLQ": f"sql://{conn_id}/{table}",
    }
    try:
        result = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, result.stderr[-3000:]
        assert result.stdout.split()[-2:] == ["SqlDLQStore", "1"]
    finally:
        conn = psycopg2.connect(**{k: v for k, v in dsn.items() if v})
        with conn, conn.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {table}")
        conn.close()


def test_detail_json_is_what_the_page_shows(airflow_api: AirflowApi, entries: dict[str, Any]) -> None:
    a = entries["a"]
    with airflow_api.client("viewer") as client:
        detail = client.get(f"/dead-letters/api/entries/{a.id}").json()
        page = client.get(f"/dead-letters/entries/{a.id}").text
    assert str(markupsafe.escape(json.dumps(detail["payload"], indent=2, sort_keys=True))) in page
