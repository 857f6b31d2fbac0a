"""The emulated systems, and the Airflow connection each one is reached with."""

from __future__ import annotations

from typing import Any

from airflow_provider_integrations.sandbox.emulator.app import System
from airflow_provider_integrations.sandbox.emulator.systems.netsuite import NetSuite
from airflow_provider_integrations.sandbox.emulator.systems.salesforce import Salesforce
from airflow_provider_integrations.sandbox.emulator.systems.servicenow import ServiceNow
from airflow_provider_integrations.sandbox.emulator.systems.stripe import Stripe
from airflow_provider_integrations.sandbox.emulator.systems.workday import Workday

SYSTEMS: list[type[System]] = [Salesforce, Stripe, NetSuite, Workday, ServiceNow]


def connections(saas_url: str) -> dict[str, dict[str, Any]]:
    """Airflow connection JSON per system, pointing at the emulator on `saas_url`."""
    return {cls.name: cls.connection(f"{saas_url}/{cls.name}") for cls in SYSTEMS}
