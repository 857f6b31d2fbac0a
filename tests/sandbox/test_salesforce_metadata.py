"""The Salesforce emulator describes an org as a real one does: describeGlobal, describe, Composite Batch,
objects the user may not read or the Bulk API cannot query, and schema changes made at run time.

Schema changes touch the shared sandbox: each test adds objects and fields under names of its own and
removes the fields it added to standard objects.
"""

from __future__ import annotations

import csv
import io
import ssl
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from integrations_sandbox.emulator.systems.salesforce import Salesforce

VERSION = "59.0"
DOCUMENTED_TYPES = {"id", "reference", "string", "picklist", "multipicklist", "combobox", "textarea", "email",
                    "phone", "url", "boolean", "int", "double", "currency", "percent", "date", "datetime",
                    "time", "base64", "address", "location", "encryptedstring", "anyType"}  # fmt: skip


@pytest.fixture(scope="module")
def api(sandbox: Any) -> Iterator[httpx.Client]:
    conn = Salesforce.connection(f"{sandbox.saas_url}/salesforce")
    extra = conn["extra"]
    form = {
        "grant_type": "password",
        "client_id": extra["client_id"],
        "client_secret": extra["client_secret"],
        "username": conn["login"],
        "password": conn["password"] + extra["security_token"],
    }
    verify = ssl.create_default_context(cafile=sandbox.ca_bundle)
    with httpx.Client(verify=verify, timeout=60) as client:
        token = client.post(f"{conn['host']}/services/oauth2/token", data=form).json()["access_token"]
        client.headers["Authorization"] = f"Bearer {token}"
        client.base_url = httpx.URL(f"{conn['host']}/services/data/v{VERSION}/")
        yield client


def change(sandbox: Any, body: dict[str, Any]) -> httpx.Response:
    verify = ssl.create_default_context(cafile=sandbox.ca_bundle)
    with httpx.Client(verify=verify, timeout=60) as client:
        return client.post(f"{sandbox.admin_url}/schema/salesforce", json=body)


def changed(sandbox: Any, body: dict[str, Any]) -> dict[str, Any]:
    response = change(sandbox, body)
    assert response.status_code == 200, response.text
    return dict(response.json())


def describe(api: httpx.Client, name: str) -> dict[str, Any]:
    response = api.get(f"sobjects/{name}/describe")
    assert response.status_code == 200, response.text
    return dict(response.json())


def query(api: httpx.Client, soql: str) -> list[dict[str, Any]]:
    response = api.get("query", params={"q": soql})
    assert response.status_code == 200, response.text
    return list(response.json()["records"])


def bulk_query(api: httpx.Client, soql: str) -> list[dict[str, str]]:
    job = api.post("jobs/query", json={"operation": "query", "query": soql})
    assert job.status_code == 200, job.text
    url = f"jobs/query/{job.json()['id']}"
    for _ in range(200):
        if api.get(url).json()["state"] == "JobComplete":
            break
        time.sleep(0.05)
    results = api.get(f"{url}/results")
    assert results.status_code == 200, results.text
    return list(csv.DictReader(io.StringIO(results.text)))


def test_describe_global_lists_standard_custom_and_hidden_objects(api: httpx.Client) -> None:
    body = api.get("sobjects").json()
    assert body["encoding"] == "UTF-8" and body["maxBatchSize"] == 200
    objects = {o["name"]: o for o in body["sobjects"]}
    assert len(objects) >= 30
    assert {"Invoice__c", "Invoice_Line__c", "Subscription__c"} <= {
        n for n, o in objects.items() if o["custom"]
    }
    assert not objects["AggregateResult"]["queryable"] and not objects["AggregateResult"]["replicateable"]
    assert objects["Scontrol"]["deprecatedAndHidden"] and not objects["Account"]["deprecatedAndHidden"]
    assert objects["RecentlyViewed"]["queryable"] and not objects["RecentlyViewed"]["replicateable"]
    assert objects["Account"]["keyPrefix"] == "001" and objects["AggregateResult"]["keyPrefix"] is None
    keys = set(objects["Account"])
    assert all(set(o) == keys for o in objects.values())
    assert (
        objects["Invoice__c"]["urls"]["describe"] == f"/services/data/v{VERSION}/sobjects/Invoice__c/describe"
    )


