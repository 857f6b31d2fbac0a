"""Every goal of the last `make bench` in one table, and the figures in one plot (benchmarks/results.png).

Reads the JSON files the benchmarks leave in benchmarks/results/; a benchmark that has not run is named
as missing. Exits 1 if any goal is not met, after writing everything, so the gap stays visible.
"""

from __future__ import annotations

import sys
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from results_file import HERE, read_json, write_section

BENCHMARKS = ("salesforce_extract", "record_cpu", "load", "reverse_etl")
PLOT = HERE / "results.png"


def goals_table(results: dict[str, dict[str, Any] | None]) -> tuple[str, int]:
    lines = ["| Benchmark | Goal | Threshold | Measured | Met |", "| --- | --- | --- | --- | --- |"]
    missed = 0
    for name, data in results.items():
        if data is None:
            lines.append(f"| {name} | (not run) | | | no |")
            missed += 1
            continue
        for goal, spec in data["goals"].items():
            measured = spec.get("measured", spec.get("value"))
            shown = f"{measured:,.2f}" if isinstance(measured, float) else f"{measured}"
            label = spec.get("goal", goal)
            lines.append(
                f"| {name} | {label} | {spec['threshold']} | {shown} | {'yes' if spec['met'] else 'no'} |"
            )
            missed += not spec["met"]
    lines.append("")
    lines.append(f"Plot of the same run: `benchmarks/{PLOT.name}`.")
    return "\n".join(lines), missed


def plot(results: dict[str, dict[str, Any] | None]) -> None:
    fig, axes = plt.subplots(2, 3, figsize=(16, 9))
    extract, cpu, load, retl = (results[n] for n in BENCHMARKS)
    if extract:
        for contender in ("ours", "stock", "plain"):
            rows = sorted(
                (r for r in extract["rows"] if r["contender"] == contender), key=lambda r: r["size"]
            )
            sizes = [r["size"] for r in rows]
            axes[0][0].plot(sizes, [r["seconds"] for r in rows], marker="o", label=contender)
            axes[0][1].plot(sizes, [r["peak_rss_mb"] for r in rows], marker="o", label=contender)
        for ax, title, unit in (
            (axes[0][0], "Salesforce extract to S3: wall time", "seconds"),
            (axes[0][1], "Salesforce extract to S3: peak RSS", "MB"),
        ):
            ax.set(xscale="log", yscale="log", title=title, xlabel="records", ylabel=unit)
            ax.legend()
    if cpu:
        rows = cpu["rows"]
        labels = [f"{r['shape']}\n{r['stage']}" for r in rows]
        axes[0][2].bar(labels, [r["records_per_s"] for r in rows])
        axes[0][2].axhline(100_000, color="red", linestyle="--", label="goal (extract loop)")
        axes[0][2].set(title="CPU per record, one core", ylabel="records/s")
        axes[0][2].legend()
    if load:
        files = sorted((r for r in load["rows"] if r["experiment"] == "files"), key=lambda r: r["files"])
        axes[1][0].plot([r["files"] for r in files], [r["statements"] for r in files], marker="o")
        axes[1][0].set(
            xscale="log", title="SQL statements per load", xlabel="Parquet files", ylabel="statements"
        )
        axes[1][0].set_ylim(bottom=0)
        merges = [r for r in load["rows"] if r["experiment"] == "merge"]
        for kind in ("first", "second"):
            rows = sorted((r for r in merges if r["load"] == kind), key=lambda r: r["keys"])
            axes[1][1].plot([r["keys"] for r in rows], [r["merge_s"] for r in rows], marker="o", label=kind)
        axes[1][1].set(
            xscale="log", yscale="log", title="MERGE time (fakesnow)", xlabel="keys", ylabel="seconds"
        )
        axes[1][1].legend(title="load")
    if retl:
        runs = retl["runs"]
        labels = ["first sync", f"{retl['changed']:,} changed", "naive re-send"]
        calls = [runs[k]["api_calls"] for k in ("first", "second", "naive")]
        bars = axes[1][2].bar(labels, calls)
        axes[1][2].bar_label(bars)
        axes[1][2].set(yscale="log", title=f"Reverse ETL, {retl['size']:,} rows: API calls", ylabel="calls")
    fig.suptitle("make bench: side by side on the sandbox, one run")
    fig.tight_layout()
    fig.savefig(PLOT, dpi=90)


def main() -> int:
    results = {name: read_json(name) for name in BENCHMARKS}
    table, missed = goals_table(results)
    print(table)
    write_section("goals", "## Goals", table)
    plot(results)
    print(f"wrote {PLOT}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
