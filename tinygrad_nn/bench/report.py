"""The benchmark's verdicts and its Markdown: ratios to the yardstick, targets, tables.

Every ratio divides by the fastest hand-written candidate of the same case in the same
run (`TightMLP` or `HandwrittenMLP`, see `tinygrad_nn.bench.cases.HANDWRITTEN`); lower is
better. A ratio is the median of per-round ratios (rounds are interleaved, so each round
compares like with like); the spread shown next to it is the middle half of them.
"""

from __future__ import annotations

import statistics
from typing import Any

from tinygrad_nn.bench.cases import HANDWRITTEN, OP_SHAPE
from tinygrad_nn.bench.machine import machine_line

__all__ = ["TARGETS", "evaluate_targets", "ratios", "targets_summary", "to_markdown"]

# name -> (report section, case, candidate, limit, "≤" or "≥"); issue 15's targets.
TARGETS: dict[str, tuple[str, str, str, float, str]] = {
    "S step, captured": ("steps", "S", "captured", 1.0, "≤"),
    "S step, eager": ("steps", "S", "tinygrad_nn", 2.0, "≤"),
    "S inference, captured": ("inference", "S", "captured", 1.0, "≤"),
    "S inference, eager": ("inference", "S", "tinygrad_nn", 1.5, "≤"),
    "M step, eager": ("steps", "M", "tinygrad_nn", 1.02, "≤"),
    "L step, eager": ("steps", "L", "tinygrad_nn", 1.02, "≤"),
    "L float32 speed-up, eager": ("speedup", "L", "tinygrad_nn", 1.8, "≥"),
    "L peak memory, eager": ("memory", "L", "tinygrad_nn", 1.0, "≤"),
    "chain forward vs PyTorch": ("chain", "chain", "tinygrad_nn", 1.0, "≤"),
}
COLUMNS = (  # candidate -> column title, in table order
    ("tight", "tight hand-written"),
    ("floor", "GEMM floor"),
    ("handwritten", "HandwrittenMLP"),
    ("tinygrad_nn", "tinygrad_nn eager"),
    ("captured", "captured"),
    ("torch", "PyTorch"),
)


