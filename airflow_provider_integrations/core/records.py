"""Parquet part files of bounded size, written while records stream, and the manifest that lists them.

Rows are buffered one row group at a time (`row_group_rows`), so memory stays flat whatever the stream's
length; a part is closed and handed to the sink once it holds `part_rows` rows. Part names are
deterministic (`part-00000.parquet`, ...) under a prefix fixed by (system, stream, window), so a retried
extract overwrites its own files. The manifest, written last, is the only list downstream trusts.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_integrations.core.errors import ConfigError
from airflow_provider_integrations.core.schema import FieldType, RecordSchema

if TYPE_CHECKING:
    # Imported where used instead: a DAG file that only builds operators must not pay for pyarrow.
    import pyarrow as pa
    import pyarrow.parquet as pq

LINEAGE = ("_batch_id", "_source_file", "_extracted_at", "_changed_at", "_deleted")


def arrow_schema(schema: RecordSchema) -> pa.Schema:
    """The Parquet schema of a stream: its fields, then the lineage columns."""
    import pyarrow as pa

    utc = pa.timestamp("us", tz="UTC")
    types = {
        FieldType.STRING: pa.string(),
        FieldType.INTEGER: pa.int64(),
        FieldType.NUMBER: pa.float64(),
        FieldType.BOOLEAN: pa.bool_(),
        FieldType.TIMESTAMP: utc,
        FieldType.DATE: pa.date32(),
        FieldType.JSON: pa.string(),
    }
    fields = [pa.field(f.name, types[f.type]) for f in schema.fields]
    fields += [
        pa.field("_batch_id", pa.string()),
        pa.field("_source_file", pa.string()),
        pa.field("_extracted_at", utc),
        pa.field("_changed_at", utc),
        pa.field("_deleted", pa.bool_()),
    ]
    return pa.schema(fields)


def _row_getter(names: Sequence[str]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """The values of `names` in order, in one C call (`itemgetter` returns a bare value for one name)."""
    get = itemgetter(*names)
    return get if len(names) > 1 else lambda values: (get(values),)


@dataclass(frozen=True)
class PartFile:
    """One written part: where it went, how many rows, its size and checksum."""

    key: str
    rows: int
    bytes: int
    sha256: str


@dataclass(frozen=True)
class ManifestSchemaChange:
    """One difference between a stream's declared fields and what the system described at extract
    time, and what the extract did about it (`action`: added, ignored, nulled, widened, noted)."""

    field: str
    change: str
    old_type: str | None
    new_type: str | None
    action: str


@dataclass
class Manifest:
    """What one extract produced. Downstream loads exactly these files and expects exactly these counts."""

    system: str
    stream: str
    batch_id: str
    window_start: str | None
    window_end: str | None
    schema: dict[str, str]
    primary_key: list[str]
    cursor: list[str] | None
    files: list[PartFile] = field(default_factory=list)
    cursor_min: str | None = None
    cursor_max: str | None = None
    rejected: int = 0
    rejected_keys: list[str] = field(default_factory=list)
    """Keys of the records rejected to the DLQ: a full load must not take them for deleted."""
    extracted_at: str | None = None
    schema_changes: list[ManifestSchemaChange] = field(default_factory=list)
    """How the live description differed from the declared fields, one entry per field and change."""
    unknown_fields: dict[str, int] = field(default_factory=dict)
    """Fields records carried that the schema does not declare (and the extract left out), with the
    number of records that carried each."""
    run: dict[str, str] = field(default_factory=dict)
    """The task that wrote this extract: dag_id, run_id, task_id."""
    version: int = 1

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)

    def to_json(self) -> str:
        data = asdict(self)
        data["rows"] = self.rows
        return json.dumps(data, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> Manifest:
        data = json.loads(text)
        data.pop("rows", None)
        try:
            data["files"] = [PartFile(**f) for f in data["files"]]
            data["schema_changes"] = [ManifestSchemaChange(**c) for c in data.get("schema_changes", [])]
            return cls(**data)
        except TypeError as error:
            raise ConfigError(f"not a manifest this version understands: {error}") from None


Sink = Callable[[Path, str], None]
"""Stores a finished local part file under a relative name (e.g. uploads it to S3)."""


class PartWriter:
    """Writes validated rows into Parquet parts of at most `part_rows` rows each.

    Use as a context manager; `write(values, deleted, changed_at)` per row (`changed_at`: when the source
    says this version was made, which orders versions of one key), `close()` returns the parts written.
    """

    def __init__(
        self,
        schema: RecordSchema,
        sink: Sink,
        *,
        batch_id: str,
        extracted_at: datetime,
        source_prefix: str,
        part_rows: int = 500_000,
        row_group_rows: int = 20_000,
    ) -> None:
        if part_rows < 1 or row_group_rows < 1:
            raise ConfigError("part_rows and row_group_rows must be positive")
        self.schema = schema
        self.arrow = arrow_schema(schema)
        self.sink = sink
        self.batch_id = batch_id
        self.extracted_at = extracted_at
        self.source_prefix = source_prefix.rstrip("/")
        self.part_rows = part_rows
        self.row_group_rows = min(row_group_rows, part_rows)
        self.parts: list[PartFile] = []
        self._row_of = _row_getter(schema.names)
        self._rows: list[tuple[Any, ...]] = []
        self._changed_at: list[datetime | None] = []
        self._deleted: list[bool] = []
        self._buffered = 0
        self._in_part = 0
        self._writer: pq.ParquetWriter | None = None
        self._tmpdir = tempfile.TemporaryDirectory(prefix="parts-")
        self._path: Path | None = None

    def __enter__(self) -> PartWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self._tmpdir.cleanup()

    @property
    def current_name(self) -> str:
        return f"part-{len(self.parts):05d}.parquet"

    def write(
        self, values: Mapping[str, Any], deleted: bool = False, changed_at: datetime | None = None
    ) -> None:
        try:
            row = self._row_of(values)
        except KeyError:  # a field the values lack is null
            row = tuple(values.get(name) for name in self.schema.names)
        self._rows.append(row)
        self._changed_at.append(changed_at)
        self._deleted.append(deleted)
        self._buffered += 1
        self._in_part += 1
        if self._buffered >= self.row_group_rows:
            self._flush()
        if self._in_part >= self.part_rows:
            self._finish_part()

    def close(self) -> list[PartFile]:
        """Write what is buffered and return every part written (none for an empty stream)."""
        if self._buffered:
            self._flush()
        if self._writer is not None:
            self._finish_part()
        return list(self.parts)

    def _flush(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        columns: dict[str, Any] = dict(zip(self.schema.names, zip(*self._rows, strict=True), strict=True))
        # Lineage that is the same on every row of a part is built once per row group, not per row.
        part = {
            "_batch_id": self.batch_id,
            "_source_file": f"{self.source_prefix}/{self.current_name}",
            "_extracted_at": self.extracted_at,
        }
        for name, value in part.items():
            columns[name] = pa.repeat(pa.scalar(value, self.arrow.field(name).type), self._buffered)
        columns["_changed_at"] = self._changed_at
        columns["_deleted"] = self._deleted
        table = pa.Table.from_pydict(columns, schema=self.arrow)
        if self._writer is None:
            self._path = Path(self._tmpdir.name) / self.current_name
            self._writer = pq.ParquetWriter(self._path, self.arrow, compression="snappy")
        self._writer.write_table(table)
        self._rows, self._changed_at, self._deleted = [], [], []
        self._buffered = 0

    def _finish_part(self) -> None:
        if self._buffered:
            self._flush()
        assert self._writer is not None and self._path is not None
        self._writer.close()
        name = self.current_name
        digest = _sha256(self._path)
        size = self._path.stat().st_size
        self.sink(self._path, name)
        self.parts.append(PartFile(f"{self.source_prefix}/{name}", self._in_part, size, digest))
        os.unlink(self._path)
        self._writer, self._path, self._in_part = None, None, 0


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def batch_id(system: str, stream: str, window_start: str | None, window_end: str | None) -> str:
    """Deterministic id of one extract: the same (system, stream, window) always gets the same id."""
    text = "\x1f".join((system, stream, window_start or "full", window_end or "full"))
    return hashlib.sha256(text.encode()).hexdigest()[:20]
