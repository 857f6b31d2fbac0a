"""Provider metadata Airflow reads through the `apache_airflow_provider` entry point."""

from __future__ import annotations

from typing import Any

from airflow_provider_integrations import __version__
from airflow_provider_integrations.connection_types import CONNECTION_TYPES


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-provider-integrations",
        "name": "Integrations (SaaS <-> Snowflake)",
        "description": (
            "Hooks, operators and DAGs that move data between Salesforce, NetSuite, Stripe, Workday, "
            "ServiceNow and Snowflake through S3, with reverse ETL and a dead-letter queue."
        ),
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Dead-letter queue",
                "external-doc-url": "https://pypi.org/project/airflow-provider-integrations/",
                "tags": ["software"],
            },
            {
                "integration-name": "Salesforce",
                "external-doc-url": "https://developer.salesforce.com/docs/atlas.en-us.api_asynch.meta/api_asynch/",
                "tags": ["service"],
            },
        ],
        "triggers": [
            {
                "integration-name": "Salesforce",
                "python-modules": ["airflow_provider_integrations.triggers.salesforce_bulk"],
            }
        ],
        "connection-types": [kind.provider_info() for kind in CONNECTION_TYPES],
    }
