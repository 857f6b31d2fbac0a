"""Where every benchmark leaves its numbers: a section of RESULTS.md between markers, and a JSON file.

A section is replaced in place when it exists, so hand-written reading around it survives a new run;
otherwise it is appended under its heading. `summary.py` reads the JSON files back for the goals table
and the plot.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
JSON_DIR = HERE / "results"


def write_section(name: str, heading: str, block: str) -> None:
    """Put `block` into RESULTS.md between `<!-- name:begin -->` and `<!-- name:end -->`."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    text = RESULTS.read_text()
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = f"{head}{begin}\n{block}\n{end}{rest.split(end, 1)[1]}"
    else:
        text = f"{text.rstrip()}\n\n{heading}\n\n{begin}\n{block}\n{end}\n"
    RESULTS.write_text(text)


def write_json(name: str, data: dict[str, Any]) -> Path:
    """Save a benchmark's numbers as results/<name>.json: rows, and goals as
    {name: {"threshold", "measured", "met"}}."""
    JSON_DIR.mkdir(exist_ok=True)
    path = JSON_DIR / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    return path


def read_json(name: str) -> dict[str, Any] | None:
    path = JSON_DIR / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None