def ratios(timings: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Seconds, ratios to the fastest hand-written candidate and their per-round spread.

    Args:
        timings: `interleaved_medians`' result; it must hold a candidate of `HANDWRITTEN`.

    Each round times every candidate once, so a round's ratio compares like with like;
    ``ratio`` is the median of those per-round ratios (robust to a slow spell that
    medians of times taken apart are not), ``spread`` their 25th and 75th percentiles.

    Returns:
        ``yardstick`` (the candidate divided by: the fastest hand-written one by median
        time), ``seconds`` (median seconds per call), ``ratio``, ``spread``, ``timing``.

    Example:
        >>> ratios({"tight": {"median_s": 2.0, "samples_s": [2.0]}})["ratio"]
        {'tight': 1.0}
    """
    present = [name for name in HANDWRITTEN if name in timings]
    if not present:
        raise ValueError(f"ratios: no hand-written candidate {HANDWRITTEN} in {sorted(timings)}")
    yardstick = min(present, key=lambda name: timings[name]["median_s"])
    base_samples = timings[yardstick]["samples_s"]
    ratio, spread = {}, {}
    for name, value in timings.items():
        per_round = [s / b for s, b in zip(value["samples_s"], base_samples, strict=True)]
        ratio[name] = statistics.median(per_round)
        if len(per_round) >= 2:
            quartiles = statistics.quantiles(per_round, n=4, method="inclusive")
            spread[name] = [quartiles[0], quartiles[2]]
        else:
            spread[name] = [per_round[0], per_round[0]]
    return {
        "yardstick": yardstick,
        "seconds": {name: value["median_s"] for name, value in timings.items()},
        "ratio": ratio,
        "spread": spread,
        "timing": timings,
    }


def evaluate_targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Each of `TARGETS` for each dtype measured: the value, the limit and whether it is met.

    A target whose case is missing from the report (no PyTorch for the chain target) is
    left out.
    """
    rows: list[dict[str, Any]] = []
    for name, (section, case, candidate, limit, direction) in TARGETS.items():
        values: list[tuple[str, float]] = []
        if section in ("steps", "inference", "memory"):
            values = [
                (f"{case} {row['dtype']}", row["ratio"][candidate])
                for row in report.get(section, [])
                if row["case"] == case and candidate in row["ratio"]
            ]
        elif section == "speedup" and report.get("speedup", {}).get("case") == case:
            values = [(case, report["speedup"]["speedup"][candidate])]
        elif section == "chain" and "torch" in report.get("chain", {}):
            chain = report["chain"]
            values = [(case, chain[candidate]["forward_s"] / chain["torch"]["forward_s"])]
        for where, value in values:
            met = value <= limit if direction == "≤" else value >= limit
            rows.append(
                {
                    "target": name,
                    "case": where,
                    "limit": limit,
                    "direction": direction,
                    "value": value,
                    "met": met,
                }
            )
    return rows


def targets_summary(targets: list[dict[str, Any]]) -> str:
    """One line: how many targets this run met, and which it missed.

    Example:
        >>> targets_summary([{"target": "t", "case": "S", "met": True}])
        '**Every target met in this run** (1 of 1).'
    """
    missed = [f"{row['target']} ({row['case']})" for row in targets if not row["met"]]
    if not missed:
        return f"**Every target met in this run** ({len(targets)} of {len(targets)})."
    met = len(targets) - len(missed)
    return f"**{met} of {len(targets)} targets met in this run;** missed: {', '.join(missed)}."


# --------------------------------------------------------------------------- Markdown


def time_text(seconds: float) -> str:
    """Seconds as µs, ms or s with three or four significant digits."""
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _timing_table(rows: list[dict[str, Any]]) -> list[str]:
    names = [(key, title) for key, title in COLUMNS if any(key in row["seconds"] for row in rows)]
    header = ["case", "dtype", "batch"] + [title for _, title in names]
    cells = []
    for row in rows:
        line = [row["case"], row["dtype"], str(row["batch"])]
        for key, _ in names:
            if key not in row["seconds"]:
                line.append("–")
                continue
            low, high = row["spread"][key]
            mark = "**" if key == row["yardstick"] else ""
            line.append(
                f"{mark}{time_text(row['seconds'][key])}{mark} "
                f"{row['ratio'][key]:.2f}× ({low:.2f}–{high:.2f})"
            )
        cells.append(line)
    return _table(header, cells)


def to_markdown(report: dict[str, Any]) -> str:
    """The report as Markdown tables (what ``--markdown`` writes and the command prints)."""
    settings = report["settings"]
    lines = ["# tinygrad_nn benchmark", "", f"Machine: {machine_line(report['machine'])}.", ""]
    lines.append(
        "Times are medians of interleaved rounds in one process. Each ratio divides by the "
        "fastest hand-written step of its row (in bold: the tight restatement of the "
        "article's algorithm, or `HandwrittenMLP`), lower is better: the median of the "
        "per-round ratios, and in brackets their middle half."
    )
    if settings["quick"]:
        lines += [
            "",
            "**Quick run**: every case once on shrunken M and L networks, a smoke test. "
            "It is not a measurement, so no target is judged.",
        ]
    lines += ["", "## Training step (forward, cost, backward, SGD update)", ""]
    lines += _timing_table(report["steps"])
    lines += ["", "## Inference (forward without gradients)", ""]
    lines += _timing_table(report["inference"])
    if report["ops"]:
        rows = []
        for row in report["ops"]:
            seconds = row["seconds"]
            cells = [row["op"], time_text(seconds["numpy"]), time_text(seconds["tinygrad_nn"])]
            cells.append(time_text(row["overhead_s"]))
            cells.append(time_text(seconds["torch"]) if "torch" in seconds else "–")
            rows.append(cells)
        shape = "×".join(str(n) for n in OP_SHAPE)
        lines += ["", f"## Per-op cost, forward + backward ({shape} float64)", ""]
        lines += _table(["op", "NumPy by hand", "tinygrad_nn", "overhead", "PyTorch"], rows)
    if report["memory"]:
        names = [key for key, _ in COLUMNS if key in report["memory"][0]["bytes"]]
        titles = dict(COLUMNS)
        rows = []
        for row in report["memory"]:
            cells = [row["case"], row["dtype"], str(row["batch"])]
            for key in names:
                mark = "**" if key == row["yardstick"] else ""
                mebibytes = row["bytes"][key] / 2**20
                cells.append(f"{mark}{mebibytes:.1f} MiB{mark} {row['ratio'][key]:.2f}×")
            rows.append(cells)
        lines += ["", "## Peak memory of one training step (tracemalloc)", ""]
        lines.append(
            "Everything a candidate holds at the peak of a step: its weights, buffers, "
            "optimizer state and the step's temporaries."
        )
        lines.append("")
        lines += _table(["case", "dtype", "batch"] + [titles[key] for key in names], rows)
    speedup = report.get("speedup")
    if speedup:
        rows = [
            [
                titles_of(name),
                time_text(speedup["seconds"]["float64"][name]),
                time_text(speedup["seconds"]["float32"][name]),
                f"{value:.2f}×",
            ]
            for name, value in speedup["speedup"].items()
        ]
        lines += [
            "",
            f"## float32 against float64 at {speedup['case']} (one interleaved timing)",
            "",
        ]
        lines += _table(["", "float64 step", "float32 step", "speed-up"], rows)
    chain = report.get("chain")
    if chain:
        rows = []
        for name in ("tinygrad_nn", "torch"):
            if name in chain:
                times = chain[name]
                no_gc = times.get("forward_no_gc_s")
                rows.append(
                    [
                        titles_of(name),
                        time_text(times["forward_s"]),
                        "–" if no_gc is None else time_text(no_gc),
                        time_text(times["backward_s"]),
                    ]
                )
        lines += ["", f"## Graph building: a chain of {chain['length']:,} negations", ""]
        lines += _table(["", "forward (build)", "forward, cyclic GC off", "backward"], rows)
    if not settings["quick"]:
        rows = [
            [
                row["target"],
                row["case"],
                f"{row['direction']} {row['limit']}",
                f"{row['value']:.3f}",
                "met" if row["met"] else "MISSED",
            ]
            for row in report["targets"]
        ]
        lines += ["", "## Targets", ""]
        lines += _table(["target", "case", "limit", "this run", "verdict"], rows)
        lines += ["", targets_summary(report["targets"])]
    return "\n".join(lines) + "\n"


def titles_of(name: str) -> str:
    """The column title of a candidate (``"torch"`` -> ``"PyTorch"``)."""
    return dict(COLUMNS).get(name, name)
