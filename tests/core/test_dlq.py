"""DLQ stores round-trip on a local directory, on S3 through moto's server, on real PostgreSQL and on
Snowflake's protocol through fakesnow's server."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

from airflow_provider_integrations.core.dlq import (
    DLQEntry,
    DLQFilter,
    DLQStatus,
    DLQStore,
    LocalDLQStore,
    Redactor,
    RunContext,
    S3DLQStore,
    SqlDLQStore,
)
from airflow_provider_integrations.core.dlq.redaction import (
    AIRFLOW_SENSITIVE_FIELDS,
    DEFAULT_SECRET_FIELDS,
    REDACTED,
    register_secret,
)
from airflow_provider_integrations.core.errors import ConfigError, RecordError

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
RUN = RunContext(
    dag_id="ingest_salesforce", task_id="extract_account", run_id="scheduled__2026-11-20", try_number=1
)


def entry(
    key: str, *, system: str = "salesforce", stream: str = "Account", at: datetime = T0, **kw: Any
) -> DLQEntry:
    return DLQEntry.create(
        system=system,
        stream=stream,
        operation="upsert",
        record_key=key,
        payload={"External_Id__c": key, "Name": f"Acme {key}"},
        error=RecordError(f"FIELD_CUSTOM_VALIDATION_EXCEPTION on {key}", record_key=key),
        context=kw.pop("context", RUN),
        now=at,
        **kw,
    )


@pytest.fixture(params=["local", "s3", "postgres", "snowflake"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DLQStore]:
    if request.param == "local":
        yield LocalDLQStore(tmp_path / "dlq")
    elif request.param == "s3":
        client, bucket = request.getfixturevalue("s3_bucket")
        yield S3DLQStore(client, bucket, prefix="dead-letters")
    else:
        conn = request.getfixturevalue("pg_conn" if request.param == "postgres" else "snowflake_conn")
        table = f"dlq_test_{uuid.uuid4().hex[:10]}"
        yield SqlDLQStore(conn, table)
        cursor = conn.cursor()
        cursor.execute(f"DROP TABLE IF EXISTS {table}")
        cursor.close()
        conn.commit()


def test_round_trip_keeps_every_field(store: DLQStore) -> None:
    original = entry("A-1")
    assert store.write([original]) == 1
    [stored] = store.find()
    assert stored == original
    assert stored.status is DLQStatus.NEW
    assert stored.error_class == "RecordError"
    assert stored.dag_id == "ingest_salesforce" and stored.try_number == 1
    assert store.get(original.id) == original
    assert store.get("no-such-id") is None


def test_a_retried_task_does_not_duplicate_entries(store: DLQStore) -> None:
    store.write([entry("A-1"), entry("A-2")])
    retry = RunContext(RUN.dag_id, RUN.task_id, RUN.run_id, try_number=2)
    store.write([entry("A-1", context=retry, at=T0 + timedelta(minutes=5)), entry("A-3", context=retry)])
    store.write([entry("A-1"), entry("A-2")])
    found = store.find()
    assert sorted(e.record_key or "" for e in found) == ["A-1", "A-2", "A-3"]
    first = next(e for e in found if e.record_key == "A-1")
    assert first.created_at == T0 and first.try_number == 1


def test_the_same_record_in_another_run_is_a_new_entry(store: DLQStore) -> None:
    other_run = RunContext(RUN.dag_id, RUN.task_id, "scheduled__2026-11-21", 1)
    store.write([entry("A-1"), entry("A-1", context=other_run, at=T0 + timedelta(days=1))])
    assert len(store.find()) == 2


def test_filters_and_newest_first(store: DLQStore) -> None:
    store.write(
        [
            entry("A-1", at=T0),
            entry("A-2", at=T0 + timedelta(hours=1)),
            entry("cus_1", system="stripe", stream="customers", at=T0 + timedelta(hours=2)),
            entry("A-3", stream="Contact", at=T0 + timedelta(days=2)),
        ]
    )
    assert [e.record_key for e in store.find()] == ["A-3", "cus_1", "A-2", "A-1"]
    assert [e.record_key for e in store.find(DLQFilter(system="stripe"))] == ["cus_1"]
    assert [e.record_key for e in store.find(DLQFilter(system="salesforce", stream="Account"))] == [
        "A-2",
        "A-1",
    ]
    window = DLQFilter(since=T0 + timedelta(minutes=30), until=T0 + timedelta(days=1))
    assert [e.record_key for e in store.find(window)] == ["cus_1", "A-2"]
    assert [e.record_key for e in store.find(limit=2)] == ["A-3", "cus_1"]
    assert store.find(DLQFilter(dag_id="another_dag")) == []


def test_mark_replayed_and_resolved(store: DLQStore) -> None:
    a1, a2, a3 = entry("A-1"), entry("A-2"), entry("A-3")
    store.write([a1, a2, a3])
    when = T0 + timedelta(hours=3)
    assert store.mark([a1.id, a2.id], DLQStatus.REPLAYED, "re-sent by replay run 7", now=when) == 2
    assert store.mark([a2.id], DLQStatus.RESOLVED, "fixed in source", now=when + timedelta(minutes=1)) == 1
    assert store.mark(["unknown-id"], DLQStatus.RESOLVED) == 0

    by_key = {e.record_key: e for e in store.find()}
    assert by_key["A-1"].status is DLQStatus.REPLAYED
    assert by_key["A-1"].status_note == "re-sent by replay run 7"
    assert by_key["A-1"].updated_at == when
    assert by_key["A-2"].status is DLQStatus.RESOLVED
    assert by_key["A-3"].status is DLQStatus.NEW and by_key["A-3"].updated_at is None
    assert [e.record_key for e in store.find(DLQFilter(status=DLQStatus.NEW))] == ["A-3"]
    assert [e.record_key for e in store.find(DLQFilter(status=DLQStatus.RESOLVED))] == ["A-2"]


def test_secrets_are_redacted_before_storage(store: DLQStore) -> None:
    store.redactor = Redactor.with_values(["sk_test_4eC39HqLyjWDarjtT1zdp7dc"])
    leaky = DLQEntry.create(
        system="stripe",
        stream="customers",
        operation="update",
        record_key="cus_9",
        payload={
            "email": "a@example.com",
            "api_key": "sk_test_4eC39HqLyjWDarjtT1zdp7dc",
            "nested": {"Client-Secret": "hunter2-is-long", "note": "key sk_test_4eC39HqLyjWDarjtT1zdp7dc"},
            "password": "correct horse",
        },
        error=("StripeError", "invalid key sk_test_4eC39HqLyjWDarjtT1zdp7dc for this account"),
        now=T0,
    )
    store.write([leaky])
    [stored] = store.find()
    text = json.dumps(stored.to_json())
    for secret in ("sk_test_4eC39HqLyjWDarjtT1zdp7dc", "hunter2-is-long", "correct horse"):
        assert secret not in text
    assert stored.payload is not None
    assert stored.payload["api_key"] == REDACTED
    assert stored.payload["nested"]["Client-Secret"] == REDACTED
    assert stored.payload["email"] == "a@example.com"
    assert stored.message == f"invalid key {REDACTED} for this account"


LEAKS = {
    # name -> (payload field, value), each a way a secret reached an entry that the old redactor let through
    "pwd": {"pwd": "pwd-value-1"},
    "passwd in a header list": {"headers": [["X-Passwd", "passwd-value-2"]]},
    "cookie": {"Cookie": "sid=cookie-value-3"},
    "credentials": {"credentials": {"user": "u", "key": "credentials-value-4"}},
    "authorization pair": {"headers": [("Authorization", "Bearer authorization-value-5")]},
    "authorization in text": {"note": "sent Authorization: Basic YXV0aC12YWx1ZS02Cg== and failed"},
    "cookie in text": {"note": "Set-Cookie: session=cookie-value-7; Path=/"},
    "password= in text": {"note": "login failed for password=password-value-8&user=x"},
    "json in text": {"note": '{"client_secret": "secret value 9", "ok": 1}'},
    "url userinfo": {"note": "could not reach postgres://etl:url-value-10@db:5432/x"},
}


@pytest.mark.parametrize("name", sorted(LEAKS))
def test_secrets_by_name_pair_and_free_text_are_redacted(name: str) -> None:
    payload = LEAKS[name]
    secret = re.findall(r"[a-z]+-value-\d+|secret value 9|YXV0aC12YWx1ZS02Cg==", json.dumps(payload))[0]
    leaky = DLQEntry.create(
        system="netsuite",
        stream="customer",
        operation="read",
        record_key="42",
        payload={"id": 42, **payload},
        error=("AuthError", f"refused: {json.dumps(payload)}"),
        now=T0,
    )
    stored = Redactor().entry(leaky)
    text = json.dumps(stored.to_json())
    assert secret not in text
    assert REDACTED in stored.message
    assert stored.payload is not None and stored.payload["id"] == 42


def test_a_registered_connection_secret_is_redacted_wherever_it_appears(store: DLQStore) -> None:
    secret = f"conn-secret/{uuid.uuid4().hex}+&="
    register_secret(secret)
    forms = (secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1])
    store.write(
        [
            DLQEntry.create(
                system="workday",
                stream="workers",
                operation="read",
                record_key="w1",
                payload={
                    "free": f"a {forms[0]} b {forms[0]}",
                    "encoded": f"?t={forms[1]}",
                    "list": list(forms),
                },
                error=("Rejected", f"the server echoed {forms[0]} then {forms[2]} and {forms[3]}"),
                now=T0,
            )
        ]
    )
    [stored] = store.find()
    text = json.dumps(stored.to_json())
    for form in forms:
        assert form not in text
    assert stored.message == f"the server echoed {REDACTED} then {REDACTED} and {REDACTED}"
    assert stored.payload is not None and stored.payload["free"] == f"a {REDACTED} b {REDACTED}"


def test_the_sensitive_names_include_airflows() -> None:
    from airflow.sdk._shared.secrets_masker.secrets_masker import DEFAULT_SENSITIVE_FIELDS

    assert frozenset(DEFAULT_SENSITIVE_FIELDS) == AIRFLOW_SENSITIVE_FIELDS
    assert AIRFLOW_SENSITIVE_FIELDS < DEFAULT_SECRET_FIELDS


def test_ordinary_text_and_short_values_are_kept() -> None:
    register_secret("abcd")  # too short to mask safely, as in Airflow
    kept = "Account abcd has 3 open tokens left; status: ok"
    assert Redactor().text(kept) == kept


def test_large_batch_round_trips(store: DLQStore) -> None:
    batch = [entry(f"A-{i:05d}", at=T0 + timedelta(seconds=i)) for i in range(1200)]
    assert store.write(batch) == 1200
    assert store.write(batch[:700]) == 700
    found = store.find(limit=5000)
    assert len(found) == 1200
    assert {e.id for e in found} == {e.id for e in batch}


def test_entry_ids_are_deterministic_and_ignore_the_try_number() -> None:
    retry = RunContext(RUN.dag_id, RUN.task_id, RUN.run_id, try_number=3)
    assert entry("A-1").id == entry("A-1", context=retry).id
    assert entry("A-1").id != entry("A-2").id
    assert entry("A-1").id != entry("A-1", stream="Contact").id


def test_task_level_entries_without_record_key_differ_by_message() -> None:
    def task_failure(message: str) -> DLQEntry:
        return DLQEntry.create(
            system="salesforce", stream="Account", operation="extract", error=("X", message)
        )

    assert task_failure("boom").id == task_failure("boom").id
    assert task_failure("boom").id != task_failure("bang").id


def test_entry_needs_system_stream_and_operation() -> None:
    with pytest.raises(ConfigError, match="system, a stream and an operation"):
        DLQEntry.create(system="", stream="s", operation="o", error=("E", "m"))


def test_sql_store_refuses_a_table_name_with_injection(pg_conn: Any) -> None:
    with pytest.raises(ConfigError, match="not a valid SQL name"):
        SqlDLQStore(pg_conn, "dlq; DROP TABLE users")


def test_local_store_writes_jsonl_a_person_can_read(tmp_path: Path) -> None:
    LocalDLQStore(tmp_path).write([entry("A-1"), entry("A-2")])
    [path] = list((tmp_path / "entries").rglob("*.jsonl"))
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["record_key"] for line in lines] == ["A-1", "A-2"]
    assert lines[0]["status"] == "new"


def test_s3_store_writes_one_object_per_batch(s3_bucket: tuple[Any, str]) -> None:
    client, bucket = s3_bucket
    store = S3DLQStore(client, bucket, prefix="dlq")
    store.write([entry("A-1"), entry("A-2")])
    store.write([entry("A-3")])
    store.write([entry("A-1"), entry("A-2")])
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix="dlq/entries/")["Contents"]]
    assert len(keys) == 2
    assert all(k.endswith(".jsonl") for k in keys)


def test_leaving_a_sql_store_closes_its_connection(pg_conn: Any) -> None:
    table = f"dlq_test_{uuid.uuid4().hex[:10]}"
    with SqlDLQStore(pg_conn, table) as store:
        store.write([entry("A-1")])
        assert [e.record_key for e in store.find()] == ["A-1"]
    assert pg_conn.closed
    with pytest.raises(Exception, match="closed"):
        store.find()


def test_leaving_a_store_that_holds_nothing_open_keeps_it_usable(tmp_path: Path) -> None:
    with LocalDLQStore(tmp_path) as store:
        store.write([entry("A-1")])
    assert [e.record_key for e in store.find()] == ["A-1"]
