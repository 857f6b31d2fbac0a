"""The org the Salesforce emulator describes: Account, Contact and Opportunity as in a real org (Account
with 70-odd fields), 30-odd other standard and custom objects, and the objects describeGlobal lists but a
replication must skip (not queryable, deprecated and hidden) or read without the Bulk API.

`reset()` puts the org back to this state; schema changes (salesforce_drift) register changed objects.
"""

from __future__ import annotations

from dataclasses import replace

from integrations_sandbox.emulator.systems.salesforce_fields import (
    OWNER_REFERENCE,
    USER_REFERENCE,
    address,
    extended,
    f,
    geolocation,
    read_only,
    ref,
    sobject,
)
from integrations_sandbox.emulator.systems.salesforce_schema import (
    _FIRST_NAMES,
    _LAST_NAMES,
    ACCOUNT,
    CONTACT,
    DEFAULT_SIZES,
    OBJECTS,
    OPPORTUNITY,
    Field,
    RowValues,
    SObject,
    _pick,
    make_id,
    register,
)

_RATINGS = ("Hot", "Warm", "Cold")
_SOURCES = ("Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other")
_OWNERSHIP = ("Public", "Private", "Subsidiary", "Other")
_PRIORITY = ("High", "Medium", "Low")
_SEGMENTS = ("SMB", "Mid-Market", "Enterprise", "Public Sector")
_STATUSES = ("New", "Working", "Escalated", "Closed")
_NOT_REPLICATED = (("replicateable", False), ("feedEnabled", False), ("layoutable", False))


def _account() -> SObject:
    extra = (
        ref("MasterRecordId", "Account", createable=False, updateable=False, relationship="MasterRecord"),
        ref("ParentId", "Account", relationship="Parent"),
        ref("RecordTypeId", "RecordType"),
        ref("OwnerId", *OWNER_REFERENCE, nillable=False, defaulted=True, relationship="Owner"),
        ref("CreatedById", *USER_REFERENCE, nillable=False, createable=False, updateable=False),
        ref("LastModifiedById", *USER_REFERENCE, nillable=False, createable=False, updateable=False),
        f("AccountNumber", "string", 40),
        f("AccountSource", "picklist", 255, picklist=_SOURCES),
        f("Rating", "picklist", 255, picklist=_RATINGS),
        f("Ownership", "picklist", 255, picklist=_OWNERSHIP),
        f("Fax", "phone", 40),
        f("TickerSymbol", "string", 20),
        f("Sic", "string", 20, label="SIC Code"),
        f("SicDesc", "string", 80, label="SIC Description"),
        f("NaicsCode", "string", 8, label="NAICS Code"),
        f("DunsNumber", "string", 9, label="D-U-N-S Number"),
        f("Tradestyle", "string", 255),
        f("YearStarted", "string", 4),
        f("Description", "textarea", 32_000, extra_type="plaintextarea", label="Account Description"),
        f("PhotoUrl", "url", 255, createable=False, updateable=False),
        f("Jigsaw", "string", 20, label="Data.com Key"),
        f("CleanStatus", "picklist", 40, picklist=("Matched", "Different", "Acknowledged", "Pending")),
        read_only("LastActivityDate", "date"),
        read_only("LastViewedDate", "datetime"),
        read_only("LastReferencedDate", "datetime"),
        *address("Shipping"),
        f("CustomerPriority__c", "picklist", 255, picklist=_PRIORITY),
        f("SLA__c", "picklist", 255, picklist=("Gold", "Silver", "Platinum", "Bronze"), label="SLA"),
        f("SLAExpirationDate__c", "date", label="SLA Expiration Date"),
        f("SLASerialNumber__c", "string", 10, label="SLA Serial Number"),
        f("NumberofLocations__c", "double", precision=3, scale=0, label="Number of Locations"),
        f("Active__c", "picklist", 255, picklist=("Yes", "No")),
        f("Segments__c", "multipicklist", 4099, picklist=_SEGMENTS),
        f("Is_Partner__c", "boolean", nillable=False, label="Partner"),
        f("Contract_Signed_At__c", "datetime"),
        f("Preferred_Call_Time__c", "time"),
        f("Tax_Id__c", "encryptedstring", 20, label="Tax ID"),
        f("Support_Email__c", "email", 80),
        f("Discount__c", "percent", precision=5, scale=2),
        f("Open_Cases__c", "double", precision=18, scale=0),
        f("Notes__c", "textarea", 131_072, extra_type="richtextarea", label="Notes"),
        *geolocation("Headquarters__c"),
    )
    billing = address("Billing")
    country = next(s for s in billing if s.name == "BillingCountry")
    billing_rest = tuple(s for s in billing if s.name != "BillingCountry")
    account = extended(ACCOUNT, (*billing_rest, *extra), replaced=(country,))
    return replace(account, record_types=("Customer", "Partner"))


