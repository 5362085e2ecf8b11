"""What a study is, and `run_experiment`, which runs one from settings to report.

A study (one per module: ``init_study``, ``activation_study`` ...) declares its settings
as a frozen dataclass and provides four functions:

* ``make_tasks(settings, runs, seed)``: the independent training runs, as `Task`\\ s whose
  functions return plain dicts (one "record" per run: its arm, run index and numbers);
* ``measure(settings, seed)`` (optional): work that must run in this process after the
  runs, such as timing, where parallel workers would disturb the clock;
* ``analyze(settings, records, measurements)``: tables and conclusions computed from the
  numbers (an `Analysis`);
* ``plot(result, folder)``: PNG files.

`run_experiment` glues them together; `tinygrad_nn.experiments.report` writes the files.
"""

from __future__ import annotations

import dataclasses
import time
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinygrad_nn._random import check_seed
from tinygrad_nn.experiments.runner import Progress, Task, make_executor, run_tasks

__all__ = [
    "Analysis",
    "ExperimentResult",
    "Study",
    "Table",
    "apply_overrides",
    "by_arm",
    "run_experiment",
]


@dataclass
class Table:
    """A Markdown table: a title, column names and rows of already formatted cells."""

    title: str
    columns: list[str]
    rows: list[list[str]]
    note: str = ""

    def to_markdown(self) -> str:
        lines = [
            "| " + " | ".join(self.columns) + " |",
            "|" + "|".join("---" for _ in self.columns) + "|",
        ]
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        text = "\n".join(lines)
        return f"{text}\n\n{self.note}" if self.note else text


@dataclass
class Analysis:
    """What a study concluded: tables, conclusion sentences and the numbers behind them."""

    tables: list[Table]
    conclusions: list[str]
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Study:
    """One of the article's questions, as an experiment (see the module docstring)."""

    name: str
    title: str
    question: str
    method: str
    default_runs: int
    settings_type: type
    make_tasks: Callable[[Any, int, int], list[Task]]
    analyze: Callable[[Any, list[dict[str, Any]], dict[str, Any]], Analysis]
    plot: Callable[[ExperimentResult, Path], list[Path]]
    measure: Callable[[Any, int], dict[str, Any]] | None = None


@dataclass
class ExperimentResult:
    """Everything one experiment produced (what ``results.json`` holds, plus the analysis)."""

    study: Study
    settings: Any
    runs: int
    seed: int
    records: list[dict[str, Any]]
    measurements: dict[str, Any]
    analysis: Analysis
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
    """One number per record, as a float64 array (a study's per-run measurements)."""
    return np.array([record[key] for record in records], dtype=np.float64)


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
    """A copy of a settings dataclass with some fields replaced.

    Values may be strings (from ``--set key=value`` on the command line); they are
    converted to the field's type: ``"0.1,0.01"`` for a tuple of floats, ``"none"`` for
    None. Unknown names raise ValueError listing the valid ones.
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
    """Run a study: its training runs in parallel, in-process measurements, analysis, files.

    Args:
        study: a `Study` or its name (``"init"``, ``"activation"``, ``"cost"``,
            ``"regularization"``).
        runs: independent runs per arm (the study's default when None).
        seed: base seed; run ``i`` of every arm uses the streams of ``(seed, i)``.
        jobs: worker processes when no executor is given (None: all cores; 1: in process).
        executor: any Executor-like object (``submit``/futures), e.g. a Dask client's
            ``get_executor()``; it is not shut down here.
        scheduler: a Dask scheduler address (or ``"local"``) when no executor is given.
        out: folder for ``results.json``, ``report.md`` and the PNG plots; None writes
            nothing.
        progress: show a progress bar (None: only when stderr is a terminal).
        **overrides: settings fields to change, e.g. ``steps=50``.

    Example:
        >>> result = run_experiment("init", runs=2, jobs=1, steps=20)
        >>> len(result.records)
        4
    """
    if isinstance(study, str):
        from tinygrad_nn.experiments import get_study

        study = get_study(study)
    seed = check_seed(seed, "run_experiment")
    runs = study.default_runs if runs is None else int(runs)
    if runs < 1:
        raise ValueError(f"run_experiment: runs must be >= 1, got {runs}")
    settings = apply_overrides(study.settings_type(), overrides)
    tasks = study.make_tasks(settings, runs, seed)
    start = time.perf_counter()
    bar = Progress(len(tasks), study.name, enabled=None if progress is None else bool(progress))
    with bar:
        if executor is not None:
            records = run_tasks(tasks, executor, bar)
        else:
            with make_executor(jobs, scheduler) as pool:
                records = run_tasks(tasks, pool, bar)
    measurements = study.measure(settings, seed) if study.measure is not None else {}
    analysis = study.analyze(settings, records, measurements)
    result = ExperimentResult(
        study=study,
        settings=settings,
        runs=runs,
        seed=seed,
        records=records,
        measurements=measurements,
        analysis=analysis,
        elapsed_s=time.perf_counter() - start,
        executor=_executor_name(executor, jobs, scheduler),
    )
    if out is not None:
        from tinygrad_nn.experiments.report import write_outputs

        result.files = write_outputs(result, Path(out))
    return result
