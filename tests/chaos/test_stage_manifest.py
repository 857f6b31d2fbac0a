"""Stage and manifest bound together: a load COPYs exactly the manifest's own objects or fails naming what
does not match. Extracts are staged as the extract task stages them (Parquet parts by `PartWriter`, the
manifest last) on the sandbox's S3, and loaded by the load operator into fakesnow; the faults are the ones a
real deployment meets: the same path in two buckets, a stage pointing elsewhere, a manifest moved or copied,
objects replaced after the extract."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest
import snowflake.connector
from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_integrations.core.errors import LoadError
from airflow_provider_integrations.core.records import Manifest, PartFile, PartWriter
from airflow_provider_integrations.core.schema import RecordSchema
from airflow_provider_integrations.operators.load import (
    S3ToSnowflakeMergeOperator,
    check_copy_results,
    check_staged_files,
)
from tests.operators.conftest import s3_client

SCHEMA = RecordSchema.from_config(
    {"Id": {"type": "string", "required": True}, "Name": "string", "Modified": {"type": "timestamp"}},
    key=["Id"],
)
PREFIX = "raw/sales/accounts/full"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


class Sandbox:
    """Buckets on the sandbox S3, extracts written into them, loads and reads of a Snowflake table."""

    def __init__(self, sandbox: Any) -> None:
        self.s3 = s3_client(sandbox)
        self.sf = snowflake.connector.connect(**sandbox.snowflake_kwargs())

    def bucket(self) -> str:
        name = f"stage-{uuid.uuid4().hex[:8]}"
        self.s3.create_bucket(Bucket=name)
        return name

    def extract(self, bucket: str, names: dict[str, str], prefix: str = PREFIX) -> str:
        """Write `names` (id -> name) as the extract task would, two rows a part; returns the manifest URI."""

        def upload(path: Path, part: str) -> None:
            self.s3.upload_file(str(path), bucket, f"{prefix}/{part}")

        extracted_at = datetime.now(UTC)
        with PartWriter(SCHEMA, upload, batch_id="batch-1", extracted_at=extracted_at,
                        source_prefix=f"s3://{bucket}/{prefix}", part_rows=2) as writer:  # fmt: skip
            for key, name in names.items():
                writer.write({"Id": key, "Name": name, "Modified": T0}, changed_at=T0)
            parts = writer.close()
        manifest = self.manifest(parts, extracted_at)
        self.s3.put_object(Bucket=bucket, Key=f"{prefix}/manifest.json", Body=manifest.to_json().encode())
        return f"s3://{bucket}/{prefix}/manifest.json"

    @staticmethod
    def manifest(parts: list[PartFile], extracted_at: datetime = T0) -> Manifest:
        return Manifest(
            system="bench",
            stream="accounts",
            batch_id="batch-1",
            window_start=None,
            window_end=None,
            schema={f.name: f.type.value for f in SCHEMA.fields},
            primary_key=["Id"],
            cursor=None,
            files=parts,
            extracted_at=extracted_at.isoformat(),
        )

    def read_manifest(self, uri: str) -> Manifest:
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        return Manifest.from_json(self.s3.get_object(Bucket=bucket, Key=key)["Body"].read())

    def copy(self, source_uri: str, target_uri: str) -> None:
        source_bucket, _, source_key = source_uri.removeprefix("s3://").partition("/")
        bucket, _, key = target_uri.removeprefix("s3://").partition("/")
        self.s3.copy_object(Bucket=bucket, Key=key, CopySource={"Bucket": source_bucket, "Key": source_key})

    def query(self, statement: str) -> list[tuple[Any, ...]]:
        cursor = self.sf.cursor()
        cursor.execute(statement)
        return list(cursor.fetchall())

    def tables(self, name: str) -> list[tuple[Any, ...]]:
        return self.query(f"SELECT TABLE_NAME FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_NAME = '{name}'")

    def rows(self, table: str) -> dict[str, tuple[str, str]]:
        """id -> (name, the file the row was loaded from)."""
        found = self.query(f'SELECT "ID", "NAME", "_SOURCE_FILE" FROM "{table}"')
        return {str(r[0]): (str(r[1]), str(r[2])) for r in found}


@pytest.fixture(scope="module")
def box(sandbox: Any) -> Iterator[Sandbox]:
    made = Sandbox(sandbox)
    yield made
    made.sf.close()


def load(manifest_uri: str, table: str, **options: Any) -> dict[str, Any]:
    operator = S3ToSnowflakeMergeOperator(
        task_id="load",
        manifest_uri=manifest_uri,
        target_table=table,
        snowflake_conn_id="sandbox_snowflake",
        aws_conn_id="sandbox_s3",
        **options,
    )
    return operator.execute(cast(Context, {}))


def table_name() -> str:
    return f"STAGED_{uuid.uuid4().hex[:6]}".upper()


FIRST = {f"A{i}": f"first {i}" for i in range(5)}
SECOND = {f"A{i}": f"second {i}" for i in range(5)}


def test_the_same_path_in_two_buckets_loads_each_buckets_own_objects(box: Sandbox, sandbox_env: Any) -> None:
    first, second, table = box.bucket(), box.bucket(), table_name()
    uri_first, uri_second = box.extract(first, FIRST), box.extract(second, SECOND)
    assert load(uri_first, table)["rows"] == 5
    assert load(uri_second, table)["rows"] == 5
    rows = box.rows(table)
    assert {k: name for k, (name, _) in rows.items()} == SECOND, "every changed row has the second's values"
    assert all(source.startswith(f"s3://{second}/{PREFIX}/part-") for _, source in rows.values())


@pytest.mark.parametrize(
    "where",
    ["another bucket", "another prefix in the bucket", "a prefix sharing the folder's first letters"],
)
def test_a_stage_that_does_not_hold_the_manifest_is_refused_naming_both(
    box: Sandbox, sandbox_env: Any, where: str
) -> None:
    bucket, other, table = box.bucket(), box.bucket(), table_name()
    uri = box.extract(bucket, FIRST)
    box.extract(other, SECOND)  # a stale copy at the same path, which a wrong stage would read
    box.extract(bucket, SECOND, prefix=f"raw/billing/{PREFIX}")
    url = {
        "another bucket": f"s3://{other}/",
        "another prefix in the bucket": f"s3://{bucket}/raw/billing/",
        "a prefix sharing the folder's first letters": f"s3://{bucket}/raw/sal",
    }[where]
    stage = f"USER_STAGE_{uuid.uuid4().hex[:6]}".upper()
    box.query(f"CREATE STAGE \"{stage}\" URL='{url}'")
    load(uri, table)
    before = box.rows(table)
    with pytest.raises(AirflowFailException) as refused:
        load(uri, table, stage=stage)
    message = str(refused.value)
    assert f"ConfigError: stage {stage} points at {url.rstrip('/')}/, which does not hold" in message
    assert f"s3://{bucket}/{PREFIX}/" in message, "the manifest's location is named"
    assert box.rows(table) == before, "nothing was loaded"


def test_a_stage_on_a_folder_above_the_manifest_loads_paths_relative_to_it(
    box: Sandbox, sandbox_env: Any
) -> None:
    bucket, table = box.bucket(), table_name()
    uri = box.extract(bucket, FIRST)
    stage = f"USER_STAGE_{uuid.uuid4().hex[:6]}".upper()
    box.query(f"CREATE STAGE \"{stage}\" URL='s3://{bucket}/raw/'")
    summary = load(uri, table, stage=stage)
    assert (summary["rows"], summary["files"]) == (5, 3)
    assert {k: name for k, (name, _) in box.rows(table).items()} == FIRST


def test_a_default_stage_pointed_elsewhere_after_a_load_is_refused(box: Sandbox, sandbox_env: Any) -> None:
    bucket, other, table = box.bucket(), box.bucket(), table_name()
    uri = box.extract(bucket, FIRST)
    box.extract(other, SECOND)
    load(uri, table)
    (stage,) = [row[1] for row in box.query("SHOW STAGES") if str(row[1]).startswith(f"{table}__STAGE")]
    box.query(f"CREATE OR REPLACE STAGE \"{stage}\" URL='s3://{other}/'")  # altered outside the load
    before = box.rows(table)
    with pytest.raises(AirflowFailException, match=rf"stage {stage} points at s3://{other}/, which does not"):
        load(uri, table)
    assert box.rows(table) == before


@pytest.mark.parametrize("to", ["another bucket", "another prefix in the bucket"])
def test_a_manifest_moved_or_copied_without_its_objects_is_refused(
    box: Sandbox, sandbox_env: Any, to: str
) -> None:
    bucket, other, table = box.bucket(), box.bucket(), table_name()
    uri = box.extract(bucket, FIRST)
    copied = {
        "another bucket": f"s3://{other}/{PREFIX}/manifest.json",
        "another prefix in the bucket": f"s3://{bucket}/copies/manifest.json",
    }[to]
    box.copy(uri, copied)
    with pytest.raises(AirflowFailException) as refused:
        load(copied, table)
    message = str(refused.value)
    assert f"LoadError: manifest {copied} lists 3 objects outside its own folder" in message
    assert f"s3://{bucket}/{PREFIX}/part-00000.parquet" in message
    assert not box.tables(table), "refused before Snowflake was touched"


def test_a_manifest_listing_an_object_twice_is_refused(box: Sandbox, sandbox_env: Any) -> None:
    """Listed twice, a file's rows would be counted twice while the COPY loads them once."""
    bucket, table = box.bucket(), table_name()
    uri = box.extract(bucket, FIRST)
    manifest = box.read_manifest(uri)
    manifest.files.append(manifest.files[0])
    box.s3.put_object(Bucket=bucket, Key=f"{PREFIX}/manifest.json", Body=manifest.to_json().encode())
    with pytest.raises(AirflowFailException, match=rf"lists {manifest.files[0].key} more than once"):
        load(uri, table)