def _user_first(v: RowValues) -> str:
    return _pick(_FIRST_NAMES, v.h)


def _user_last(v: RowValues) -> str:
    return _pick(_LAST_NAMES, v.h >> 8)


def _user() -> SObject:
    return sobject(
        "User",
        "005",
        (
            f("Username", "string", 80, nillable=False, unique=True, required=True),
            f("FirstName", "string", 40),
            f("LastName", "string", 80, nillable=False, required=True),
            read_only("Name", "string", 121, nillable=False, label="Full Name"),
            f("Email", "email", 128, nillable=False, required=True),
            f("Title", "string", 80),
            f("IsActive", "boolean", nillable=False, label="Active"),
            f("TimeZoneSidKey", "picklist", 40, picklist=("America/New_York", "Europe/Paris", "Asia/Tokyo")),
            ref("ManagerId", "User"),
            read_only("LastLoginDate", "datetime"),
        ),
        getters={
            "FirstName": _user_first,
            "LastName": _user_last,
            "Name": lambda v: f"{_user_first(v)} {_user_last(v)}",
            "Username": lambda v: f"user{v.row.index}@sandbox.example.com",
            "Email": lambda v: f"{_user_first(v)}.{_user_last(v)}{v.row.index}@example.com".lower(),
            "IsActive": lambda v: v.row.index % 10 != 9,
        },
    )


def _contact() -> SObject:
    return extended(
        CONTACT,
        (
            ref("OwnerId", *USER_REFERENCE, nillable=False, defaulted=True, relationship="Owner"),
            ref("CreatedById", *USER_REFERENCE, nillable=False, createable=False, updateable=False),
            ref("LastModifiedById", *USER_REFERENCE, nillable=False, createable=False, updateable=False),
            ref("ReportsToId", "Contact", relationship="ReportsTo"),
            f("Salutation", "picklist", 40, picklist=("Mr.", "Ms.", "Mrs.", "Dr.", "Prof.")),
            f("MobilePhone", "phone", 40),
            f("Department", "string", 80),
            f("LeadSource", "picklist", 255, picklist=_SOURCES),
            f("Birthdate", "date"),
            f("HasOptedOutOfEmail", "boolean", nillable=False, label="Email Opt Out"),
            f("DoNotCall", "boolean", nillable=False),
            f("Description", "textarea", 32_000, extra_type="plaintextarea", label="Contact Description"),
            *address("Mailing"),
            f("Languages__c", "string", 100),
            f("Level__c", "picklist", 255, picklist=("Primary", "Secondary", "Tertiary")),
        ),
    )


