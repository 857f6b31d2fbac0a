"""Our CPU cost per Salesforce record with the network taken out: schema validation plus Parquet writing.

Renders N Account records in memory with the sandbox emulator's own renderer, in the two shapes the
Salesforce connector hands the extract operator: REST query pages (JSON-typed values; ours reads up to
its `bulk_threshold` this way) and Bulk API 2.0 CSV (every value a string, an empty one None; ours reads
larger extracts this way). Then, pinned to one core, it times with `time.process_time()`:

- *validate*: `stream.schema.validate(record, deleted=...)` and `changed_time(...)`, per record;
- *write*: `PartWriter.write(values, deleted, changed_at)` for the already validated rows, then `close()`
  (Arrow tables, snappy Parquet in a temporary directory; the upload sink does nothing);
- *extract loop*: both, plus the cursor span, record by record as `SaaSToS3Operator._extract` does.

The stream schema is the catalog's Account stream. The pieces are the ones `operators/extract.py`
imports (`changed_time`, `CursorSpan`, `PartWriter`, `batch_id`), and the loop body mirrors `_extract`
without its DLQ branch (no record fails). The rendered input is frozen out of the garbage collector
(`gc.freeze()`): the extract streams its records, so holding them all would make each GC pass slower
than in the real operator. Each figure is the median of the repeats. Goal: the extract loop at 100,000
records/s or more on one core, in both shapes. Prints a markdown table and writes it into RESULTS.md
under "Record CPU cost", and the rows plus goals to results/record_cpu.json.

    python benchmarks/record_cpu.py [records] [repeats]   # default 100000 5
"""

from __future__ import annotations

import gc
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime
from functools import partial
from importlib.metadata import version
from pathlib import Path
from typing import Any

from integrations_sandbox.emulator.data import Dataset
from integrations_sandbox.emulator.systems.salesforce_schema import (
    OBJECTS,
    Renderer,
    RowValues,
    csv_value,
    json_value,
)
from results_file import write_json, write_section

from airflow_provider_integrations.connectors.base import Stream, load_catalog
from airflow_provider_integrations.core.records import PartWriter, batch_id
from airflow_provider_integrations.operators.extract import CursorSpan, changed_time

HEADING = "## Record CPU cost"
GOAL_RECORDS_PER_S = 100_000

Record = dict[str, Any]
Validated = tuple[dict[str, Any], bool, datetime | None]


def render(stream: Stream, count: int) -> dict[str, list[Record]]:
    """`count` Account records as REST pages carry them and as Bulk API CSV rows parse."""
    obj = OBJECTS[stream.source]
    renderer = Renderer(obj, 0, None, lambda _name: count)
    data = Dataset(stream=f"salesforce/{stream.source}", size=count)
    rest, bulk = [], []
    for index in range(count):
        row = data.row(index)
        assert row is not None
        values = RowValues(renderer, row)
        python = {name: values.get(name) for name in stream.schema.names}
        rest.append({name: json_value(value) for name, value in python.items()})
        bulk.append({name: csv_value(value) or None for name, value in python.items()})
    return {"rest": rest, "bulk": bulk}


def validated(stream: Stream, records: Iterable[Record]) -> Iterator[Validated]:
    for record in records:
        deleted = bool(record.get("_deleted") or record.get("IsDeleted"))
        values = stream.schema.validate(record, deleted=deleted).values
        yield values, deleted, changed_time(record, values, stream.changed_at)


def validate(stream: Stream, records: Iterable[Record]) -> None:
    for _ in validated(stream, records):
        pass


def part_writer(stream: Stream) -> PartWriter:
    def discard(path: Path, name: str) -> None:
        """The extract uploads the part here; this benchmark keeps the network out."""

    return PartWriter(
        stream.schema,
        discard,
        batch_id=batch_id("salesforce", stream.name, None, None),
        extracted_at=datetime.now(UTC),
        source_prefix=f"s3://bench/raw/salesforce/{stream.name}/full",
    )


def write(stream: Stream, rows: Iterable[Validated]) -> None:
    with part_writer(stream) as writer:
        for values, deleted, changed_at in rows:
            writer.write(values, deleted, changed_at)
        writer.close()


