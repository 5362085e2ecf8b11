"""Writing an experiment's outputs: ``results.json``, PNG plots and ``report.md``.

The report (and the generated sections of docs/experiments.md) are rendered from the
content of ``results.json`` alone (`render_markdown`), so they cannot disagree with it.
The output folder is written as a whole: everything goes to a temporary folder beside it,
which replaces the old folder by renames once complete, so an interrupted study leaves the
old folder (or none), never a mix. Figures are built with ``matplotlib.figure.Figure``
directly (the Agg renderer, no pyplot), so nothing ever opens a window or blocks.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
import secrets
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tinygrad_nn._files import atomic_path
from tinygrad_nn.experiments.study import Table

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from tinygrad_nn.experiments.study import ExperimentResult

__all__ = [
    "COLOURS",
    "command_line",
    "mean_band",
    "new_figure",
    "render_markdown",
    "results_dict",
    "results_json",
    "save_png",
    "write_outputs",
]

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf")


def _write_text(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` with `atomic_path`, the one way tinygrad_nn writes a file."""
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
    """Write the figure as PNG, atomically (its folder must exist)."""
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


# --------------------------------------------------------------------------- results


def _json_ready(value: Any) -> Any:
    """Make values JSON-ready (dataclasses to dicts, NaN and inf to None, NumPy to Python)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _json_ready(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
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


def design_dict(result: ExperimentResult) -> dict[str, Any]:
    """The design as declared: compared quantity, comparisons, arms and their candidates."""
    study = result.study
    return {
        "metric": dataclasses.asdict(study.metric),
        "comparisons": [list(pair) for pair in study.comparisons(result.settings)],
        "selection_runs": result.settings.selection_runs,
        "arms": [
            {"name": a.name, "group": a.group, "lrs": list(a.lrs), "params": dict(a.params)}
            for a in study.arms(result.settings)
        ],
    }


def results_dict(result: ExperimentResult, records: bool = True) -> dict[str, Any]:
    """Everything ``results.json`` holds; ``records=False`` leaves out the per-run records."""
    content = {
        "study": result.study.name,
        "title": result.study.title,
        "question": result.study.question,
        "method": result.study.method.strip(),
        "command": command_line(result),
        "design": design_dict(result),
        "settings": dataclasses.asdict(result.settings),
        "runs": result.runs,
        "seed": result.seed,
        "executor": result.executor,
        "elapsed_s": result.elapsed_s,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "versions": _versions(),
        "tables": [dataclasses.asdict(t) for t in result.tables],
        "conclusions": result.conclusions,
        "stats": result.stats,
    }
    if records:
        content["records"] = result.records
        content["selection_records"] = result.selection_records
    return _json_ready(content)


def _rounded(record: dict[str, Any]) -> dict[str, Any]:
    """Per-step lists (cost curves) to 4 significant digits: a quarter of the file, same plots."""
    return {
        key: [None if v is None else float(f"{v:.4g}") for v in value]
        if isinstance(value, list) and len(value) > 20
        else value
        for key, value in record.items()
    }


def results_json(result: ExperimentResult, records: bool = True) -> str:
    """The text of ``results.json``: indented header, then one line per run's record."""
    content = results_dict(result, records)
    lists = {k: content.pop(k) for k in ("records", "selection_records") if k in content}
    text = json.dumps(content, indent=1, ensure_ascii=False)
    if not lists:
        return text + "\n"
    parts = [
        f' "{key}": [\n'
        + ",\n".join(json.dumps(_rounded(r), ensure_ascii=False) for r in value)
        + "\n ]"
        for key, value in lists.items()
    ]
    return text[:-2] + ",\n" + ",\n".join(parts) + "\n}\n"


def _params(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items()) or "the article's"


def design_markdown(results: dict[str, Any]) -> list[str]:
    """The design section: what is compared, declared before the runs, and how lrs are set."""
    design = results["design"]
    metric = design["metric"]
    how = (
        "ratio of geometric means over paired runs"
        if metric["kind"] == "ratio"
        else "difference of rates over paired runs (McNemar)"
    )
    pairs = "; ".join(f"{a} vs {b}" for a, b in design["comparisons"]) or "none"
    lines = [
        f"- Compared quantity, declared with the study before any run: **{metric['label']}** "
        f"(`{metric['key']}`), lower is better, as a {how}.",
        f"- Comparisons (Holm-adjusted together, level {results['stats']['alpha']:g}): {pairs}.",
        f"- {results['runs']} compared runs per arm (run *i* of every arm shares its seeds); "
        f"each arm with several candidate learning rates is tuned on "
        f"{design['selection_runs']} selection runs per candidate, with disjoint seeds.",
        "",
        "| arm | trains with | candidate lrs |",
        "|---|---|---|",
    ]
    lines += [
        f"| {a['name']} | {_params(a['params'])} | {', '.join(f'{lr:g}' for lr in a['lrs'])} |"
        for a in design["arms"]
    ]
    return lines


