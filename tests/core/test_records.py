"""Parquet parts written while records stream, and the manifest that lists them."""

from __future__ import annotations

import hashlib
import shutil
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from airflow_provider_integrations.core.errors import ConfigError
from airflow_provider_integrations.core.records import Manifest, PartWriter, batch_id
from airflow_provider_integrations.core.schema import RecordSchema

SCHEMA = RecordSchema.from_config(
    {"Id": {"type": "string", "required": True}, "Amount": "number", "Count": "integer",
     "Active": "boolean", "Modified": "timestamp", "Day": "date", "Tags": "json"},
    key=["Id"],
)  # fmt: skip
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def rows(n: int) -> Iterator[dict[str, Any]]:
    for i in range(n):
        yield SCHEMA.validate(
            {"Id": f"A{i:07d}", "Amount": i * 1.5, "Count": i, "Active": i % 2 == 0,
             "Modified": T0 + timedelta(seconds=i), "Day": "2025-01-02", "Tags": ["x"]}
        ).values  # fmt: skip


def local_sink(root: Path) -> Callable[[Path, str], None]:
    def sink(path: Path, name: str) -> None:
        shutil.copy(path, root / name)

    return sink


def test_parts_are_bounded_deterministic_and_carry_lineage(tmp_path: Path) -> None:
    extracted = datetime(2026, 11, 25, tzinfo=UTC)
    options = {"batch_id": "b1", "extracted_at": extracted, "source_prefix": "s3://bucket/sf/Account/w1"}
    with PartWriter(SCHEMA, local_sink(tmp_path), part_rows=1000, row_group_rows=300, **options) as writer:
        for values in rows(2500):
            writer.write(values, deleted=values["Count"] == 7)
        parts = writer.close()
    assert [p.rows for p in parts] == [1000, 1000, 500]
    assert [p.key for p in parts] == [f"s3://bucket/sf/Account/w1/part-0000{i}.parquet" for i in range(3)]
    for part in parts:
        local = tmp_path / part.key.rsplit("/", 1)[1]
        assert hashlib.sha256(local.read_bytes()).hexdigest() == part.sha256
        assert local.stat().st_size == part.bytes
    table = pq.read_table(tmp_path / "part-00001.parquet")
    assert table.num_rows == 1000
    assert table.column("Id")[0].as_py() == "A0001000"
    assert set(table.column("_source_file").to_pylist()) == {parts[1].key}
    assert set(table.column("_batch_id").to_pylist()) == {"b1"}
    assert table.column("Modified")[0].as_py() == T0 + timedelta(seconds=1000)
    first = pq.read_table(tmp_path / "part-00000.parquet")
    assert first.column("_deleted").to_pylist().count(True) == 1


def test_an_empty_stream_writes_no_part(tmp_path: Path) -> None:
    with PartWriter(SCHEMA, local_sink(tmp_path), batch_id="b", extracted_at=T0, source_prefix="p") as writer:
        assert writer.close() == []


def test_memory_stays_flat_while_writing_many_rows(tmp_path: Path) -> None:
    def peak_for(n: int) -> int:
        tracemalloc.start()
        with PartWriter(SCHEMA, lambda path, name: None, batch_id="b", extracted_at=T0, source_prefix="p",
                        part_rows=50_000, row_group_rows=5_000) as writer:  # fmt: skip
            for values in rows(n):
                writer.write(values)
            writer.close()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return peak

    small, large = peak_for(10_000), peak_for(120_000)
    assert large < small * 2, (small, large)


def test_manifest_round_trips_and_batch_ids_are_deterministic() -> None:
    from airflow_provider_integrations.core.records import PartFile

    manifest = Manifest("salesforce", "Account", batch_id("salesforce", "Account", "a", "b"), "a", "b",
                        {"Id": "string"}, ["Id"], ["SystemModstamp", "Id"],
                        [PartFile("k/part-00000.parquet", 3, 100, "ab")], "2025-01-01", "2025-01-02",
                        1)  # fmt: skip
    again = Manifest.from_json(manifest.to_json())
    assert again == manifest and again.rows == 3
    assert batch_id("s", "x", "a", "b") == batch_id("s", "x", "a", "b") != batch_id("s", "x", "a", "c")
    with pytest.raises(ConfigError, match="manifest"):
        Manifest.from_json('{"files": [], "unexpected": 1}')