def test_account_is_described_with_the_fields_of_a_real_org(api: httpx.Client) -> None:
    account = describe(api, "Account")
    fields = {f["name"]: f for f in account["fields"]}
    assert len(fields) >= 60
    assert all(len(f) >= 50 and set(f) == set(fields["Id"]) for f in fields.values())
    owner = fields["OwnerId"]
    assert (owner["type"], owner["referenceTo"]) == ("reference", ["Group", "User"])
    assert owner["relationshipName"] == "Owner"
    assert fields["ParentId"]["referenceTo"] == ["Account"] and fields["CreatedById"]["referenceTo"] == [
        "User"
    ]
    assert fields["Description"]["type"] == "textarea" and not fields["Description"]["filterable"]
    assert fields["BillingAddress"]["type"] == "address" and fields["BillingCity"]["compoundFieldName"] == (
        "BillingAddress"
    )
    assert fields["Headquarters__c"]["type"] == "location"
    assert fields["Headquarters__Latitude__s"]["compoundFieldName"] == "Headquarters__c"
    formula = fields["Revenue_Per_Employee__c"]
    assert formula["calculated"] and formula["calculatedFormula"] and not formula["createable"]
    assert sum(f["custom"] for f in fields.values()) >= 10
    children = {(c["childSObject"], c["field"]): c for c in account["childRelationships"]}
    assert children[("Contact", "AccountId")]["relationshipName"] == "Contacts"
    assert children[("Invoice__c", "Account__c")]["relationshipName"] == "Invoices__r"
    types = [(r["name"], r["master"]) for r in account["recordTypeInfos"]]
    assert types == [("Customer", False), ("Partner", False), ("Master", True)]


def test_every_documented_field_type_is_somewhere_and_cursors_differ(api: httpx.Client) -> None:
    names = [o["name"] for o in api.get("sobjects").json()["sobjects"] if o["name"] != "Salary_Band__c"]
    described = {name: {f["name"]: f for f in describe(api, name)["fields"]} for name in names}
    assert {f["type"] for fields in described.values() for f in fields.values()} >= DOCUMENTED_TYPES
    assert described["Attachment"]["Body"]["type"] == "base64"
    history, share, viewed = (
        described["AccountHistory"],
        described["AccountShare"],
        described["RecentlyViewed"],
    )
    assert "CreatedDate" in history and not {"SystemModstamp", "LastModifiedDate"} & set(history)
    assert "LastModifiedDate" in share and not {"SystemModstamp", "CreatedDate"} & set(share)
    assert not {"SystemModstamp", "LastModifiedDate", "CreatedDate"} & set(viewed)


def test_every_queryable_object_serves_records_for_every_field(api: httpx.Client) -> None:
    for summary in api.get("sobjects").json()["sobjects"]:
        name = summary["name"]
        if not summary["queryable"] or name == "Salary_Band__c":
            continue
        fields = [f["name"] for f in describe(api, name)["fields"]]
        records = query(api, f"SELECT {', '.join(fields)} FROM {name} ORDER BY Id LIMIT 5")
        assert records or name in ("Scontrol",), name
        for record in records:
            assert list(record) == ["attributes", *fields]
        if records:
            again = query(api, f"SELECT {', '.join(fields)} FROM {name} ORDER BY Id LIMIT 5")
            assert again == records, f"{name} values are not deterministic"


def test_compound_fields_nest_their_components_in_rest(api: httpx.Client) -> None:
    soql = (
        "SELECT BillingAddress, BillingCity, BillingCountry, Headquarters__c, Headquarters__Latitude__s "
        "FROM Account WHERE BillingCity != null LIMIT 1"
    )
    [record] = query(api, soql)
    assert record["BillingAddress"]["city"] == record["BillingCity"]
    assert record["BillingAddress"]["country"] == record["BillingCountry"]
    if record["Headquarters__c"] is not None:
        assert record["Headquarters__c"]["latitude"] == record["Headquarters__Latitude__s"]


def test_bulk_refuses_unsupported_objects_and_compound_fields(api: httpx.Client) -> None:
    for soql, code in [
        ("SELECT Id, Body FROM Attachment", "INVALIDENTITY"),
        ("SELECT Id FROM CaseStatus", "INVALIDENTITY"),
        ("SELECT Id, BillingAddress FROM Account", "API_ERROR"),
        ("SELECT Id FROM Salary_Band__c", "INSUFFICIENT_ACCESS"),
    ]:
        response = api.post("jobs/query", json={"operation": "query", "query": soql})
        assert response.status_code in (400, 403) and response.json()[0]["errorCode"] == code, soql
    assert query(api, "SELECT Id, Body FROM Attachment LIMIT 1")[0]["Body"]