def render_markdown(
    results: dict[str, Any], images: Sequence[str] = (), level: int = 1, settings: bool = True
) -> str:
    """Markdown of a study from the content of its ``results.json`` (report and docs).

    Args:
        results: the parsed ``results.json`` (records not needed).
        images: image paths to show, in order.
        level: heading level of the title (sections are one deeper).
        settings: end with the settings table and run facts.
    """
    h, sub = "#" * level, "#" * (level + 1)
    lines = [
        f"{h} {results['title']}",
        "",
        "> " + results["question"].replace("\n", "\n> "),
        "",
        f"Rerun: `{results['command']}`",
        "",
        f"{sub} Method",
        "",
        results["method"],
        "",
        f"{sub} Design",
        "",
        *design_markdown(results),
        "",
        f"{sub} Results",
        "",
    ]
    for table in results["tables"]:
        lines += [f"**{table['title']}**", "", Table(**table).to_markdown(), ""]
    lines += [f"{sub} Conclusions", ""]
    lines += [f"- {sentence}" for sentence in results["conclusions"]]
    lines.append("")
    if images:
        lines += [f"{sub} Plots", ""]
        lines += [f"![{Path(image).stem}]({image})" for image in images]
        lines.append("")
    if settings:
        lines += [f"{sub} Settings", "", "| setting | value |", "|---|---|"]
        lines += [f"| `{k}` | {v} |" for k, v in results["settings"].items()]
        lines += [
            "",
            f"{results['runs']} compared runs per arm, base seed {results['seed']}, executor "
            f"{results['executor']}, {results['elapsed_s']:.1f} s. Every run's numbers are in "
            "`results.json`.",
            "",
        ]
    return "\n".join(lines)


def write_outputs(result: ExperimentResult, folder: Path) -> list[Path]:
    """Write ``results.json``, the plots and ``report.md`` as one new ``folder``.

    Everything is written to a temporary folder beside ``folder``, which then takes its
    place; on any error (KeyboardInterrupt included) the temporary folder is removed and an
    old ``folder`` is left as it was. ``folder``'s parent must exist.
    """
    folder = Path(folder)
    if not folder.parent.is_dir():
        raise FileNotFoundError(
            f"write_outputs: cannot write {str(folder)!r}: its folder "
            f"{str(folder.parent)!r} does not exist"
        )
    if folder.exists() and not folder.is_dir():
        raise FileExistsError(f"write_outputs: {str(folder)!r} exists and is not a folder")
    # mkdir, not mkdtemp: the folder gets the permissions a plain mkdir gives (umask).
    temporary = folder.parent / f".{folder.name}.{secrets.token_hex(4)}.tmp"
    temporary.mkdir()
    try:
        _write_text(temporary / "results.json", results_json(result))
        figures = result.study.plot(result, temporary)
        report = render_markdown(results_dict(result, records=False), [p.name for p in figures])
        _write_text(temporary / "report.md", report)
        names = ["results.json", *(p.name for p in figures), "report.md"]
        if folder.exists():
            old = folder.parent / f".{folder.name}.{secrets.token_hex(4)}.old"
            os.replace(folder, old)
            os.replace(temporary, folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(temporary, folder)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    return [folder / name for name in names]


def interval_bars(
    axes: Axes,
    labels: Sequence[str],
    values: Sequence[float],
    lows: Sequence[float],
    highs: Sequence[float],
    colour: str = COLOURS[0],
) -> None:
    """Horizontal bars with interval whiskers, one per label (top to bottom).

    The whiskers are clipped at 0 length, so a bound that rounding put a hair on the wrong
    side of its value (a Wilson bound of 3.5e-18 around a rate of 0) cannot make matplotlib
    reject a negative error bar.
    """
    value = np.asarray(values, dtype=np.float64)
    below = np.maximum(value - np.asarray(lows, dtype=np.float64), 0.0)
    above = np.maximum(np.asarray(highs, dtype=np.float64) - value, 0.0)
    rows = np.arange(len(labels))[::-1]
    axes.barh(rows, value, xerr=[below, above], color=colour, alpha=0.8, capsize=3)
    axes.set_yticks(rows, list(labels), fontsize=8)