def extract_loop(stream: Stream, records: Iterable[Record]) -> None:
    span = CursorSpan()
    with part_writer(stream) as writer:
        for record in records:
            deleted = bool(record.get("_deleted") or record.get("IsDeleted"))
            values = stream.schema.validate(record, deleted=deleted).values
            changed_at = changed_time(record, values, stream.changed_at)
            writer.write(values, deleted, changed_at)
            if stream.cursor:
                span.add(values[stream.cursor[0]])
        writer.close()


def timed(work: Callable[[], Any]) -> tuple[float, float]:
    """CPU seconds and wall seconds of `work()`."""
    cpu, wall = time.process_time(), time.perf_counter()
    work()
    return time.process_time() - cpu, time.perf_counter() - wall


def table(rows: list[dict[str, Any]]) -> str:
    out = [
        "| Shape | Stage | CPU s (median) | CPU s (min-max) | Records/s (CPU) | µs per record | Wall s |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        out.append(
            f"| {r['shape']} | {r['stage']} | {r['cpu_s']:.3f} | {r['cpu_s_min']:.3f}-{r['cpu_s_max']:.3f} "
            f"| {r['records_per_s']:,.0f} | {r['us_per_record']:.1f} | {r['wall_s']:.3f} |"
        )
    return "\n".join(out)


def report(rows: list[dict[str, Any]], goals: dict[str, Any], count: int, repeats: int, fields: int) -> str:
    goal_text = "\n".join(
        f"- {g['goal']} {g['threshold']:,}: {g['measured']:,.0f}, **{'met' if g['met'] else 'not met'}**"
        for g in goals.values()
    )
    return (
        f"Measured {date.today().isoformat()} on the project machine (pinned to one of its "
        f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, pyarrow {version('pyarrow')}), "
        f"`benchmarks/record_cpu.py {count} {repeats}`: {count:,} Salesforce Account records ({fields} "
        f"fields) rendered in memory by the emulator, no network. CPU seconds are `time.process_time()`, "
        f"median of {repeats} runs. *rest* is the shape of REST query pages (typed JSON values), *bulk* "
        f"that of Bulk API 2.0 CSV (strings). *validate* is `schema.validate` + `changed_time`; *write* is "
        f"`PartWriter` (Arrow, snappy Parquet, no upload) on validated rows; *extract loop* is both plus "
        f"the cursor span, record by record, as `SaaSToS3Operator` runs them."
        f"\n\n{table(rows)}\n\nGoals:\n\n{goal_text}"
    )


def main() -> int:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    core = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})
    stream = load_catalog("salesforce.yaml")["Account"]
    shapes = render(stream, count)
    inputs = {shape: list(validated(stream, records)) for shape, records in shapes.items()}
    gc.freeze()  # the extract streams its records: held here, they would only slow every GC pass
    extract_loop(stream, shapes["rest"][:1000])  # warm-up: pyarrow imports pandas on its first conversion
    rows: list[dict[str, Any]] = []
    for shape, records in shapes.items():
        stages: dict[str, Callable[[], Any]] = {
            "validate": partial(validate, stream, records),
            "write": partial(write, stream, inputs[shape]),
            "extract loop": partial(extract_loop, stream, records),
        }
        for stage, work in stages.items():
            runs = [timed(work) for _ in range(repeats)]
            cpu = statistics.median(c for c, _ in runs)
            rows.append(
                {
                    "shape": shape,
                    "stage": stage,
                    "records": count,
                    "cpu_s": cpu,
                    "cpu_s_min": min(c for c, _ in runs),
                    "cpu_s_max": max(c for c, _ in runs),
                    "wall_s": statistics.median(w for _, w in runs),
                    "records_per_s": count / cpu,
                    "us_per_record": cpu / count * 1e6,
                }
            )
            print(f"{shape:<5} {stage:<13} {cpu:7.3f} s CPU {count / cpu:>10,.0f} records/s", file=sys.stderr)

    goals = {
        f"extract_loop_{row['shape']}_records_per_s": {
            "goal": f"extract loop ({row['shape']} shape) records/s on one core, at least",
            "threshold": GOAL_RECORDS_PER_S,
            "measured": row["records_per_s"],
            "met": row["records_per_s"] >= GOAL_RECORDS_PER_S,
        }
        for row in rows
        if row["stage"] == "extract loop"
    }
    block = report(rows, goals, count, repeats, len(stream.schema.fields))
    print(block)
    write_json("record_cpu", {"rows": rows, "goals": goals})
    write_section("record_cpu", HEADING, block)
    return 0


if __name__ == "__main__":
    sys.exit(main())
