"""Study ``init``: weights from normal(0, eps) versus normal(-eps, eps).

The article's first question: "change 0 to -eps [in the initial weights]. Why sometimes we
get bad results out of this?" Both arms train the article's network on the same batches
from the same weight noise (normal(-eps, eps) is normal(0, eps) shifted by -eps), so every
difference between run ``i`` of one arm and run ``i`` of the other comes from the mean.

A relu unit is *dead* when its pre-activation is <= 0 for every input: it outputs 0 and
passes back a zero gradient, so its weights never change again. For a hidden unit of the
article's 1-input network, ``z = b + w x`` is linear in x, so it is dead on [0, 1] exactly
when ``b <= 0`` and ``b + w <= 0``; with b, w ~ normal(m, s) that probability is a
bivariate normal CDF, which `expected_dead_fraction` computes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tinygrad_nn.experiments.report import COLOURS, new_figure, save_png, summary_cell
from tinygrad_nn.experiments.runner import Task
from tinygrad_nn.experiments.stats import (
    format_proportion,
    mcnemar_test,
    mean_ci,
    proportion_ci,
)
from tinygrad_nn.experiments.study import Analysis, Study, Table, by_arm, column
from tinygrad_nn.experiments.training import ArticleSettings, article_run

if TYPE_CHECKING:
    from tinygrad_nn.experiments.study import ExperimentResult

__all__ = ["STUDY", "InitSettings", "expected_dead_fraction", "run_init"]

# E[sin(x)²] for x ~ U[0, 1]: what a dead (constant 0) sin output costs per sample.
SIN_SQUARED_MEAN = 0.5 - np.sin(2.0) / 4


@dataclass(frozen=True)
class InitSettings(ArticleSettings):
    """The article's setup; the arms are the initial-weight means (in units of init_std)."""

    means: tuple[float, ...] = (0.0, -1.0)


def _label(mean_in_eps: float) -> str:
    if mean_in_eps == 0:
        return "normal(0, eps)"
    if mean_in_eps == -1:
        return "normal(-eps, eps)"
    return f"normal({mean_in_eps:g} eps, eps)"


def expected_dead_fraction(mean: float, std: float) -> float:
    """P(b <= 0 and b + w <= 0) for b, w ~ normal(mean, std) independent.

    The chance that a hidden relu of the 1-input network starts dead on [0, 1]:
    ``integral over b <= 0 of pdf(b) * P(w <= -b)``, computed by quadrature. For mean 0 it
    is 3/8.

    Example:
        >>> round(expected_dead_fraction(0.0, 0.1), 6)
        0.375
    """
    from scipy.integrate import quad
    from scipy.stats import norm

    def integrand(b: float) -> float:
        return float(norm.pdf(b, mean, std) * norm.cdf(-b, mean, std))

    value, _ = quad(integrand, mean - 12 * std, min(0.0, mean + 12 * std))
    return float(value)


def run_init(settings: InitSettings, mean_in_eps: float, seed: int, run: int) -> dict[str, Any]:
    """One training run with weights from normal(mean_in_eps * eps, eps)."""
    record = article_run(settings, seed, run, init_mean=mean_in_eps * settings.init_std)
    return {"arm": _label(mean_in_eps), "init_mean": mean_in_eps * settings.init_std, **record}


def make_tasks(settings: InitSettings, runs: int, seed: int) -> list[Task]:
    """One task per (run, arm); run-major, so partial progress covers every arm."""
    return [
        Task(run_init, {"settings": settings, "mean_in_eps": mean, "seed": seed, "run": run})
        for run in range(runs)
        for mean in settings.means
    ]


