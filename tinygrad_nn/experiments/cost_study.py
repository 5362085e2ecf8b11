"""Study ``cost``: squared versus absolute (and Huber) cost, over budgets and with outliers.

The article's third question: "Modify the cost calculation and use sum of absolute values.
Compare the performance for both cases by averaging over lots of runs."

Each cost trains the article's network (linear output) from the same batches and initial
weights per run, with its own learning rate tuned on selection runs, and is judged on the
same held-out quantity: the mean squared error against the clean sin and cos on a grid.
Arms: every cost at training budgets of 300 (the article's), 1000 and 3000 steps; a
learning rate decaying linearly to 0 over 1000 steps; and 1000 steps on targets of which a
fraction is corrupted by large noise (the case an absolute cost is meant for).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tinygrad_nn.experiments.report import COLOURS, interval_bars, new_figure, save_png
from tinygrad_nn.experiments.study import Arm, Column, Metric, Study, by_arm, column
from tinygrad_nn.experiments.training import ArticleSettings, article_run
from tinygrad_nn.experiments.verdict import percent

if TYPE_CHECKING:
    from tinygrad_nn.experiments.study import ExperimentResult

__all__ = ["STUDY", "CostSettings", "run_cost"]

COST_NAMES = ("squared", "absolute", "huber")
CURVE_POINTS = 100  # per-step costs are kept as this many block means


@dataclass(frozen=True)
class CostSettings(ArticleSettings):
    """The article's setup with a linear output; the arms' budgets and the outlier case.

    ``outliers``: the fraction of training targets (each of sin and cos separately) that
    get normal(0, ``outlier_std``) noise added, in the outlier arms. ``delta``: the Huber
    cost's threshold. ``long_steps``: the budget of the decaying and outlier arms. Each
    cost has its own candidate learning rates (the absolute cost's gradient keeps its size
    as the error shrinks, so it needs smaller steps).
    """

    squared_lrs: tuple[float, ...] = (0.1, 0.3, 1.0, 3.0)
    absolute_lrs: tuple[float, ...] = (0.003, 0.01, 0.03, 0.1)
    huber_lrs: tuple[float, ...] = (0.3, 1.0, 3.0, 10.0)
    selection_runs: int = 3
    budgets: tuple[int, ...] = (300, 1000, 3000)
    long_steps: int = 1000
    delta: float = 0.1
    outliers: float = 0.1
    outlier_std: float = 3.0


def run_cost(
    settings: CostSettings,
    seed: int,
    run: int,
    phase: int,
    lr: float,
    cost: str,
    steps: int,
    schedule: str = "constant",
    outliers: bool = False,
) -> dict[str, Any]:
    """One training run of ``cost`` for ``steps`` steps."""
    record = article_run(
        settings,
        seed,
        run,
        phase,
        lr,
        output_activation=None,
        cost=cost,
        delta=settings.delta,
        schedule=schedule,
        steps=steps,
        outliers=settings.outliers if outliers else 0.0,
        outlier_std=settings.outlier_std,
    )
    costs = np.asarray(record.pop("costs"))
    window = settings.final_window
    if steps >= 6 * window:
        late = float(np.mean(costs[-6 * window : -5 * window]))
        record["late_fall"] = float(1 - np.mean(costs[-window:]) / late) if late > 0 else None
    else:
        record["late_fall"] = None
    blocks = max(1, steps // CURVE_POINTS)
    usable = costs[: steps // blocks * blocks].reshape(-1, blocks)
    record["curve"] = usable.mean(axis=1).tolist()
    return record


def _name(cost: str, steps: int, schedule: str = "constant", outliers: bool = False) -> str:
    if outliers:
        return f"{cost}, outliers"
    return f"{cost}, {steps} steps" + (", decaying lr" if schedule != "constant" else "")


def arms(settings: CostSettings) -> list[Arm]:
    lrs = {c: getattr(settings, f"{c}_lrs") for c in COST_NAMES}
    result = []
    for steps in settings.budgets:
        for cost in COST_NAMES:
            result.append(Arm(_name(cost, steps), {"cost": cost, "steps": steps}, lrs[cost]))
    for cost in COST_NAMES:
        params = {"cost": cost, "steps": settings.long_steps, "schedule": "linear"}
        result.append(Arm(_name(cost, settings.long_steps, "linear"), params, lrs[cost]))
    for cost in COST_NAMES:
        params = {"cost": cost, "steps": settings.long_steps, "outliers": True}
        result.append(Arm(_name(cost, 0, outliers=True), params, lrs[cost]))
    return result


def comparisons(settings: CostSettings) -> list[tuple[str, str]]:
    pairs = []
    for steps in settings.budgets:
        pairs += [(_name("absolute", steps), _name("squared", steps))]
        pairs += [(_name("huber", steps), _name("squared", steps))]
    for cost in COST_NAMES:
        pairs.append((_name(cost, settings.long_steps, "linear"), _name(cost, settings.long_steps)))
    pairs += [(_name("absolute", 0, outliers=True), _name("squared", 0, outliers=True))]
    pairs += [(_name("huber", 0, outliers=True), _name("squared", 0, outliers=True))]
    return pairs


def conclude(
    settings: CostSettings, stats: dict[str, Any], records: list[dict[str, Any]]
) -> list[str]:
    arms_ = stats["arms"]
    lines = []
    for steps in settings.budgets:
        lines.append(
            f"Tuned learning rates at {steps} steps: "
            + ", ".join(f"{c} {arms_[_name(c, steps)]['lr']:g}" for c in COST_NAMES)
            + "; median fall of the batch cost over the last 50 steps: "
            + ", ".join(
                f"{c} {percent(arms_[_name(c, steps)]['columns']['late_fall'].get('median'))}"
                for c in COST_NAMES
            )
            + "."
        )
    lines.append(
        f"The outlier arms train on targets of which {percent(settings.outliers)} are shifted by "
        f"normal(0, {settings.outlier_std:g}) noise and are judged on the clean functions; their "
        "tuned learning rates: "
        + ", ".join(f"{c} {arms_[_name(c, 0, outliers=True)]['lr']:g}" for c in COST_NAMES)
        + "."
    )
    return lines


def plot(result: ExperimentResult, folder: Path) -> list[Path]:
    """Test MSE per arm (geometric mean, 95% CI) and the selection sweep over lrs."""
    stats = result.stats["arms"]
    names = list(stats)
    cells = [stats[n]["columns"]["test_mse"] for n in names]
    figure, axes = new_figure(7.5, 5.0)
    interval_bars(
        axes,
        names,
        [c["mean"] for c in cells],
        [c["low"] or c["mean"] for c in cells],
        [c["high"] or c["mean"] for c in cells],
    )
    axes.set_xscale("log")
    axes.set_xlabel("clean test MSE (geometric mean, 95% CI)")
    axes.set_title(f"Each arm at its tuned lr, {result.runs} runs", fontsize=10)
    paths = [save_png(figure, folder / "cost_test_mse.png")]

    figure, axes = new_figure(7.5, 4.0)
    selection = by_arm(result.selection_records)
    for index, (arm, group) in enumerate(selection.items()):
        lrs = sorted({r["lr"] for r in group})
        means = [
            np.exp(
                np.mean(
                    np.log(
                        np.clip(column([r for r in group if r["lr"] == lr], "test_mse"), 1e-12, 1e6)
                    )
                )
            )
            for lr in lrs
        ]
        style = "-" if "outliers" not in arm else ":"
        axes.plot(
            lrs,
            means,
            marker="o",
            linestyle=style,
            color=COLOURS[index % len(COLOURS)],
            label=arm,
            linewidth=1,
        )
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_ylim(top=10)
    axes.set_xlabel("learning rate")
    axes.set_ylabel("clean test MSE (geometric mean)")
    axes.set_title("Selection runs: each arm's lr sweep", fontsize=10)
    if selection:
        axes.legend(fontsize=6, ncol=2)
    paths.append(save_png(figure, folder / "cost_vs_lr.png"))
    return paths


STUDY = Study(
    name="cost",
    title="Cost: squared versus absolute versus Huber",
    question=(
        "Modify the cost calculation and use sum of absolute values. Compare the performance "
        "for both cases by averaging over lots of runs."
    ),
    method=(
        "The article's network (1-16-2, relu hidden units, linear output, batch 32, one "
        "fresh batch per step) trained on sum(e²)/2B, sum(|e|)/B or the Huber cost "
        "sum(huber(e))/B, for 300, 1000 and 3000 steps, with a linearly decaying learning "
        "rate, and on targets with outliers. Each arm's learning rate is tuned on selection "
        "runs; all are judged on the mean squared error against the clean sin and cos."
    ),
    settings_type=CostSettings,
    default_runs=16,
    arms=arms,
    run=run_cost,
    metric=Metric("test_mse", "clean test MSE"),
    comparisons=comparisons,
    columns=(
        Column("test_mse", "clean test MSE", "geomean"),
        Column("test_mae", "clean test MAE", "geomean"),
        Column("late_fall", "cost fall over the last 50 steps", "median"),
        Column("diverged", "diverged", "rate"),
    ),
    conclude=conclude,
    plot=plot,
)
