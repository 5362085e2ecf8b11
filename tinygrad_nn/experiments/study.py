"""What a study is, and `run_experiment`, which runs one under the shared design rules.

A study is data plus one function (see docs/experiments.md, "Design rules"):

* its settings, a frozen dataclass checked by `check_settings` before any run;
* its arms (`Arm`): what each trains, and the learning rates it may use;
* the compared quantity (`Metric`), fixed in the declaration, so before any run;
* the pairs of arms it compares, and the per-arm columns its table shows;
* ``conclude(settings, stats, records)``: the sentences only this study says, built from
  the statistics with the wording helpers of `tinygrad_nn.experiments.verdict`.

`run_experiment` applies the rules the same way for every study: each arm's learning rate
is tuned on selection runs, whose seeds (data and weights) are disjoint from the compared
runs'; the compared runs pair run i of every arm; each comparison is a paired test with its
effect size and interval, Holm-adjusted over the study's comparisons; and the generic
sentences about the comparisons come from `verdict.comparison_sentence`.
"""

from __future__ import annotations

import dataclasses
import math
import time
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinygrad_nn._random import check_seed
from tinygrad_nn.experiments import stats as st
from tinygrad_nn.experiments.runner import (
    COMPARISON,
    SELECTION,
    Progress,
    Task,
    make_executor,
    run_tasks,
)

__all__ = [
    "ALPHA",
    "Arm",
    "Column",
    "ExperimentResult",
    "Metric",
    "Study",
    "Table",
    "apply_overrides",
    "by_arm",
    "check_settings",
    "run_experiment",
]

ALPHA = 0.05  # significance level of every comparison, after Holm's adjustment


@dataclass
class Table:
    """A Markdown table: a title, column names and rows of already formatted cells."""

    title: str
    columns: list[str]
    rows: list[list[str]]
    note: str = ""

    def to_markdown(self) -> str:
        """The table as Markdown (a ``|`` inside a cell is escaped), then its note."""

        def line(cells: Sequence[str]) -> str:
            return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

        lines = [line(self.columns), "|" + "|".join("---" for _ in self.columns) + "|"]
        lines += [line(row) for row in self.rows]
        text = "\n".join(lines)
        return f"{text}\n\n{self.note}" if self.note else text


@dataclass(frozen=True)
class Arm:
    """One configuration a study trains: keyword arguments of its run function, and the
    learning rates it may use (one: fixed; several: tuned on the selection runs).

    ``group`` names the table the arm is listed in ("main" for the compared arms);
    ``runs`` replaces the experiment's number of compared runs for this arm; ``listed``
    False leaves it out of the generic tables (a study shows it its own way).
    """

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)
    lrs: tuple[float, ...] = (1.0,)
    group: str = "main"
    runs: int | None = None
    listed: bool = True


@dataclass(frozen=True)
class Metric:
    """The compared quantity: a record field, lower is better.

    ``kind`` "ratio" compares positive values as a ratio of geometric means; "difference"
    compares yes/no values as a difference of rates (McNemar). Learning rates are tuned on
    the same quantity (``tie_key``, a positive field, breaks ties: for rates).
    """

    key: str
    label: str
    kind: str = "ratio"
    tie_key: str | None = None


@dataclass(frozen=True)
class Column:
    """A per-arm table column: ``kind`` "mean" (± 95% CI), "geomean", "rate" or "median"."""

    key: str
    label: str
    kind: str = "mean"


@dataclass(frozen=True)
class Study:
    """One of the article's questions, as data (see the module docstring)."""

    name: str
    title: str
    question: str
    method: str
    settings_type: type
    default_runs: int
    arms: Callable[[Any], list[Arm]]
    run: Callable[..., dict[str, Any]]
    metric: Metric
    comparisons: Callable[[Any], list[tuple[str, str]]]
    columns: tuple[Column, ...]
    conclude: Callable[[Any, dict[str, Any], list[dict[str, Any]]], list[str]]
    plot: Callable[[ExperimentResult, Path], list[Path]]
    tables: Callable[[Any, dict[str, Any], list[dict[str, Any]]], list[Table]] | None = None
    measure: Callable[[Any, int], dict[str, Any]] | None = None
    check: Callable[[Any], None] | None = None