def _opportunity() -> SObject:
    return replace(
        extended(
            OPPORTUNITY,
            (
                ref("OwnerId", *USER_REFERENCE, nillable=False, defaulted=True, relationship="Owner"),
                ref("CreatedById", *USER_REFERENCE, nillable=False, createable=False, updateable=False),
                ref("LastModifiedById", *USER_REFERENCE, nillable=False, createable=False, updateable=False),
                ref("CampaignId", "Campaign"),
                ref("RecordTypeId", "RecordType"),
                f("Type", "picklist", 255, picklist=("New Customer", "Existing Customer - Upgrade")),
                f("LeadSource", "picklist", 255, picklist=_SOURCES),
                f("NextStep", "string", 255),
                f("Description", "textarea", 32_000, extra_type="plaintextarea"),
                f("ForecastCategoryName", "picklist", 255, picklist=("Pipeline", "Best Case", "Commit")),
                read_only("IsClosed", "boolean", nillable=False, label="Closed"),
                read_only("IsWon", "boolean", nillable=False, label="Won"),
                read_only("ExpectedRevenue", "currency", formula="Amount * Probability"),
                f("TotalOpportunityQuantity", "double", precision=18, scale=2, label="Quantity"),
            ),
            getters={"ExpectedRevenue": _expected_revenue},
        ),
        record_types=("New Business", "Renewal"),
    )


def _expected_revenue(v: RowValues) -> float | None:
    amount, probability = v.get("Amount"), v.get("Probability")
    if not isinstance(amount, float) or not isinstance(probability, float):
        return None
    return round(amount * probability / 100, 2)


def _owned(*fields: Field) -> tuple[Field, ...]:
    return (ref("OwnerId", *OWNER_REFERENCE, nillable=False, defaulted=True, relationship="Owner"), *fields)


def _named(length: int = 80) -> Field:
    return f("Name", "string", length, nillable=False, required=True)


