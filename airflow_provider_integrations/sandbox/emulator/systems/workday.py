"""Workday emulator (to be filled in)."""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute

from airflow_provider_integrations.sandbox.emulator.app import System


class Workday(System):
    name = "workday"

    @classmethod
    def connection(cls, base_url: str) -> dict[str, Any]:
        return {"conn_type": "workday", "host": base_url}

    def streams(self) -> list[str]:
        return []

    def routes(self) -> list[BaseRoute]:
        return []