def test_objects_copied_under_a_rewritten_manifest_fail_the_lineage_check(
    box: Sandbox, sandbox_env: Any
) -> None:
    """Sizes match (the bytes are the same), but every row says it came from the first bucket's files."""
    bucket, other, table = box.bucket(), box.bucket(), table_name()
    uri = box.extract(bucket, FIRST)
    manifest = box.read_manifest(uri)
    moved = [PartFile(p.key.replace(bucket, other, 1), p.rows, p.bytes, p.sha256) for p in manifest.files]
    for source, target in zip(manifest.files, moved, strict=True):
        box.copy(source.key, target.key)
    rewritten = box.manifest(moved)
    box.s3.put_object(Bucket=other, Key=f"{PREFIX}/manifest.json", Body=rewritten.to_json().encode())
    with pytest.raises(AirflowFailException) as refused:
        load(f"s3://{other}/{PREFIX}/manifest.json", table)
    message = str(refused.value)
    assert "the staged rows are not the manifest's" in message
    assert f"2 rows from s3://{bucket}/{PREFIX}/part-00000.parquet of batch batch-1, which the" in message
    assert f"s3://{other}/{PREFIX}/part-00000.parquet: 0 rows staged of 2" in message
    assert box.rows(table) == {}, "the failed COPY and MERGE were rolled back"


