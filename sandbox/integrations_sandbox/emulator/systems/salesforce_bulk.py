"""Salesforce Bulk API 2.0: query jobs with CSV result pages, and ingest jobs with per-record results.

A job moves UploadComplete (ingest: Open -> UploadComplete) -> InProgress -> JobComplete as it is polled
(the second status call, or one second after it was closed, sees it complete). Query results stream as CSV
from the dataset: the page is counted first (keys only, nothing rendered), then rendered in chunks, so a
page of a million rows never exists in memory. A result locator encodes where the next page starts (rows
served and the last row's key), so it stays valid for the job's lifetime, as Salesforce's do.

Job steps answer as Salesforce's do when repeated or out of order, so a client's retry meets what it
would meet there: a state change the job cannot make (including the state it is already in) is a 400
INVALIDJOBSTATE, a second upload to one job makes its close fail with INVALIDJOB and leaves it Open, only
finished or closed jobs can be deleted. tests/sandbox/test_salesforce.py names the sources.
"""

from __future__ import annotations

import base64
import csv
import io
import itertools
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from integrations_sandbox.emulator.data import Row
from integrations_sandbox.emulator.systems.salesforce_auth import USER_ID
from integrations_sandbox.emulator.systems.salesforce_rest import refused
from integrations_sandbox.emulator.systems.salesforce_scan import Key, Scan
from integrations_sandbox.emulator.systems.salesforce_schema import (
    COMPOUND_TYPES,
    RowValues,
    csv_value,
    find_object,
    make_id,
    sf_datetime,
)
from integrations_sandbox.emulator.systems.salesforce_soql import Query, SoqlError, parse
from integrations_sandbox.emulator.systems.salesforce_wire import (
    BadBody,
    bad_body,
    errors,
    json_object,
    json_response,
)

if TYPE_CHECKING:
    from integrations_sandbox.emulator.systems.salesforce import Salesforce

DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^", "BACKQUOTE": "`"}
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
DEFAULT_MAX_RECORDS = 100_000
MAX_JOBS = 500
COMPLETE_AFTER_SECONDS = 1.0
_CHUNK = 2000
_INGEST_OPERATIONS = {"insert": "create", "update": "update", "upsert": "upsert", "delete": "delete",
                      "hardDelete": "delete"}  # fmt: skip
MAX_UPLOAD_BYTES = 150 * 1024 * 1024
"""Bulk API 2.0's largest upload; no field of an upload can be longer."""
_DELETABLE = {"ingest": ("UploadComplete", "JobComplete", "Aborted", "Failed"),
              "query": ("JobComplete", "Aborted", "Failed")}  # fmt: skip


@dataclass
class Job:
    """What query and ingest jobs share."""

    id: str
    operation: str
    object: str
    version: str
    delimiter: str
    line_ending: str
    state: str
    created: str = field(default_factory=lambda: sf_datetime(datetime.now(UTC)))
    closed_at: float | None = None
    polls: int = 0
    error_message: str | None = None

    def advance(self) -> None:
        """A status call: jobs that are closed progress towards JobComplete."""
        if self.state not in ("UploadComplete", "InProgress") or self.closed_at is None:
            return
        self.polls += 1
        done = self.polls >= 2 or time.monotonic() - self.closed_at >= COMPLETE_AFTER_SECONDS
        self.state = "JobComplete" if done else "InProgress"

    def info(self) -> dict[str, Any]:
        body = {
            "id": self.id,
            "operation": self.operation,
            "object": self.object,
            "createdById": USER_ID,
            "createdDate": self.created,
            "systemModstamp": self.created,
            "state": self.state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(self.version),
            "lineEnding": self.line_ending,
            "columnDelimiter": self.delimiter,
        }
        if self.error_message:
            body["errorMessage"] = self.error_message
        return body


@dataclass
class QueryJob(Job):
    """A Bulk API 2.0 query job."""

    query: Query | None = None
    total: int | None = None

    def info(self) -> dict[str, Any]:
        body = {**super().info(), "jobType": "V2Query"}
        if self.state == "JobComplete":
            body.update(numberRecordsProcessed=self.total or 0, retries=0, totalProcessingTime=0)
        return body


@dataclass
class IngestJob(Job):
    """A Bulk API 2.0 ingest job and, once closed, its per-record results."""

    external_field: str | None = None
    uploads: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    successes: list[list[str]] = field(default_factory=list)
    failures: list[list[str]] = field(default_factory=list)
    unprocessed: list[list[str]] = field(default_factory=list)

    def info(self) -> dict[str, Any]:
        body = {
            **super().info(),
            "jobType": "V2Ingest",
            "contentUrl": f"services/data/v{self.version}/jobs/ingest/{self.id}/batches",
        }
        if self.external_field:
            body["externalIdFieldName"] = self.external_field
        complete = self.state == "JobComplete"
        body.update(
            numberRecordsProcessed=len(self.successes) + len(self.failures) if complete else 0,
            numberRecordsFailed=len(self.failures) if complete else 0,
            retries=0,
            totalProcessingTime=0,
            apiActiveProcessingTime=0,
            apexProcessingTime=0,
        )
        return body


class BulkJobs:
    """Every Bulk API 2.0 job of the emulator, oldest dropped past MAX_JOBS."""

    def __init__(self, sf: Salesforce) -> None:
        self.sf = sf
        self.jobs: OrderedDict[str, Job] = OrderedDict()
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()
        self.query_jobs_created = 0

    def add(self, job: Job) -> None:
        with self._lock:
            self.jobs[job.id] = job
            while len(self.jobs) > MAX_JOBS:
                self.jobs.popitem(last=False)

    def new_id(self) -> str:
        return make_id("750", next(self._numbers))

    def find(self, job_id: str, kind: type[Job]) -> Job | None:
        job = self.jobs.get(job_id)
        return job if isinstance(job, kind) else None


def _job_missing(job_id: str) -> Response:
    return errors(404, "NOT_FOUND", f"The requested resource does not exist: job {job_id}")


def _invalid_job(message: str) -> Response:
    return errors(400, "INVALIDJOB", message)


def _invalid_state(job: Job, wanted: str) -> Response:
    return errors(
        400, "INVALIDJOBSTATE", f"Cannot change the state of job {job.id} from {job.state} to {wanted}"
    )


def _delete(sf: Salesforce, job: Job, kind: str) -> Response:
    if job.state not in _DELETABLE[kind]:
        return errors(
            400,
            "INVALIDJOBSTATE",
            f"Job {job.id} is {job.state}; only a job that is {', '.join(_DELETABLE[kind])} can be deleted",
        )
    sf.bulk.jobs.pop(job.id, None)
    return Response(status_code=204)


def _format(body: dict[str, Any]) -> tuple[str, str] | Response:
    delimiter = body.get("columnDelimiter", "COMMA")
    line_ending = body.get("lineEnding", "LF")
    if delimiter not in DELIMITERS:
        return _invalid_job(f"InvalidJob : Invalid column delimiter: {delimiter}")
    if line_ending not in LINE_ENDINGS:
        return _invalid_job(f"InvalidJob : Invalid line ending: {line_ending}")
    if body.get("contentType", "CSV") != "CSV":
        return _invalid_job("InvalidJob : Only CSV content is supported")
    return delimiter, line_ending


async def create_query_job(sf: Salesforce, request: Request, version: str) -> Response:
    try:
        body = await json_object(request)
    except BadBody as error:
        return bad_body(error)
    if not isinstance(body, dict):
        return errors(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
    operation = body.get("operation")
    if operation not in ("query", "queryAll"):
        return _invalid_job(f"InvalidJob : Invalid operation for a query job: {operation}")
    formats = _format(body)
    if isinstance(formats, Response):
        return formats
    try:
        parsed = parse(str(body.get("query") or ""))
    except SoqlError as error:
        return errors(400, error.code, error.message)
    if parsed.count is not None:
        return errors(400, "API_ERROR", "Aggregate queries are not supported by Bulk API 2.0")
    refusal = refused(parsed.obj)
    if refusal is not None:
        return refusal
    if not parsed.obj.bulk_queryable:
        return errors(400, "INVALIDENTITY", f"Entity '{parsed.obj.name}' is not supported by the Bulk API.")
    compound = [n for n in parsed.fields if getattr(parsed.obj.field(n), "type", "") in COMPOUND_TYPES]
    if compound:
        return errors(400, "API_ERROR", "Selecting compound data not supported in Bulk Query")
    job = QueryJob(sf.bulk.new_id(), operation, parsed.obj.name, version, *formats, state="UploadComplete",
                   closed_at=time.monotonic(), query=parsed)  # fmt: skip
    sf.bulk.add(job)
    sf.bulk.query_jobs_created += 1
    return json_response(job.info())


async def query_job(sf: Salesforce, request: Request, version: str, job_id: str) -> Response:
    job = sf.bulk.find(job_id, QueryJob)
    if not isinstance(job, QueryJob):
        return _job_missing(job_id)
    if request.method == "DELETE":
        return _delete(sf, job, "query")
    if request.method == "PATCH":
        try:
            body = await json_object(request)
        except BadBody as error:
            return bad_body(error)
        wanted = body.get("state") if isinstance(body, dict) else None
        if wanted != "Aborted" or job.state not in ("UploadComplete", "InProgress"):
            return _invalid_state(job, str(wanted))
        job.state = "Aborted"
        return json_response(job.info())
    job.advance()
    if job.state == "JobComplete" and job.total is None:
        job.total = _total(_scan(sf, job), job.query)
    return json_response(job.info())


def _scan(sf: Salesforce, job: QueryJob) -> Scan:
    assert job.query is not None
    return sf.scan(job.query, job.operation == "queryAll")


def _total(scan: Scan, parsed: Query | None) -> int:
    assert parsed is not None
    matched = max(0, scan.count() - parsed.offset)
    return matched if parsed.limit is None else min(matched, parsed.limit)


async def query_results(sf: Salesforce, request: Request, version: str, job_id: str) -> Response:
    job = sf.bulk.find(job_id, QueryJob)
    if not isinstance(job, QueryJob):
        return _job_missing(job_id)
    if job.state != "JobComplete":
        return errors(400, "INVALIDJOBSTATE", f"The job is not complete: its state is {job.state}")
    try:
        limit = int(request.query_params.get("maxRecords", DEFAULT_MAX_RECORDS))
        served, after = _decode_locator(request.query_params.get("locator", ""))
    except ValueError:
        return errors(400, "INVALIDLOCATOR", "The locator or maxRecords parameter is invalid")
    if limit < 1:
        return errors(400, "INVALIDLOCATOR", "maxRecords must be positive")
    try:
        scan = _scan(sf, job)
        if job.total is None:
            job.total = _total(scan, job.query)
        return _results_page(sf, job, scan, served, after, min(limit, max(0, job.total - served)))
    except SoqlError as error:
        return errors(400, error.code, error.message)


def _results_page(
    sf: Salesforce, job: QueryJob, scan: Scan, served: int, after: Key | None, size: int
) -> Response:
    assert job.query is not None and job.total is not None
    count, last_key = 0, after
    for row in _rows_from(scan, job.query, served, after, size):
        count += 1
        last_key = scan.key(row) if scan.kind != "sort" else None
    more = served + count < job.total and count == size
    headers = {
        "Sforce-NumberOfRecords": str(count),
        "Sforce-Locator": _encode_locator(served + count, last_key) if more else "null",
    }
    sf.faults.served(sf.name, job.query.obj.name, count)
    chunks = _csv_chunks(sf, job, _rows_from(scan, job.query, served, after, count))
    return StreamingResponse(chunks, headers=headers, media_type="text/csv")


def _rows_from(scan: Scan, parsed: Query, served: int, after: Key | None, size: int) -> Iterator[Row]:
    if scan.kind == "sort":
        needed = parsed.offset + served + size
        return iter(scan.sorted_rows(needed)[parsed.offset + served : needed])
    if after is None:
        return itertools.islice(scan.rows(), parsed.offset + served, parsed.offset + served + size)
    return itertools.islice(scan.rows(after), size)


def _csv_chunks(sf: Salesforce, job: QueryJob, rows: Iterator[Row]) -> Iterator[bytes]:
    assert job.query is not None
    obj = job.query.obj
    renderer = sf.renderer(obj)
    delimiter, newline = DELIMITERS[job.delimiter], LINE_ENDINGS[job.line_ending]
    getters = [obj.getter(name) for name in job.query.fields]
    yield (delimiter.join(_quote(n) for n in job.query.fields) + newline).encode()
    while True:
        lines = []
        for row in itertools.islice(rows, _CHUNK):
            values = RowValues(renderer, row)
            lines.append(delimiter.join(_quote(csv_value(get(values))) for get in getters))
        if not lines:
            return
        yield (newline.join(lines) + newline).encode()


def _quote(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def _encode_locator(served: int, key: Key | None) -> str:
    text = f"{served}:{'.'.join(map(str, key or ()))}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode_locator(locator: str) -> tuple[int, Key | None]:
    if not locator or locator == "null":
        return 0, None
    text = base64.urlsafe_b64decode(locator + "=" * (-len(locator) % 4)).decode()
    served, _, key = text.partition(":")
    return int(served), tuple(int(part) for part in key.split(".")) if key else None


async def create_ingest_job(sf: Salesforce, request: Request, version: str) -> Response:
    try:
        body = await json_object(request)
    except BadBody as error:
        return bad_body(error)
    if not isinstance(body, dict):
        return errors(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
    obj = find_object(str(body.get("object", "")))
    if obj is None:
        return _invalid_job(f"InvalidJob : Unable to find object: {body.get('object')}")
    operation = body.get("operation")
    if operation not in _INGEST_OPERATIONS:
        return _invalid_job(f"InvalidJob : Invalid operation: {operation}")
    external = body.get("externalIdFieldName")
    if operation == "upsert":
        spec = obj.field(str(external or ""))
        if not external:
            message = f"External ID was blank for {obj.name}. An External ID must be specified for upsert."
            return _invalid_job(f"InvalidJob : {message}")
        if spec is None or not (spec.external_id or spec.name == "Id"):
            return _invalid_job(
                f"InvalidJob : Field name provided, {external} does not match an External ID for {obj.name}"
            )
        external = spec.name
    formats = _format(body)
    if isinstance(formats, Response):
        return formats
    job = IngestJob(sf.bulk.new_id(), operation, obj.name, version, *formats, state="Open",
                    external_field=external if operation == "upsert" else None)  # fmt: skip
    sf.bulk.add(job)
    return json_response(job.info())


async def ingest_job(sf: Salesforce, request: Request, version: str, job_id: str) -> Response:
    job = sf.bulk.find(job_id, IngestJob)
    if not isinstance(job, IngestJob):
        return _job_missing(job_id)
    if request.method == "DELETE":
        return _delete(sf, job, "ingest")
    if request.method == "GET":
        job.advance()
        return json_response(job.info())
    try:
        body = await json_object(request)
    except BadBody as error:
        return bad_body(error)
    state = body.get("state") if isinstance(body, dict) else None
    if state == "Aborted" and job.state in ("Open", "UploadComplete", "InProgress"):
        job.state = "Aborted"
        job.unprocessed = [row for text in job.uploads for row in _parse_csv(job, text)[1]]
        return json_response(job.info())
    if state != "UploadComplete" or job.state != "Open":
        return _invalid_state(job, str(state))
    if len(job.uploads) > 1:
        return _invalid_job(
            f"Found multiple contents for job: <{job.id}>: data can be uploaded once to a job; abort or "
            "delete this job and create a new one"
        )
    _process(sf, job)
    return json_response(job.info())


async def upload(sf: Salesforce, request: Request, version: str, job_id: str) -> Response:
    job = sf.bulk.find(job_id, IngestJob)
    if not isinstance(job, IngestJob):
        return _job_missing(job_id)
    if job.state != "Open":
        return errors(
            400, "INVALIDJOBSTATE", f"Data can only be uploaded to an Open job; job {job.id} is {job.state}"
        )
    text = (await request.body()).decode("utf-8-sig", "replace")
    if not text.strip():
        return errors(400, "INVALIDJOB", "InvalidJob : The upload is empty")
    job.uploads.append(text)
    return Response(status_code=201)


def _parse_csv(job: IngestJob, text: str) -> tuple[list[str], list[list[str]]]:
    # Python's csv module refuses fields over 131,072 characters by default, which made an upload with a
    # longer value a 500. Salesforce reads any upload it accepts and refuses an over-long value per record
    # (STRING_TOO_LONG), so the stand-in reads fields as long as an upload can be (the limit is
    # process-wide: raised when the stand-in parses, never on import).
    if csv.field_size_limit() < MAX_UPLOAD_BYTES:
        csv.field_size_limit(MAX_UPLOAD_BYTES)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=DELIMITERS[job.delimiter])
    rows = [row for row in reader if row]
    return (rows[0], rows[1:]) if rows else ([], [])


def _process(sf: Salesforce, job: IngestJob) -> None:
    job.closed_at = time.monotonic()
    job.state = "UploadComplete"
    obj = find_object(job.object)
    assert obj is not None
    if not job.uploads:
        job.state, job.error_message = "Failed", "InvalidBatch : No data was uploaded to this job"
        return
    op = _INGEST_OPERATIONS[job.operation]
    header, rows = _parse_csv(job, job.uploads[0])
    job.columns = header
    unknown = [name for name in header if obj.field(name) is None]
    if unknown:
        job.state, job.error_message = "Failed", f"InvalidBatch : Field name not found : {unknown[0]}"
        return
    if op == "delete" and header != ["Id"]:
        job.state, job.error_message = "Failed", "InvalidBatch : The 'delete' batch must contain only 'Id'"
        return
    records = [(obj, dict(zip(header, row, strict=False))) for row in rows]
    results = sf.writer.write(op, records, external_field=job.external_field, from_csv=True)
    for row, result in zip(rows, results, strict=True):
        if result.success:
            job.successes.append([result.id or "", "true" if result.created else "false", *row])
        else:
            job.failures.append([result.id or "", result.errors[0].bulk_text(), *row])


async def ingest_results(sf: Salesforce, request: Request, version: str, job_id: str, kind: str) -> Response:
    job = sf.bulk.find(job_id, IngestJob)
    if not isinstance(job, IngestJob):
        return _job_missing(job_id)
    kind = kind.lower()
    if kind == "successfulresults":
        header, rows = ["sf__Id", "sf__Created", *job.columns], job.successes
    elif kind == "failedresults":
        header, rows = ["sf__Id", "sf__Error", *job.columns], job.failures
    else:
        header, rows = job.columns or _upload_header(job), job.unprocessed
    delimiter, newline = DELIMITERS[job.delimiter], LINE_ENDINGS[job.line_ending]
    lines = [delimiter.join(_quote(v) for v in line) for line in (header, *rows)] if header else []
    body = newline.join(lines) + newline if lines else ""
    return Response(body, media_type="text/csv")


def _upload_header(job: IngestJob) -> list[str]:
    return _parse_csv(job, job.uploads[0])[0] if job.uploads else []


async def list_jobs(sf: Salesforce, request: Request, version: str, kind: str) -> Response:
    wanted = QueryJob if kind == "query" else IngestJob
    records = [job.info() for job in sf.bulk.jobs.values() if isinstance(job, wanted)]
    return json_response({"done": True, "records": records, "nextRecordsUrl": None})
