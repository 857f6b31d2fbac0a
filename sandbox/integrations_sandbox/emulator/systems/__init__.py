"""The emulated systems, and the Airflow connection each one is reached with."""

from __future__ import annotations

from typing import Any

from integrations_sandbox.emulator.app import System
from integrations_sandbox.emulator.systems.netsuite import NetSuite
from integrations_sandbox.emulator.systems.salesforce import Salesforce
from integrations_sandbox.emulator.systems.servicenow import ServiceNow
from integrations_sandbox.emulator.systems.stripe import Stripe
from integrations_sandbox.emulator.systems.workday import Workday

SYSTEMS: list[type[System]] = [Salesforce, Stripe, NetSuite, Workday, ServiceNow]


CONN_TYPE_PREFIX = "integrations_"


def connections(saas_url: str, ca_bundle: str) -> dict[str, dict[str, Any]]:
    """Airflow connection JSON per system, pointing at the emulator on `saas_url` and trusting its CA.

    Connection types are this provider's own (`integrations_<system>`), so they never clash with a
    stock provider's type of the same system.
    """
    found = {}
    for cls in SYSTEMS:
        conn = cls.connection(f"{saas_url}/{cls.name}")
        extra = {**conn.get("extra", {}), "ca_bundle": ca_bundle}
        found[cls.name] = {**conn, "conn_type": f"{CONN_TYPE_PREFIX}{cls.name}", "extra": extra}
    return found
