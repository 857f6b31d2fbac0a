"""DLQ stores on plain objects: a local directory (the default) or an S3 prefix.

Nothing is ever read, modified and written back. Each written batch is one new object whose name is a
digest of its entry ids, so a retried task rewrites the same object; each status change is one more small
object. Reading merges them: the first created copy of an entry id wins, the latest status event applies.
Reading scans every object, so a DLQ expected to hold many thousands of entries belongs in the SQL store.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from airflow_provider_integrations.core.dlq.entry import (
    DLQEntry,
    DLQFilter,
    DLQStatus,
    to_jsonl,
)
from airflow_provider_integrations.core.dlq.redaction import Redactor
from airflow_provider_integrations.core.dlq.store import DLQStore
from airflow_provider_integrations.core.errors import ConfigError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_ENTRIES = "entries/"
_STATUS = "status/"


class Blobs(Protocol):
    """The four object operations the store needs."""

    def put(self, key: str, data: bytes) -> None: ...

    def get(self, key: str) -> bytes: ...

    def keys(self, prefix: str) -> Iterator[str]: ...

    def exists(self, key: str) -> bool: ...


class LocalBlobs:
    """Objects as files under a directory; each write is atomic (temporary file, then rename)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def put(self, key: str, data: bytes) -> None:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)

    def get(self, key: str) -> bytes:
        return (self.root / key).read_bytes()

    def keys(self, prefix: str) -> Iterator[str]:
        base = self.root / prefix
        if not base.exists():
            return
        for path in sorted(base.rglob("*")):
            if path.is_file() and not path.name.startswith(".tmp-"):
                yield path.relative_to(self.root).as_posix()

    def exists(self, key: str) -> bool:
        return (self.root / key).is_file()


class S3Blobs:
    """Objects under `s3://bucket/prefix/` through a boto3 S3 client."""

    def __init__(self, client: S3Client, bucket: str, prefix: str = "dlq/") -> None:
        if not bucket:
            raise ConfigError("the S3 DLQ store needs a bucket name")
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=data)

    def get(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)["Body"].read()

    def keys(self, prefix: str) -> Iterator[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix + prefix
        )
        for page in pages:
            for item in page.get("Contents", []):
                yield item["Key"][len(self.prefix) :]

    def exists(self, key: str) -> bool:
        found = self.client.list_objects_v2(Bucket=self.bucket, Prefix=self.prefix + key, MaxKeys=1)
        return any(item["Key"] == self.prefix + key for item in found.get("Contents", []))


class ObjectDLQStore(DLQStore):
    """DLQ on any :class:`Blobs`; use :class:`LocalDLQStore` or :class:`S3DLQStore`."""

    def __init__(self, blobs: Blobs, redactor: Redactor | None = None) -> None:
        super().__init__(redactor)
        self.blobs = blobs

    def _write(self, entries: list[DLQEntry]) -> None:
        digest = hashlib.sha256("\n".join(sorted(e.id for e in entries)).encode()).hexdigest()[:32]
        day = min(e.created_at for e in entries).date().isoformat()
        key = f"{_ENTRIES}{day}/{digest}.jsonl"
        if not self.blobs.exists(key):
            self.blobs.put(key, to_jsonl(entries))

    def _statuses(self) -> dict[str, tuple[datetime, DLQStatus, str | None]]:
        latest: dict[str, tuple[datetime, DLQStatus, str | None]] = {}
        for key in self.blobs.keys(_STATUS):
            event = json.loads(self.blobs.get(key))
            when = datetime.fromisoformat(event["updated_at"])
            current = latest.get(event["id"])
            if current is None or when >= current[0]:
                latest[event["id"]] = (when, DLQStatus(event["status"]), event.get("note"))
        return latest

    def _entries(self) -> Iterable[DLQEntry]:
        """Every entry once: where a retried task stored an id twice, the first created copy wins."""
        first: dict[str, DLQEntry] = {}
        for key in self.blobs.keys(_ENTRIES):
            for line in self.blobs.get(key).splitlines():
                if not line.strip():
                    continue
                entry = DLQEntry.from_json(json.loads(line))
                kept = first.get(entry.id)
                if kept is None or entry.created_at < kept.created_at:
                    first[entry.id] = entry
        return first.values()

    def _list(self, where: DLQFilter, limit: int) -> list[DLQEntry]:
        statuses = self._statuses()

        def with_status(entry: DLQEntry) -> DLQEntry:
            if entry.id in statuses:
                when, status, note = statuses[entry.id]
                return entry.with_status(status, note, when)
            return entry

        matching = (e for e in map(with_status, self._entries()) if where.matches(e))
        return heapq.nlargest(limit, matching, key=lambda e: (e.created_at, e.id))

    def _mark(self, ids: list[str], status: DLQStatus, note: str | None, when: datetime) -> int:
        wanted = set(ids)
        known = {e.id for e in self._entries() if e.id in wanted}
        for entry_id in ids:
            if entry_id not in known:
                continue
            event = {"id": entry_id, "status": status.value, "note": note, "updated_at": when.isoformat()}
            stamp = when.strftime("%Y%m%dT%H%M%S%fZ")
            self.blobs.put(f"{_STATUS}{entry_id}/{stamp}-{status.value}.json", json.dumps(event).encode())
        return len(known)


class LocalDLQStore(ObjectDLQStore):
    """The embedded default: JSON Lines files under a local directory."""

    def __init__(self, root: str | os.PathLike[str], redactor: Redactor | None = None) -> None:
        super().__init__(LocalBlobs(root), redactor)


class S3DLQStore(ObjectDLQStore):
    """DLQ under an S3 prefix, shared by every worker: one object per written batch."""

    def __init__(
        self, client: S3Client, bucket: str, prefix: str = "dlq/", redactor: Redactor | None = None
    ) -> None:
        super().__init__(S3Blobs(client, bucket, prefix), redactor)
