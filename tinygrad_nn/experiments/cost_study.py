"""Study ``cost``: squared versus absolute cost, judged on the same held-out errors.

The article's third question: "Modify the cost calculation and use sum of absolute values.
Compare the performance for both cases by averaging over lots of runs."

Both costs train the article's network from the same batches and weight noise per run;
the scalars differentiated are the reference's (``tnn.reference``): sum(e²) / 2B and
sum(|e|) / B. Their gradients differ in size (e versus sign(e)), so one learning rate
favours one of them; the study sweeps the learning rate and compares the costs both at
the article's rate and each at its own best rate, chosen on its own training cost (the
last batches, which the network had not seen), never on the test grid. Every model is
judged on the same held-out metrics: squared and absolute error on an evenly spaced grid.

The output is linear by default: a relu output dies in about half the runs whatever the
cost (see the ``init`` study), which would add the same large failures to both arms
(``--set output=relu`` gives the article's).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tinygrad_nn.experiments.report import COLOURS, mean_band, new_figure, save_png, summary_cell
from tinygrad_nn.experiments.runner import Task
from tinygrad_nn.experiments.stats import mean_ci, paired_t_test
from tinygrad_nn.experiments.study import Analysis, Study, Table, by_arm, column
from tinygrad_nn.experiments.training import ArticleSettings, article_run

if TYPE_CHECKING:
    from tinygrad_nn.experiments.study import ExperimentResult

__all__ = ["STUDY", "CostSettings", "run_cost"]


@dataclass(frozen=True)
class CostSettings(ArticleSettings):
    """The article's setup with a learning-rate sweep; ``output``: "linear" or "relu"."""

    costs: tuple[str, ...] = ("squared", "absolute")
    lrs: tuple[float, ...] = (1.0, 0.3, 0.1, 0.03, 0.01)
    output: str = "linear"


def _label(cost: str, lr: float) -> str:
    return f"{cost}, lr {lr:g}"


def run_cost(settings: CostSettings, cost: str, lr: float, seed: int, run: int) -> dict[str, Any]:
    """One training run with the given cost and learning rate."""
    if settings.output not in ("linear", "relu"):
        raise ValueError(f"cost study: output must be 'linear' or 'relu', got {settings.output!r}")
    record = article_run(
        settings,
        seed,
        run,
        output_activation=None if settings.output == "linear" else "relu",
        cost=cost,
        lr=lr,
        keep_absolute=True,
    )
    # Only its end is needed; results.json keeps the squared curve of every run.
    absolute_costs = record.pop("absolute_costs")
    record["final_absolute_cost"] = float(np.mean(absolute_costs[-settings.final_window :]))
    return {"arm": _label(cost, lr), "cost": cost, "lr": lr, **record}


def make_tasks(settings: CostSettings, runs: int, seed: int) -> list[Task]:
    """One task per (run, arm); run-major, so partial progress covers every arm."""
    return [
        Task(run_cost, {"settings": settings, "cost": c, "lr": lr, "seed": seed, "run": run})
        for run in range(runs)
        for lr in settings.lrs
        for c in settings.costs
    ]


def _own_cost_key(cost: str) -> str:
    return "final_cost" if cost == "squared" else "final_absolute_cost"


def best_lrs(settings: CostSettings, groups: dict[str, list[dict[str, Any]]]) -> dict[str, float]:
    """Each cost's learning rate with the lowest mean final *training* cost of its own kind."""
    best = {}
    for cost in settings.costs:
        scores = {
            lr: column(groups[_label(cost, lr)], _own_cost_key(cost)).mean()
            for lr in settings.lrs
            if _label(cost, lr) in groups
        }
        if scores:
            best[cost] = min(scores, key=scores.__getitem__)
    return best


