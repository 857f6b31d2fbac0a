"""Airflow UI plugins shipped with the provider, registered through the `airflow.plugins` entry point.

`DeadLettersPlugin` adds "Dead letters" to the Browse menu of the Airflow UI: a page that lists the
records the provider's tasks could not deliver, with filters, the full entry, and Resolve and Replay
actions. The page itself lives in :mod:`airflow_provider_integrations.plugins.dlq_page`.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from airflow.plugins_manager import AirflowPlugin

URL_PREFIX = "/dead-letters"


class DeadLettersPlugin(AirflowPlugin):
    """Mounts the "Dead letters" page in the API server at ``/dead-letters/`` and links it in the UI.

    The page opens inside the Airflow UI at ``/plugin/dead-letters`` (Browse > Dead letters). Every route
    needs a signed-in Airflow user; see :mod:`airflow_provider_integrations.plugins.dlq_page` for who may
    see, resolve and replay which entries.
    """

    name = "integrations_dlq"
    external_views = [  # noqa: RUF012 - AirflowPlugin declares its extension points as class lists
        {
            "name": "Dead letters",
            "href": f"{URL_PREFIX}/",  # the trailing slash makes the plugin, not the UI, answer
            "url_route": "dead-letters",
            "destination": "nav",
            "category": "browse",
        }
    ]

    @cached_property
    def fastapi_apps(self) -> list[dict[str, Any]]:  # type: ignore[override]
        """The page's FastAPI app, imported on first use.

        Every task process loads all plugins (for their macros), so the FastAPI app and the API server
        modules it needs are imported only where something asks for the app: the API server.
        """
        from airflow_provider_integrations.plugins.dlq_page import app

        return [{"app": app, "url_prefix": URL_PREFIX, "name": "Dead letters"}]
