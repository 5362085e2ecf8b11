"""Study ``regularization``: L1 and L2 penalties on a reduced data set.

The article's fourth suggestion: "Reduce the size of dataset and add L1 and L2
regularization to the cost function."

A network can only overfit what the data does not pin down. The article's targets are
exact sin and cos values, so there is nothing to overfit but interpolation; here, as in any
real measurement, the targets carry Gaussian noise (``noise``, standard deviation), and the
training set is a few small batches, cycled for many steps. Training error is measured on
those points, test error on fresh noisy samples from the same distribution (so the gap
test - train measures overfitting, both including the noise floor noise²), and the error
against the true functions on a clean grid.

Penalties (as in ``tnn.reference``): ``l1 * sum(|w|)`` or ``l2 * sum(w²)`` over the weight
matrices, biases excluded, added to the article's sum(e²) / 2B. Run ``i`` of every strength
shares its data set, test samples and initial weights, so differences are paired.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tinygrad_nn.experiments.report import COLOURS, new_figure, save_png, summary_cell
from tinygrad_nn.experiments.runner import DATA_STREAM, NOISE_STREAM, WEIGHT_STREAM, Task, run_rng
from tinygrad_nn.experiments.stats import holm, mean_ci, paired_t_test
from tinygrad_nn.experiments.study import Analysis, Study, Table, by_arm, column
from tinygrad_nn.experiments.training import (
    build_mlp,
    dead_units,
    error_metrics,
    train,
    weight_norms,
)

if TYPE_CHECKING:
    from tinygrad_nn.experiments.study import ExperimentResult

__all__ = ["STUDY", "RegularizationSettings", "run_regularization"]

NONE = "none"


@dataclass(frozen=True)
class RegularizationSettings:
    """A reduced, noisy version of the article's task, and the penalty sweep.

    ``train_batches`` batches of ``batch_size`` points form the whole training set, cycled
    for ``steps`` steps. ``output``: "linear" (default, so that no output relu dies; see
    the init study) or "relu".
    """

    shape: tuple[int, ...] = (1, 16, 2)
    output: str = "linear"
    train_batches: int = 1
    batch_size: int = 8
    noise: float = 0.2
    steps: int = 1000
    lr: float = 1.0
    init_std: float = 0.1
    l1_strengths: tuple[float, ...] = (3e-4, 1e-3, 3e-3, 1e-2)
    l2_strengths: tuple[float, ...] = (1e-3, 3e-3, 1e-2, 3e-2)
    test_samples: int = 2000
    test_points: int = 101
    fit_runs: int = 1


def _targets(x: np.ndarray) -> np.ndarray:
    return np.concatenate([np.sin(x), np.cos(x)], axis=-1)


def _label(penalty: str, strength: float) -> str:
    return NONE if penalty == NONE else f"{penalty} {strength:g}"


def run_regularization(
    settings: RegularizationSettings, penalty: str, strength: float, seed: int, run: int
) -> dict[str, Any]:
    """Train on the reduced noisy set with one penalty; measure errors and weight norms."""
    if settings.output not in ("linear", "relu"):
        raise ValueError(
            f"regularization: output must be 'linear' or 'relu', got {settings.output!r}"
        )
    data_rng = run_rng(seed, run, DATA_STREAM)
    noise_rng = run_rng(seed, run, NOISE_STREAM)
    n_train = settings.train_batches * settings.batch_size
    x = data_rng.random((n_train, 1))
    y = _targets(x) + settings.noise * noise_rng.standard_normal((n_train, 2))
    x_test = data_rng.random((settings.test_samples, 1))
    y_test = _targets(x_test) + settings.noise * noise_rng.standard_normal(
        (settings.test_samples, 2)
    )
    grid = np.linspace(0.0, 1.0, settings.test_points)[:, None]

    model = build_mlp(
        settings.shape,
        "relu",
        None if settings.output == "linear" else "relu",
        run_rng(seed, run, WEIGHT_STREAM),
        init_std=settings.init_std,
    )
    shape = (settings.train_batches, settings.batch_size)
    history = train(
        model,
        x.reshape(*shape, 1),
        y.reshape(*shape, 2),
        settings.steps,
        settings.lr,
        l1=strength if penalty == "l1" else 0.0,
        l2=strength if penalty == "l2" else 0.0,
    )
    train_error = error_metrics(model, x, y)
    test_error = error_metrics(model, x_test, y_test)
    true_error = error_metrics(model, grid, _targets(grid))
    dead = dead_units(model, grid)
    record: dict[str, Any] = {
        "arm": _label(penalty, strength),
        "penalty": penalty,
        "strength": strength,
        "run": run,
        "seed": [seed, run],
        "train_mse": train_error["mse"],
        "test_mse": test_error["mse"],
        "gap": test_error["mse"] - train_error["mse"],
        "true_mse": true_error["mse"],
        "dead_hidden": sum(dead["hidden"]),
        "final_cost": float(history.squared[-1]),
        **weight_norms(model),
    }
    if run < settings.fit_runs:
        from tinygrad_nn import Tensor, no_grad

        with no_grad():
            record["fit"] = model(Tensor(grid)).data.tolist()
        record["train_x"] = x.ravel().tolist()
        record["train_y"] = y.tolist()
    return record


def make_tasks(settings: RegularizationSettings, runs: int, seed: int) -> list[Task]:
    """One task per (run, arm); run-major, so partial progress covers every arm."""
    arms = [(NONE, 0.0)]
    arms += [("l1", s) for s in settings.l1_strengths]
    arms += [("l2", s) for s in settings.l2_strengths]
    return [
        Task(
            run_regularization,
            {"settings": settings, "penalty": p, "strength": s, "seed": seed, "run": run},
        )
        for run in range(runs)
        for p, s in arms
    ]


def analyze(
    settings: RegularizationSettings, records: list[dict[str, Any]], measurements: dict[str, Any]
) -> Analysis:
    """Tables, conclusions and summary numbers computed from the run records."""
    groups = by_arm(records)
    baseline = groups.get(NONE)
    summary: dict[str, Any] = {"arms": {}}
    tests: dict[str, Any] = {}
    if baseline is not None:
        for arm, group in groups.items():
            if arm != NONE and len(baseline) == len(group) > 1:
                tests[arm] = paired_t_test(column(group, "test_mse"), column(baseline, "test_mse"))
    # Several strengths are each compared with the same unpenalised runs: adjust the p-values
    # for that (Holm), so that picking the best strength does not manufacture significance.
    adjusted = dict(zip(tests, holm([t.p_value for t in tests.values()]), strict=True))
    rows = []
    for arm, group in groups.items():
        cells = {
            key: mean_ci(column(group, key))
            for key in ("train_mse", "test_mse", "gap", "true_mse", "l1_norm", "l2_norm")
        }
        entry: dict[str, Any] = {
            "penalty": group[0]["penalty"],
            "strength": group[0]["strength"],
            **cells,
        }
        versus = "—"
        if arm in tests:
            test = tests[arm]
            entry["test_mse_vs_none"] = test
            entry["p_holm"] = adjusted[arm]
            versus = f"{test.difference:+.2g} (p {test.p_value:.2g}, Holm {adjusted[arm]:.2g})"
        summary["arms"][arm] = entry
        rows.append(
            [
                group[0]["penalty"],
                "0" if arm == NONE else f"{group[0]['strength']:g}",
                summary_cell(column(group, "train_mse")),
                summary_cell(column(group, "test_mse")),
                summary_cell(column(group, "gap")),
                versus,
                summary_cell(column(group, "true_mse")),
                summary_cell(column(group, "l1_norm")),
                summary_cell(column(group, "l2_norm")),
            ]
        )
    n_train = settings.train_batches * settings.batch_size
    tables = [
        Table(
            f"Train versus test error ({n_train} noisy training points, {settings.steps} steps)",
            [
                "penalty",
                "strength",
                "train MSE",
                "test MSE",
                "gap (test - train)",
                "test MSE vs none (paired)",
                "MSE vs true sin/cos",
                "sum |w|",
                "sqrt(sum w²)",
            ],
            rows,
            note=(
                f"Targets carry noise of std {settings.noise:g}, so even a perfect fit has MSE "
                f"{settings.noise**2:.3g} on train and test. Test: {settings.test_samples} fresh "
                f"noisy samples; true: {settings.test_points} clean grid points. Norms over the "
                "weight matrices (biases excluded). Mean ± 95% CI half-width over runs. The "
                "paired test compares each strength with no penalty on the same runs; Holm: "
                f"p adjusted for the {len(tests)} comparisons."
            ),
        )
    ]
    conclusions = _conclusions(settings, groups, summary)
    return Analysis(tables, conclusions, summary)


def _conclusions(
    settings: RegularizationSettings,
    groups: dict[str, list[dict[str, Any]]],
    summary: dict[str, Any],
) -> list[str]:
    arms = summary["arms"]
    if NONE not in arms:
        return []
    base = arms[NONE]
    n_train = settings.train_batches * settings.batch_size
    floor = settings.noise**2
    fit = (
        f"below the noise floor {floor:.3g}: it has learned part of the noise"
        if base["train_mse"].mean < floor
        else f"not below the noise floor {floor:.3g}"
    )
    lines = [
        f"Without a penalty the network fits its {n_train} noisy points to train MSE "
        f"{base['train_mse'].mean:.3g}, {fit}; its test MSE is {base['test_mse'].mean:.3g} "
        f"(gap {base['gap'].mean:.3g} ± {base['gap'].half_width:.2g})."
    ]
    for penalty in ("l1", "l2"):
        entries = {a: e for a, e in arms.items() if e["penalty"] == penalty}
        if not entries:
            continue
        best_arm = min(entries, key=lambda a: entries[a]["test_mse"].mean)
        best = entries[best_arm]
        largest = max(entries, key=lambda a: entries[a]["strength"])
        test = best.get("test_mse_vs_none")
        significance = (
            f"paired difference {test.difference:+.3g} [{test.low:+.3g}, {test.high:+.3g}], "
            f"p = {test.p_value:.2g}, Holm-adjusted {best['p_holm']:.2g}"
            if test is not None
            else "no paired test"
        )
        verdict = (
            "significant"
            if test is not None and best["p_holm"] < 0.05 and test.difference < 0
            else "not significant once the choice among strengths is accounted for"
        )
        lines.append(
            f"{penalty.upper()}: the lowest test MSE is at strength {best['strength']:g}: "
            f"{best['test_mse'].mean:.3g} against {base['test_mse'].mean:.3g} without a penalty "
            f"({significance}: {verdict}); the gap goes from {base['gap'].mean:.3g} to "
            f"{best['gap'].mean:.3g} and sum |w| from {base['l1_norm'].mean:.3g} to "
            f"{best['l1_norm'].mean:.3g}. At {entries[largest]['strength']:g} the penalty "
            f"dominates: train MSE {entries[largest]['train_mse'].mean:.3g}, test "
            f"{entries[largest]['test_mse'].mean:.3g} (underfitting)."
        )
    helped = [
        a
        for a, e in arms.items()
        if a != NONE and e.get("p_holm", 1.0) < 0.05 and e["test_mse_vs_none"].difference < 0
    ]
    lines.append(
        "Strengths that lower the test error significantly (Holm-adjusted p < 0.05): "
        + (", ".join(f"{a} (p {arms[a]['p_holm']:.2g})" for a in helped) if helped else "none")
        + "."
    )
    penalised = [a for a in arms if a != NONE]
    if penalised and base["gap"].mean > 0:
        smallest = min(penalised, key=lambda a: arms[a]["gap"].mean)
        share = arms[smallest]["gap"].mean / base["gap"].mean
        test_change = arms[smallest]["test_mse"].mean - base["test_mse"].mean
        train_change = arms[smallest]["train_mse"].mean - base["train_mse"].mean
        how = (
            f"the test MSE falls by {-test_change:.2g} and the train MSE rises by "
            f"{train_change:.2g}"
            if test_change < 0
            else f"only because the train MSE rises (by {train_change:.2g}); the test MSE "
            f"rises too (by {test_change:.2g})"
        )
        lines.append(
            f"The smallest gap, {arms[smallest]['gap'].mean:.3g} at {smallest}, is {share:.0%} "
            f"of the unpenalised one: {how}."
        )
    return lines


def plot(result: ExperimentResult, folder: Path) -> list[Path]:
    """Write this study's PNG plots into ``folder``; returns their paths."""
    settings: RegularizationSettings = result.settings
    groups = by_arm(result.records)
    paths = []
    baseline = groups.get(NONE)

    figure, axes = new_figure(10.0, 3.8, ncols=2)
    for panel, penalty in zip(axes, ("l1", "l2"), strict=True):
        arms = [(r[0]["strength"], r) for a, r in groups.items() if r[0]["penalty"] == penalty]
        arms.sort(key=lambda item: item[0])
        if not arms:
            continue
        strengths = [s for s, _ in arms]
        for index, (key, name) in enumerate((("train_mse", "train"), ("test_mse", "test"))):
            stats = [mean_ci(column(group, key)) for _, group in arms]
            errors = [0 if not np.isfinite(s.half_width) else s.half_width for s in stats]
            panel.errorbar(
                strengths,
                [s.mean for s in stats],
                yerr=errors,
                marker="o",
                capsize=3,
                color=COLOURS[index],
                label=f"{name} MSE",
            )
            if baseline is not None:
                panel.axhline(
                    column(baseline, key).mean(),
                    color=COLOURS[index],
                    linestyle=":",
                    linewidth=1.2,
                    label=f"{name}, no penalty",
                )
        panel.axhline(
            settings.noise**2, color="grey", linestyle="--", linewidth=1, label="noise floor"
        )
        panel.set_xscale("log")
        panel.set_xlabel(f"{penalty.upper()} strength")
        panel.set_ylabel("MSE")
        panel.set_title(f"{penalty.upper()}: train vs test error ({result.runs} runs)", fontsize=10)
        panel.legend(fontsize=7)
    paths.append(save_png(figure, folder / "regularization_train_test.png"))

    figure, axes = new_figure(10.0, 3.6, ncols=2)
    for panel, (key, name) in zip(
        axes, (("l1_norm", "sum |w|"), ("l2_norm", "sqrt(sum w²)")), strict=True
    ):
        for index, penalty in enumerate(("l1", "l2")):
            arms = sorted(
                ((r[0]["strength"], r) for r in groups.values() if r[0]["penalty"] == penalty),
                key=lambda item: item[0],
            )
            if arms:
                panel.plot(
                    [s for s, _ in arms],
                    [column(g, key).mean() for _, g in arms],
                    marker="o",
                    color=COLOURS[index + 2],
                    label=penalty.upper(),
                )
        if baseline is not None:
            panel.axhline(
                column(baseline, key).mean(), color="black", linestyle=":", label="no penalty"
            )
        panel.set_xscale("log")
        panel.set_xlabel("penalty strength")
        panel.set_title(f"Weight norm {name} after training", fontsize=10)
        panel.legend(fontsize=8)
    paths.append(save_png(figure, folder / "regularization_weights.png"))

    fits = [r for r in result.records if "fit" in r and r["run"] == 0]
    if fits:
        shown = [r for r in fits if r["arm"] == NONE]
        for penalty in ("l1", "l2"):
            candidates = [r for r in fits if r["penalty"] == penalty]
            if candidates:
                mean_test = {
                    r["arm"]: column(groups[r["arm"]], "test_mse").mean() for r in candidates
                }
                shown.append(min(candidates, key=lambda r: mean_test[r["arm"]]))
                shown.append(max(candidates, key=lambda r: r["strength"]))
        grid = np.linspace(0.0, 1.0, settings.test_points)
        figure, axes = new_figure(10.0, 3.8, ncols=2)
        for output, (panel, name) in enumerate(zip(axes, ("sin", "cos"), strict=True)):
            record = shown[0]
            panel.scatter(
                record["train_x"],
                np.array(record["train_y"])[:, output],
                color="black",
                s=18,
                zorder=3,
                label="training points",
            )
            panel.plot(
                grid,
                _targets(grid[:, None])[:, output],
                color="grey",
                linestyle="--",
                label=f"true {name}",
            )
            for index, fit in enumerate(shown):
                panel.plot(
                    grid, np.array(fit["fit"])[:, output], color=COLOURS[index], label=fit["arm"]
                )
            panel.set_xlabel("x")
            panel.set_title(f"{name}: fits of run 0", fontsize=10)
            panel.legend(fontsize=7)
        paths.append(save_png(figure, folder / "regularization_fits.png"))
    return paths


STUDY = Study(
    name="regularization",
    title="Regularization: L1 and L2 penalties on a reduced data set",
    question="Reduce the size of dataset and add L1 and L2 regularization to the cost function.",
    method="""
The article's network ([1, 16, 2], relu hidden units, linear output by default, learning
rate 1) is trained with tinygrad_nn on a reduced data set: a few points x ~ U[0, 1) with
targets sin x and cos x plus Gaussian noise, cycled for many steps, with the cost
sum(e²) / 2B + l1 * sum(|w|) or + l2 * sum(w²) (weights only, as in `tnn.reference`).
Every strength of both penalties, and no penalty, is trained from the same data and initial
weights per run. Each run reports train error (its own points), test error (fresh noisy
samples), error against the true functions, and the weight norms.
""",
    default_runs=32,
    settings_type=RegularizationSettings,
    make_tasks=make_tasks,
    analyze=analyze,
    plot=plot,
)
