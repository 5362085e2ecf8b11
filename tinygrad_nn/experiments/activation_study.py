"""Study ``activation``: relu versus sigmoid for the same number of steps, and their speed.

The article's second question: "Try sigmoid and sigmoidDerivative instead of relu and
reluDerivative. What is the difference for same number of steps. Time the learning too."

The article's replacement swaps every activation, the output's included. A relu output
can die (see the ``init`` study), which is a different effect from how fast each
activation learns, so each activation is also run with a linear output. Run ``i`` of every
arm shares its batches and weight noise.

Timing is measured separately, in this process, after the training runs (parallel workers
would disturb the clock): blocks of training steps for every (implementation,
activation) pair, interleaved in a rotating order and repeated, reporting the median time
per step. The hand-written NumPy network of the article is timed alongside tinygrad_nn.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tinygrad_nn.experiments.report import COLOURS, mean_band, new_figure, save_png, summary_cell
from tinygrad_nn.experiments.runner import DATA_STREAM, WEIGHT_STREAM, Task, run_rng
from tinygrad_nn.experiments.stats import (
    bootstrap_ci,
    format_proportion,
    paired_t_test,
    proportion_ci,
)
from tinygrad_nn.experiments.study import Analysis, Study, Table, by_arm, column
from tinygrad_nn.experiments.training import ArticleSettings, article_run, build_mlp, train

if TYPE_CHECKING:
    from tinygrad_nn.experiments.study import ExperimentResult

__all__ = ["STUDY", "ActivationSettings", "measure_step_times", "run_activation"]

IMPLEMENTATIONS = ("tinygrad_nn", "hand-written")


@dataclass(frozen=True)
class ActivationSettings(ArticleSettings):
    """The article's setup, for each activation and output kind, plus timing settings.

    ``outputs``: "same" (the output uses the hidden activation, as the article's
    replacement does) and/or "linear". Timing: ``timing_rounds`` rounds, each timing a
    block of ``timing_steps`` steps of every (implementation, activation) pair.
    """

    activations: tuple[str, ...] = ("relu", "sigmoid")
    outputs: tuple[str, ...] = ("same", "linear")
    timing_rounds: int = 15
    timing_steps: int = 40


def _label(activation: str, output: str) -> str:
    return activation if output == "same" else f"{activation}, {output} output"


def run_activation(
    settings: ActivationSettings, activation: str, output: str, seed: int, run: int
) -> dict[str, Any]:
    """One training run with the given hidden activation and output kind."""
    output_activation = activation if output == "same" else None
    record = article_run(
        settings, seed, run, activation=activation, output_activation=output_activation
    )
    return {"arm": _label(activation, output), "activation": activation, "output": output, **record}


def make_tasks(settings: ActivationSettings, runs: int, seed: int) -> list[Task]:
    """One task per (run, arm); run-major, so partial progress covers every arm."""
    return [
        Task(
            run_activation,
            {"settings": settings, "activation": a, "output": o, "seed": seed, "run": run},
        )
        for run in range(runs)
        for o in settings.outputs
        for a in settings.activations
    ]


def measure_step_times(settings: ActivationSettings, seed: int) -> dict[str, Any]:
    """Seconds per training step of each (implementation, activation), interleaved.

    Each round times one block of ``timing_steps`` steps of every pair, starting the
    round at a different pair so that no pair always runs first; one untimed warm-up block
    each comes first. Both implementations train the article's network (output activation
    = hidden activation) on the same batches.
    """
    from tinygrad_nn.data import sincos
    from tinygrad_nn.reference import HandwrittenMLP

    steps = settings.timing_steps
    x, y = sincos(steps, settings.batch_size, rng=run_rng(seed, 0, DATA_STREAM))
    runners = {}
    for activation in settings.activations:
        model = build_mlp(settings.shape, activation, activation, run_rng(seed, 0, WEIGHT_STREAM))
        network = HandwrittenMLP(
            list(settings.shape), activation=activation, rng=run_rng(seed, 0, WEIGHT_STREAM)
        )

        def autodiff_block(model: Any = model) -> None:
            train(model, x, y, steps, settings.lr)

        def handwritten_block(network: Any = network) -> None:
            for i in range(steps):
                network.step(x[i], y[i], settings.lr)

        runners[f"tinygrad_nn {activation}"] = autodiff_block
        runners[f"hand-written {activation}"] = handwritten_block
    names = list(runners)
    for name in names:  # warm-up: caches, lazy imports, first allocations
        runners[name]()
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(settings.timing_rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            runners[name]()
            seconds[name].append((time.perf_counter() - start) / steps)
    return {"seconds_per_step": seconds, "rounds": settings.timing_rounds, "block_steps": steps}


def _steps_to_threshold(costs: list[float], threshold: float, window: int) -> int | None:
    """First step at which the mean of the last ``window`` batch costs is below threshold."""
    array = np.asarray(costs)
    if array.size < window:
        return None
    running = np.convolve(array, np.ones(window) / window, mode="valid")
    below = np.nonzero(running < threshold)[0]
    return int(below[0] + window) if below.size else None


def analyze(
    settings: ActivationSettings, records: list[dict[str, Any]], measurements: dict[str, Any]
) -> Analysis:
    """Tables, conclusions and summary numbers computed from the run records."""
    groups = by_arm(records)
    summary: dict[str, Any] = {}
    rows = []
    for arm, group in groups.items():
        final = column(group, "final_cost")
        reached = [
            _steps_to_threshold(r["costs"], settings.failure_threshold, settings.final_window)
            for r in group
        ]
        reached_steps = [s for s in reached if s is not None]
        not_below = proportion_ci(sum(r["failed"] for r in group), len(group))
        dead_output = proportion_ci(sum(r["dead_outputs_end"] > 0 for r in group), len(group))
        summary[arm] = {
            "final_cost": final.mean(),
            "final_cost_median": float(np.median(final)),
            "test_mse": float(column(group, "test_mse").mean()),
            "not_below_threshold": not_below,
            "dead_output_end": dead_output,
            "reached": len(reached_steps),
            "steps_to_threshold_median": float(np.median(reached_steps)) if reached_steps else None,
            "train_seconds_median": float(np.median(column(group, "seconds"))),
        }
        rows.append(
            [
                arm,
                summary_cell(final),
                f"{np.median(final):.3g}",
                summary_cell(column(group, "test_mse")),
                format_proportion(not_below),
                format_proportion(dead_output),
                f"{np.median(reached_steps):.0f} ({len(reached_steps)}/{len(group)})"
                if reached_steps
                else f"never (0/{len(group)})",
            ]
        )
    tables = [
        Table(
            f"After {settings.steps} steps",
            [
                "activation",
                "final cost",
                "median final cost",
                "test MSE",
                f"final cost > {settings.failure_threshold:g}",
                "dead output relu at end",
                f"steps to cost < {settings.failure_threshold:g} (runs)",
            ],
            rows,
            note=(
                f"Final cost: the article's batch cost sum((out - y)²), mean of the last "
                f"{settings.final_window} batches. Steps to cost < "
                f"{settings.failure_threshold:g}: first step where the mean of the last "
                f"{settings.final_window} batch costs drops below it (median over the runs "
                "that got there). Mean ± 95% CI half-width; rates with Wilson intervals."
            ),
        )
    ]
    conclusions: list[str] = []
    timing_table, timing_summary, timing_lines = _timing(settings, measurements)
    if timing_table is not None:
        tables.append(timing_table)
    summary["timing"] = timing_summary
    conclusions += _comparisons(settings, groups, summary)
    conclusions += timing_lines
    return Analysis(tables, conclusions, summary)


def _comparisons(
    settings: ActivationSettings,
    groups: dict[str, list[dict[str, Any]]],
    summary: dict[str, Any],
) -> list[str]:
    lines = []
    for output in settings.outputs:
        labels = [_label(a, output) for a in settings.activations]
        if len(labels) != 2 or not all(label in groups for label in labels):
            continue
        a, b = (groups[label] for label in labels)
        if len(a) != len(b) or len(a) < 2:
            continue
        test = paired_t_test(column(a, "final_cost"), column(b, "final_cost"))
        which = (
            "output = hidden activation (the article's swap)"
            if output == "same"
            else (f"{output} output")
        )
        sa, sb = summary[labels[0]], summary[labels[1]]
        lines.append(
            f"With {which}, after {settings.steps} steps: {labels[0]} mean final cost "
            f"{sa['final_cost']:.3g} (median {sa['final_cost_median']:.3g}), {labels[1]} "
            f"{sb['final_cost']:.3g} (median {sb['final_cost_median']:.3g}); paired "
            f"difference {test.difference:+.3g} [{test.low:+.3g}, {test.high:+.3g}], "
            f"p = {test.p_value:.2g}."
        )
        for label in labels:
            s = summary[label]
            if s["dead_output_end"].successes:
                lines.append(
                    f"{label}: {format_proportion(s['dead_output_end'])} of runs ended with a dead "
                    "output relu (a constant-0 output, see the init study), which dominates "
                    "its mean; sigmoid units never die (their gradient is never exactly 0)."
                )
        speeds = [
            f"{label} {summary[label]['steps_to_threshold_median']:.0f} steps "
            f"({summary[label]['reached']}/{len(groups[label])} runs)"
            if summary[label]["steps_to_threshold_median"] is not None
            else f"{label} never within {settings.steps} steps"
            for label in labels
        ]
        lines.append(
            f"Median steps to bring the cost below {settings.failure_threshold:g}: "
            + ", ".join(speeds)
            + ". The sigmoid's slope is at most 1/4, so with the same learning rate each "
            "step moves the weights less."
        )
    return lines


def _timing(
    settings: ActivationSettings, measurements: dict[str, Any]
) -> tuple[Table | None, dict[str, Any], list[str]]:
    per_step = measurements.get("seconds_per_step")
    if not per_step:
        return None, {}, []
    rows, summary, lines = [], {}, []
    for name, values in per_step.items():
        median, low, high = bootstrap_ci(values)
        summary[name] = {"median": median, "low": low, "high": high, "n": len(values)}
        rows.append(
            [
                name,
                f"{median * 1e6:.0f} [{low * 1e6:.0f}, {high * 1e6:.0f}]",
                f"{median * settings.steps * 1e3:.0f}",
            ]
        )
    for implementation in IMPLEMENTATIONS:
        names = [f"{implementation} {a}" for a in settings.activations]
        if len(names) == 2 and all(n in per_step for n in names):
            # Per-round ratios: both blocks of a round ran back to back, so drift cancels.
            ratios = np.array(per_step[names[1]]) / np.array(per_step[names[0]])
            median, low, high = bootstrap_ci(ratios)
            summary[f"{implementation} ratio"] = {"median": median, "low": low, "high": high}
            lines.append(
                f"Time per step ({implementation}): {settings.activations[1]} "
                f"{summary[names[1]]['median'] * 1e6:.0f} µs, {settings.activations[0]} "
                f"{summary[names[0]]['median'] * 1e6:.0f} µs; ratio {median:.2f} "
                f"[{low:.2f}, {high:.2f}] (median of {len(ratios)} interleaved rounds)."
            )
    table = Table(
        "Time per training step (same process, interleaved)",
        [
            "implementation and activation",
            "median µs per step [95% CI]",
            f"ms per {settings.steps} steps",
        ],
        rows,
        note=(
            f"{measurements['rounds']} rounds; each round times a block of "
            f"{measurements['block_steps']} steps of every pair in rotating order after a "
            "warm-up block. CI: bootstrap of the median."
        ),
    )
    return table, summary, lines


def plot(result: ExperimentResult, folder: Path) -> list[Path]:
    """Write this study's PNG plots into ``folder``; returns their paths."""
    groups = by_arm(result.records)
    paths = []
    figure, (left, right) = new_figure(10.0, 4.0, ncols=2)
    for index, (arm, group) in enumerate(groups.items()):
        curves = np.array([r["costs"] for r in group])
        style = "-" if group[0]["output"] == "same" else "--"
        mean_band(left, np.maximum(curves, 1e-12), arm, COLOURS[index])
        left.lines[-1].set_linestyle(style)
        steps = np.arange(1, curves.shape[1] + 1)
        median = np.median(curves, axis=0)
        q25, q75 = np.percentile(curves, [25, 75], axis=0)
        right.plot(steps, median, color=COLOURS[index], linestyle=style, label=arm)
        right.fill_between(steps, q25, q75, color=COLOURS[index], alpha=0.15, linewidth=0)
    # The first steps can spike (a sigmoid with a linear output overshoots at lr 1): scale
    # the axes to the curves after them so that the comparison stays readable.
    settled = [line.get_ydata()[5:] for line in left.lines + right.lines]
    top = 3 * max(float(np.max(values)) for values in settled if len(values))
    for axes, title in ((left, "mean with 95% CI band"), (right, "median with 25-75% band")):
        axes.set_yscale("log")
        axes.set_ylim(top=top)
        axes.set_xlabel("step (batch)")
        axes.set_title(f"Batch cost, {result.runs} runs per arm: {title}", fontsize=10)
        axes.legend(fontsize=8)
    left.set_ylabel("batch cost sum((out - y)²)")
    paths.append(save_png(figure, folder / "activation_cost_curves.png"))

    per_step = result.measurements.get("seconds_per_step")
    if per_step:
        figure, axes = new_figure(7.0, 3.6)
        names = list(per_step)
        for row, name in enumerate(names):
            values = np.array(per_step[name]) * 1e6
            axes.scatter(values, np.full(values.size, row), s=14, alpha=0.5, color=COLOURS[row])
            axes.plot([np.median(values)] * 2, [row - 0.3, row + 0.3], color="black")
        axes.set_yticks(range(len(names)), names)
        axes.set_ylim(-0.6, len(names) - 0.4)
        axes.set_xlim(left=0)
        axes.set_xlabel("µs per training step")
        axes.set_title(
            "Time per step: one dot per interleaved round, bar at the median", fontsize=10
        )
        paths.append(save_png(figure, folder / "activation_step_time.png"))
    return paths


STUDY = Study(
    name="activation",
    title="Activation: relu versus sigmoid",
    question=(
        "Try sigmoid and sigmoidDerivative instead of relu and reluDerivative. What is the "
        "difference for same number of steps. Time the learning too."
    ),
    method="""
The article's network ([1, 16, 2], batch 32, learning rate 1, one fresh batch per step) is
trained with tinygrad_nn with relu or sigmoid units, for the same number of steps, from the
same batches and weight noise (normal(0, 0.1)) per run. The article swaps every activation,
the output's too ("same"); because a relu output can die, each activation is also run with
a linear output. Each run records the article's batch cost per step, the final cost and test
errors. Timing runs afterwards in this one process, with no other work: blocks of steps of
each implementation and activation, interleaved in rotating order, repeated; medians.
""",
    default_runs=48,
    settings_type=ActivationSettings,
    make_tasks=make_tasks,
    analyze=analyze,
    plot=plot,
    measure=measure_step_times,
)
