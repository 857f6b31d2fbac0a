"""Each connector's `describe` against the sandbox, and mappings checked against what it says.

Where a test writes, it shows the description agrees with what the emulator's writes accept.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_integrations.connectors.base import WriteOutcome, load_catalog
from airflow_provider_integrations.connectors.netsuite import NetSuiteConnector, NetSuiteSettings
from airflow_provider_integrations.connectors.salesforce import SalesforceConnector
from airflow_provider_integrations.connectors.salesforce_api import SalesforceSettings
from airflow_provider_integrations.connectors.servicenow import ServiceNowConnector, ServiceNowSettings
from airflow_provider_integrations.connectors.stripe import StripeConnector, StripeSettings
from airflow_provider_integrations.connectors.workday import WorkdayConnector, WorkdaySettings
from airflow_provider_integrations.core.errors import ConfigError
from airflow_provider_integrations.core.http import RetryPolicy
from airflow_provider_integrations.core.mapping import validate_mapping
from airflow_provider_integrations.hooks.snowflake_types import column_types
from tests.connectors.conftest import Admin

FAST = RetryPolicy(max_attempts=8, base_delay=0.01, max_delay=0.05, deadline=60)


@pytest.fixture(scope="module")
def admin(sandbox: Any) -> Admin:
    return Admin(sandbox)


def problems(error: pytest.ExceptionInfo[ConfigError]) -> list[str]:
    return [line.removeprefix("  - ") for line in str(error.value).splitlines()[1:]]


# Salesforce: the sObject describe over HTTP


@pytest.fixture
def sf(sandbox: Any, admin: Admin) -> Iterator[SalesforceConnector]:
    conn = admin.connection(sandbox, "salesforce")
    extra = conn["extra"]
    settings = SalesforceSettings(
        login_url=extra.get("auth_url") or conn["host"],
        client_id=extra["client_id"],
        client_secret=extra["client_secret"],
        username=conn["login"],
        password=conn["password"],
        security_token=extra.get("security_token", ""),
        ca_bundle=sandbox.ca_bundle,
    )
    with SalesforceConnector.connect(settings, load_catalog("salesforce.yaml"), retry=FAST) as connector:
        yield connector


def test_salesforce_describe_reads_the_sobject_describe_once(sf: SalesforceConnector) -> None:
    calls = sf.client.calls
    account = sf.describe("Account")
    assert sf.client.calls == calls + 1
    assert (account.target, account.system, account.case_sensitive) == ("Account", "salesforce", False)
    fields = account.fields
    key = fields["External_Id__c"]
    assert (key.type, key.external_id, key.createable, key.updateable) == ("string", True, True, True)
    assert fields["Id"].external_id and not fields["Id"].createable and not fields["Id"].updateable
    formula = fields["Revenue_Per_Employee__c"]
    assert (formula.type, formula.createable, formula.updateable) == ("currency", False, False)
    assert not fields["SystemModstamp"].createable and not fields["Name"].nillable
    assert fields["NumberOfEmployees"].type == "int" and not fields["Name"].external_id

    assert sf.describe("account") is account and sf.client.calls == calls + 1
    contact = sf.describe("Contact")
    assert contact.fields["External_Id__c"].external_id and not contact.fields["Name"].createable
    with pytest.raises(ConfigError, match="NOT_FOUND"):
        sf.describe("Widget__c")


def test_a_mapping_checked_against_salesforce_agrees_with_its_writes(sf: SalesforceConnector) -> None:
    account = sf.describe("Account")
    mapping = {"ACCOUNT_KEY": "External_Id__c", "NAME": "Name", "EMPLOYEES": "NumberOfEmployees"}
    types = {"ACCOUNT_KEY": "TEXT", "NAME": "TEXT", "EMPLOYEES": "FIXED"}
    validate_mapping(account, mapping, mode="upsert", external_id="External_Id__c", column_types=types)
    key = f"DESCRIBE-{uuid.uuid4().hex[:8]}"
    record = {"External_Id__c": key, "Name": "Described Co", "NumberOfEmployees": 12}
    [written] = sf.write("Account", "upsert", [record], "External_Id__c")
    assert written.outcome is WriteOutcome.SUCCESS and written.created

    bad = {**mapping, "PER_HEAD": "Revenue_Per_Employee__c", "SITE": "Websit"}
    with pytest.raises(ConfigError) as error:
        validate_mapping(account, bad, mode="upsert", external_id="Name", column_types=types)
    assert problems(error) == [
        "key field 'Name' is not an external id or lookup field, so upsert cannot match records by it "
        "(fields that can: External_Id__c, Id)",
        "field 'Revenue_Per_Employee__c' (from column PER_HEAD) is not createable, which upsert needs",
        "field 'Revenue_Per_Employee__c' (from column PER_HEAD) is not updateable, which upsert needs",
        "column PER_HEAD (mapped to 'Revenue_Per_Employee__c') is not in the model",
        "field 'Websit' (from column SITE) does not exist on Account; did you mean 'Website'?",
    ]
    refused = list(
        sf.write(
            "Account",
            "upsert",
            [{**record, "Revenue_Per_Employee__c": 5.0}, {**record, "Websit": "https://x.example"}],
            "External_Id__c",
        )
    )
    assert [(r.outcome, r.code) for r in refused] == [
        (WriteOutcome.PERMANENT, "INVALID_FIELD_FOR_INSERT_UPDATE"),
        (WriteOutcome.PERMANENT, "INVALID_FIELD"),
    ]


def test_a_snowflake_model_is_checked_against_salesforce(
    sf: SalesforceConnector, snowflake_conn: Any
) -> None:
    with snowflake_conn.cursor() as cursor:
        cursor.execute(
            "CREATE OR REPLACE TABLE ACCOUNT_MODEL (ACCOUNT_KEY VARCHAR, NAME VARCHAR, REVENUE NUMBER(18,2), "
            "EMPLOYEES NUMBER(38,0), HEADCOUNT NUMBER(10,2), IS_PARTNER BOOLEAN, UPDATED_AT TIMESTAMP_TZ)"
        )
        cursor.execute("SELECT * FROM ACCOUNT_MODEL LIMIT 0")
        types = column_types(cursor.description)
    assert types["NAME"] == "TEXT" and types["EMPLOYEES"] == "FIXED" and types["HEADCOUNT"] == "FIXED(10,2)"
    account = sf.describe("Account")
    good = {
        "ACCOUNT_KEY": "External_Id__c",
        "NAME": "Name",
        "REVENUE": "AnnualRevenue",
        "EMPLOYEES": "NumberOfEmployees",
    }
    validate_mapping(account, good, mode="mirror", external_id="External_Id__c", column_types=types)
    bad = {"account_key": "External_Id__c", "headcount": "NumberOfEmployees", "is_partner": "Type"}
    with pytest.raises(ConfigError) as error:
        validate_mapping(account, bad, mode="mirror", external_id="External_Id__c", column_types=types)
    assert [p.split(";")[0] for p in problems(error)] == [
        "column headcount (FIXED(10,2)) cannot be written to field 'NumberOfEmployees' (int)",
        "column is_partner (BOOLEAN) cannot be written to field 'Type' (picklist)",
    ]


# The others: what each connector declares writeable


@pytest.fixture
def sn(sandbox: Any, admin: Admin) -> Iterator[ServiceNowConnector]:
    conn = admin.connection(sandbox, "servicenow")
    settings = ServiceNowSettings(
        instance_url=conn["host"],
        username=conn["login"],
        password=conn["password"],
        ca_bundle=sandbox.ca_bundle,
    )
    with ServiceNowConnector.connect(settings, load_catalog("servicenow.yaml"), retry=FAST) as connector:
        yield connector


def test_servicenow_import_sets_take_u_columns(sn: ServiceNowConnector) -> None:
    staging = sn.describe("u_account_import")
    assert staging.target == "u_account_import" and staging.case_sensitive
    mapping = {"ACCOUNT_KEY": "u_external_id", "NAME": "u_name", "CITY": "u_city", "SEATS": "u_seats"}
    types = {"ACCOUNT_KEY": "TEXT", "NAME": "TEXT", "CITY": "TEXT", "SEATS": "NUMBER"}
    validate_mapping(staging, mapping, mode="upsert", external_id="u_external_id", column_types=types)
    key = f"describe-{uuid.uuid4().hex[:8]}"
    record = {"u_external_id": key, "u_name": "Described Co", "u_city": "Dublin", "u_seats": 12}
    [written] = sn.write("u_account_import", "upsert", [record])
    assert (written.outcome, written.code) == (WriteOutcome.SUCCESS, "inserted")

    with pytest.raises(ConfigError) as error:
        validate_mapping(
            staging, {"NAME": "name", "CITY": "U_CITY"}, mode="upsert", external_id="u_external_id"
        )
    assert problems(error) == [
        f"field {name!r} (from column {column}) does not exist on u_account_import "
        "(besides its listed fields it takes u_<name>)"
        for column, name in (("NAME", "name"), ("CITY", "U_CITY"))
    ]
    with pytest.raises(ConfigError, match="is not a ServiceNow table name"):
        sn.describe("u_account_import; drop")


@pytest.fixture
def stripe(sandbox: Any, admin: Admin) -> Iterator[StripeConnector]:
    conn = admin.connection(sandbox, "stripe")
    settings = StripeSettings(
        api_key=conn["password"],
        api_base=conn["extra"]["api_base"],
        stripe_version=conn["extra"]["stripe_version"],
        ca_bundle=sandbox.ca_bundle,
    )
    with StripeConnector.connect(settings, load_catalog("stripe.yaml"), retry=FAST) as connector:
        yield connector


def test_stripe_customers_take_their_parameters_and_metadata_keys(stripe: StripeConnector) -> None:
    customers = stripe.describe("customers")
    assert customers is not None and customers.case_sensitive
    mapping = {"CUSTOMER_ID": "id", "EMAIL": "email", "TIER": "metadata.tier", "CITY": "address.city"}
    types = {"CUSTOMER_ID": "TEXT", "EMAIL": "TEXT", "TIER": "NUMBER", "CITY": "TEXT"}
    validate_mapping(customers, mapping, mode="update", external_id="id", column_types=types)
    with pytest.raises(ConfigError) as error:
        validate_mapping(customers, {"EMAIL": "Email", "AT": "created"}, mode="update", external_id="id")
    assert [p.split(";")[0].split(" (besides")[0] for p in problems(error)] == [
        "field 'Email' (from column EMAIL) does not exist on customers",
        "field 'created' (from column AT) does not exist on customers",
    ]
    # The emulator refuses what the description leaves out (a refused call is not kept, so nothing changes).
    customer = next(iter(stripe.read("customers")))["id"]
    [refused] = stripe.write("customers", "update", [{"id": customer, "created": 1}])
    assert (refused.outcome, refused.code) == (WriteOutcome.PERMANENT, "parameter_unknown")
    assert stripe.describe("charges") is None


@pytest.fixture
def suite(sandbox: Any, admin: Admin) -> Iterator[NetSuiteConnector]:
    conn = admin.connection(sandbox, "netsuite")
    extra = conn["extra"]
    settings = NetSuiteSettings(
        base_url=conn["host"],
        account_id=extra["account_id"],
        consumer_key=extra["consumer_key"],
        consumer_secret=extra["consumer_secret"],
        token_id=extra["token_id"],
        token_secret=extra["token_secret"],
        ca_bundle=sandbox.ca_bundle,
    )
    with NetSuiteConnector.connect(settings, load_catalog("netsuite.yaml"), retry=FAST) as connector:
        yield connector


def test_netsuite_records_are_described_by_their_catalog_stream(suite: NetSuiteConnector) -> None:
    customer = suite.describe("Customer")
    assert customer is not None and customer.target == "customer"
    assert customer.fields["externalid"].external_id and not customer.fields["lastmodifieddate"].updateable
    mapping = {"KEY": "externalid", "COMPANY": "companyName", "MAIL": "email", "SCORE": "custentity_score"}
    types = {"KEY": "TEXT", "COMPANY": "TEXT", "MAIL": "TEXT", "SCORE": "NUMBER"}
    validate_mapping(customer, mapping, mode="upsert", external_id="externalid", column_types=types)
    key = f"describe-{uuid.uuid4().hex[:8]}"
    record = {"externalid": key, "companyName": "Described Co", "email": "d@x.example", "custentity_score": 7}
    [written] = suite.write("customer", "upsert", [record])
    assert written.outcome is WriteOutcome.SUCCESS

    with pytest.raises(ConfigError) as error:
        validate_mapping(customer, {"AT": "lastmodifieddate"}, mode="upsert", external_id="externalid")
    assert problems(error) == [
        "field 'lastmodifieddate' (from column AT) is not createable, which upsert needs",
        "field 'lastmodifieddate' (from column AT) is not updateable, which upsert needs",
    ]
    [refused] = suite.write("customer", "upsert", [{**record, "lastmodifieddate": "2025-01-01 00:00:00"}])
    assert refused.outcome is WriteOutcome.PERMANENT and "read-only" in (refused.message or "")
    assert suite.describe("vendor") is None


@pytest.fixture
def wd(sandbox: Any, admin: Admin) -> Iterator[WorkdayConnector]:
    conn = admin.connection(sandbox, "workday")
    extra = conn["extra"]
    settings = WorkdaySettings(
        host=conn["host"],
        tenant=extra["tenant"],
        client_id=extra["client_id"],
        client_secret=extra["client_secret"],
        refresh_token=extra["refresh_token"],
        ca_bundle=extra["ca_bundle"],
        rate_limit_per_second=20.0,
    )
    with WorkdayConnector.connect(settings, load_catalog("workday.yaml"), retry=FAST) as connector:
        yield connector


def test_workday_title_changes_are_update_only(wd: WorkdayConnector) -> None:
    changes = wd.describe("businessTitleChanges")
    mapping = {"WORKER_ID": "id", "TITLE": "businessTitle", "EFFECTIVE_ON": "effective"}
    types = {"WORKER_ID": "TEXT", "TITLE": "TEXT", "EFFECTIVE_ON": "DATE"}
    validate_mapping(changes, mapping, mode="update", external_id="id", column_types=types)
    with pytest.raises(ConfigError) as error:
        validate_mapping(changes, mapping, mode="upsert", external_id="id", column_types=types)
    assert problems(error) == [
        "field 'businessTitle' (from column TITLE) is not createable, which upsert needs",
        "field 'effective' (from column EFFECTIVE_ON) is not createable, which upsert needs",
    ]
    with pytest.raises(ConfigError, match="writeable targets: \\['businessTitleChanges'\\]"):
        wd.describe("workers")