def test_an_object_replaced_after_the_extract_fails_before_the_copy(box: Sandbox, sandbox_env: Any) -> None:
    bucket, table = box.bucket(), table_name()
    uri = box.extract(bucket, FIRST)
    other = box.extract(bucket, {"B0": "another extract, same row count", "B1": "x"}, prefix="raw/other")
    part = box.read_manifest(uri).files[0].key
    box.copy(box.read_manifest(other).files[0].key, part)
    with pytest.raises(AirflowFailException) as refused:
        load(uri, table)
    message = str(refused.value)
    assert f"the objects on S3 are not the ones the manifest lists: {part}: " in message
    assert "bytes where the manifest recorded" in message
    assert not box.tables(table), "refused before Snowflake was touched"


# The checks themselves, on result sets a COPY or the staging table could answer.

STAGE_URL = "s3://raw-prod/"
PARTS = [PartFile(f"s3://raw-prod/{PREFIX}/part-0000{i}.parquet", 2, 100, "0" * 64) for i in range(2)]


def loaded(name: str, rows: int = 2, status: str = "LOADED") -> tuple[Any, ...]:
    return (name, status, rows, rows, 1, 0, None, None, None, None)


def test_copy_results_must_name_the_manifests_files_exactly() -> None:
    manifest = Sandbox.manifest(PARTS)
    relative = [p.key.removeprefix(STAGE_URL) for p in PARTS]
    assert check_copy_results(manifest, [loaded(p.key) for p in PARTS], STAGE_URL) == 4
    assert check_copy_results(manifest, [loaded(name) for name in relative], STAGE_URL) == 4

    elsewhere = [loaded(p.key.replace("raw-prod", "raw-old")) for p in PARTS]
    with pytest.raises(
        LoadError, match=r"s3://raw-old/.*part-00000\.parquet: LOADED but not in the manifest"
    ):
        check_copy_results(manifest, elsewhere, STAGE_URL)
    deeper = [loaded(f"s3://raw-prod/copies/{name}") for name in relative]
    with pytest.raises(LoadError, match=rf"{PARTS[0].key}: MISSING with 0 of 2 rows"):
        check_copy_results(manifest, deeper, STAGE_URL)
    extra = [*(loaded(p.key) for p in PARTS), loaded(f"s3://raw-prod/{PREFIX}/part-00009.parquet")]
    with pytest.raises(LoadError, match=r"part-00009\.parquet: LOADED but not in the manifest"):
        check_copy_results(manifest, extra, STAGE_URL)


LINEAGE_CASES = {
    "another bucket's file": (
        [(PARTS[0].key.replace("raw-prod", "raw-old"), "batch-1", 2), (PARTS[1].key, "batch-1", 2)],
        rf"2 rows from s3://raw-old/.*part-00000\.parquet of batch batch-1.*{PARTS[0].key}: 0 rows staged",
    ),
    "another batch": (
        [(PARTS[0].key, "batch-0", 2), (PARTS[1].key, "batch-1", 2)],
        r"part-00000\.parquet of batch batch-0, which the manifest does not list",
    ),
    "a short file": ([(PARTS[0].key, "batch-1", 1), (PARTS[1].key, "batch-1", 2)], r"1 rows staged of 2"),
    "rows without lineage": (
        [(None, None, 3), *((p.key, "batch-1", 2) for p in PARTS)],
        r"3 rows from None of batch None",
    ),
}


def test_staged_lineage_naming_the_manifests_files_batch_and_counts_passes() -> None:
    check_staged_files(Sandbox.manifest(PARTS), [(p.key, "batch-1", 2) for p in PARTS])


@pytest.mark.parametrize(("counts", "match"), LINEAGE_CASES.values(), ids=LINEAGE_CASES.keys())
def test_staged_lineage_other_than_the_manifests_fails(counts: list[tuple[Any, ...]], match: str) -> None:
    with pytest.raises(LoadError, match=match):
        check_staged_files(Sandbox.manifest(PARTS), counts)