def test_an_object_the_user_may_not_read_answers_insufficient_access(sandbox: Any, api: httpx.Client) -> None:
    for response in (api.get("sobjects/Salary_Band__c/describe"),
                     api.get("query", params={"q": "SELECT Id FROM Salary_Band__c"})):  # fmt: skip
        assert response.status_code == 403 and response.json()[0]["errorCode"] == "INSUFFICIENT_ACCESS"
    assert api.get("query", params={"q": "SELECT Id FROM AggregateResult"}).json()[0]["errorCode"] == (
        "INVALID_TYPE_FOR_OPERATION"
    )
    name = f"Vault_{uuid.uuid4().hex[:6]}__c"
    changed(sandbox, {"action": "add_object", "object": name, "size": 3})
    changed(sandbox, {"action": "deny_access", "object": name})
    assert api.get(f"sobjects/{name}/describe").status_code == 403
    changed(sandbox, {"action": "allow_access", "object": name})
    assert len(query(api, f"SELECT Id FROM {name}")) == 3


def test_composite_batch_describes_up_to_25_objects_in_one_call(api: httpx.Client) -> None:
    names = [o["name"] for o in api.get("sobjects").json()["sobjects"]][:24]
    subrequests = [{"method": "GET", "url": f"v{VERSION}/sobjects/{n}/describe"} for n in names]
    subrequests.append({"method": "GET", "url": f"v{VERSION}/query?q=SELECT+Id,Name+FROM+Account+LIMIT+2"})
    body = api.post("composite/batch", json={"batchRequests": subrequests}).json()
    results = body["results"]
    assert len(results) == 25 and body["hasErrors"] == ("Salary_Band__c" in names)
    ok = [r["result"] for r in results if r["statusCode"] == 200]
    assert [r["name"] for r in ok[:-1]] == [n for n in names if n != "Salary_Band__c"]
    assert ok[-1]["totalSize"] == 2

    too_many = api.post("composite/batch", json={"batchRequests": subrequests + subrequests[:1]})
    assert too_many.status_code == 400 and too_many.json()[0]["errorCode"] == "INVALID_BATCH_REQUEST"
    missing = {"method": "GET", "url": f"v{VERSION}/sobjects/Nope__c/describe"}
    halted = api.post(
        "composite/batch", json={"haltOnError": True, "batchRequests": [missing, subrequests[0]]}
    ).json()
    assert halted["hasErrors"] and [r["statusCode"] for r in halted["results"]] == [404, 412]
    assert halted["results"][1]["result"][0]["errorCode"] == "BATCH_PROCESSING_HALTED"
    bad = api.post("composite/batch", json={"batchRequests": [{"method": "GET", "url": "/sobjects"}]})
    assert bad.status_code == 400


def test_a_custom_field_added_at_run_time_has_values_everywhere(sandbox: Any, api: httpx.Client) -> None:
    field = f"Tier_{uuid.uuid4().hex[:6]}__c"
    added = changed(sandbox, {"action": "add_field", "object": "Account", "field": field, "type": "picklist",
                              "picklist": ["Gold", "Silver", "Bronze"]})  # fmt: skip
    try:
        assert any(f["name"] == field and f["custom"] for f in added["fields"])
        assert describe(api, "Account")["fields"][-1]["name"] == field
        rest = query(api, f"SELECT Id, {field} FROM Account ORDER BY Id LIMIT 50")
        bulk = bulk_query(api, f"SELECT Id, {field} FROM Account WHERE Id <= '{rest[-1]['Id']}'")
        assert [(r["Id"], r[field] or "") for r in rest] == [(r["Id"], r[field]) for r in bulk]
        assert {r[field] for r in rest} - {None} <= {"Gold", "Silver", "Bronze"} and any(
            r[field] for r in rest
        )

        changed(sandbox, {"action": "change_type", "object": "Account", "field": field, "type": "string"})
        typed = {f["name"]: f for f in describe(api, "Account")["fields"]}[field]
        assert typed["type"] == "string" and typed["soapType"] == "xsd:string"
    finally:
        changed(sandbox, {"action": "remove_field", "object": "Account", "field": field})
    assert field not in {f["name"] for f in describe(api, "Account")["fields"]}
    gone = api.get("query", params={"q": f"SELECT {field} FROM Account"})
    assert gone.status_code == 400 and gone.json()[0]["errorCode"] == "INVALID_FIELD"


