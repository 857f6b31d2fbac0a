"""Load one extract (a manifest on S3) into Snowflake: COPY into staging with every file checked, MERGE."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from airflow.sdk import BaseOperator, Context

from airflow_provider_integrations.core.errors import ConfigError, LoadError
from airflow_provider_integrations.core.records import Manifest
from airflow_provider_integrations.core.schema import RecordSchema
from airflow_provider_integrations.core.sql import snowflake as sql
from airflow_provider_integrations.operators.outcomes import task_outcomes

log = logging.getLogger(__name__)
SCHEMA_POLICIES = ("add", "fail", "ignore")


def check_copy_results(manifest: Manifest, results: Sequence[Sequence[Any]], stage_url: str) -> int:
    """Every manifest file must come back LOADED with exactly its row count; returns rows loaded."""
    expected = {f.key.removeprefix(stage_url).lstrip("/"): f.rows for f in manifest.files}
    seen: dict[str, tuple[str, int]] = {}
    for row in results:
        name = str(row[0]).removeprefix(stage_url).lstrip("/")
        listed = name if name in expected else next((n for n in expected if name.endswith(n)), None)
        if listed is not None:
            seen[listed] = (str(row[1]), int(row[3] or 0))
    problems = []
    for name, rows in expected.items():
        status, loaded = seen.get(name, ("MISSING", 0))
        if status != "LOADED" or loaded != rows:
            problems.append(f"{name}: {status} with {loaded} of {rows} rows")
    if problems:
        raise LoadError(
            f"COPY of {manifest.system}/{manifest.stream} batch {manifest.batch_id} did not load every file "
            f"as listed in the manifest: {'; '.join(problems)}"
        )
    return sum(expected.values())


class S3ToSnowflakeMergeOperator(BaseOperator):
    """Load an extract into a Snowflake table: COPY every manifest file into staging, MERGE into target.

    Each listed file must be LOADED with exactly the manifest's row count, or the task fails naming the
    files. The MERGE keeps the newest version of each key, rewrites rows only when their content hash
    changed, and applies deletes as `_DELETED = TRUE` (`delete_mode="soft"`) or by removing the row.
    New source columns are added to the target (`schema_policy="add"`), fail the task ("fail") or are left
    out ("ignore"). After a full extract, target rows whose key it no longer holds were deleted at the
    source and are deleted here too (`full_load_deletes`), which is how systems without a delete feed
    (Workday) get deletes; records the extract rejected to the DLQ are not taken for deleted. The COPY,
    MERGE and deletion run in one transaction.
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
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if delete_mode not in ("soft", "hard"):
            raise ConfigError(f"delete_mode must be 'soft' or 'hard', got {delete_mode!r}")
        if schema_policy not in SCHEMA_POLICIES:
            raise ConfigError(f"schema_policy must be one of {SCHEMA_POLICIES}, got {schema_policy!r}")
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

    def execute(self, context: Context) -> dict[str, Any]:
        with task_outcomes():
            return self._load()

    def _read_manifest(self) -> Manifest:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        parts = urlsplit(self.manifest_uri)
        if parts.scheme != "s3":
            raise ConfigError(f"manifest_uri must be s3://bucket/key, got {self.manifest_uri!r}")
        s3 = S3Hook(aws_conn_id=self.aws_conn_id).get_conn()
        body = s3.get_object(Bucket=parts.netloc, Key=parts.path.lstrip("/"))["Body"].read()
        return Manifest.from_json(body)

    def _load(self) -> dict[str, Any]:
        from airflow_provider_integrations.hooks.snowflake import SnowflakeHook

        manifest = self._read_manifest()
        if not manifest.files:
            log.info("%s/%s: the extract holds no rows; nothing to load", manifest.system, manifest.stream)
            return {"rows": 0, "files": 0}
        schema = RecordSchema.from_config(manifest.schema, key=manifest.primary_key)
        tables = sql.LoadTables(
            self.target_table,
            self.staging_table or f"{self.target_table}__STAGING",
            self.stage or f"{self.target_table}__STAGE",
        )
        bucket = urlsplit(self.manifest_uri).netloc
        stage_url = f"s3://{bucket}"
        files = [f.key.removeprefix(stage_url).lstrip("/") for f in manifest.files]
        conn = SnowflakeHook(snowflake_conn_id=self.snowflake_conn_id).get_conn()
        try:
            cursor = conn.cursor()
            cursor.execute(sql.create_target(tables.target, schema.fields, manifest.primary_key))
            fields = self._evolve(cursor, tables.target, schema)
            cursor.execute(sql.create_staging(tables.staging, schema.fields))
            cursor.execute(sql.create_stage(tables.stage, stage_url, self.storage_integration))
            cursor.execute("BEGIN")
            try:
                loaded = self._copy(cursor, manifest, tables, files, stage_url)
                hard = self.delete_mode == "hard"
                cursor.execute(sql.merge(tables, fields, manifest.primary_key, hard_delete=hard))
                merged = cursor.fetchall()
                missing = self._mark_missing(cursor, manifest, tables)
                cursor.execute(sql.truncate(tables.staging))
                cursor.execute("COMMIT")
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
        finally:
            conn.close()
        summary = {
            "rows": loaded,
            "files": len(files),
            "merge": [list(r) for r in merged],
            "missing_from_full": missing,
        }
        log.info(
            "loaded %s/%s batch %s into %s: %d rows from %d files; merge %s; %d gone from the full extract",
            manifest.system,
            manifest.stream,
            manifest.batch_id,
            tables.target,
            loaded,
            len(files),
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

    def _evolve(self, cursor: Any, target: str, schema: RecordSchema) -> list[Any]:
        """Apply the schema policy; returns the fields the MERGE writes."""
        query, params = sql.table_columns(target)
        cursor.execute(query, params)
        existing = {str(row[0]).upper() for row in cursor.fetchall()}
        for statement in sql.add_lineage_columns(target, existing):
            cursor.execute(statement)
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