def analyze(
    settings: CostSettings, records: list[dict[str, Any]], measurements: dict[str, Any]
) -> Analysis:
    """Tables, conclusions and summary numbers computed from the run records."""
    groups = by_arm(records)
    best = best_lrs(settings, groups)
    summary: dict[str, Any] = {"best_lr": best, "arms": {}}
    rows = []
    for arm, group in groups.items():
        cost, lr = group[0]["cost"], group[0]["lr"]
        summary["arms"][arm] = {
            "test_mse": mean_ci(column(group, "test_mse")),
            "test_mae": mean_ci(column(group, "test_mae")),
            "final_own_cost": mean_ci(column(group, _own_cost_key(cost))),
        }
        rows.append(
            [
                cost,
                f"{lr:g}" + (" (best)" if best.get(cost) == lr else ""),
                summary_cell(column(group, "test_mse")),
                summary_cell(column(group, "test_mae")),
                summary_cell(column(group, _own_cost_key(cost))),
            ]
        )
    tables = [
        Table(
            "Every cost and learning rate (held-out metrics on the test grid)",
            ["cost", "lr", "test MSE", "test MAE", "final training cost (own kind)"],
            rows,
            note=(
                f"Test MSE / MAE: mean squared / absolute error on {settings.test_points} evenly "
                "spaced x in [0, 1]. Final training cost: the cost the run was trained on "
                f"(sum(e²) or sum(|e|) per batch), mean of the last {settings.final_window} "
                "batches; '(best)' marks each cost's lowest, which picks its learning rate. "
                "Mean ± 95% CI half-width over runs."
            ),
        )
    ]
    conclusions: list[str] = []
    pairs = []
    article_lr = settings.lr
    if article_lr in settings.lrs:
        pairs.append((f"at the article's learning rate {article_lr:g}", article_lr, article_lr))
    if len(best) == 2:
        pairs.append(
            ("each at its best learning rate", best[settings.costs[0]], best[settings.costs[1]])
        )
    comparison_rows = []
    for description, lr_a, lr_b in pairs if len(settings.costs) == 2 else []:
        cost_a, cost_b = settings.costs
        a, b = groups.get(_label(cost_a, lr_a)), groups.get(_label(cost_b, lr_b))
        if not a or not b or len(a) != len(b) or len(a) < 2:
            continue
        parts = []
        for metric, name in (("test_mse", "test MSE"), ("test_mae", "test MAE")):
            test = paired_t_test(column(a, metric), column(b, metric))
            summary.setdefault("comparisons", {})[f"{description}: {name}"] = test
            comparison_rows.append(
                [
                    description,
                    name,
                    f"{column(a, metric).mean():.3g} (lr {lr_a:g})",
                    f"{column(b, metric).mean():.3g} (lr {lr_b:g})",
                    f"{test.difference:+.3g} [{test.low:+.3g}, {test.high:+.3g}]",
                    f"{test.p_value:.2g}",
                ]
            )
            better = cost_a if test.difference < 0 else cost_b
            ratio = max(column(a, metric).mean(), column(b, metric).mean()) / max(
                min(column(a, metric).mean(), column(b, metric).mean()), 1e-300
            )
            significant = test.p_value < 0.05
            parts.append(
                f"{name} {column(a, metric).mean():.3g} ({cost_a}) vs "
                f"{column(b, metric).mean():.3g} ({cost_b}), "
                + (
                    f"{better} {ratio:.{0 if ratio >= 10 else 1}f}x lower "
                    f"(paired p = {test.p_value:.2g})"
                    if significant
                    else f"no significant difference (paired p = {test.p_value:.2g})"
                )
            )
        conclusions.append(f"{description.capitalize()}: " + "; ".join(parts) + ".")
    if comparison_rows:
        tables.append(
            Table(
                "Head to head (paired by run: same batches, same initial weights)",
                [
                    "comparison",
                    "metric",
                    settings.costs[0],
                    settings.costs[1],
                    f"difference {settings.costs[0]} - {settings.costs[1]} [95% CI]",
                    "p",
                ],
                comparison_rows,
            )
        )
    if "absolute" in settings.costs and len(settings.lrs) > 1:
        worst, best_abs = max(settings.lrs), best.get("absolute")
        if best_abs is not None and best_abs != worst:
            high = summary["arms"][_label("absolute", worst)]["test_mse"].mean
            low = summary["arms"][_label("absolute", best_abs)]["test_mse"].mean
            conclusions.append(
                f"The absolute cost needs a smaller step: its gradient sign(e) / B keeps its size "
                f"as the error shrinks, so at lr {worst:g} the outputs keep jumping (test MSE "
                f"{high:.3g}), while at lr {best_abs:g} it reaches {low:.3g}. The squared cost's "
                f"gradient e / B shrinks with the error, so it settles even at large rates "
                f"(best lr {best.get('squared', float('nan')):g})."
            )
    conclusions.append(_metric_agreement(settings, groups, best))
    conclusions.append(_still_improving(settings, groups, best))
    return Analysis(tables, [c for c in conclusions if c], summary)


def _metric_agreement(
    settings: CostSettings, groups: dict[str, list[dict[str, Any]]], best: dict[str, float]
) -> str:
    """Whether the MSE and MAE verdicts agree at the best learning rates."""
    if len(best) != 2 or len(settings.costs) != 2:
        return ""
    a = groups[_label(settings.costs[0], best[settings.costs[0]])]
    b = groups[_label(settings.costs[1], best[settings.costs[1]])]
    winners = {
        name: settings.costs[0]
        if column(a, key).mean() < column(b, key).mean()
        else settings.costs[1]
        for key, name in (("test_mse", "MSE"), ("test_mae", "MAE"))
    }
    if winners["MSE"] == winners["MAE"]:
        return (
            f"At the best learning rates, {winners['MSE']} training gives the lower held-out "
            "error on both metrics, including the other cost's own metric."
        )
    return (
        f"At the best learning rates each cost wins on its own metric: {winners['MSE']} on "
        f"MSE, {winners['MAE']} on MAE."
    )


