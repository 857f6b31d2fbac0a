"""Keys that would change a URL path, synced into all five systems.

A record key placed in a path unchecked can name another resource: httpx sends `POST /v1/customers/.`
as `POST /v1/customers` (a Stripe create) and `GET .../External_Id__c/..` as the object's describe.
Whatever a system does with its keys, each such record either fails alone (into the DLQ, with a reason
naming the field) or is written under exactly its own key; the rest of the batch is delivered, and
nothing is ever written under a key the model does not hold.
"""

from __future__ import annotations

import itertools
import json
import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from airflow_provider_integrations.connectors.base import WriteOutcome
from airflow_provider_integrations.core.dlq import LocalDLQStore
from airflow_provider_integrations.hooks.registry import hook_for
from tests.connectors.conftest import PATH_BREAKERS, Admin
from tests.operators.test_reverse_etl import sync


@dataclass(frozen=True)
class Destination:
    target: str
    key_field: str
    mode: str
    mapping: dict[str, str]
    written: str
    """The emulator's record of accepted writes, keyed by the record's key."""
    keys_from: str | None
    """The stream whose ids are good keys; None: any new text is a good key."""
    refused: frozenset[str]
    """Breakers this system must refuse unsent: the others are free text it may take as they are."""
    code: str = "INVALID_PATH_SEGMENT"


EVERY_BREAKER = frozenset(PATH_BREAKERS)
DESTINATIONS = {
    "stripe": Destination("customers", "id", "update", {"SEGMENT": "metadata.segment"}, "customers",
                          "customers", EVERY_BREAKER),
    "workday": Destination("businessTitleChanges", "id", "update", {"TITLE": "businessTitle"}, "workers",
                           "workers", EVERY_BREAKER),
    "netsuite": Destination("customer", "externalid", "upsert", {"NAME": "companyname"}, "customer", None,
                            frozenset({".", "..", "", "line\nbreak"})),
    "servicenow": Destination("u_account_import", "u_external_id", "upsert", {"NAME": "u_name"},
                              "core_company", None, frozenset({""}), "MISSING_KEY"),
}  # fmt: skip


def good_keys(system: str, destination: Destination, run: str) -> list[str]:
    if destination.keys_from is None:
        return [f"path-{run}-{n}" for n in range(4)]
    hook = hook_for(f"sandbox_{system}")
    try:
        return [str(r["id"]) for r in itertools.islice(hook.get_conn().read(destination.keys_from), 4)]
    finally:
        hook.close()


def literal(key: str) -> str:
    """A Snowflake string expression for `key` (line breaks through CHR, quotes doubled)."""
    return " || CHR(10) || ".join("'" + part.replace("'", "''") + "'" for part in key.split("\n"))


@pytest.mark.parametrize("system", sorted(DESTINATIONS))
def test_a_key_that_would_change_the_path_fails_alone_into_the_dlq(
    system: str, admin: Admin, snowflake_query: Any, sandbox_env: dict[str, str], tmp_path: Any
) -> None:
    destination = DESTINATIONS[system]
    run = uuid.uuid4().hex[:6]
    good = good_keys(system, destination, run)
    keys = [*good[:2], *PATH_BREAKERS, *good[2:]]
    table = f"PATHS_{system}_{run}".upper()
    snowflake_query(f'CREATE TABLE "{table}" (K VARCHAR, SEGMENT VARCHAR, NAME VARCHAR, TITLE VARCHAR)')
    rows = ", ".join(
        f"({literal(k)}, 'path-{n}', 'Path Co {n}', 'Path Title {n}')" for n, k in enumerate(keys)
    )
    snowflake_query(f'INSERT INTO "{table}" VALUES {rows}')
    before = admin.written(system, destination.written)

    result = sync(
        table,
        tmp_path,
        key="K",
        mapping=destination.mapping,
        external_id=destination.key_field,
        id_field=None,
        conn_id=f"sandbox_{system}",
        target=destination.target,
        mode=destination.mode,
    )

    dead = {str(e.record_key): e for e in LocalDLQStore(tmp_path).find(limit=100)}
    assert set(dead) >= destination.refused
    for key in destination.refused:
        assert dead[key].error_class == destination.code, key
        assert dead[key].message.startswith(f"{destination.key_field} "), dead[key].message
    assert not set(good) & set(dead), "the good records of the batch are delivered"
    assert result["succeeded"] + result["failed_permanently"] == len(keys)
    secrets = {json.loads(v).get("password") for v in sandbox_env.values() if v.startswith("{")} - {None}
    assert not any(str(s) in e.message for e in dead.values() for s in secrets)

    written = admin.written(system, destination.written)
    changed = {k for k, v in written.items() if before.get(k) != v}
    assert changed <= set(keys) - set(dead), "nothing written under a key the model does not hold"
    assert set(good) <= changed
    snowflake_query(f'DROP TABLE "{table}"')


def test_salesforce_lookups_and_deletes_never_leave_their_record(sandbox_env: dict[str, str]) -> None:
    """Reconciliation reads records back by key; deletes send Ids as one comma-separated parameter."""
    hook = hook_for("sandbox_salesforce")
    try:
        sf = hook.get_conn()
        run = uuid.uuid4().hex[:6]
        made = list(sf.write("Account", "upsert", [{"External_Id__c": f"path-{run}-{n}", "Name": f"Path {n}"}
                                                   for n in range(3)], "External_Id__c"))  # fmt: skip
        ids = [str(r.destination_id) for r in made]
        assert all(r.outcome is WriteOutcome.SUCCESS for r in made)

        found = sf.lookup("Account", "External_Id__c", [*PATH_BREAKERS, f"path-{run}-0"], ["Name"])
        assert list(found) == [f"path-{run}-0"], "no key but the real one is found"
        assert list(sf.lookup("Account", "Id", [*PATH_BREAKERS, ids[1]], ["Name"])) == [ids[1]]

        records = [{"Id": ids[0]}, *({"Id": k} for k in [*PATH_BREAKERS, f"{ids[1]},{ids[2]}"])]
        results = {r.key: r for r in sf.write("Account", "delete", records, "Id")}
        assert results.pop(ids[0]).outcome is WriteOutcome.SUCCESS
        assert {(r.outcome, r.code) for r in results.values()} == {
            (WriteOutcome.PERMANENT, "INVALID_PATH_SEGMENT")
        }
        assert list(sf.lookup("Account", "Id", ids, ["Name"])) == ids[1:], "only the good Id was deleted"
    finally:
        hook.close()
