"""Run-to-run spread: the key ratios of several ``tinygrad-nn bench --json`` reports.

    python benchmarks/compare_runs.py run1.json run2.json ...

Prints a Markdown table, one row per report and a last row with each column's range:
the S step ratios (eager / captured) and PyTorch's, the S inference ratios (eager /
captured), the M and L step ratios (float64 / float32) eager and captured, the float32
speed-up at L, the L step's peak memory ratio, and the chain's forward / backward times
against PyTorch's. docs/performance.md's "Run to run" table is this script's output.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

COLUMNS = (
    "S step f64",
    "PyTorch S step f64",
    "S step f32",
    "S inference f64",
    "S inference f32",
    "M step eager",
    "M step captured",
    "L step eager",
    "L step captured",
    "L f32 speed-up",
    "L memory",
    "chain vs PyTorch",
)


def _row(report: dict[str, Any], section: str, case: str, dtype: str) -> dict[str, Any]:
    return next(r for r in report[section] if r["case"] == case and r["dtype"] == dtype)


def key_ratios(report: dict[str, Any]) -> dict[str, tuple[float, ...]]:
    """Column -> the figures of one report (one or two numbers per column)."""
    values: dict[str, tuple[float, ...]] = {}
    for dtype, column in (("float64", "S step f64"), ("float32", "S step f32")):
        ratio = _row(report, "steps", "S", dtype)["ratio"]
        values[column] = (ratio["tinygrad_nn"], ratio["captured"])
    ratio = _row(report, "steps", "S", "float64")["ratio"]
    if "torch" in ratio:
        values["PyTorch S step f64"] = (ratio["torch"],)
    for dtype, column in (("float64", "S inference f64"), ("float32", "S inference f32")):
        ratio = _row(report, "inference", "S", dtype)["ratio"]
        values[column] = (ratio["tinygrad_nn"], ratio["captured"])
    for case in ("M", "L"):
        for mode, candidate in (("eager", "tinygrad_nn"), ("captured", "captured")):
            values[f"{case} step {mode}"] = tuple(
                _row(report, "steps", case, dtype)["ratio"][candidate]
                for dtype in ("float64", "float32")
            )
    values["L f32 speed-up"] = (report["speedup"]["speedup"]["tinygrad_nn"],)
    values["L memory"] = tuple(
        _row(report, "memory", "L", d)["ratio"]["tinygrad_nn"] for d in ("float64", "float32")
    )
    chain = report.get("chain", {})
    if "torch" in chain:
        values["chain vs PyTorch"] = tuple(
            chain["tinygrad_nn"][key] / chain["torch"][key] for key in ("forward_s", "backward_s")
        )
    return values


def _text(numbers: tuple[float, ...]) -> str:
    return " / ".join(f"{n:.2f}" for n in numbers)


def main(argv: list[str] | None = None) -> int:
    """Print the table for the reports named on the command line."""
    paths = sys.argv[1:] if argv is None else argv
    if not paths:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    rows = [key_ratios(json.loads(Path(path).read_text(encoding="utf-8"))) for path in paths]
    print("| run | " + " | ".join(COLUMNS) + " |")
    print("|---|" + "---|" * len(COLUMNS))
    for index, row in enumerate(rows, 1):
        print(
            f"| {index} | " + " | ".join(_text(row[c]) if c in row else "–" for c in COLUMNS) + " |"
        )
    ranges = []
    for column in COLUMNS:
        present = [row[column] for row in rows if column in row]
        if not present:
            ranges.append("–")
            continue
        parts = zip(*present, strict=True)
        ranges.append(" / ".join(f"{min(p):.2f}–{max(p):.2f}" for p in parts))
    print("| range | " + " | ".join(ranges) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