def analyze(
    settings: InitSettings, records: list[dict[str, Any]], measurements: dict[str, Any]
) -> Analysis:
    """Tables, conclusions and summary numbers computed from the run records."""
    groups = by_arm(records)
    hidden_units = sum(settings.shape[1:-1])
    outcome_rows, dead_rows = [], []
    summary: dict[str, Any] = {}
    for arm, group in groups.items():
        failed = [r["failed"] for r in group]
        failure = proportion_ci(sum(failed), len(failed))
        final = column(group, "final_cost")
        expected = expected_dead_fraction(group[0]["init_mean"], settings.init_std)
        output_dead_init = proportion_ci(sum(r["dead_outputs_init"] > 0 for r in group), len(group))
        output_dead_end = proportion_ci(sum(r["dead_outputs_end"] > 0 for r in group), len(group))
        failed_runs = [r for r in group if r["failed"]]
        ok_runs = [r for r in group if not r["failed"]]
        summary[arm] = {
            "failure": failure,
            "final_cost": mean_ci(final),
            "final_cost_median": float(np.median(final)),
            "test_mse": mean_ci(column(group, "test_mse")),
            "dead_hidden_init": mean_ci(column(group, "dead_hidden_init")),
            "dead_hidden_end": mean_ci(column(group, "dead_hidden_end")),
            "dead_hidden_expected": expected,
            "revived_hidden": int(sum(r["revived_hidden"] for r in group)),
            "dead_hidden_total_init": round(
                sum(r["dead_hidden_init"] for r in group) * hidden_units
            ),
            "output_dead_init": output_dead_init,
            "output_dead_end": output_dead_end,
            "failed_with_dead_output": sum(r["dead_outputs_end"] > 0 for r in failed_runs),
            "failed_runs": len(failed_runs),
            "ok_with_dead_output": sum(r["dead_outputs_end"] > 0 for r in ok_runs),
            "ok_runs": len(ok_runs),
            "failed_all_hidden_dead": sum(
                r["dead_hidden_end"] == 1.0 and r["dead_outputs_end"] == 0 for r in failed_runs
            ),
            "dead_outputs_total_init": int(sum(r["dead_outputs_init"] for r in group)),
            "revived_outputs": int(sum(r["revived_outputs"] for r in group)),
            "alive_hidden_init": float(
                np.mean([(1 - r["dead_hidden_init"]) * hidden_units for r in group])
            ),
        }
        outcome_rows.append(
            [
                arm,
                str(len(group)),
                format_proportion(failure),
                summary_cell(final),
                f"{np.median(final):.3g}",
                summary_cell(column(group, "test_mse")),
            ]
        )
        dead_rows.append(
            [
                arm,
                f"{expected:.1%}",
                summary_cell(100 * column(group, "dead_hidden_init")) + " %",
                summary_cell(100 * column(group, "dead_hidden_end")) + " %",
                f"{summary[arm]['revived_hidden']} of {summary[arm]['dead_hidden_total_init']}",
                format_proportion(output_dead_init),
                format_proportion(output_dead_end),
            ]
        )
    tables = [
        Table(
            "Outcome per initialisation",
            ["init", "runs", "failed [95% CI]", "final cost", "median final cost", "test MSE"],
            outcome_rows,
            note=(
                f"Failed: final cost (the article's batch cost sum((out - y)²), mean of the "
                f"last {settings.final_window} batches) above {settings.failure_threshold:g}. "
                "Cells are mean ± 95% CI half-width (Student's t); rates have Wilson intervals. "
                f"Test MSE: mean squared error on {settings.test_points} evenly spaced x in [0, 1]."
            ),
        ),
        Table(
            "Dead relus (pre-activation <= 0 for every x in [0, 1])",
            [
                "init",
                "hidden dead at init, theory",
                "hidden dead at init",
                "hidden dead at end",
                "dead hidden units revived",
                "runs with a dead output at init",
                "at end",
            ],
            dead_rows,
            note=(
                "Theory: P(b <= 0 and b + w <= 0) for b, w ~ normal(mean, eps), the chance that "
                f"z = b + w·x is <= 0 on all of [0, 1]. {hidden_units} hidden units per network."
            ),
        ),
    ]
    arms = list(groups)
    conclusions = _conclusions(settings, groups, summary, arms)
    if len(arms) == 2:
        a, b = groups[arms[0]], groups[arms[1]]
        if len(a) == len(b):
            only_a, only_b, p_value = mcnemar_test(
                [r["failed"] for r in a], [r["failed"] for r in b]
            )
            summary["mcnemar"] = {"only_first_failed": only_a, "only_second_failed": only_b}
            summary["mcnemar"]["p_value"] = p_value
    return Analysis(tables, conclusions, summary)


def _runs(count: int) -> str:
    return f"{count} run" if count == 1 else f"{count} runs"


def hidden_revival_sentence(revived: int, total: int) -> str:
    """What the counts say about hidden relus dead at init: none or some came back.

    Example:
        >>> hidden_revival_sentence(0, 12).startswith("None of the 12 hidden relus")
        True
    """
    if total == 0:
        return "No hidden relu was dead at init in any run."
    if revived == 0:
        return (
            f"None of the {total} hidden relus dead at init came back: a dead relu outputs 0 "
            "and has gradient 0 for every training input, so nothing moves its weights."
        )
    return (
        f"{revived} of the {total} hidden relus dead at init came back (alive after "
        "training): their own weights get no gradient while they are dead, so something "
        "else (the layers before them) moved their pre-activation above 0."
    )