# fmt: off
def _standard_objects() -> list[SObject]:
    return [
        sobject("Group", "00G", (_named(40), f("Type", "picklist", 40, picklist=("Regular", "Queue")))),
        sobject("RecordType", "012", (_named(80), f("DeveloperName", "string", 80),
                                      f("SobjectType", "picklist", 40, picklist=("Account", "Opportunity")),
                                      f("IsActive", "boolean", nillable=False))),
        sobject("Lead", "00Q", _owned(
            f("FirstName", "string", 40), f("LastName", "string", 80, nillable=False, required=True),
            f("Company", "string", 255, nillable=False, required=True), f("Email", "email", 80),
            f("Status", "picklist", 255, picklist=("Open", "Contacted", "Qualified"), nillable=False),
            f("LeadSource", "picklist", 255, picklist=_SOURCES), f("AnnualRevenue", "currency"),
            read_only("IsConverted", "boolean", nillable=False), ref("ConvertedAccountId", "Account",
            createable=False, updateable=False), *address(""),
        ), plural="Leads"),
        sobject("Case", "500", _owned(
            ref("AccountId", "Account"), ref("ContactId", "Contact"), ref("ParentId", "Case",
            relationship="Parent"), read_only("CaseNumber", "string", 30, auto_number=True, nillable=False),
            f("Subject", "string", 255), f("Status", "picklist", 40, picklist=_STATUSES),
            f("Priority", "picklist", 40, picklist=_PRIORITY), f("Origin", "picklist", 40,
            picklist=("Phone", "Email", "Web")), f("Description", "textarea", 32_000),
            read_only("IsClosed", "boolean", nillable=False), read_only("ClosedDate", "datetime"),
        )),
        sobject("Campaign", "701", _owned(
            _named(80), f("Type", "picklist", 255, picklist=("Webinar", "Email", "Conference")),
            f("StartDate", "date"), f("EndDate", "date"), f("BudgetedCost", "currency"),
            f("ExpectedResponse", "percent", precision=10, scale=2), f("IsActive", "boolean", nillable=False),
        )),
        sobject("CampaignMember", "00v", (
            ref("CampaignId", "Campaign", nillable=False), ref("LeadId", "Lead"), ref("ContactId", "Contact"),
            f("Status", "picklist", 40, picklist=("Sent", "Responded")), read_only("HasResponded", "boolean",
            nillable=False), read_only("FirstRespondedDate", "date"),
        )),
        sobject("Task", "00T", _owned(
            ref("WhoId", "Contact", "Lead", relationship="Who"), ref("WhatId", "Account", "Opportunity",
            relationship="What"), f("Subject", "combobox", 255, picklist=("Call", "Email", "Send Quote")),
            f("ActivityDate", "date", label="Due Date Only"), f("Status", "picklist", 40,
            picklist=("Not Started", "In Progress", "Completed"), nillable=False),
            f("Priority", "picklist", 40, picklist=_PRIORITY, nillable=False), f("Description", "textarea",
            32_000), f("CallDurationInSeconds", "int", precision=0, scale=0),
        )),
        sobject("Event", "00U", _owned(
            ref("WhoId", "Contact", "Lead", relationship="Who"), ref("WhatId", "Account", "Opportunity",
            relationship="What"), f("Subject", "combobox", 255, picklist=("Meeting", "Call")),
            f("StartDateTime", "datetime"), f("EndDateTime", "datetime"), f("DurationInMinutes", "int"),
            f("Location", "string", 255), f("IsAllDayEvent", "boolean", nillable=False),
        )),
        sobject("Product2", "01t", (
            _named(255), f("ProductCode", "string", 255), f("Family", "picklist", 255,
            picklist=("Hardware", "Software", "Services")), f("IsActive", "boolean", nillable=False),
            f("Description", "textarea", 4000), f("QuantityUnitOfMeasure", "picklist", 255,
            picklist=("Each", "Hour")),
        ), plural="Products"),
        sobject("Pricebook2", "01s", (_named(255), f("IsActive", "boolean", nillable=False),
                                      read_only("IsStandard", "boolean", nillable=False)),
                plural="Price Books"),
        sobject("PricebookEntry", "01u", (
            ref("Pricebook2Id", "Pricebook2", nillable=False), ref("Product2Id", "Product2", nillable=False),
            f("UnitPrice", "currency", nillable=False), f("IsActive", "boolean", nillable=False),
            f("UseStandardPrice", "boolean", nillable=False),
        ), plural="Price Book Entries"),
        sobject("OpportunityLineItem", "00k", (
            ref("OpportunityId", "Opportunity", nillable=False), ref("PricebookEntryId", "PricebookEntry"),
            f("Quantity", "double", nillable=False), f("UnitPrice", "currency"),
            read_only("TotalPrice", "currency"), f("ServiceDate", "date"),
        ), plural="Opportunity Product"),
        sobject("Contract", "800", _owned(
            ref("AccountId", "Account", nillable=False), f("Status", "picklist", 40,
            picklist=("Draft", "Activated")), f("StartDate", "date"), f("ContractTerm", "int"),
            read_only("EndDate", "date"), read_only("ContractNumber", "string", 30, auto_number=True),
            *address("Billing"),
        )),
        sobject("Order", "801", _owned(
            ref("AccountId", "Account"), ref("ContractId", "Contract"), f("Status", "picklist", 40,
            picklist=("Draft", "Activated")), f("EffectiveDate", "date", nillable=False),
            read_only("TotalAmount", "currency"), read_only("OrderNumber", "string", 30, auto_number=True),
        )),
        sobject("OrderItem", "802", (
            ref("OrderId", "Order", nillable=False), ref("Product2Id", "Product2"),
            f("Quantity", "double", nillable=False), f("UnitPrice", "currency", nillable=False),
            read_only("TotalPrice", "currency"),
        ), plural="Order Products"),
        sobject("Asset", "02i", _owned(
            _named(255), ref("AccountId", "Account"), ref("ContactId", "Contact"),
            ref("Product2Id", "Product2"), f("SerialNumber", "string", 80), f("InstallDate", "date"),
            f("Status", "picklist", 40, picklist=("Installed", "Shipped")), f("Price", "currency"),
        )),
        sobject("Note", "002", _owned(
            ref("ParentId", "Account", "Contact", "Opportunity", relationship="Parent", nillable=False),
            f("Title", "string", 80, nillable=False), f("Body", "textarea", 32_000),
            f("IsPrivate", "boolean", nillable=False),
        )),
        sobject("Document", "015", (
            _named(255), ref("FolderId", "User", relationship="Folder"), f("ContentType", "string", 120),
            f("Type", "string", 40, label="File Extension"), f("Body", "base64", label="Body"),
            read_only("BodyLength", "int", label="Body Length"), f("Description", "textarea", 255),
        )),
        # On Salesforce's list of objects Bulk API 2.0 query does not support:
        sobject("Attachment", "00P", _owned(
            ref("ParentId", "Account", "Contact", "Opportunity", "Case", relationship="Parent"),
            _named(255), f("ContentType", "string", 120), f("Body", "base64", nillable=False),
            read_only("BodyLength", "int"), f("IsPrivate", "boolean", nillable=False),
        ), bulk_queryable=False),
        sobject("CaseStatus", "01J", (
            f("MasterLabel", "string", 255, label="Master Label"), f("SortOrder", "int"),
            f("IsClosed", "boolean", nillable=False), f("IsDefault", "boolean", nillable=False),
        ), plural="Case Status Values", bulk_queryable=False),
        sobject("TaskStatus", "01J", (
            f("MasterLabel", "string", 255), f("SortOrder", "int"),
            f("IsClosed", "boolean", nillable=False), f("IsDefault", "boolean", nillable=False),
        ), plural="Task Status Values", bulk_queryable=False),
        # History rows are only ever created: CreatedDate is their one timestamp.
        sobject("AccountHistory", "017", (
            ref("AccountId", "Account", nillable=False, createable=False, updateable=False),
            read_only("Field", "picklist", 255, picklist=("Name", "Industry", "Owner", "created")),
            read_only("OldValue", "anyType"), read_only("NewValue", "anyType"),
        ), audit=("CreatedDate", "CreatedById"), plural="Account History",
            flags=(("createable", False), ("updateable", False), ("deletable", False))),
        # Sharing rows carry LastModifiedDate only.
        sobject("AccountShare", "00r", (
            ref("AccountId", "Account", nillable=False), ref("UserOrGroupId", *OWNER_REFERENCE,
            nillable=False, relationship="UserOrGroup"), f("AccountAccessLevel", "picklist", 40,
            picklist=("Read", "Edit", "All")), f("RowCause", "picklist", 40, picklist=("Owner", "Manual")),
        ), audit=("LastModifiedDate", "LastModifiedById"), plural="Account Share"),
        # No timestamp an incremental read could use; queryable, but not replicated nor bulk-readable.
        sobject("RecentlyViewed", "", (
            _named(255), f("Type", "picklist", 40, picklist=("Account", "Contact")),
            read_only("LastViewedDate", "datetime"), read_only("LastReferencedDate", "datetime"),
        ), audit=(), plural="Recently Viewed", bulk_queryable=False,
            getters={"Id": lambda v: make_id("001", v.row.index)},
            flags=(*_NOT_REPLICATED, ("createable", False), ("updateable", False), ("deletable", False))),
        sobject("AggregateResult", "", (), audit=(), plural="Aggregate Result", bulk_queryable=False,
                flags=(("queryable", False), ("retrieveable", False), *_NOT_REPLICATED, ("searchable", False),
                       ("createable", False), ("updateable", False), ("deletable", False))),
        sobject("Scontrol", "01N", (_named(255), f("DeveloperName", "string", 80)), plural="S-Controls",
                flags=(("visible", False),)),
    ]