def test_a_custom_object_added_at_run_time_is_described_and_queryable(
    sandbox: Any, api: httpx.Client
) -> None:
    name = f"Loyalty_{uuid.uuid4().hex[:6]}__c"
    changed(sandbox, {"action": "add_object", "object": name, "size": 120, "fields": [
        {"name": "Points__c", "type": "double"}, {"name": "Member__c", "type": "reference",
                                                  "reference_to": "Contact"}]})  # fmt: skip
    assert name in {o["name"] for o in api.get("sobjects").json()["sobjects"]}
    fields = {f["name"]: f for f in describe(api, name)["fields"]}
    assert {"Id", "Name", "OwnerId", "SystemModstamp", "Points__c", "Member__c"} <= set(fields)
    assert fields["Member__c"]["relationshipName"] == "Member__r"
    rows = bulk_query(api, f"SELECT Id, Points__c, Member__c FROM {name}")
    assert len(rows) == 120 and all(r["Member__c"].startswith("003") for r in rows if r["Member__c"])
    assert len(query(api, f"SELECT Id, Points__c FROM {name}")) == 120
    changed(sandbox, {"action": "change_type", "object": name, "field": "Points__c", "type": "string"})
    [record] = query(api, f"SELECT Points__c FROM {name} WHERE Points__c != null ORDER BY Id LIMIT 1")
    assert isinstance(record["Points__c"], str) and float(record["Points__c"]) >= 0
    contact = {c["childSObject"]: c for c in describe(api, "Contact")["childRelationships"]}
    assert contact[name]["field"] == "Member__c"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"action": "add_field", "object": "Account", "field": "Plain", "type": "string"}, "__c"),
        ({"action": "add_field", "object": "Account", "field": "Name__c", "type": "blob"}, "'type' must be"),
        ({"action": "add_field", "object": "Nope__c", "field": "X__c", "type": "string"}, "no sObject"),
        ({"action": "remove_field", "object": "Account", "field": "Name"}, "only custom fields"),
        ({"action": "change_type", "object": "Account", "field": "Missing__c", "type": "int"}, "no field"),
        ({"action": "add_object", "object": "Account", "size": 1}, "__c"),
        ({"action": "add_object", "object": "Invoice__c"}, "already exists"),
        ({"action": "add_object", "object": "Big__c", "size": -1}, "'size'"),
        ({"action": "rename", "object": "Account"}, "'action' must be"),
    ],
)
def test_bad_schema_changes_are_refused_naming_the_problem(
    sandbox: Any, body: dict[str, Any], message: str
) -> None:
    response = change(sandbox, body)
    assert response.status_code == 400 and message in response.text


def test_relationship_fields_nest_in_rest_and_flatten_in_bulk(api: httpx.Client) -> None:
    soql = "SELECT Id, Owner.Name, Account.Name, Account.Owner.Email FROM Contact ORDER BY Id LIMIT 20"
    records = query(api, soql)
    with_account = next(r for r in records if r["Account"] is not None)
    owner_id = query(api, f"SELECT OwnerId FROM Contact WHERE Id = '{with_account['Id']}'")[0]["OwnerId"]
    [owner] = query(api, f"SELECT Name FROM User WHERE Id = '{owner_id}'")
    assert with_account["Owner"]["Name"] == owner["Name"]
    assert with_account["Owner"]["attributes"]["type"] == "User"
    assert with_account["Account"]["Owner"]["Email"].endswith("@example.com")
    rows = bulk_query(api, f"SELECT Id, Owner.Name FROM Contact WHERE Id <= '{records[-1]['Id']}'")
    assert [(r["Id"], r["Owner.Name"]) for r in rows] == [(r["Id"], r["Owner"]["Name"]) for r in records]
    filtered = query(api, f"SELECT Id FROM Contact WHERE Owner.Name = '{owner['Name']}' LIMIT 5")
    assert with_account["Id"] in {r["Id"] for r in query(api, soql)} and filtered
    bad = api.get("query", params={"q": "SELECT Owner.Nope FROM Contact"})
    assert bad.status_code == 400 and bad.json()[0]["errorCode"] == "INVALID_FIELD"


