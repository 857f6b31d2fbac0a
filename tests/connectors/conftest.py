from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx


class Admin:
    """The emulator's admin API, as tests use it."""

    def __init__(self, sandbox: Any) -> None:
        self.url = sandbox.admin_url
        self.client = httpx.Client(verify=ssl.create_default_context(cafile=sandbox.ca_bundle), timeout=60)

    def connection(self, sandbox: Any, system: str) -> dict[str, Any]:
        return dict(json.loads(sandbox.env()[f"AIRFLOW_CONN_SANDBOX_{system.upper()}"]))

    def counters(self) -> dict[str, Any]:
        return dict(self.client.get(f"{self.url}/counters").json())

    def mutate(self, system: str, stream: str, **changes: Any) -> dict[str, int]:
        response = self.client.post(f"{self.url}/datasets/{system}/{stream}/mutate", json=changes)
        response.raise_for_status()
        return dict(response.json())

    def resize(self, system: str, stream: str, size: int) -> None:
        self.client.put(f"{self.url}/datasets/{system}/{stream}", json={"size": size}).raise_for_status()

    def size(self, system: str, stream: str) -> int:
        return int(self.client.get(f"{self.url}/datasets").json()[f"{system}/{stream}"]["size"])

    def written(self, system: str, stream: str) -> dict[str, Any]:
        return dict(self.client.get(f"{self.url}/written/{system}/{stream}").json())

    @contextmanager
    def faults(self, system: str, **profile: Any) -> Iterator[None]:
        self.client.put(f"{self.url}/faults/{system}", json=profile).raise_for_status()
        try:
            yield
        finally:
            self.client.delete(f"{self.url}/faults/{system}").raise_for_status()

    @contextmanager
    def sized(self, system: str, stream: str, size: int) -> Iterator[None]:
        before = self.size(system, stream)
        self.resize(system, stream, size)
        try:
            yield
        finally:
            self.resize(system, stream, before)

    @contextmanager
    def restored(self, system: str, stream: str) -> Iterator[None]:
        """Undo every change made to a stream inside the block (the stream is regenerated)."""
        with self.sized(system, stream, self.size(system, stream)):
            yield


PATH_BREAKERS = (".", "..", "a/b", "x?y", "%2F", "", "line\nbreak")
"""Keys that, placed in a URL path unchecked, would name another resource (or none)."""
