"""S3 (moto's server) and Snowflake (fakesnow's server) in one process, with Snowflake able to read S3.

fakesnow runs on DuckDB, which cannot download its httpfs extension here; an s3fs filesystem pointed at
the moto server is registered on fakesnow's shared DuckDB connection instead, so external stages on
`s3://` work. The Snowflake databases persist as DuckDB files under the data directory.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path
from typing import Any

S3_ACCESS_KEY = "sandbox-access-key-id"
S3_SECRET_KEY = "sandbox-secret-access-key-0123456789"
S3_REGION = "us-east-1"
SNOWFLAKE_USER = "sandbox_user"
SNOWFLAKE_PASSWORD = "sandbox-snowflake-password"
SNOWFLAKE_ACCOUNT = "sandbox"
SNOWFLAKE_DATABASE = "SANDBOX"
SNOWFLAKE_SCHEMA = "PUBLIC"
SNOWFLAKE_WAREHOUSE = "SANDBOX_WH"


def start_s3(port: int) -> Any:
    """Start moto's S3 server on 127.0.0.1:port in a thread; returns the server (call `.stop()`)."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    return server


def snowflake_app(data_dir: Path, s3_url: str) -> Any:
    """fakesnow's ASGI app, persisting under `data_dir` and reading `s3://` from the moto server."""
    import s3fs
    from fakesnow.instance import FakeSnow

    from integrations_sandbox import fakesnow_fixes

    fakesnow_fixes.apply()
    server_module = importlib.import_module("fakesnow.server")
    data_dir.mkdir(parents=True, exist_ok=True)
    instance = FakeSnow(db_path=data_dir)
    filesystem = s3fs.S3FileSystem(
        key=S3_ACCESS_KEY,
        secret=S3_SECRET_KEY,
        client_kwargs={"endpoint_url": s3_url, "region_name": S3_REGION},
    )
    instance.duck_conn.register_filesystem(filesystem)
    server_module.shared_fs = instance
    logging.getLogger("fakesnow.server").setLevel(logging.WARNING)
    return server_module.app