def test_date_literals_select_by_the_real_clock(sandbox: Any, api: httpx.Client) -> None:
    verify = ssl.create_default_context(cafile=sandbox.ca_bundle)
    with httpx.Client(verify=verify, timeout=60) as admin:
        datasets = admin.get(f"{sandbox.admin_url}/datasets").json()
        size = datasets["salesforce/Lead"]["size"]
        try:
            admin.post(
                f"{sandbox.admin_url}/datasets/salesforce/Lead/mutate", json={"update": 3}
            ).raise_for_status()
            recent = query(api, "SELECT Id FROM Lead WHERE SystemModstamp = LAST_N_DAYS:7")
            today = query(api, "SELECT Id FROM Lead WHERE SystemModstamp >= TODAY")
            assert len(recent) == 3 and {r["Id"] for r in today} == {r["Id"] for r in recent}
            assert query(api, "SELECT Id FROM Lead WHERE CreatedDate = YESTERDAY") == []
            old = api.get("query", params={"q": "SELECT COUNT() FROM Lead WHERE CreatedDate = LAST_YEAR"})
            assert old.json()["totalSize"] == size
        finally:
            admin.put(f"{sandbox.admin_url}/datasets/salesforce/Lead", json={"size": size}).raise_for_status()
    for where in ("CreatedDate = LAST_N_DAYS", "Company = TODAY", "CreatedDate = SOMEDAY"):
        soql = f"SELECT Id FROM Lead WHERE {where}"
        response = api.get("query", params={"q": soql})
        assert response.status_code == 400, soql


def test_query_pages_shrink_for_wide_selections_and_honour_batch_size(api: httpx.Client) -> None:
    def first_page(soql: str, batch: int | None = None) -> int:
        headers = {"Sforce-Query-Options": f"batchSize={batch}"} if batch else {}
        body = api.get("query", params={"q": soql}, headers=headers).json()
        assert not body["done"] and body["nextRecordsUrl"]
        return len(body["records"])

    assert first_page("SELECT Id, Name FROM Account") == 2000
    assert first_page("SELECT Id, Name FROM Account", 500) == 500
    assert first_page("SELECT Id, Name FROM Account", 50) == 200
    fields = [f["name"] for f in describe(api, "Account")["fields"]]
    assert first_page(f"SELECT {', '.join(fields)} FROM Account") < 2000
    assert first_page("SELECT Id, Description, Notes__c FROM Account") == 200


def test_updated_and_deleted_list_changes_in_a_range(sandbox: Any, api: httpx.Client) -> None:
    verify = ssl.create_default_context(cafile=sandbox.ca_bundle)
    with httpx.Client(verify=verify, timeout=60) as admin:
        size = admin.get(f"{sandbox.admin_url}/datasets").json()["salesforce/Case"]["size"]
        try:
            mutate = f"{sandbox.admin_url}/datasets/salesforce/Case/mutate"
            window = {"start": "2026-01-01T00:00:00Z", "end": "2099-01-01T00:00:00Z"}
            admin.post(mutate, json={"update": 4}).raise_for_status()
            changed_ids = api.get("sobjects/Case/updated", params=window).json()
            admin.post(mutate, json={"delete": 2}).raise_for_status()
            gone = api.get("sobjects/Case/deleted", params=window).json()
            still = api.get("sobjects/Case/updated", params=window).json()["ids"]
        finally:
            admin.put(f"{sandbox.admin_url}/datasets/salesforce/Case", json={"size": size}).raise_for_status()
    assert set(changed_ids) == {"ids", "latestDateCovered"} and len(changed_ids["ids"]) == 4
    assert set(gone) == {"deletedRecords", "earliestDateAvailable", "latestDateCovered"}
    assert len(gone["deletedRecords"]) == 2 and set(gone["deletedRecords"][0]) == {"id", "deletedDate"}
    assert not set(still) & {r["id"] for r in gone["deletedRecords"]}
    old = api.get(
        "sobjects/Case/updated", params={"start": "2025-01-01T00:00:00Z", "end": "2025-01-01T00:10:00Z"}
    )
    assert len(old.json()["ids"]) == 30
    for params in (
        {"start": "2025-01-02T00:00:00Z"},
        {"start": "2025-01-02T00:00:00Z", "end": "2025-01-01T00:00:00Z"},
    ):
        assert api.get("sobjects/Case/updated", params=params).status_code == 400
    refused = api.get("sobjects/RecentlyViewed/updated", params=window)
    assert refused.json()[0]["errorCode"] == "INVALID_TYPE_FOR_OPERATION"
