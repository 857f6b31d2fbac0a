"""Salesforce Bulk API 2.0: query jobs whose CSV is streamed page by page, and ingest jobs with results.

Every page of query results is checked against `Sforce-NumberOfRecords`, and every record sent to an
ingest job must come back in exactly one of the successful, failed or unprocessed results.

Every step is safe to repeat after its reply was lost, which a dropped connection does to a step the
server already applied:

- Creating a job is repeated by the HTTP client: a lost reply leaves an empty job nobody uses (an ingest
  job stays Open and never runs; a query job runs once more for nothing). Data only ever goes to the job
  whose id came back, so two jobs never carry the same records.
- Uploading data is never repeated into the same job: Salesforce takes a second upload and then refuses
  to close the job (INVALIDJOB), and a job cannot tell what it received. When an upload's fate is
  unknown, the job (still Open, so nothing of it ever ran) is aborted and the data goes to a new job.
- Closing, aborting and deleting are repeated. A close or abort that Salesforce refuses because the job
  is already past it (INVALIDJOBSTATE) is done when the job's own state says so; a delete that finds no
  job (NOT_FOUND) is done.
- Result files are stored by Salesforce: a download cut short is read again and resumes after the rows
  already read, so no row is returned twice or skipped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from airflow_provider_integrations.connectors.base import WriteOutcome, WriteResult
from airflow_provider_integrations.connectors.salesforce_api import SYSTEM, refused_record
from airflow_provider_integrations.connectors.salesforce_bulk_csv import csv_records, stream_lines, to_csv
from airflow_provider_integrations.core.errors import (
    IntegrationError,
    PaginationError,
    PermanentError,
    TransientError,
)
from airflow_provider_integrations.core.http import HttpClient
from airflow_provider_integrations.core.url_paths import INVALID_PATH_SEGMENT, SALESFORCE_ID

log = logging.getLogger(__name__)

PAGE_RECORDS = 50_000
FAILED_STATES = ("Failed", "Aborted")
CLOSED_STATES = ("UploadComplete", "InProgress", "JobComplete", "Failed")
"""States of a job that was closed (its data handed over for processing), whatever happened next."""
SUBMIT_ATTEMPTS = 4
"""Jobs one submit may open when uploads keep ending without a reply; a fresh job each time."""
READ_ATTEMPTS = 6
"""Times one result file is opened when its download keeps being cut short."""


def job_id_segment(job_id: object) -> str:
    """A job id as a URL path segment, once it has the shape of a Salesforce id (15 or 18 letters and
    digits): anything else could name another resource. Raises PermanentError before any request."""
    problem = SALESFORCE_ID.problem(job_id)
    if problem is not None:
        raise PermanentError(f"bulk job id {problem}", system=SYSTEM, code=INVALID_PATH_SEGMENT)
    return quote(str(job_id), safe="")


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
    def from_info(cls, info: Any) -> BulkJobState:
        """From a job's status body (`GET .../jobs/<kind>/<id>`); PermanentError if it is not one."""
        if not isinstance(info, Mapping) or not isinstance(info.get("state"), str):
            raise PermanentError(
                f"a bulk job status without a state: {str(info)[:200]}", system=SYSTEM, code="BULK_STATUS"
            )

        def count(name: str) -> int | None:
            value = info.get(name)
            try:
                return None if value is None else int(value)
            except (TypeError, ValueError):
                raise PermanentError(
                    f"a bulk job status with {name}={value!r}, not a count", system=SYSTEM, code="BULK_STATUS"
                ) from None

        return cls(
            state=info["state"],
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
    """One kind of Bulk API 2.0 job (ingest or query): create, read its state, wait, close, abort,
    delete, read a result file. Each step is safe to repeat after a lost reply (see the module)."""

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

    def url(self, job_id: str, *rest: str) -> str:
        """The job's URL (and a resource under it), its id checked first."""
        return "/".join((self.base, job_id_segment(job_id), *rest))

    def create(self, body: Mapping[str, Any]) -> str:
        """A new job; its id. Repeated after a lost reply: the job made by the lost attempt stays empty."""
        job = self.client.request_json("POST", self.base, json=body, idempotent=True)
        if not isinstance(job, Mapping) or not job.get("id"):
            raise PermanentError(f"a new bulk job without an id: {str(job)[:200]}", system=SYSTEM)
        return str(job["id"])

    def state(self, job_id: str) -> BulkJobState:
        """One status call."""
        return BulkJobState.from_info(self.client.get_json(self.url(job_id)))

    def close(self, job_id: str) -> BulkJobState:
        """Hand an ingest job's data over for processing (state UploadComplete)."""
        return self._change(job_id, "UploadComplete", CLOSED_STATES)

    def abort(self, job_id: str) -> BulkJobState:
        """Stop a job; an aborted one stays aborted. A job that already ended otherwise cannot be."""
        return self._change(job_id, "Aborted", ("Aborted",))

    def delete(self, job_id: str) -> None:
        """Delete a job and its results (Salesforce deletes only ended or closed jobs); a job already
        gone is deleted."""
        try:
            self.client.request("DELETE", self.url(job_id))
        except IntegrationError as error:
            if error.code != "NOT_FOUND":
                raise

    def _change(self, job_id: str, target: str, reached: Collection[str]) -> BulkJobState:
        url = self.url(job_id)
        try:
            info = self.client.request_json("PATCH", url, json={"state": target}, idempotent=True)
        except (PermanentError, TransientError) as refused:
            # A repeat after a lost reply meets a job already past the change (INVALIDJOBSTATE), and a
            # change whose every reply was lost may still have happened: the job's state says which.
            now = self.state(job_id)
            if now.state in reached:
                log.info("bulk job %s is %s: the change to %s was made", job_id, now.state, target)
                return now
            raise refused
        return BulkJobState.from_info(info)

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

    def read_csv(
        self, url: str, params: Mapping[str, str] | None = None
    ) -> Generator[dict[str, str | None], None, tuple[httpx.Headers, int]]:
        """The rows of one stored result file; returns its headers and how many rows it held.

        A download cut short is opened again and read on after the rows already yielded (the client
        has already retried a file that cannot be opened at all).
        """
        done = 0
        for attempt in range(1, READ_ATTEMPTS + 1):
            opened = False
            try:
                with self.client.stream("GET", url, params=params) as response:
                    opened, seen = True, 0
                    for row in csv_records(stream_lines(response.iter_text())):
                        seen += 1
                        if seen > done:
                            done = seen
                            yield row
                    return response.headers, seen
            except TransientError as cut:
                if not opened or attempt == READ_ATTEMPTS:
                    raise
                log.warning("%s; reading it again after row %d", cut, done)
        raise AssertionError("unreachable: the last attempt returns or raises")


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
            headers, in_page = yield from self.job.read_csv(self.job.url(job_id, "results"), params)
            page_count = int(headers.get("sforce-numberofrecords", "-1"))
            locator = headers.get("sforce-locator")
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
        data = to_csv(records)
        for attempt in range(1, SUBMIT_ATTEMPTS + 1):
            job_id = self.job.create(body)
            try:
                self._upload(job_id, data)
                self.job.close(job_id)
                return job_id
            except (PermanentError, TransientError) as failed:
                if attempt == SUBMIT_ATTEMPTS or not self._abandon(job_id):
                    raise
                log.warning("bulk job %s: %s; its data goes to a new job", job_id, failed)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _upload(self, job_id: str, data: str) -> None:
        # Not repeated by the client once it may have reached the server: a job takes one upload only.
        self.job.client.request(
            "PUT",
            self.job.url(job_id, "batches"),
            content=data,
            headers={"Content-Type": "text/csv"},
            idempotent=False,
        )

    def _abandon(self, job_id: str) -> bool:
        """Abort a job this writer could not close. True when it was still Open: then none of it ever
        runs and its data can go to a new job. False when it was closed after all (or its state cannot
        be read): a new job could write the same records twice."""
        try:
            if self.job.state(job_id).state != "Open":
                return False
        except IntegrationError:
            return False
        try:
            aborted = self.job.abort(job_id)
        except IntegrationError as error:
            log.warning("bulk job %s stays Open, never closed so never run: %s", job_id, error)
            return True
        # A close still on its way when the state was read could have started the job after all.
        return not aborted.records_processed

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
            for row in self.job.read_csv(self.job.url(job_id, kind, "")):
                key = str(row.get(key_field))
                if kind == "successfulResults":
                    created = (row.get("sf__Created") or "").lower() == "true"
                    yield WriteResult(key, WriteOutcome.SUCCESS, row.get("sf__Id"), created)
                elif kind == "failedResults":
                    code, _, message = (row.get("sf__Error") or "UNKNOWN_ERROR").partition(":")
                    yield refused_record(key, row.get("sf__Id"), code, message.rstrip(":-"))
                else:
                    yield WriteResult(key, WriteOutcome.TRANSIENT, None, None, "UNPROCESSED", "not processed")
