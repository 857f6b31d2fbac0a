"""Load one extract (a manifest on S3) into Snowflake: COPY into staging with every file checked, MERGE.

What is loaded is bound to the manifest at each step: its objects lie in its own folder and have the
sizes it recorded (before the COPY), the stage's URL holds them (read from Snowflake on every load), the
COPY reports exactly them, and the staged rows' own lineage names exactly them (after the COPY).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from airflow.sdk import BaseOperator, Context

from airflow_provider_integrations.core.drift_check import check_policy
from airflow_provider_integrations.core.errors import ConfigError, LoadError
from airflow_provider_integrations.core.records import Manifest, ManifestSchemaChange, PartFile
from airflow_provider_integrations.core.schema import Field, RecordSchema
from airflow_provider_integrations.core.sql import snowflake as sql
from airflow_provider_integrations.core.sql.identifiers import validate_identifier
from airflow_provider_integrations.operators.outcomes import task_outcomes

log = logging.getLogger(__name__)


@contextmanager
def transaction(cursor: Any) -> Iterator[None]:
    """BEGIN, then COMMIT when the block ends, or ROLLBACK and re-raise when anything stops it."""
    cursor.execute("BEGIN")
    try:
        yield
        cursor.execute("COMMIT")
    except BaseException:
        cursor.execute("ROLLBACK")
        raise


HEAD_CONCURRENCY = 16


def manifest_folder(manifest: Manifest, manifest_uri: str) -> str:
    """The folder (`s3://bucket/prefix/`) the extract wrote the manifest and its parts to.

    Every listed object must lie in it, once: a manifest moved or copied elsewhere, or edited, names
    objects that are not its own, and loading them would load another extract's files under this one's
    name.
    """
    folder = f"{manifest_uri.rsplit('/', 1)[0]}/"
    twice = sorted(key for key, n in Counter(f.key for f in manifest.files).items() if n > 1)
    if twice:
        raise LoadError(f"manifest {manifest_uri} lists {', '.join(twice)} more than once")
    outside = [f.key for f in manifest.files if not f.key.startswith(folder) or "/../" in f.key]
    if outside:
        raise LoadError(
            f"manifest {manifest_uri} lists {len(outside)} objects outside its own folder {folder}, "
            f"e.g. {outside[0]}: an extract is loaded from where it was written (re-run the extract to "
            "write it elsewhere)"
        )
    return folder


def files_on_stage(manifest: Manifest, stage: str, stage_url: str, folder: str) -> list[str]:
    """The manifest's objects as paths relative to the stage's URL, which must hold every one of them."""
    outside = [f.key for f in manifest.files if not f.key.startswith(stage_url)]
    if outside:
        raise ConfigError(
            f"stage {stage} points at {stage_url}, which does not hold the manifest's objects in {folder} "
            f"(e.g. {outside[0]}): give a stage whose URL covers {folder}, or none for the default"
        )
    return [f.key[len(stage_url) :] for f in manifest.files]


def check_objects(s3: Any, manifest: Manifest) -> None:
    """Before any COPY: every listed object exists on S3 with the size the extract recorded (a HEAD each,
    `HEAD_CONCURRENCY` at a time)."""
    from botocore.exceptions import ClientError

    def size(part: PartFile) -> int | None:
        bucket, _, key = part.key.removeprefix("s3://").partition("/")
        try:
            return int(s3.head_object(Bucket=bucket, Key=key)["ContentLength"])
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
                raise
            return None

    with ThreadPoolExecutor(max_workers=HEAD_CONCURRENCY) as pool:
        sizes = list(pool.map(size, manifest.files))
    problems = [
        f"{part.key}: missing"
        if found is None
        else f"{part.key}: {found} bytes where the manifest recorded {part.bytes}"
        for part, found in zip(manifest.files, sizes, strict=True)
        if found != part.bytes
    ]
    if problems:
        raise LoadError(
            f"{manifest.system}/{manifest.stream} batch {manifest.batch_id}: the objects on S3 are not the "
            f"ones the manifest lists: {'; '.join(problems)}"
        )


def check_copy_results(manifest: Manifest, results: Sequence[Sequence[Any]], stage_url: str) -> int:
    """Every manifest file must come back LOADED with exactly its row count, and no other file at all;
    returns rows loaded. A result names a file by its full URL or by its path on the stage, exactly."""
    names = {f.key: f for f in manifest.files} | {f.key[len(stage_url) :]: f for f in manifest.files}
    seen: dict[str, tuple[str, int]] = {}
    problems = []
    for row in results:
        part = names.get(str(row[0]))
        if part is None:
            problems.append(f"{row[0]}: {row[1]} but not in the manifest")
            continue
        seen[part.key] = (str(row[1]), int(row[3] or 0))
    for part in manifest.files:
        status, loaded = seen.get(part.key, ("MISSING", 0))
        if status != "LOADED" or loaded != part.rows:
            problems.append(f"{part.key}: {status} with {loaded} of {part.rows} rows")
    if problems:
        raise LoadError(
            f"COPY of {manifest.system}/{manifest.stream} batch {manifest.batch_id} did not load every file "
            f"as listed in the manifest: {'; '.join(problems)}"
        )
    return manifest.rows


def check_staged_files(manifest: Manifest, counts: Sequence[Sequence[Any]]) -> None:
    """After the COPY, the rows' own lineage (`_SOURCE_FILE`, `_BATCH_ID`, written into every row by the
    extract) must name exactly the manifest's objects and batch, with exactly their row counts: staging
    holds this extract's files and nothing else, whatever the stage resolved the names to."""
    expected = {f.key: f.rows for f in manifest.files}
    problems = []
    found: dict[str, int] = {}
    for source, batch, rows in counts:
        if source not in expected or batch != manifest.batch_id:
            problems.append(f"{rows} rows from {source} of batch {batch}, which the manifest does not list")
        else:
            found[source] = int(rows)
    problems += [
        f"{key}: {found.get(key, 0)} rows staged of {rows}"
        for key, rows in expected.items()
        if found.get(key, 0) != rows
    ]
    if problems:
        raise LoadError(
            f"{manifest.system}/{manifest.stream} batch {manifest.batch_id}: the staged rows are not the "
            f"manifest's: {'; '.join(problems)}"
        )


