"""Salesforce Bulk API 2.0: query jobs whose CSV is streamed page by page, and ingest jobs with results.

Every page of query results is checked against `Sforce-NumberOfRecords`, and every record sent to an
ingest job must come back in exactly one of the successful, failed or unprocessed results.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_provider_integrations.connectors.base import WriteOutcome, WriteResult
from airflow_provider_integrations.connectors.salesforce_api import SYSTEM, TRANSIENT_CODES
from airflow_provider_integrations.core.errors import PaginationError, PermanentError, TransientError
from airflow_provider_integrations.core.http import HttpClient

PAGE_RECORDS = 50_000
FAILED_STATES = ("Failed", "Aborted")


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
    """Dicts from CSV lines; an empty cell is None, as Bulk API writes nulls."""
    reader = csv.reader(lines)
    header = next(reader, None)
    if header is None:
        return
    for row in reader:
        if row:
            yield {name: (value if value != "" else None) for name, value in zip(header, row, strict=True)}


@dataclass(frozen=True)
class BulkJobState:
    """Where a Bulk API 2.0 job is, as its status call reports it.

    `state` is Salesforce's name for it (Open, UploadComplete, InProgress, JobComplete, Failed, Aborted);
    `records_processed` and `records_failed` are its `numberRecordsProcessed` / `numberRecordsFailed`
    (None when the system did not report them), `error_message` its `errorMessage`.
    """

    state: str
    records_processed: int | None = None
    records_failed: int | None = None
    error_message: str | None = None

    @classmethod
    def from_info(cls, info: Mapping[str, Any]) -> BulkJobState:
        """From a job's status body (`GET .../jobs/<kind>/<id>`)."""

        def count(name: str) -> int | None:
            value = info.get(name)
            return None if value is None else int(value)

        return cls(
            state=str(info["state"]),
            records_processed=count("numberRecordsProcessed"),
            records_failed=count("numberRecordsFailed"),
            error_message=str(info["errorMessage"]) if info.get("errorMessage") else None,
        )

    @property
    def done(self) -> bool:
        """The job completed: its results can be read."""
        return self.state == "JobComplete"

    @property
    def failed(self) -> bool:
        """The job ended without completing (Failed or Aborted); `error_message` says why, if known."""
        return self.state in FAILED_STATES

    @property
    def finished(self) -> bool:
        return self.done or self.failed

    def error(self, job_id: str) -> PermanentError:
        """The error a failed job ends a synchronous wait with."""
        return PermanentError(
            f"bulk job {job_id} ended {self.state}: {self.error_message or 'no message'}",
            system=SYSTEM,
            code=f"BULK_{self.state.upper()}",
        )