def output_revival_sentence(revived: int, dead: int) -> str:
    """What the counts say about output relus dead at init (``dead`` > 0): none or some came back.

    Example:
        >>> output_revival_sentence(0, 8)
        'No dead output relu came back: all 8 dead at init were still dead at the end.'
    """
    if revived == 0:
        return f"No dead output relu came back: all {dead} dead at init were still dead at the end."
    return (
        f"{revived} of the {dead} output relus dead at init came back (alive at the end). "
        "Their own weights get no gradient, but the hidden units they read keep changing "
        "while the other output trains, which can lift their pre-activation above 0 for "
        "some inputs."
    )


def _conclusions(
    settings: InitSettings,
    groups: dict[str, list[dict[str, Any]]],
    summary: dict[str, Any],
    arms: list[str],
) -> list[str]:
    lines = []
    rates = "; ".join(
        f"{arm} failed in {format_proportion(summary[arm]['failure'])} of {len(groups[arm])} runs"
        for arm in arms
    )
    lines.append(
        f"{rates} (failure: final cost above {settings.failure_threshold:g}; a fitted network "
        f"ends far below it, a broken one far above)."
    )
    if len(arms) == 2 and len(groups[arms[0]]) == len(groups[arms[1]]) > 1:
        only_a, only_b, p_value = mcnemar_test(
            [r["failed"] for r in groups[arms[0]]], [r["failed"] for r in groups[arms[1]]]
        )
        lines.append(
            f"Paired by run (same data, same weight noise): {_runs(only_b)} failed only with "
            f"{arms[1]}, {only_a} only with {arms[0]} (exact McNemar p = {p_value:.2g})."
        )
    dead = "; ".join(
        f"{arm}: {summary[arm]['dead_hidden_init'].mean:.0%} measured, "
        f"{summary[arm]['dead_hidden_expected']:.0%} predicted"
        for arm in arms
    )
    lines.append(
        f"Hidden relus dead before any training (z = b + w·x <= 0 for all x in [0, 1]): {dead}. "
        "With weights and biases centred below zero, b <= 0 and b + w <= 0 is the likely case."
    )
    revived = sum(summary[arm]["revived_hidden"] for arm in arms)
    total = sum(summary[arm]["dead_hidden_total_init"] for arm in arms)
    lines.append(hidden_revival_sentence(revived, total))
    for arm in arms:
        s = summary[arm]
        if s["failed_runs"]:
            other = s["failed_runs"] - s["failed_with_dead_output"]
            rest = (
                f"; {s['failed_all_hidden_dead']} of the other {other} had every hidden relu "
                "dead, which leaves a constant output"
                if other
                else ""
            )
            healthy = (
                f"; {s['ok_with_dead_output']} of the {s['ok_runs']} runs that did not fail had "
                "a dead output"
                if s["ok_runs"]
                else ""
            )
            lines.append(
                f"{arm}: {s['failed_with_dead_output']} of {s['failed_runs']} failed runs ended "
                f"with a dead output relu (that output is 0 for every x, costing about "
                f"{settings.batch_size * SIN_SQUARED_MEAN:.1f} per batch for sin and "
                f"{settings.batch_size * (1 - SIN_SQUARED_MEAN):.1f} for cos){rest}{healthy}."
            )
    dead_outputs = sum(summary[arm]["dead_outputs_total_init"] for arm in arms)
    revived_outputs = sum(summary[arm]["revived_outputs"] for arm in arms)
    if dead_outputs:
        lines.append(output_revival_sentence(revived_outputs, dead_outputs))
    if len(arms) == 2:
        first, second = summary[arms[0]], summary[arms[1]]
        lines.append(
            f"Why the negative mean fails: with weights and biases centred at "
            f"{groups[arms[1]][0]['init_mean']:g}, z = b + w·x is negative on all of [0, 1] "
            f"for most units. A network starts with {second['alive_hidden_init']:.1f} live hidden "
            f"relus on average (against {first['alive_hidden_init']:.1f}), and its outputs, "
            "summing those non-negative activations with mostly negative weights plus a "
            f"negative bias, start dead in {second['output_dead_init'].rate:.0%} of runs "
            f"(against {first['output_dead_init'].rate:.0%}). A dead relu passes back a zero "
            "gradient, so gradient descent cannot repair what the initialisation broke."
        )
    return lines


