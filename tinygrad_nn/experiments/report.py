"""Writing an experiment's outputs: ``results.json``, PNG plots and ``report.md``.

Every file is written atomically (a temporary file in the same folder, then
``os.replace``), so a reader never sees half a file and an interrupted run leaves the old
one. Figures are built with ``matplotlib.figure.Figure`` directly (the Agg renderer, no
pyplot), so nothing ever opens a window or blocks.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tinygrad_nn._files import atomic_path
from tinygrad_nn.experiments.stats import Summary, format_mean_ci, mean_ci

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from tinygrad_nn.experiments.study import ExperimentResult

__all__ = [
    "COLOURS",
    "command_line",
    "mean_band",
    "new_figure",
    "results_dict",
    "results_json",
    "save_png",
    "summary_cell",
    "write_outputs",
]

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf")


def _write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- figures


def new_figure(width: float = 7.0, height: float = 4.0, ncols: int = 1) -> tuple[Figure, Any]:
    """A Figure with ``ncols`` axes side by side (an array of axes when ncols > 1)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    axes = figure.subplots(1, ncols)
    return figure, axes


def save_png(figure: Figure, path: Path, dpi: int = 110) -> Path:
    """Write the figure as PNG, atomically (creating its folder)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png", dpi=dpi)
    return path


def mean_band(
    axes: Axes, curves: np.ndarray, label: str, colour: str, confidence: float = 0.95
) -> None:
    """Plot the mean of ``curves`` (runs x steps) with its pointwise Student-t band.

    Meant for log axes: the band is cut at a tenth of the mean where it would reach 0.
    """
    from scipy.stats import t

    steps = np.arange(1, curves.shape[1] + 1)
    mean = curves.mean(axis=0)
    axes.plot(steps, mean, color=colour, label=label, linewidth=1.6)
    if curves.shape[0] > 1:
        half = t.ppf((1 + confidence) / 2, curves.shape[0] - 1) * curves.std(axis=0, ddof=1)
        half /= math.sqrt(curves.shape[0])
        # On a log axis a band reaching below 0 is drawn down to a tenth of the mean.
        low = np.maximum(mean - half, mean / 10)
        axes.fill_between(steps, low, mean + half, color=colour, alpha=0.2, linewidth=0)


# --------------------------------------------------------------------------- text


def summary_cell(values: Sequence[float], digits: int = 3) -> str:
    """``"mean ± half-width"`` of the 95% Student-t interval, for a table cell."""
    return format_mean_ci(mean_ci(values), digits)


def _summary_json(value: Any) -> Any:
    """Make analysis summaries JSON-ready (dataclasses to dicts, NaN to None)."""
    if isinstance(value, Summary) or dataclasses.is_dataclass(value):
        return _summary_json(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): _summary_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_summary_json(v) for v in value]
    if isinstance(value, (np.floating, float)):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def command_line(result: ExperimentResult) -> str:
    """The command that reruns this experiment (``--set`` for non-default settings)."""
    parts = ["tinygrad-nn", "experiment", result.study.name]
    parts += ["--runs", str(result.runs), "--seed", str(result.seed)]
    defaults = result.study.settings_type()
    for field in dataclasses.fields(result.settings):
        value = getattr(result.settings, field.name)
        if value != getattr(defaults, field.name):
            if isinstance(value, tuple):
                text = ",".join(str(v) for v in value)
            else:
                text = "none" if value is None else str(value)
            parts += ["--set", f"{field.name}={text}"]
    return " ".join(parts)


def _versions() -> dict[str, str]:
    import scipy

    from tinygrad_nn import __version__

    return {
        "tinygrad_nn": __version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "python": platform.python_version(),
    }


def results_dict(result: ExperimentResult) -> dict[str, Any]:
    """Everything ``results.json`` holds: settings, every run's record, the analysis."""
    return {
        "study": result.study.name,
        "title": result.study.title,
        "question": result.study.question,
        "command": command_line(result),
        "settings": _summary_json(dataclasses.asdict(result.settings)),
        "runs": result.runs,
        "seed": result.seed,
        "executor": result.executor,
        "elapsed_s": result.elapsed_s,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "versions": _versions(),
        "conclusions": result.analysis.conclusions,
        "summary": _summary_json(result.analysis.summary),
        "measurements": _summary_json(result.measurements),
        "records": _summary_json(result.records),
    }


def _settings_table(result: ExperimentResult) -> str:
    lines = ["| setting | value |", "|---|---|"]
    for field in dataclasses.fields(result.settings):
        value = getattr(result.settings, field.name)
        lines.append(f"| `{field.name}` | {value} |")
    return "\n".join(lines)


def report_markdown(result: ExperimentResult, figures: Sequence[Path]) -> str:
    """The text of ``report.md``: question, method, tables, conclusions, plots, settings."""
    study, analysis = result.study, result.analysis
    lines = [
        f"# {study.title}",
        "",
        "> " + study.question.replace("\n", "\n> "),
        "",
        f"Rerun: `{command_line(result)}`",
        "",
        "## Method",
        "",
        study.method.strip(),
        "",
        "## Results",
        "",
    ]
    for table in analysis.tables:
        lines += [f"### {table.title}", "", table.to_markdown(), ""]
    lines += ["## Conclusion", ""]
    lines += [f"- {sentence}" for sentence in analysis.conclusions]
    lines.append("")
    if figures:
        lines += ["## Plots", ""]
        lines += [f"![{path.stem}]({path.name})" for path in figures]
        lines.append("")
    lines += [
        "## Settings",
        "",
        _settings_table(result),
        "",
        f"{result.runs} runs per arm, base seed {result.seed}, executor {result.executor}, "
        f"{result.elapsed_s:.1f} s for the runs and the analysis. Every run's numbers are in "
        "`results.json`.",
        "",
    ]
    return "\n".join(lines)


def _rounded_curves(record: dict[str, Any]) -> dict[str, Any]:
    """Per-step lists (cost curves) to 6 significant digits: half the file, same plots."""
    return {
        key: [float(f"{v:.6g}") for v in value]
        if isinstance(value, list) and len(value) > 20 and isinstance(value[0], float)
        else value
        for key, value in record.items()
    }


def results_json(result: ExperimentResult) -> str:
    """The text of ``results.json``: indented header, then one line per run's record.

    Per-step curves are rounded to 6 significant digits; every other number is exact.
    """
    content = results_dict(result)
    records = content.pop("records")
    head = json.dumps(content, indent=1, ensure_ascii=False)
    lines = ",\n".join(
        json.dumps(_rounded_curves(record), ensure_ascii=False) for record in records
    )
    return f'{head[:-2]},\n "records": [\n{lines}\n ]\n}}\n'


def write_outputs(result: ExperimentResult, folder: Path) -> list[Path]:
    """Write ``results.json``, the study's PNG plots and ``report.md`` into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    results_path = _write_text(folder / "results.json", results_json(result))
    figures = result.study.plot(result, folder)
    report_path = _write_text(folder / "report.md", report_markdown(result, figures))
    return [results_path, *figures, report_path]