class BulkJob:
    """Create a job, read its state, wait for it."""

    def __init__(
        self,
        client: HttpClient,
        api: str,
        kind: str,
        *,
        timeout: float = 3600,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.base = f"{api}/jobs/{kind}"
        self.timeout = timeout
        self.sleep = sleep

    def create(self, body: Mapping[str, Any]) -> str:
        job: dict[str, Any] = self.client.request("POST", self.base, json=body, idempotent=True).json()
        return str(job["id"])

    def state(self, job_id: str) -> BulkJobState:
        """One status call."""
        return BulkJobState.from_info(self.client.get_json(f"{self.base}/{job_id}"))

    def wait(self, job_id: str) -> BulkJobState:
        """Poll until the job completes; a job that fails or is aborted raises PermanentError."""
        delay, waited = 0.2, 0.0
        while True:
            state = self.state(job_id)
            if state.finished:
                break
            if waited >= self.timeout:
                raise TransientError(
                    f"bulk job {job_id} still {state.state} after {waited:.0f}s", system=SYSTEM
                )
            self.sleep(delay)
            waited += delay
            delay = min(delay * 2, 10.0)
        if state.failed:
            raise state.error(job_id)
        return state


class BulkQuery:
    """A Bulk API 2.0 query whose results are streamed, never held whole."""

    def __init__(self, client: HttpClient, api: str, page_records: int = PAGE_RECORDS) -> None:
        self.job = BulkJob(client, api, "query")
        self.page_records = page_records

    def records(self, soql: str, include_deleted: bool) -> Iterator[dict[str, Any]]:
        job_id = self.job.create(
            {"operation": "queryAll" if include_deleted else "query", "query": soql, "contentType": "CSV"}
        )
        expected = self.job.wait(job_id).records_processed
        got, locator = 0, None
        while True:
            params = {"maxRecords": str(self.page_records)}
            if locator:
                params["locator"] = locator
            with self.job.client.stream(
                "GET", f"{self.job.base}/{job_id}/results", params=params
            ) as response:
                page_count = int(response.headers.get("sforce-numberofrecords", "-1"))
                in_page = 0
                for record in csv_records(stream_lines(response.iter_text())):
                    in_page += 1
                    yield record
                locator = response.headers.get("sforce-locator")
            if page_count >= 0 and in_page != page_count:
                raise PaginationError(
                    f"bulk query {job_id}: a results page said {page_count} records but held {in_page}"
                )
            got += in_page
            if not locator or locator == "null":
                break
        if expected is not None and got != expected:
            raise PaginationError(f"bulk query {job_id} processed {expected} records but returned {got}")


class BulkWriter:
    """Bulk API 2.0 ingest: one job per chunk, results read back record by record.

    `write()` does it all in one call and waits for the job in this process. To wait somewhere else
    (a deferrable operator hands the wait to the triggerer's `SalesforceBulkJobTrigger`), use the
    pieces: `submit()` returns the job id, `state()` asks for its state once, and `results()` reads one
    result per record once the job is done.
    """

    def __init__(self, client: HttpClient, api: str) -> None:
        self.job = BulkJob(client, api, "ingest")

    def write(
        self, target: str, operation: str, records: Sequence[Mapping[str, Any]], key_field: str
    ) -> Iterator[WriteResult]:
        """Submit `records`, wait for the job and yield one result per record (by `key_field`)."""
        job_id = self.submit(target, operation, records, key_field)
        self.job.wait(job_id)
        yield from self.results(job_id, key_field, [str(r.get(key_field)) for r in records])

    def submit(
        self, target: str, operation: str, records: Sequence[Mapping[str, Any]], key_field: str
    ) -> str:
        """Create an ingest job, upload `records` as CSV and close the upload; return the job's id.

        Salesforce starts processing at once; nothing here waits for it.
        """
        body: dict[str, Any] = {
            "object": target,
            "operation": operation,
            "contentType": "CSV",
            "lineEnding": "LF",
        }
        if operation == "upsert":
            body["externalIdFieldName"] = key_field
        job_id = self.job.create(body)
        self.job.client.request(
            "PUT",
            f"{self.job.base}/{job_id}/batches",
            content=to_csv(records),
            headers={"Content-Type": "text/csv"},
        )
        self.job.client.request(
            "PATCH", f"{self.job.base}/{job_id}", json={"state": "UploadComplete"}, idempotent=True
        )
        return job_id

    def state(self, job_id: str) -> BulkJobState:
        """The job's state now (one API call)."""
        return self.job.state(job_id)

    def results(self, job_id: str, key_field: str, expected_keys: Collection[str]) -> Iterator[WriteResult]:
        """One result per expected key: successful, failed (transient or permanent by its code) or
        unprocessed (transient). Call it once the job is done.

        Raises PaginationError, naming how many and which, if any expected key got no result.
        """
        pending = set(expected_keys)
        wanted = len(pending)
        for result in self._results(job_id, key_field):
            if result.key in pending:
                pending.discard(result.key)
                yield result
        if pending:
            raise PaginationError(
                f"bulk job {job_id} returned no result for {len(pending)} of {wanted} "
                f"records (e.g. {sorted(pending)[:3]})"
            )

    def _results(self, job_id: str, key_field: str) -> Iterator[WriteResult]:
        for kind in ("successfulResults", "failedResults", "unprocessedrecords"):
            with self.job.client.stream("GET", f"{self.job.base}/{job_id}/{kind}/") as response:
                for row in csv_records(stream_lines(response.iter_text())):
                    key = str(row.get(key_field))
                    if kind == "successfulResults":
                        created = (row.get("sf__Created") or "").lower() == "true"
                        yield WriteResult(key, WriteOutcome.SUCCESS, row.get("sf__Id"), created)
                    elif kind == "failedResults":
                        code, _, message = (row.get("sf__Error") or "UNKNOWN_ERROR").partition(":")
                        outcome = (
                            WriteOutcome.TRANSIENT if code in TRANSIENT_CODES else WriteOutcome.PERMANENT
                        )
                        yield WriteResult(key, outcome, row.get("sf__Id"), None, code, message.rstrip(":-"))
                    else:
                        yield WriteResult(
                            key, WriteOutcome.TRANSIENT, None, None, "UNPROCESSED", "not processed"
                        )


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