def plot(result: ExperimentResult, folder: Path) -> list[Path]:
    """Write this study's PNG plots into ``folder``; returns their paths."""
    settings: InitSettings = result.settings
    groups = by_arm(result.records)
    paths = []

    figure, axes = new_figure(7.0, 4.0)
    rng = np.random.default_rng(0)  # jitter only
    tick_labels = []
    for index, (arm, group) in enumerate(groups.items()):
        final = column(group, "final_cost")
        failed = np.array([r["failed"] for r in group])
        x = index + rng.uniform(-0.18, 0.18, size=len(final))
        axes.scatter(x[~failed], final[~failed], s=14, color=COLOURS[0], alpha=0.7)
        axes.scatter(x[failed], final[failed], s=14, color=COLOURS[1], alpha=0.7)
        tick_labels.append(f"{arm}\nfailed: {np.mean(failed):.0%} of {len(failed)}")
    axes.axhline(settings.failure_threshold, color="grey", linestyle="--", linewidth=1)
    axes.text(
        len(groups) - 0.5,
        settings.failure_threshold * 1.15,
        "failure threshold",
        ha="right",
        fontsize=8,
        color="grey",
    )
    axes.set_yscale("log")
    axes.set_xticks(range(len(groups)), tick_labels)
    axes.set_xlim(-0.6, len(groups) - 0.4)
    axes.set_ylabel(f"final cost (mean of last {settings.final_window} batches)")
    axes.set_title(f"Final cost of each run ({result.runs} runs per init)")
    paths.append(save_png(figure, folder / "init_final_cost.png"))

    figure, (left, right) = new_figure(9.0, 3.8, ncols=2)
    width = 0.38
    for index, group in enumerate(groups.values()):
        for offset, key, shade in (
            (-width / 2, "dead_hidden_init", 0.45),
            (width / 2, "dead_hidden_end", 0.9),
        ):
            summary = mean_ci(100 * column(group, key))
            error = 0 if not np.isfinite(summary.half_width) else summary.half_width
            left.bar(
                index + offset,
                summary.mean,
                width,
                yerr=error,
                color=COLOURS[index],
                alpha=shade,
                capsize=3,
            )
        left.plot(
            [index - width, index],
            [100 * expected_dead_fraction(group[0]["init_mean"], settings.init_std)] * 2,
            color="black",
            linewidth=1.5,
        )
        for offset, key, shade in (
            (-width / 2, "dead_outputs_init", 0.45),
            (width / 2, "dead_outputs_end", 0.9),
        ):
            share = proportion_ci(sum(r[key] > 0 for r in group), len(group))
            right.bar(
                index + offset,
                100 * share.rate,
                width,
                yerr=[[100 * (share.rate - share.low)], [100 * (share.high - share.rate)]],
                color=COLOURS[index],
                alpha=shade,
                capsize=3,
            )
    for axes_ in (left, right):
        axes_.set_xticks(range(len(groups)), list(groups))
    left.set_ylabel("% of hidden relus dead")
    left.set_title(
        "Dead hidden units: init (light), end (dark)\nblack line: theory at init", fontsize=10
    )
    right.set_ylabel("% of runs")
    right.set_title("Runs with a dead output relu: init (light), end (dark)", fontsize=10)
    paths.append(save_png(figure, folder / "init_dead_units.png"))

    figure, axes = new_figure(9.0, 3.8, ncols=len(groups))
    axes = np.atleast_1d(axes)
    for axes_, (arm, group) in zip(axes, groups.items(), strict=True):
        for record in group:
            colour = COLOURS[1] if record["failed"] else COLOURS[0]
            axes_.plot(
                np.arange(1, len(record["costs"]) + 1),
                record["costs"],
                color=colour,
                alpha=0.25,
                linewidth=0.7,
            )
        axes_.set_yscale("log")
        axes_.set_title(f"{arm}: blue fitted, red failed", fontsize=10)
        axes_.set_xlabel("batch")
    axes[0].set_ylabel("batch cost sum((out - y)²)")
    paths.append(save_png(figure, folder / "init_cost_curves.png"))
    return paths


STUDY = Study(
    name="init",
    title="Initial weights: normal(0, eps) versus normal(-eps, eps)",
    question=(
        "Try getting few results with changing the last line of the class constructor "
        "(i.e. change 0 to -eps). Why sometimes we get bad results out of this?"
    ),
    method="""
The article's network ([1, 16, 2], relu hidden and output units, batch 32, learning rate 1,
one fresh batch per step) is trained with tinygrad_nn (`MLP`, `squared_error / (2B)`, `SGD`)
from weights and biases drawn from normal(0, eps) or normal(-eps, eps), eps = 0.1. Run *i*
of both arms uses the same batches and the same weight noise, so the only difference is the
mean. Each run records the article's cost per batch, the final cost (mean of the last
batches), test errors on a grid, and which relus are dead (pre-activation <= 0 for every x
of a probe grid on [0, 1]) before and after training.
""",
    default_runs=200,
    settings_type=InitSettings,
    make_tasks=make_tasks,
    analyze=analyze,
    plot=plot,
)
