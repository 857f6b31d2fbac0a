"""The connection types this provider adds to Airflow, with their form fields, as plain data.

Airflow 3 reads connection forms from the provider info (`conn-fields`, `ui-field-behaviour`); keeping
them here, free of heavy imports, lets provider discovery stay fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class FormField:
    """An extra field of the connection form, stored in the connection's extra under `name`."""

    name: str
    label: str
    secret: bool = False
    description: str = ""
    kind: str = "string"

    def provider_info(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": [self.kind, "null"]}
        if self.secret:
            schema["format"] = "password"
        info: dict[str, Any] = {"label": self.label, "schema": schema}
        if self.description:
            info["description"] = self.description
        return info


COMMON_FIELDS = (
    FormField("ca_bundle", "CA bundle path", description="PEM file to trust instead of the system store"),
    FormField(
        "streams", "Custom streams (JSON)", description="extra stream declarations, shaped like the catalog"
    ),
    FormField("max_attempts", "Max attempts per call", kind="integer"),
    FormField("rate_limit_per_second", "Client rate limit (calls/s)", kind="number"),
)


@dataclass(frozen=True)
class ConnectionType:
    """One system's connection type: `integrations_<system>`, served by `hooks.<system>.<hook>`."""

    system: str
    hook: str
    label: str
    fields: tuple[FormField, ...] = ()
    hidden: tuple[str, ...] = ("schema", "port")
    relabeling: dict[str, str] = field(default_factory=dict)
    placeholders: dict[str, str] = field(default_factory=dict)

    @property
    def conn_type(self) -> str:
        return f"integrations_{self.system}"

    @property
    def hook_name(self) -> str:
        return f"{self.label} (integrations)"

    def provider_info(self) -> dict[str, Any]:
        return {
            "connection-type": self.conn_type,
            "hook-class-name": f"airflow_provider_integrations.hooks.{self.system}.{self.hook}",
            "hook-name": self.hook_name,
            "ui-field-behaviour": {
                "hidden-fields": list(self.hidden),
                "relabeling": dict(self.relabeling),
                "placeholders": dict(self.placeholders),
            },
            "conn-fields": {f.name: f.provider_info() for f in (*self.fields, *COMMON_FIELDS)},
        }


STRIPE = ConnectionType(
    system="stripe",
    hook="StripeHook",
    label="Stripe",
    fields=(
        FormField("stripe_version", "Stripe-Version", description="pinned API version, e.g. 2024-06-20"),
    ),
    hidden=("schema", "port", "login"),
    relabeling={"host": "API base URL", "password": "Secret or restricted key"},
    placeholders={"host": "https://api.stripe.com", "password": "sk_live_... or rk_live_..."},
)

NETSUITE = ConnectionType(
    system="netsuite",
    hook="NetSuiteHook",
    label="NetSuite",
    fields=(
        FormField("account_id", "Account ID", description="e.g. 1234567 or 1234567_SB1"),
        FormField("consumer_key", "Consumer key"),
        FormField("consumer_secret", "Consumer secret", secret=True),
        FormField("token_id", "Token ID"),
        FormField("token_secret", "Token secret", secret=True),
    ),
    hidden=("schema", "port", "login", "password"),
    relabeling={"host": "REST base URL"},
    placeholders={"host": "https://1234567.suitetalk.api.netsuite.com"},
)

SALESFORCE = ConnectionType(
    system="salesforce",
    hook="SalesforceHook",
    label="Salesforce",
    fields=(
        FormField("auth", "Auth flow", description="password, refresh_token or jwt"),
        FormField("client_id", "Connected app client id"),
        FormField("client_secret", "Connected app client secret", secret=True),
        FormField("security_token", "Security token", secret=True),
        FormField("refresh_token", "Refresh token", secret=True),
        FormField("private_key", "JWT private key (PEM)", secret=True),
        FormField("auth_url", "Login URL", description="https://login.salesforce.com or a My Domain URL"),
        FormField("api_version", "API version", description="e.g. 59.0"),
        FormField("budget_share", "Stop at share of daily API limit", kind="number"),
        FormField("bulk_threshold", "Bulk API above N records", kind="integer"),
    ),
    hidden=("schema", "port"),
    relabeling={"host": "Instance URL", "login": "Username"},
    placeholders={"host": "https://example.my.salesforce.com", "login": "integration@example.com"},
)

WORKDAY = ConnectionType(
    system="workday",
    hook="WorkdayHook",
    label="Workday",
    fields=(
        FormField("tenant", "Tenant"),
        FormField("client_id", "Client id"),
        FormField("client_secret", "Client secret", secret=True),
        FormField("refresh_token", "Refresh token", secret=True),
    ),
    hidden=("schema", "port", "login", "password"),
    relabeling={"host": "REST base URL"},
    placeholders={"host": "https://wd2-impl-services1.workday.com"},
)

SERVICENOW = ConnectionType(
    system="servicenow",
    hook="ServiceNowHook",
    label="ServiceNow",
    fields=(
        FormField("client_id", "OAuth client id", description="leave empty for basic auth"),
        FormField("client_secret", "OAuth client secret", secret=True),
    ),
    hidden=("schema", "port"),
    relabeling={"host": "Instance URL"},
    placeholders={"host": "https://example.service-now.com"},
)

CONNECTION_TYPES = (SALESFORCE, NETSUITE, STRIPE, WORKDAY, SERVICENOW)