def _custom_objects() -> list[SObject]:
    return [
        sobject("Invoice__c", "a0A", _owned(
            f("Name", "string", 80, nillable=False, auto_number=True, createable=False, updateable=False,
              label="Invoice Number"),
            ref("Account__c", "Account", label="Account"), ref("Opportunity__c", "Opportunity"),
            f("Amount__c", "currency", precision=16, scale=2), f("Status__c", "picklist", 255,
            picklist=("Draft", "Sent", "Paid", "Void")), f("Invoice_Date__c", "date"),
            f("Due_Date__c", "date"), f("Paid_At__c", "datetime"), f("Tax_Rate__c", "percent"),
            f("Is_Overdue__c", "boolean", nillable=False, formula="Due_Date__c < TODAY()",
              createable=False, updateable=False), f("Memo__c", "textarea", 32_768),
            f("External_Id__c", "string", 20, external_id=True, unique=True),
        ), plural="Invoices"),
        sobject("Invoice_Line__c", "a0B", (
            ref("Invoice__c", "Invoice__c", nillable=False, label="Invoice"), _named(80),
            ref("Product__c", "Product2", label="Product"), f("Quantity__c", "double", precision=18, scale=2),
            f("Unit_Price__c", "currency"), f("Line_Total__c", "currency", formula="Quantity__c * "
            "Unit_Price__c", createable=False, updateable=False),
        ), plural="Invoice Lines"),
        sobject("Subscription__c", "a0C", _owned(
            _named(80), ref("Account__c", "Account"), f("Plan__c", "picklist", 255,
            picklist=("Basic", "Pro", "Enterprise")), f("Seats__c", "double", precision=6, scale=0),
            f("Start_Date__c", "date"), f("Renewal_Date__c", "date"), f("Auto_Renew__c", "boolean",
            nillable=False), f("Monthly_Price__c", "currency"), f("Features__c", "multipicklist", 4099,
            picklist=("SSO", "Audit Log", "API", "Sandbox")),
        ), plural="Subscriptions"),
        sobject("Shipment__c", "a0D", _owned(
            _named(80), ref("Order__c", "Order"), f("Carrier__c", "picklist", 255,
            picklist=("UPS", "FedEx", "DHL")), f("Tracking_Url__c", "url", 255),
            f("Shipped_At__c", "datetime"), f("Delivery_Window__c", "time"),
            *geolocation("Destination__c"),
        ), plural="Shipments"),
        # The integration user has no read access to this one (INSUFFICIENT_ACCESS on describe and query).
        sobject("Salary_Band__c", "a0E", (_named(80), f("Minimum__c", "currency"),
                                          f("Maximum__c", "currency")),
                plural="Salary Bands", access_denied=True),
    ]


