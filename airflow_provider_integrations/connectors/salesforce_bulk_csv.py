"""Bulk API 2.0 CSV: result files read as dicts row by row, records written as an upload.

Result fields can be longer than the csv module reads by default: failed results carry back the data
sent, so a field of theirs can be as long as anything uploaded.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from airflow_provider_integrations.connectors.salesforce_api import SYSTEM
from airflow_provider_integrations.core.errors import PermanentError

MAX_FIELD_CHARS = 150 * 1024 * 1024
"""Bulk API 2.0's largest upload, so the longest field a result file can hold (the csv module stops at
131,072 characters by default)."""


def stream_lines(chunks: Iterable[str]) -> Iterator[str]:
    """Lines with their `\\n` kept, from text chunks of any size (the csv module joins quoted newlines)."""
    pending = ""
    for chunk in chunks:
        pending += chunk
        *lines, pending = pending.split("\n")
        for line in lines:
            yield line + "\n"
    if pending:
        yield pending


def csv_records(lines: Iterable[str]) -> Iterator[dict[str, str | None]]:
    """Dicts from CSV lines; an empty cell is None, as Bulk API writes nulls.

    Fields up to MAX_FIELD_CHARS are read; a result that is not CSV raises PermanentError naming the line.
    """
    # The limit is process-wide in the csv module; it is only ever raised here, never lowered.
    if csv.field_size_limit() < MAX_FIELD_CHARS:
        csv.field_size_limit(MAX_FIELD_CHARS)
    reader = csv.reader(lines)
    try:
        header = next(reader, None)
        if header is None:
            return
        for row in reader:
            if row:
                yield {
                    name: (value if value != "" else None) for name, value in zip(header, row, strict=True)
                }
    except (csv.Error, ValueError) as error:
        raise PermanentError(
            f"a Bulk API result is not the CSV it should be at line {reader.line_num}: {error}", system=SYSTEM
        ) from error


def to_csv(records: Sequence[Mapping[str, Any]]) -> str:
    """Records as Bulk API CSV: columns in first-seen order; None becomes `#N/A` (set the field to null),
    a field a record lacks stays empty (leave it as it is)."""
    columns = list(dict.fromkeys(name for record in records for name in record))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for record in records:
        writer.writerow([_cell(record[c]) if c in record else "" for c in columns])
    return out.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return "#N/A"
    if isinstance(value, bool):
        return "true" if value else "false"
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value)