def _still_improving(
    settings: CostSettings, groups: dict[str, list[dict[str, Any]]], best: dict[str, float]
) -> str:
    """Which best-lr arms were still lowering their cost when training stopped."""
    window = settings.final_window
    if settings.steps < 6 * window:
        return ""
    notes = []
    for cost, lr in best.items():
        curves = np.array([r["costs"] for r in groups[_label(cost, lr)]])
        end = curves[:, -window:].mean()
        earlier = curves[:, -6 * window : -5 * window].mean()
        notes.append(
            f"{cost} (lr {lr:g}) {100 * (1 - end / earlier):.0f}% lower than {5 * window} "
            "steps before"
        )
    return (
        f"Was training finished after {settings.steps} steps? Mean squared batch cost over the "
        f"last {window} steps: " + "; ".join(notes) + ". A cost still falling fast would gain "
        "from more steps (--set steps=...)."
    )


def plot(result: ExperimentResult, folder: Path) -> list[Path]:
    """Write this study's PNG plots into ``folder``; returns their paths."""
    settings: CostSettings = result.settings
    groups = by_arm(result.records)
    best = best_lrs(settings, groups)
    paths = []

    figure, axes = new_figure(10.0, 3.8, ncols=2)
    for panel, (metric, name) in zip(
        axes, (("test_mse", "test MSE"), ("test_mae", "test MAE")), strict=True
    ):
        for index, cost in enumerate(settings.costs):
            lrs = [lr for lr in settings.lrs if _label(cost, lr) in groups]
            stats = [mean_ci(column(groups[_label(cost, lr)], metric)) for lr in lrs]
            means = np.array([s.mean for s in stats])
            errors = np.array([0 if not np.isfinite(s.half_width) else s.half_width for s in stats])
            panel.errorbar(
                lrs, means, yerr=errors, marker="o", capsize=3, color=COLOURS[index], label=cost
            )
            if cost in best:
                chosen = lrs.index(best[cost])
                panel.scatter(
                    [lrs[chosen]],
                    [means[chosen]],
                    s=120,
                    facecolors="none",
                    edgecolors=COLOURS[index],
                    linewidths=1.5,
                )
        panel.set_xscale("log")
        panel.set_yscale("log")
        panel.set_xlabel("learning rate")
        panel.set_title(f"{name} on the test grid (circle: best lr by training cost)", fontsize=10)
        panel.legend(fontsize=8, title="trained on", title_fontsize=8)
    paths.append(save_png(figure, folder / "cost_vs_lr.png"))

    figure, axes = new_figure(7.0, 4.0)
    index = 0
    for cost in settings.costs:
        for lr in sorted({settings.lr, best.get(cost, settings.lr)}, reverse=True):
            label = _label(cost, lr)
            if label not in groups:
                continue
            curves = np.array([r["costs"] for r in groups[label]])
            mean_band(axes, np.maximum(curves, 1e-12), label, COLOURS[index % len(COLOURS)])
            index += 1
    axes.set_yscale("log")
    axes.set_ylim(top=min(axes.get_ylim()[1], 1e3))
    axes.set_xlabel("step (batch)")
    axes.set_ylabel("batch sum((out - y)²)")
    axes.set_title("Squared batch error during training (mean, 95% CI band)", fontsize=10)
    axes.legend(fontsize=8)
    paths.append(save_png(figure, folder / "cost_curves.png"))
    return paths


STUDY = Study(
    name="cost",
    title="Cost: squared versus absolute error",
    question=(
        "Modify the cost calculation and use sum of absolute values. Compare the performance "
        "for both cases by averaging over lots of runs."
    ),
    method="""
The article's network ([1, 16, 2], relu hidden units, batch 32, one fresh batch per step,
300 steps) is trained with tinygrad_nn on sum(e²) / 2B (the article's) or on sum(|e|) / B,
over a sweep of learning rates, from the same batches and initial weights per run. The
output layer is linear by default so that dead output relus (see the init study) do not
hide the difference. Each cost's learning rate is chosen by its own final training cost;
all models are judged on the same held-out grid with both squared and absolute error.
""",
    default_runs=48,
    settings_type=CostSettings,
    make_tasks=make_tasks,
    analyze=analyze,
    plot=plot,
)