# fmt: on


SIZES = {
    "User": 50, "Group": 10, "RecordType": 4, "Lead": 2_000, "Case": 2_000, "Campaign": 40,
    "CampaignMember": 800, "Task": 3_000, "Event": 1_000, "Product2": 100, "Pricebook2": 3,
    "PricebookEntry": 300, "OpportunityLineItem": 4_000, "Contract": 500, "Order": 1_000,
    "OrderItem": 3_000, "Asset": 600, "Note": 400, "Document": 50, "Attachment": 200, "CaseStatus": 6,
    "TaskStatus": 5, "AccountHistory": 2_500, "AccountShare": 1_000, "RecentlyViewed": 30,
    "AggregateResult": 0, "Scontrol": 0, "Invoice__c": 3_000, "Invoice_Line__c": 8_000,
    "Subscription__c": 1_500, "Shipment__c": 1_000, "Salary_Band__c": 20,
}  # fmt: skip


def initial_objects() -> list[SObject]:
    """Every object of the org as the sandbox starts it."""
    return [_account(), _contact(), _opportunity(), _user(), *_standard_objects(), *_custom_objects()]


_INITIAL = initial_objects()
DEFAULT_SIZES.update(SIZES)


def reset() -> None:
    """Put the org's schema back to its initial state (objects and fields added at run time dropped)."""
    for name in list(OBJECTS):
        if name not in {o.name for o in _INITIAL}:
            OBJECTS.pop(name)
    for obj in _INITIAL:
        register(obj)


reset()
