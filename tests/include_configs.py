"""The DAG configs shipped under include/, for tests that change one and write it elsewhere."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

INCLUDE = Path(__file__).resolve().parents[1] / "include"


def ingest_config(system: str) -> dict[str, Any]:
    """include/ingest/<system>.yaml, its catalog path made absolute (it is relative to the file's folder)."""
    config: dict[str, Any] = yaml.safe_load((INCLUDE / "ingest" / f"{system}.yaml").read_text())
    if "catalog" in config:
        config["catalog"] = str((INCLUDE / "ingest" / config["catalog"]).resolve())
    return config
