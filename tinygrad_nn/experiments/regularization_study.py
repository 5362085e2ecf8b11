"""Study ``regularization``: L2, L1 and early stopping on a reduced, noisy data set.

The article's fourth suggestion: "Reduce the size of dataset and add L1 and L2
regularization to the cost function."

A network can only overfit what the data does not pin down, so, as in any measurement,
the targets carry Gaussian noise (``noise``) and the training set is a few points, used
as one full batch for every step. Each regulariser's strength is chosen the way a
practitioner must, from the training set alone: k-fold cross-validation over a grid of
strengths (0 included), then a refit on all the points. Early stopping picks its number
of steps the same way. The L1 penalty is applied by proximal SGD (soft-thresholding after
each step), which sets weights exactly to 0, unlike its subgradient. Every model is
judged on fresh noisy test samples and against the true sin and cos on a grid.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tinygrad_nn.experiments.report import COLOURS, interval_bars, new_figure, save_png
from tinygrad_nn.experiments.runner import DATA_STREAM, NOISE_STREAM, WEIGHT_STREAM, run_rng
from tinygrad_nn.experiments.study import Arm, Column, Metric, Study, by_arm
from tinygrad_nn.experiments.training import build_net
from tinygrad_nn.experiments.verdict import number
from tinygrad_nn.tensor import Tensor

if TYPE_CHECKING:
    from tinygrad_nn.experiments.study import ExperimentResult

__all__ = [
    "STUDY",
    "RegularizationSettings",
    "cross_validate",
    "run_regularization",
    "train_ensemble",
]

METHODS = {
    "none": "no penalty",
    "l2": "L2, strength by CV",
    "l1": "L1 (proximal), strength by CV",
    "early": "early stopping, steps by CV",
}


@dataclass(frozen=True)
class RegularizationSettings:
    """A reduced, noisy version of the article's task, and the regularisers' grids.

    ``train_points`` noisy points form the whole training set (one full batch per step);
    ``folds``-fold cross-validation on them picks each strength (and early stopping's step
    count, checked every ``check_every`` steps).
    """

    shape: tuple[int, ...] = (1, 16, 2)
    train_points: int = 8
    noise: float = 0.2
    steps: int = 600
    init_std: float = 0.1
    lrs: tuple[float, ...] = (0.1, 0.3, 1.0)
    selection_runs: int = 4
    l2_strengths: tuple[float, ...] = (0.0, 1e-3, 1e-2, 1e-1)
    l1_strengths: tuple[float, ...] = (0.0, 1e-3, 1e-2, 1e-1)
    folds: int = 4
    check_every: int = 25
    test_samples: int = 2000
    test_points: int = 101


def _targets(x: np.ndarray) -> np.ndarray:
    return np.concatenate([np.sin(x), np.cos(x)], axis=-1)


def _forward(params: list[Any], x: Any) -> Any:
    """The networks of an ensemble on their inputs: x (K, n, 1) -> (K, n, 2); relu hidden."""
    out = x
    last = len(params) // 2 - 1
    for index in range(last + 1):
        weight, bias = params[2 * index], params[2 * index + 1]
        out = out @ weight.transpose(0, 2, 1) + bias
        if index < last:
            out = out.relu() if isinstance(out, Tensor) else np.maximum(out, 0.0)
    return out


def train_ensemble(
    settings: RegularizationSettings,
    x: np.ndarray,
    y: np.ndarray,
    weights_seed: Any,
    lr: float,
    steps: int,
    l2: np.ndarray | None = None,
    l1: np.ndarray | None = None,
    monitor: tuple[np.ndarray, np.ndarray, int] | None = None,
) -> tuple[list[np.ndarray], np.ndarray]:
    """Train K copies of one initial network at once, copy k on its own full batch.

    Copy k minimises sum(e_k²) / 2n + l2[k] sum(W_k²) by SGD, then takes the proximal step of
    l1[k] sum(|W_k|) (soft-thresholding); the copies share no parameter, so this is K
    independent trainings (the same as `train` on each, one batched graph for speed).

    Args:
        x, y: (K, n, 1) inputs and (K, n, 2) targets.
        weights_seed: seed of the initial weights, the same for every copy.
        l2, l1: (K,) strengths (None: 0).
        monitor: ``(x_val, y_val, every)`` of shapes (K, m, ...): validation MSE of each
            copy every ``every`` steps.

    Returns:
        The trained parameters (weight, bias per layer, with a leading K axis) and the
        validation curves, (K, checks).
    """
    count, n = x.shape[0], x.shape[1]
    net = build_net(
        settings.shape,
        "relu",
        None,
        np.random.default_rng(weights_seed),
        init_std=settings.init_std,
    )
    params = []
    for layer in net.layers:
        params.append(Tensor(np.repeat(layer.weight.data[None], count, 0), requires_grad=True))
        params.append(Tensor(np.repeat(layer.bias.data[None, None], count, 0), requires_grad=True))
    weights = params[0::2]
    l2 = np.zeros(count) if l2 is None else np.asarray(l2, dtype=np.float64)
    threshold = None if l1 is None else lr * np.asarray(l1, dtype=np.float64)[:, None, None]
    inputs, targets = Tensor(x), Tensor(y)
    curves = []
    with np.errstate(over="ignore", invalid="ignore"):
        for step in range(steps):
            loss = (_forward(params, inputs) - targets).square().sum() * (1.0 / (2 * n))
            if l2.any():
                for weight in weights:
                    loss = loss + (weight.square() * l2[:, None, None]).sum()
            if not np.isfinite(loss.item()):
                break
            for parameter in params:
                parameter.grad = None
            loss.backward()
            for parameter in params:
                parameter.data -= lr * parameter.grad
            if threshold is not None:
                for weight in weights:
                    weight.data[...] = np.sign(weight.data) * np.maximum(
                        np.abs(weight.data) - threshold, 0.0
                    )
            if monitor is not None and (step + 1) % monitor[2] == 0:
                error = _forward([p.data for p in params], monitor[0]) - monitor[1]
                curves.append(np.mean(error**2, axis=(1, 2)))
    values = [p.data for p in params]
    return values, np.array(curves).T if curves else np.zeros((count, 0))


def _mse(params: list[np.ndarray], x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """MSE of each copy of an ensemble on its own (x, y), inf where it overflowed."""
    with np.errstate(over="ignore", invalid="ignore"):
        error = _forward(params, x) - y
        mse = np.mean(error**2, axis=tuple(range(1, error.ndim)))
    return np.where(np.isfinite(mse), mse, np.inf)


def cross_validate(
    settings: RegularizationSettings,
    x: np.ndarray,
    y: np.ndarray,
    weights_seed: Any,
    lr: float,
    method: str,
) -> tuple[float, list[float]]:
    """The strength (or step count, for "early") with the lowest mean validation MSE.

    The points are split into ``folds`` equal folds in order (they are drawn independently,
    so that is a random split); each candidate is trained on all folds but one and scored on
    that one, and the mean over the folds decides (the smallest candidate on ties).

    Returns:
        ``(chosen, mean validation MSE per candidate)``.
    """
    folds = np.array_split(np.arange(len(x)), settings.folds)
    keep = [np.setdiff1d(np.arange(len(x)), held) for held in folds]
    if method == "early":
        _, curves = train_ensemble(
            settings,
            np.stack([x[k] for k in keep]),
            np.stack([y[k] for k in keep]),
            weights_seed,
            lr,
            settings.steps,
            monitor=(
                np.stack([x[h] for h in folds]),
                np.stack([y[h] for h in folds]),
                settings.check_every,
            ),
        )
        scores = np.nan_to_num(curves.mean(axis=0), nan=np.inf).tolist()
        return float((int(np.argmin(scores)) + 1) * settings.check_every), scores
    grid = settings.l2_strengths if method == "l2" else settings.l1_strengths
    strengths = np.repeat(np.asarray(grid, dtype=np.float64), len(folds))
    members = [index for _ in grid for index in range(len(folds))]
    params, _ = train_ensemble(
        settings,
        np.stack([x[keep[m]] for m in members]),
        np.stack([y[keep[m]] for m in members]),
        weights_seed,
        lr,
        settings.steps,
        l2=strengths if method == "l2" else None,
        l1=strengths if method == "l1" else None,
    )
    errors = _mse(
        params, np.stack([x[folds[m]] for m in members]), np.stack([y[folds[m]] for m in members])
    )
    scores = errors.reshape(len(grid), len(folds)).mean(axis=1).tolist()
    return float(grid[int(np.argmin(scores))]), scores


def run_regularization(
    settings: RegularizationSettings, seed: int, run: int, phase: int, lr: float, method: str
) -> dict[str, Any]:
    """Choose ``method``'s strength by CV on this run's training set, refit, and measure."""
    data_rng = run_rng(seed, run, DATA_STREAM, phase)
    noise_rng = run_rng(seed, run, NOISE_STREAM, phase)
    weights_seed = [seed, run, WEIGHT_STREAM, phase]
    n = settings.train_points
    x = data_rng.random((n, 1))
    y = _targets(x) + settings.noise * noise_rng.standard_normal((n, 2))
    x_test = data_rng.random((settings.test_samples, 1))
    noise = noise_rng.standard_normal((settings.test_samples, 2))
    y_test = _targets(x_test) + settings.noise * noise
    grid = np.linspace(0.0, 1.0, settings.test_points)[:, None]
    chosen, steps = 0.0, settings.steps
    if method != "none":
        chosen, _ = cross_validate(settings, x, y, weights_seed, lr, method)
    if method == "early":
        steps = int(chosen)
    strength = np.array([chosen])
    params, _ = train_ensemble(
        settings,
        x[None],
        y[None],
        weights_seed,
        lr,
        steps,
        l2=strength if method == "l2" else None,
        l1=strength if method == "l1" else None,
    )
    single = [p[0] for p in params]
    train_mse = float(_mse(params, x[None], y[None])[0])
    record: dict[str, Any] = {
        "chosen": chosen,
        "diverged": not np.isfinite(train_mse),
        "train_mse": train_mse,
        "test_mse": float(_mse(params, x_test[None], y_test[None])[0]),
        "true_mse": float(_mse(params, grid[None], _targets(grid)[None])[0]),
        "l1_norm": float(sum(np.abs(w).sum() for w in single[0::2])),
        "zero_weights": int(sum((w == 0).sum() for w in single[0::2])),
    }
    if run == 0 and phase == 0:
        record["fit"] = _forward(params, grid[None])[0].ravel().tolist()
        record["train_xy"] = np.concatenate([x, y], axis=1).ravel().tolist()
    return record


def _check(settings: RegularizationSettings) -> None:
    if settings.train_points % settings.folds:
        raise ValueError(
            f"setting train_points ({settings.train_points}) must be a multiple of folds "
            f"({settings.folds}), so that every fold has as many points"
        )
    if settings.check_every > settings.steps:
        raise ValueError(
            f"setting check_every ({settings.check_every}) must not exceed steps ({settings.steps})"
        )


def arms(settings: RegularizationSettings) -> list[Arm]:
    return [Arm(label, {"method": method}, settings.lrs) for method, label in METHODS.items()]


def comparisons(settings: RegularizationSettings) -> list[tuple[str, str]]:
    return [(METHODS[m], METHODS["none"]) for m in ("l2", "l1", "early")]


def conclude(
    settings: RegularizationSettings, stats: dict[str, Any], records: list[dict[str, Any]]
) -> list[str]:
    groups = by_arm(records)
    total = sum(a * b for a, b in zip(settings.shape[:-1], settings.shape[1:], strict=True))
    lines = [
        "Tuned learning rates: "
        + "; ".join(f"{label} {stats['arms'][label]['lr']:g}" for label in METHODS.values())
        + "."
    ]
    for method, grid in (("l2", settings.l2_strengths), ("l1", settings.l1_strengths)):
        chosen = [r["chosen"] for r in groups.get(METHODS[method], [])]
        if chosen:
            counts = ", ".join(f"{s:g} in {chosen.count(s)}" for s in grid if chosen.count(s))
            lines.append(
                f"Strengths cross-validation chose for {METHODS[method]}: {counts} of "
                f"{len(chosen)} runs."
            )
    for label in (METHODS["none"], METHODS["l1"]):
        zeros = [r["zero_weights"] for r in groups.get(label, [])]
        if zeros:
            lines.append(
                f"Weights exactly 0 after training, {label}: mean {number(float(np.mean(zeros)))} "
                f"of {total} (min {min(zeros)}, max {max(zeros)}; runs with any: "
                f"{sum(z > 0 for z in zeros)} of {len(zeros)})."
            )
    early = [r["chosen"] for r in groups.get(METHODS["early"], [])]
    if early:
        lines.append(
            f"Early stopping: cross-validation chose a median of {number(float(np.median(early)))} "
            f"steps (range {min(early):g} to {max(early):g}) of the {settings.steps} the "
            "others train."
        )
    noise = stats["arms"][METHODS["none"]]["columns"]
    lines.append(
        f"Without a penalty: train MSE {number(noise['train_mse']['mean'])}, test MSE "
        f"{number(noise['test_mse']['mean'])} on fresh samples, whose noise alone gives "
        f"{number(settings.noise**2)}."
    )
    return lines


def plot(result: ExperimentResult, folder: Path) -> list[Path]:
    """True-function MSE per arm and the fits of run 0."""
    stats = result.stats["arms"]
    names = list(stats)
    cells = [stats[n]["columns"]["true_mse"] for n in names]
    figure, (left, right) = new_figure(11.0, 3.8, ncols=2)
    interval_bars(
        left,
        names,
        [c["mean"] for c in cells],
        [c["low"] or c["mean"] for c in cells],
        [c["high"] or c["mean"] for c in cells],
    )
    left.set_xscale("log")
    left.set_xlabel("MSE against the true sin, cos (geometric mean, 95% CI)")
    left.set_title(f"{result.runs} runs, each arm at its tuned lr", fontsize=10)
    grid = np.linspace(0.0, 1.0, result.settings.test_points)
    fits = {r["arm"]: r for r in result.records if r["run"] == 0 and "fit" in r}
    for index, (arm, record) in enumerate(fits.items()):
        if index == 0:
            points = np.array(record["train_xy"]).reshape(-1, 3)
            right.scatter(
                points[:, 0], points[:, 1], color="black", s=16, label="training points (sin)"
            )
            right.plot(grid, np.sin(grid), color="grey", linestyle="--", label="sin")
        right.plot(
            grid, np.array(record["fit"]).reshape(-1, 2)[:, 0], color=COLOURS[index], label=arm
        )
    right.set_xlabel("x")
    right.set_title("Fits of sin in run 0", fontsize=10)
    right.legend(fontsize=7)
    return [save_png(figure, folder / "regularization_fits.png")]


STUDY = Study(
    name="regularization",
    title="Regularization: L2, L1 and early stopping on a reduced data set",
    question="Reduce the size of dataset and add L1 and L2 regularization to the cost function.",
    method=(
        "The article's network (1-16-2, relu hidden units, linear output) trained by full-batch "
        "SGD on a few noisy points (targets sin x, cos x plus Gaussian noise), with no penalty, "
        "L2 (l2 sum(w²) added to sum(e²)/2B), L1 by proximal SGD, or early stopping; each "
        "strength or step count chosen by k-fold cross-validation on the training points, "
        "each arm's learning rate tuned on selection runs. Judged against the true functions "
        "and on fresh noisy test samples."
    ),
    settings_type=RegularizationSettings,
    default_runs=24,
    arms=arms,
    run=run_regularization,
    metric=Metric("true_mse", "MSE against the true functions"),
    comparisons=comparisons,
    columns=(
        Column("true_mse", "MSE vs true sin, cos", "geomean"),
        Column("test_mse", "test MSE (fresh noisy samples)"),
        Column("train_mse", "train MSE"),
        Column("zero_weights", "weights exactly 0"),
        Column("l1_norm", "sum of abs(w)"),
        Column("chosen", "chosen strength or steps", "median"),
    ),
    conclude=conclude,
    plot=plot,
    check=_check,
)