@dataclass
class ExperimentResult:
    """Everything one experiment produced (``results.json`` holds all but the files)."""

    study: Study
    settings: Any
    runs: int
    seed: int
    records: list[dict[str, Any]]
    selection_records: list[dict[str, Any]]
    measurements: dict[str, Any]
    stats: dict[str, Any]
    tables: list[Table]
    conclusions: list[str]
    elapsed_s: float
    executor: str
    files: list[Path] = field(default_factory=list)


def by_arm(records: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Records grouped by their ``"arm"`` label (first-seen order), each sorted by run."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        groups.setdefault(record["arm"], []).append(record)
    return {arm: sorted(group, key=lambda r: r["run"]) for arm, group in groups.items()}


def column(records: Sequence[dict[str, Any]], key: str) -> np.ndarray:
    """One number per record, as a float64 array (None counts as NaN)."""
    return np.array(
        [math.nan if record[key] is None else record[key] for record in records], dtype=np.float64
    )


# --------------------------------------------------------------------------- settings


def _parse_value(name: str, text: str, annotation: Any, default: Any) -> Any:
    """Convert ``text`` to the type of a settings field (from its annotation and default)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        if text.lower() in ("none", "null", ""):
            return None
        return _parse_value(name, text, options[0], default)
    if origin is tuple:
        element = typing.get_args(annotation)[0]
        return tuple(_parse_value(name, part.strip(), element, None) for part in text.split(","))
    if annotation is bool:
        if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(f"setting {name} must be true or false, got {text!r}")
        return text.lower() in ("true", "1", "yes")
    try:
        return annotation(text)
    except (TypeError, ValueError):
        raise ValueError(f"setting {name}: cannot read {text!r} as {annotation.__name__}") from None


def apply_overrides(settings: Any, overrides: Mapping[str, Any]) -> Any:
    """A copy of a settings dataclass with some fields replaced, then checked.

    Values may be strings (from ``--set key=value`` on the command line); they are
    converted to the field's type: ``"0.1,0.01"`` for a tuple of floats, ``"none"`` for
    None. Unknown names and values out of range raise ValueError (see `check_settings`).
    """
    fields = {f.name: f for f in dataclasses.fields(settings)}
    hints = typing.get_type_hints(type(settings))
    changes: dict[str, Any] = {}
    for name, value in overrides.items():
        if name not in fields:
            valid = ", ".join(sorted(fields))
            raise ValueError(f"unknown setting {name!r} for this study; valid: {valid}")
        if isinstance(value, str):
            value = _parse_value(name, value, hints[name], getattr(settings, name))
        changes[name] = value
    return dataclasses.replace(settings, **changes)


# Range rules by field name, shared by every study: (test of one value, what it must be).
_AT_LEAST_ONE = (lambda v: v >= 1, "an integer >= 1")
_POSITIVE = (lambda v: v > 0, "a number > 0")
_NON_NEGATIVE = (lambda v: v >= 0, "a number >= 0")
_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "steps": _AT_LEAST_ONE,
    "budgets": _AT_LEAST_ONE,
    "batch_size": _AT_LEAST_ONE,
    "final_window": _AT_LEAST_ONE,
    "test_points": (lambda v: v >= 2, "an integer >= 2"),
    "probe_points": (lambda v: v >= 2, "an integer >= 2"),
    "test_samples": _AT_LEAST_ONE,
    "train_points": (lambda v: v >= 4, "an integer >= 4"),
    "folds": (lambda v: v >= 2, "an integer >= 2"),
    "check_every": _AT_LEAST_ONE,
    "timing_rounds": _AT_LEAST_ONE,
    "timing_steps": _AT_LEAST_ONE,
    "timing_processes": _AT_LEAST_ONE,
    "grid_runs": _AT_LEAST_ONE,
    "selection_runs": _AT_LEAST_ONE,
    "init_networks": _AT_LEAST_ONE,
    "lr": _POSITIVE,
    "lrs": _POSITIVE,
    "squared_lrs": _POSITIVE,
    "absolute_lrs": _POSITIVE,
    "huber_lrs": _POSITIVE,
    "grid_lrs": _POSITIVE,
    "init_std": _POSITIVE,
    "failure_threshold": _POSITIVE,
    "target_cost": _POSITIVE,
    "delta": _POSITIVE,
    "noise": _NON_NEGATIVE,
    "outlier_std": _NON_NEGATIVE,
    "outliers": (lambda v: 0 <= v < 1, "a fraction in [0, 1)"),
    "bias_value": _POSITIVE,
    "l1_strengths": _NON_NEGATIVE,
    "l2_strengths": _NON_NEGATIVE,
    "shape": _AT_LEAST_ONE,
}


def check_settings(settings: Any) -> None:
    """Raise a one-line ValueError for the first setting out of range.

    Every number must be finite; fields named in the shared rules (``steps`` >= 1, ``lr``
    > 0, ``init_std`` > 0, ...) must satisfy them, ``final_window`` may not exceed the
    shortest training, and the shape must map 1 input to 2 outputs (sin and cos).
    """
    for item in dataclasses.fields(settings):
        value = getattr(settings, item.name)
        values = value if isinstance(value, tuple) else (value,)
        for entry in values:
            if isinstance(entry, float) and not math.isfinite(entry):
                raise ValueError(f"setting {item.name} must be finite, got {value!r}")
            rule = _RULES.get(item.name)
            if rule is not None and entry is not None and not rule[0](entry):
                raise ValueError(f"setting {item.name} must be {rule[1]}, got {value!r}")
        if isinstance(value, tuple) and not value:
            raise ValueError(f"setting {item.name} needs at least one value")
    shape = getattr(settings, "shape", (1, 2))
    if len(shape) < 2 or shape[0] != 1 or shape[-1] != 2:
        raise ValueError(
            f"setting shape must start with 1 and end with 2 (x to sin, cos), got {shape}"
        )
    lengths = [getattr(settings, "steps", math.inf), *getattr(settings, "budgets", ())]
    window = getattr(settings, "final_window", 1)
    if window > min(lengths):
        raise ValueError(
            f"setting final_window ({window}) must not exceed the training length "
            f"({min(lengths)} steps)"
        )


# --------------------------------------------------------------------------- running


def run_arm(
    study_run: Callable[..., dict[str, Any]],
    settings: Any,
    arm: str,
    params: Mapping[str, Any],
    lr: float,
    seed: int,
    phase: int,
    run: int,
) -> dict[str, Any]:
    """One run of one arm: ``study_run(settings, seed, run, phase, lr, **params)``, labelled.

    Selection runs keep only their numbers (no per-step curves).
    """
    record = study_run(settings, seed, run, phase, lr, **params)
    if phase == SELECTION:
        record = {k: v for k, v in record.items() if not isinstance(v, list)}
    return {"arm": arm, "phase": phase, "run": run, "lr": lr, **record}


def _tasks(
    study: Study,
    settings: Any,
    arms: list[Arm],
    runs: int,
    seed: int,
    phase: int,
    lrs: Mapping[str, tuple[float, ...]],
) -> list[Task]:
    return [
        Task(
            run_arm,
            {
                "study_run": study.run,
                "settings": settings,
                "arm": arm.name,
                "params": dict(arm.params),
                "lr": lr,
                "seed": seed,
                "phase": phase,
                "run": run,
            },
        )
        for run in range(runs)
        for arm in arms
        for lr in lrs[arm.name]
        if phase == SELECTION or arm.runs is None or run < arm.runs
    ]


def _score(metric: Metric, group: Sequence[dict[str, Any]]) -> tuple[float, float]:
    """Selection score of one (arm, lr) on the selection runs: lower is better."""
    values = column(group, metric.key)
    if metric.kind == "difference":
        first = float(np.mean(values))
    else:
        first = float(
            np.mean(
                np.log(
                    np.clip(
                        np.nan_to_num(values, nan=st.LOG_CAP, posinf=st.LOG_CAP),
                        st.LOG_FLOOR,
                        st.LOG_CAP,
                    )
                )
            )
        )
    tie = 0.0
    if metric.tie_key is not None:
        ties = np.nan_to_num(column(group, metric.tie_key), nan=st.LOG_CAP, posinf=st.LOG_CAP)
        tie = float(np.mean(np.log(np.clip(ties, st.LOG_FLOOR, st.LOG_CAP))))
    return first, tie


def select_lrs(study: Study, arms: list[Arm], selection: list[dict[str, Any]]) -> dict[str, Any]:
    """Each arm's learning rate: the candidate with the best score on the selection runs."""
    chosen: dict[str, Any] = {}
    for arm in arms:
        if len(arm.lrs) == 1:
            chosen[arm.name] = {"lr": arm.lrs[0], "scores": {}}
            continue
        scores = {}
        for lr in arm.lrs:
            group = [r for r in selection if r["arm"] == arm.name and r["lr"] == lr]
            scores[lr] = _score(study.metric, group)
        best = min(scores, key=scores.__getitem__)
        chosen[arm.name] = {"lr": best, "scores": {f"{lr:g}": s[0] for lr, s in scores.items()}}
    return chosen


def _cell(kind: str, values: np.ndarray) -> dict[str, Any]:
    finite = values[np.isfinite(values)]
    if kind == "rate":
        return {"kind": kind, **st.proportion_ci(int(np.sum(values > 0)), len(values)).as_dict()}
    if kind == "median":
        return {
            "kind": kind,
            "median": float(np.median(finite)) if finite.size else None,
            "n": int(finite.size),
            "of": len(values),
        }
    if kind == "geomean":
        logs = np.log(
            np.clip(
                np.nan_to_num(values, nan=st.LOG_CAP, posinf=st.LOG_CAP), st.LOG_FLOOR, st.LOG_CAP
            )
        )
        summary = st.mean_ci(logs)
        return {
            "kind": kind,
            "mean": math.exp(summary.mean),
            "low": math.exp(summary.low) if math.isfinite(summary.low) else None,
            "high": math.exp(summary.high) if math.isfinite(summary.high) else None,
        }
    if not finite.size:
        return {"kind": kind, "mean": None, "half_width": None, "n": 0, "of": len(values)}
    summary = st.mean_ci(finite)
    return {
        "kind": kind,
        "mean": summary.mean,
        "half_width": summary.half_width,
        "n": int(finite.size),
        "of": len(values),
    }


def compute_stats(
    study: Study,
    settings: Any,
    arms: list[Arm],
    chosen: dict[str, Any],
    records: list[dict[str, Any]],
) -> dict[str, Any]:
    """Per-arm summaries and the paired, Holm-adjusted comparisons (plain JSON data)."""
    groups = by_arm(records)
    arm_stats = {}
    for arm in arms:
        group = groups.get(arm.name, [])
        arm_stats[arm.name] = {
            "group": arm.group,
            "listed": arm.listed,
            "lr": chosen[arm.name]["lr"],
            "lrs": list(arm.lrs),
            "selection": chosen[arm.name]["scores"],
            "n": len(group),
            "diverged": int(sum(bool(r.get("diverged")) for r in group)),
            "columns": {c.key: _cell(c.kind, column(group, c.key)) for c in study.columns}
            if group
            else {},
        }
    pairs = [
        (a, b)
        for a, b in study.comparisons(settings)
        if a in groups and b in groups and len(groups[a]) == len(groups[b]) >= 2
    ]
    key, kind = study.metric.key, study.metric.kind
    tests = [
        st.compare_paired(column(groups[a], key), column(groups[b], key), kind) for a, b in pairs
    ]
    comparisons = [
        {"a": a, "b": b, **test.as_dict(), "significant": bool(test.p_holm < ALPHA)}
        for (a, b), test in zip(pairs, st.adjust(tests), strict=True)
    ]
    return {
        "alpha": ALPHA,
        "metric": dataclasses.asdict(study.metric),
        "arms": arm_stats,
        "comparisons": comparisons,
    }


def _executor_name(executor: Any, jobs: int | None, scheduler: str | None) -> str:
    if executor is not None:
        if callable(getattr(executor, "get_executor", None)):
            return "dask client"
        return type(executor).__name__
    if scheduler:
        return f"dask:{scheduler}"
    from tinygrad_nn.experiments.runner import default_jobs

    jobs = jobs or default_jobs()
    return "in-process" if jobs == 1 else f"{jobs} processes"


def run_experiment(
    study: Study | str,
    runs: int | None = None,
    seed: int = 0,
    jobs: int | None = None,
    executor: Any = None,
    scheduler: str | None = None,
    out: str | Path | None = None,
    progress: bool | None = None,
    **overrides: Any,
) -> ExperimentResult:
    """Run a study: selection runs, compared runs, measurements, statistics, files.

    Args:
        study: a `Study` or its name (``"init"``, ``"activation"``, ``"cost"``,
            ``"regularization"``).
        runs: compared runs per arm (the study's default when None); the selection runs
            per candidate learning rate are the setting ``selection_runs``.
        seed: base seed; compared run ``i`` of every arm uses the streams of ``(seed, i)``.
        jobs: worker processes when no executor is given (None: all cores; 1: in process).
        executor: any Executor-like object (``submit``/futures), e.g. a Dask client's
            ``get_executor()``; it is not shut down here.
        scheduler: a Dask scheduler address (or ``"local"``) when no executor is given.
        out: folder for ``results.json``, ``report.md`` and the PNG plots, replaced as a
            whole when the study has finished; None writes nothing.
        progress: show a progress bar (None: only when stderr is a terminal).
        **overrides: settings fields to change, e.g. ``steps=50``.

    Example:
        >>> result = run_experiment("init", runs=2, jobs=1, steps=20, grid_runs=1)
        >>> result.stats["metric"]["label"]
        'failure rate'
    """
    if isinstance(study, str):
        from tinygrad_nn.experiments import get_study

        study = get_study(study)
    seed = check_seed(seed, "run_experiment")
    runs = study.default_runs if runs is None else int(runs)
    if runs < 1:
        raise ValueError(f"run_experiment: runs must be >= 1, got {runs}")
    settings = apply_overrides(study.settings_type(), overrides)
    check_settings(settings)
    if study.check is not None:
        study.check(settings)
    arms = study.arms(settings)
    tuned = [arm for arm in arms if len(arm.lrs) > 1]
    selection_tasks = _tasks(
        study,
        settings,
        tuned,
        settings.selection_runs,
        seed,
        SELECTION,
        {arm.name: arm.lrs for arm in tuned},
    )
    start = time.perf_counter()
    compared = sum(runs if arm.runs is None else arm.runs for arm in arms)
    bar = Progress(
        len(selection_tasks) + compared,
        study.name,
        enabled=None if progress is None else bool(progress),
    )
    with bar, make_executor(jobs, scheduler) if executor is None else _borrowed(executor) as pool:
        selection = run_tasks(selection_tasks, pool, bar)
        chosen = select_lrs(study, arms, selection)
        lrs = {arm.name: (chosen[arm.name]["lr"],) for arm in arms}
        most = max([runs, *(arm.runs or 0 for arm in arms)])
        records = run_tasks(_tasks(study, settings, arms, most, seed, COMPARISON, lrs), pool, bar)
    measurements = study.measure(settings, seed) if study.measure is not None else {}
    stats = compute_stats(study, settings, arms, chosen, records)
    stats["measurements"] = measurements
    from tinygrad_nn.experiments.verdict import generic_conclusions, generic_tables

    tables = generic_tables(study, settings, stats)
    if study.tables is not None:
        tables += study.tables(settings, stats, records)
    conclusions = generic_conclusions(study, stats) + study.conclude(settings, stats, records)
    result = ExperimentResult(
        study=study,
        settings=settings,
        runs=runs,
        seed=seed,
        records=records,
        selection_records=selection,
        measurements=measurements,
        stats=stats,
        tables=tables,
        conclusions=conclusions,
        elapsed_s=time.perf_counter() - start,
        executor=_executor_name(executor, jobs, scheduler),
    )
    if out is not None:
        from tinygrad_nn.experiments.report import write_outputs

        result.files = write_outputs(result, Path(out))
    return result


class _borrowed:
    """A caller's executor as a context manager that does not shut it down."""

    def __init__(self, executor: Any) -> None:
        self.executor = executor

    def __enter__(self) -> Any:
        return self.executor

    def __exit__(self, *exc_info: object) -> None:
        return None
