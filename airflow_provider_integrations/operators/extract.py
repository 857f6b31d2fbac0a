"""Extract one SaaS stream to S3 as Parquet parts plus a manifest."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, Context

from airflow_provider_integrations.core.dlq import DLQEntry, RunContext
from airflow_provider_integrations.core.drift_check import (
    BACKFILL_OPTION,
    UnknownFields,
    backfill_due,
    check_policy,
    describe_live,
    log_changes,
    plan_drift,
)
from airflow_provider_integrations.core.errors import ConfigError, RecordError
from airflow_provider_integrations.core.records import Manifest, PartWriter, batch_id
from airflow_provider_integrations.core.watermark import ReadMark, Window, parse_timestamp, window_after
from airflow_provider_integrations.dlq_config import open_dlq
from airflow_provider_integrations.hooks.registry import hook_for
from airflow_provider_integrations.operators.outcomes import task_outcomes

if TYPE_CHECKING:
    from airflow_provider_integrations.connectors.base import Connector

log = logging.getLogger(__name__)
DLQ_FLUSH = 1_000
EXTRACT_MODES = ("auto", "incremental", "full")
DEFAULT_MODE = "auto"
"""What an extract reads when its task, stream config or DAG file names no mode (see the operator)."""
READ_MARK = "read_mark"
"""XCom key of what an extract read (a `ReadMark`): where the next `mode="auto"` run carries on."""
BACKFILLED = "backfilled_fields"
"""XCom key of the added fields a full read has filled in (`backfill_new_fields`), carried run to run."""


def run_context(context: Context) -> RunContext:
    ti = context["ti"]
    return RunContext(ti.dag_id, ti.task_id, context["run_id"], ti.try_number)


def extract_prefix(prefix: str, system: str, stream: str, window: Window | None) -> str:
    """Deterministic key prefix for (system, stream, window): a retry writes to the same place."""
    span = f"{window.start:%Y%m%dT%H%M%S}_{window.end:%Y%m%dT%H%M%S}" if window else "full"
    return "/".join(part.strip("/") for part in (prefix, system, stream, span) if part.strip("/"))


def changed_time(record: Mapping[str, Any], values: Mapping[str, Any], field: str | None) -> datetime | None:
    """When the source made this version: the connector's `_changed_at` (e.g. an event time), else the
    stream's `changed_at` field."""
    if record.get("_changed_at") is not None:
        try:
            return parse_timestamp(record["_changed_at"], "_changed_at")
        except ConfigError as error:
            raise RecordError(str(error)) from None
    value = values.get(field) if field else None
    return value if isinstance(value, datetime) else None


class CursorSpan:
    """The lowest and highest timestamp seen; `low` and `high` give them as ISO strings, `latest` as is."""

    def __init__(self) -> None:
        self._low: datetime | None = None
        self._high: datetime | None = None

    def add(self, value: datetime) -> None:
        if self._low is None or value < self._low:
            self._low = value
        if self._high is None or value > self._high:
            self._high = value

    @property
    def latest(self) -> datetime | None:
        return self._high

    @property
    def low(self) -> str | None:
        return None if self._low is None else self._low.isoformat()

    @property
    def high(self) -> str | None:
        return None if self._high is None else self._high.isoformat()