class S3ToSnowflakeMergeOperator(BaseOperator):
    """Load an extract into a Snowflake table: COPY every manifest file into staging, MERGE into target.

    The load reads exactly the manifest's own objects or fails. They must lie in the manifest's folder
    and exist on S3 with the sizes the extract recorded; the stage's URL, read with DESC STAGE on every
    load, must hold them all, and the files are named relative to it. By default each bucket gets its own
    stage (`<target>__STAGE_<digest of the URL>`), so loading another bucket's extract into the same table
    never reads the first bucket's files. Each listed file must be LOADED with exactly the manifest's row
    count, and the staged rows' lineage (`_SOURCE_FILE`, `_BATCH_ID`) must name exactly the manifest's
    files with their counts, or the task fails naming the files. The MERGE keeps the newest version of
    each key, rewrites rows only when their content hash changed, and applies deletes as `_DELETED = TRUE`
    (`delete_mode="soft"`) or by removing the row. New source columns are added to the target
    (`schema_policy="add"`), fail the task ("fail") or are left out ("ignore"). After a full extract,
    target rows whose key it no longer holds were deleted at the source and are deleted here too
    (`full_load_deletes`), which is how systems without a delete feed (Workday) get deletes; records the
    extract rejected to the DLQ are not taken for deleted. The COPY, MERGE and deletion run in one
    transaction.

    Schema changes the extract found at the source (in the manifest) are applied and recorded: a column
    whose type the source widened is widened (its values kept), and every change is a row in the
    schema-change table (`schema_change_table`), written in the MERGE's transaction and only once per
    batch, field and change, with a warning in the task log. Fields records carried that the stream does
    not declare (counted by the extract) are warned about too. See docs/schema-changes.md.

    :param manifest_uri: the extract's manifest, `s3://bucket/prefix/manifest.json` (templated).
    :param target_table: the table to MERGE into, optionally `schema.table` or `db.schema.table`
        (templated); created if missing.
    :param snowflake_conn_id: the Snowflake connection.
    :param aws_conn_id: the AWS connection that reads the manifest and checks its objects.
    :param staging_table: the staging table, rebuilt on every load; default `<target>__STAGING`.
    :param stage: an external stage whose URL holds the manifest's folder (it is checked on every load);
        default one stage per bucket, created on first use.
    :param storage_integration: the storage integration a created stage uses to read S3.
    :param delete_mode: "soft" marks deleted rows `_DELETED = TRUE`; "hard" removes them.
    :param schema_policy: what a new source column does: "add" it, "fail" the task, or "ignore" it.
    :param full_load_deletes: after a full extract, delete target rows whose key the extract lacks.
    :param schema_change_table: where schema changes are recorded, created if missing; default
        `_INTEGRATIONS_SCHEMA_CHANGES` in the target table's schema (a bare name also lands there).
    """

    template_fields: Sequence[str] = ("manifest_uri", "target_table")

    def __init__(
        self,
        *,
        manifest_uri: str,
        target_table: str,
        snowflake_conn_id: str = "snowflake_default",
        aws_conn_id: str = "aws_default",
        staging_table: str | None = None,
        stage: str | None = None,
        storage_integration: str | None = None,
        delete_mode: str = "soft",
        schema_policy: str = "add",
        full_load_deletes: bool = True,
        schema_change_table: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if delete_mode not in ("soft", "hard"):
            raise ConfigError(f"delete_mode must be 'soft' or 'hard', got {delete_mode!r}")
        check_policy(schema_policy)
        self.manifest_uri = manifest_uri
        self.target_table = target_table
        self.snowflake_conn_id = snowflake_conn_id
        self.aws_conn_id = aws_conn_id
        self.staging_table = staging_table
        self.stage = stage
        self.storage_integration = storage_integration
        self.delete_mode = delete_mode
        self.schema_policy = schema_policy
        self.full_load_deletes = full_load_deletes
        self.schema_change_table = schema_change_table
        if schema_change_table is not None:
            validate_identifier(schema_change_table, "schema_change_table")

    def execute(self, context: Context) -> dict[str, Any]:
        with task_outcomes():
            return self._load(context)

    def _load(self, context: Context) -> dict[str, Any]:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        from airflow_provider_integrations.hooks.snowflake import SnowflakeHook

        parts = urlsplit(self.manifest_uri)
        if parts.scheme != "s3":
            raise ConfigError(f"manifest_uri must be s3://bucket/key, got {self.manifest_uri!r}")
        s3: Any = S3Hook(aws_conn_id=self.aws_conn_id).get_conn()
        body = s3.get_object(Bucket=parts.netloc, Key=parts.path.lstrip("/"))["Body"].read()
        manifest = Manifest.from_json(body)
        warn_unknown_fields(manifest)
        schema = RecordSchema.from_config(manifest.schema, key=manifest.primary_key)
        if not manifest.files:
            log.info("%s/%s: the extract holds no rows; nothing to load", manifest.system, manifest.stream)
            if manifest.schema_changes:
                self._schema_only(manifest, schema, context)
            return {"rows": 0, "files": 0}
        bucket_url = f"s3://{parts.netloc}/"
        tables = sql.LoadTables(
            self.target_table,
            self.staging_table or f"{self.target_table}__STAGING",
            self.stage or sql.stage_for(self.target_table, bucket_url),
        )
        folder = manifest_folder(manifest, self.manifest_uri)
        check_objects(s3, manifest)
        conn = SnowflakeHook(snowflake_conn_id=self.snowflake_conn_id).get_conn()
        try:
            cursor = conn.cursor()
            finish_widening(cursor, tables.target)
            cursor.execute(sql.create_target(tables.target, schema.fields, manifest.primary_key))
            fields = self._evolve(cursor, tables.target, schema, manifest.schema_changes)
            changes_table = self._changes_table(cursor, manifest)
            cursor.execute(sql.create_staging(tables.staging, schema.fields))
            cursor.execute(sql.create_stage(tables.stage, bucket_url, self.storage_integration))
            cursor.execute(sql.describe_stage(tables.stage))
            stage_url = sql.stage_url(tables.stage, cursor.fetchall())
            files = files_on_stage(manifest, tables.stage, stage_url, folder)
            with transaction(cursor):
                loaded = self._copy(cursor, manifest, tables, files, stage_url)
                cursor.execute(sql.staged_files(tables.staging))
                check_staged_files(manifest, cursor.fetchall())
                hard = self.delete_mode == "hard"
                cursor.execute(sql.merge(tables, fields, manifest.primary_key, hard_delete=hard))
                merged = cursor.fetchall()
                missing = self._mark_missing(cursor, manifest, tables)
                self._record_changes(cursor, changes_table, manifest, context)
                cursor.execute(sql.truncate(tables.staging))
        finally:
            conn.close()
        summary = {
            "rows": loaded,
            "files": len(files),
            "merge": [list(r) for r in merged],
            "missing_from_full": missing,
        }
        log.info(
            "loaded %s/%s batch %s into %s: %d rows from %d files on stage %s (%s); merge %s; "
            "%d gone from the full extract",
            manifest.system,
            manifest.stream,
            manifest.batch_id,
            tables.target,
            loaded,
            len(files),
            tables.stage,
            stage_url,
            merged,
            missing,
        )
        return summary

    @staticmethod
    def _copy(
        cursor: Any, manifest: Manifest, tables: sql.LoadTables, files: list[str], stage_url: str
    ) -> int:
        from snowflake.connector.errors import ProgrammingError

        results: list[Any] = []
        for statement in sql.copy_into(tables.staging, tables.stage, files):
            try:
                cursor.execute(statement)
            except ProgrammingError as error:
                raise LoadError(
                    f"COPY of {manifest.system}/{manifest.stream} batch {manifest.batch_id} into "
                    f"{tables.staging} failed: {error.msg}"
                ) from None
            results.extend(cursor.fetchall())
        return check_copy_results(manifest, results, stage_url)

    def _mark_missing(self, cursor: Any, manifest: Manifest, tables: sql.LoadTables) -> int:
        """After a full extract, delete what the source no longer holds; returns the rows affected."""
        if manifest.window_start is not None or not self.full_load_deletes or not manifest.extracted_at:
            return 0
        statement, params = sql.mark_missing(
            tables,
            manifest.primary_key,
            hard_delete=self.delete_mode == "hard",
            batch_id=manifest.batch_id,
            extracted_at=manifest.extracted_at,
            kept_keys=manifest.rejected_keys,
        )
        cursor.execute(statement, params)
        return int(cursor.rowcount or 0)

    def _schema_only(self, manifest: Manifest, schema: RecordSchema, context: Context) -> None:
        """An extract without rows that found schema changes: the target still gets its new and widened
        columns, and the changes their rows."""
        from airflow_provider_integrations.hooks.snowflake import SnowflakeHook

        conn = SnowflakeHook(snowflake_conn_id=self.snowflake_conn_id).get_conn()
        try:
            cursor = conn.cursor()
            finish_widening(cursor, self.target_table)
            cursor.execute(sql.create_target(self.target_table, schema.fields, manifest.primary_key))
            self._evolve(cursor, self.target_table, schema, manifest.schema_changes)
            changes_table = self._changes_table(cursor, manifest)
            with transaction(cursor):
                self._record_changes(cursor, changes_table, manifest, context)
        finally:
            conn.close()

    def _changes_table(self, cursor: Any, manifest: Manifest) -> str | None:
        """The schema-change table, created before the transaction (DDL commits on its own)."""
        if not manifest.schema_changes:
            return None
        table = sql.schema_changes_table(self.target_table, self.schema_change_table)
        cursor.execute(sql.create_schema_changes(table))
        return table

    def _record_changes(self, cursor: Any, table: str | None, manifest: Manifest, context: Context) -> None:
        """One row per schema change, unless this batch (or the latest row for the field) has it."""
        if table is None:
            return
        for change in manifest.schema_changes:
            log.warning(
                "%s/%s -> %s: field %s %s (%s -> %s), %s",
                manifest.system,
                manifest.stream,
                self.target_table,
                change.field,
                change.change,
                change.old_type or "-",
                change.new_type or "-",
                change.action,
            )
            statement, params = sql.record_schema_change(
                table, change_row(manifest, change, self.target_table, context)
            )
            cursor.execute(statement, params)

    def _evolve(
        self,
        cursor: Any,
        target: str,
        schema: RecordSchema,
        changes: Sequence[ManifestSchemaChange] = (),
    ) -> list[Field]:
        """Widen the columns the extract widened, then apply the schema policy to new columns; returns
        the fields the MERGE writes."""
        query, params = sql.column_types(target)
        cursor.execute(query, params)
        columns = cursor.fetchall()
        existing = {str(row[0]).upper() for row in columns}
        lineage = sql.add_lineage_columns(target, existing)
        for statement in lineage:
            cursor.execute(statement)
        if lineage:
            cursor.execute(query, params)
            columns = cursor.fetchall()
        self._widen(cursor, target, schema, changes, columns)
        new = [f for f in schema.fields if f.name.upper() not in existing]
        if not new:
            return list(schema.fields)
        names = ", ".join(f.name for f in new)
        if self.schema_policy == "fail":
            raise ConfigError(f"{target} lacks source columns {names} and schema_policy is 'fail'")
        if self.schema_policy == "ignore":
            log.warning("%s: leaving out new source columns %s (schema_policy='ignore')", target, names)
            return [f for f in schema.fields if f not in new]
        for statement in sql.add_columns(target, new):
            cursor.execute(statement)
        log.info("%s: added columns %s", target, names)
        return list(schema.fields)

    @staticmethod
    def _widen(
        cursor: Any,
        target: str,
        schema: RecordSchema,
        changes: Sequence[ManifestSchemaChange],
        columns: Sequence[Sequence[Any]],
    ) -> None:
        """Columns of fields the extract widened take the wider type (a re-run finds them done)."""
        types = {str(row[0]).upper(): sql.field_type_of(str(row[1]), row[3]) for row in columns}
        by_name = {f.name: f for f in schema.fields}
        widened = {}
        for change in changes:
            field = by_name.get(change.field)
            if change.action == "widened" and field is not None:
                current = types.get(field.name.upper())
                if current is not None and current is not field.type:
                    log.warning(
                        "%s: widening column %s from %s to %s", target, field.name, current, field.type
                    )
                    widened[field.name.upper()] = field.type
        if widened:
            for statement in sql.widen_columns(target, columns, widened, schema.key):
                cursor.execute(statement)


def finish_widening(cursor: Any, target: str) -> None:
    """Complete or undo a column widening that stopped half-way, before the target is used."""

    def exists(table: str) -> bool:
        query, params = sql.table_columns(table)
        cursor.execute(query, params)
        return bool(cursor.fetchall())

    rebuild = sql.widening_table(target)
    for statement in sql.finish_widening(target, exists(target), exists(rebuild)):
        cursor.execute(statement)


def warn_unknown_fields(manifest: Manifest) -> None:
    """A warning for the fields records carried that the stream does not declare."""
    if manifest.unknown_fields:
        counts = ", ".join(f"{name} ({n} records)" for name, n in sorted(manifest.unknown_fields.items()))
        log.warning(
            "%s/%s: records carried fields the stream does not declare, left out: %s (declare them in "
            "the catalog to load them)",
            manifest.system,
            manifest.stream,
            counts,
        )


def change_row(
    manifest: Manifest, change: ManifestSchemaChange, target: str, context: Context
) -> dict[str, str | None]:
    """The schema-change table's row for one change: what, where, and the run that found it."""
    run = manifest.run
    return {
        "SYSTEM": manifest.system,
        "STREAM": manifest.stream,
        "FIELD": change.field,
        "CHANGE": change.change,
        "ACTION": change.action,
        "OLD_TYPE": change.old_type,
        "NEW_TYPE": change.new_type,
        "DETECTED_AT": manifest.extracted_at,
        "DAG_ID": run.get("dag_id") or context["ti"].dag_id,
        "RUN_ID": run.get("run_id") or context["run_id"],
        "TASK_ID": run.get("task_id") or context["ti"].task_id,
        "TARGET_TABLE": target.upper(),
        "BATCH_ID": manifest.batch_id,
    }