class SaaSToS3Operator(BaseOperator):
    """Stream one SaaS stream into S3 as Parquet part files and a manifest, for the task's data interval.

    `mode="auto"` (the default) reads everything the first time the task runs and afterwards every
    change since what the last successful DAG run's extract actually read: from the latest change time
    it saw (minus `lookback`) to the end of this run's data interval, never past now. A run's dates play
    no part in where the next one starts, so a run dated in the future (a manual run with a future
    logical date, a skewed clock) or a failed run leaves no gap, and a stream added to a DAG that already
    ran gets its full load. `mode="incremental"` reads records changed in
    [data_interval_start - lookback, data_interval_end); `mode="full"` reads everything. Records that
    break the stream's schema go to the DLQ with their reason; the others are written in parts of at
    most `part_rows` rows. Keys are deterministic, so a retried task overwrites its own files; the
    manifest is written last and is what loads trust. Returns the manifest's S3 URI (XCom).

    Before reading, the stream's live description (one describe call, where the system offers one) is
    checked against its declared fields; the differences follow `schema_policy` and land in the manifest,
    and fields records carry that the stream does not declare are counted there (docs/schema-changes.md).

    :param conn_id: the SaaS connection (its type chooses the hook).
    :param stream: the stream to read, as the catalog names it (templated).
    :param bucket: the S3 bucket the parts and the manifest go to (templated).
    :param aws_conn_id: the AWS connection that writes them.
    :param prefix: the key prefix under the bucket (templated).
    :param mode: "auto", "incremental" or "full" (above).
    :param lookback: how far before the window's start to read again (late-arriving changes).
    :param part_rows: rows per Parquet part at most.
    :param dlq_uri: where records that break the schema go (default the configured DLQ).
    :param catalog: a catalog file (YAML) to take the stream from instead of the connection's catalog.
    :param schema_policy: what a field the system added does: "add" extracts it (the load adds its
        column; the stream option `backfill_new_fields: true` also reads the stream in full once so
        existing rows get its values), "ignore" leaves it out, "fail" fails the task naming it.
    """

    template_fields: Sequence[str] = ("stream", "bucket", "prefix", "dlq_uri")

    def __init__(
        self,
        *,
        conn_id: str,
        stream: str,
        bucket: str,
        aws_conn_id: str = "aws_default",
        prefix: str = "raw",
        mode: str = DEFAULT_MODE,
        lookback: timedelta = timedelta(0),
        part_rows: int = 500_000,
        dlq_uri: str | None = None,
        catalog: str | None = None,
        schema_policy: str = "add",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if mode not in EXTRACT_MODES:
            raise ConfigError(f"mode must be one of {EXTRACT_MODES}, got {mode!r}")
        self.schema_policy = check_policy(schema_policy)
        self.catalog = catalog
        self.conn_id = conn_id
        self.stream = stream
        self.bucket = bucket
        self.aws_conn_id = aws_conn_id
        self.prefix = prefix
        self.mode = mode
        self.lookback = lookback
        self.part_rows = part_rows
        self.dlq_uri = dlq_uri

    def execute(self, context: Context) -> str:
        with task_outcomes():
            return self._extract(context)

    def _window(self, context: Context) -> Window | None:
        if self.mode == "full":
            return None
        start, end = context.get("data_interval_start"), context.get("data_interval_end")
        if self.mode == "auto":
            return self._since_last_read(context, end)
        if start is None or end is None:
            raise ConfigError("an incremental extract needs a data interval (schedule the DAG)")
        if end - start + self.lookback <= timedelta(0):
            raise ConfigError(
                f"the data interval [{start}, {end}) is empty: schedule the DAG with an interval "
                "(manual runs of interval-less schedules have none) or give a lookback"
            )
        return Window(start - self.lookback, end)

    def _since_last_read(self, context: Context, end: datetime | None) -> Window | None:
        """From what this task read in the last successful DAG run (its read mark) to the interval's end,
        capped at now; nothing read before, or no mark (a stream new to the DAG): everything."""
        raw = self._from_last_success(context, READ_MARK)
        mark = None if raw is None else ReadMark.from_json(raw)
        now = datetime.now(UTC)
        if end is not None and end > now:
            log.warning(
                "the data interval ends at %s, after now (%s): reading changes up to now; the next run "
                "carries on from what this one read",
                end.isoformat(),
                now.isoformat(),
            )
        return window_after(mark, interval_end=end, now=now, lookback=self.lookback)

    def _from_last_success(self, context: Context, key: str) -> Any:
        """What this task pushed under `key` in the last successful DAG run, None without one."""
        ti = context["ti"]
        previous = ti.get_previous_dagrun(state="success")
        return (
            None if previous is None else ti.xcom_pull(task_ids=self.task_id, key=key, run_id=previous.run_id)
        )

    def _extract(self, context: Context) -> str:
        window = self._window(context)
        hook = hook_for(self.conn_id, catalog_file=self.catalog)
        try:
            return self._read(context, hook.get_conn(), window)
        finally:
            hook.close()

    def _read(self, context: Context, connector: Connector, window: Window | None) -> str:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        declared = connector.stream(self.stream)
        plan = plan_drift(declared, describe_live(connector, declared), self.schema_policy)
        log_changes(declared.name, plan.changes)
        stream = connector.streams[declared.name] = plan.read
        backfills = bool(declared.options.get(BACKFILL_OPTION))
        backfilled = self._from_last_success(context, BACKFILLED) if backfills else None
        backfill = backfill_due(declared, plan, backfilled)
        if backfill and window is not None:
            log.warning("%s: reading in full to fill in the new fields %s", stream.name, ", ".join(backfill))
            window = None
        if not stream.incremental:
            window = None
        system = connector.system
        key_prefix = extract_prefix(self.prefix, system, stream.name, window)
        start = window.start.isoformat() if window else None
        end = window.end.isoformat() if window else None
        batch = batch_id(system, stream.name, start, end)
        s3: Any = S3Hook(aws_conn_id=self.aws_conn_id).get_conn()
        runs = run_context(context)

        def upload(path: Path, name: str) -> None:
            s3.upload_file(str(path), self.bucket, f"{key_prefix}/{name}")

        rejected: list[DLQEntry] = []
        rejected_total = 0
        rejected_keys: list[str] = []
        span = CursorSpan()
        changes = CursorSpan()
        unknown = UnknownFields(plan.schema.names)
        shape: Any = None
        seen = 0
        validate = plan.schema.validate
        extracted_at = datetime.now(UTC)
        with (
            open_dlq(self.dlq_uri) as dlq,
            PartWriter(
                plan.schema,
                upload,
                batch_id=batch,
                extracted_at=extracted_at,
                source_prefix=f"s3://{self.bucket}/{key_prefix}",
                part_rows=self.part_rows,
            ) as writer,
        ):
            for seen, record in enumerate(connector.read(stream.name, window), 1):
                deleted = bool(record.get("_deleted") or record.get("IsDeleted"))
                if record.keys() != shape:
                    shape = unknown.shape_at(record, seen - 1)
                try:
                    values = validate(record, deleted=deleted).values
                    changed_at = changed_time(record, values, stream.changed_at)
                except RecordError as error:
                    if error.record_key:
                        rejected_keys.append(error.record_key)
                    rejected.append(
                        DLQEntry.create(
                            system=system,
                            stream=stream.name,
                            operation="extract",
                            error=error,
                            record_key=error.record_key,
                            payload=record,
                            context=runs,
                        )
                    )
                    if len(rejected) >= DLQ_FLUSH:
                        rejected_total += dlq.write(rejected)
                        rejected = []
                    continue
                writer.write(values, deleted, changed_at)
                if changed_at is not None:
                    changes.add(changed_at)
                if stream.cursor:
                    span.add(values[stream.cursor[0]])
            parts = writer.close()
            rejected_total += dlq.write(rejected)

        manifest = Manifest(
            system=system,
            stream=stream.name,
            batch_id=batch,
            window_start=start,
            window_end=end,
            schema={f.name: f.type.value for f in plan.schema.fields},
            primary_key=list(stream.primary_key),
            cursor=list(stream.cursor) if stream.cursor else None,
            files=parts,
            cursor_min=span.low,
            cursor_max=span.high,
            rejected=rejected_total,
            rejected_keys=rejected_keys,
            extracted_at=extracted_at.isoformat(),
            schema_changes=list(plan.changes),
            unknown_fields=unknown.counts(seen),
            run={"dag_id": runs.dag_id or "", "run_id": runs.run_id or "", "task_id": runs.task_id or ""},
        )
        manifest_key = f"{key_prefix}/manifest.json"
        s3.put_object(Bucket=self.bucket, Key=manifest_key, Body=manifest.to_json().encode())
        self._remove_stale_parts(s3, key_prefix, {p.key.rsplit("/", 1)[-1] for p in parts})
        mark = ReadMark(
            window.start if window else None, window.end if window else extracted_at, changes.latest
        )
        context["ti"].xcom_push(key=READ_MARK, value=mark.to_json())
        if backfills:
            filled = set((backfilled or {}).get("fields", [])) | (
                set(plan.added) if window is None else set()
            )
            context["ti"].xcom_push(key=BACKFILLED, value={"fields": sorted(filled)})
        log.info(
            "extracted %s/%s: %d rows in %d files, %d records to the DLQ, window %s .. %s; "
            "fields records carried that the stream does not declare: %s",
            system,
            stream.name,
            manifest.rows,
            len(parts),
            rejected_total,
            start or "(full)",
            end or "(full)",
            manifest.unknown_fields or "none",
        )
        return f"s3://{self.bucket}/{manifest_key}"

    def _remove_stale_parts(self, s3: Any, key_prefix: str, current: set[str]) -> None:
        """Parts an earlier try wrote beyond this try's count are not in the manifest; remove them."""
        listed = s3.list_objects_v2(Bucket=self.bucket, Prefix=f"{key_prefix}/part-")
        for item in listed.get("Contents", []):
            if item["Key"].rsplit("/", 1)[-1] not in current:
                s3.delete_object(Bucket=self.bucket, Key=item["Key"])
