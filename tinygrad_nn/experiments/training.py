"""Training and measuring the article's network with tinygrad_nn itself.

`build_net` draws the weights exactly as the article (and `tnn.reference.HandwrittenMLP`)
does: one ``(out, in + 1)`` array per layer from normal(init_mean, init_std), bias in
column 0, so a seed gives the article's network; the studies' variants (He-scaled weights,
a constant positive bias) rescale or overwrite those same draws, so arms stay paired.
`train` runs plain SGD, ``w <- w - lr_t * grad``, on the scalar the article's update
follows::

    loss = squared_error(out, y) / (2 B)  |  absolute_error(out, y) / B  |  huber(out - y) / B
           + l1 * l1_penalty(weights) + l2 * l2_penalty(weights)       (biases not penalised)

optionally followed by the proximal step of an L1 penalty (soft-thresholding), and records,
per step and before the update, the article's batch cost ``sum((out - y)**2)`` and
``sum(|out - y|)``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tinygrad_nn import losses, no_grad
from tinygrad_nn.functional import where
from tinygrad_nn.nn import Linear, Module
from tinygrad_nn.tensor import Tensor

__all__ = [
    "COSTS",
    "SCHEDULES",
    "StudyNet",
    "TrainResult",
    "build_net",
    "dead_units",
    "error_metrics",
    "huber",
    "train",
    "weight_norms",
]

COSTS = ("squared", "absolute", "huber")
SCHEDULES = ("constant", "linear")
ACTIVATIONS = ("relu", "sigmoid", "tanh", "leaky_relu")
LEAKY_SLOPE = 0.01


def _activate(name: str | None, x: Tensor) -> Tensor:
    if name is None:
        return x
    if name == "relu":
        return x.relu()
    if name == "sigmoid":
        return x.sigmoid()
    if name == "tanh":
        return x.tanh()
    return where(x > 0, x, LEAKY_SLOPE * x)  # leaky relu


class StudyNet(Module):
    """The article's fully connected network with any of the studies' activations.

    Like `tnn.nn.MLP` (``layers`` is the list of `Linear` layers), plus ``"leaky_relu"``
    (slope 0.01 below 0), written from `tnn.where`.

    Example:
        >>> net = StudyNet([1, 16, 2], "leaky_relu", None)
        >>> net(Tensor(np.zeros((4, 1)))).shape
        (4, 2)
    """

    def __init__(
        self, shape: Sequence[int], activation: str = "relu", output_activation: str | None = "relu"
    ) -> None:
        super().__init__()
        for argument, name in (
            ("activation", activation),
            ("output_activation", output_activation),
        ):
            if name is not None and name not in ACTIVATIONS:
                raise ValueError(
                    f"StudyNet: {argument} must be one of {ACTIVATIONS} or None, got {name!r}"
                )
        self.activation = activation
        self.output_activation = output_activation
        self.layers = [Linear(i, o, rng=0) for i, o in itertools.pairwise(shape)]

    def forward(self, x: Tensor) -> Tensor:
        last = len(self.layers) - 1
        for index, layer in enumerate(self.layers):
            x = _activate(self.output_activation if index == last else self.activation, layer(x))
        return x


def build_net(
    shape: Sequence[int],
    activation: str,
    output_activation: str | None,
    rng: np.random.Generator,
    init_mean: float = 0.0,
    init_std: float = 0.1,
    he_weights: bool = False,
    bias_value: float | None = None,
) -> StudyNet:
    """The article's network with weights and biases from normal(init_mean, init_std).

    The draws are those of ``HandwrittenMLP(shape, rng=rng, init_mean=init_mean)``: layer by
    layer, one ``(out, in + 1)`` array whose column 0 becomes the bias. ``he_weights``
    rescales the weights' noise to He's std sqrt(2 / fan_in) (mean kept); ``bias_value``
    replaces every bias by that constant.
    """
    model = StudyNet(shape, activation, output_activation)
    for layer in model.layers:
        n_out, n_in = layer.weight.shape
        noise = rng.standard_normal((n_out, n_in + 1))
        weight_std = math.sqrt(2.0 / n_in) if he_weights else init_std
        layer.weight.data[...] = init_mean + weight_std * noise[:, 1:]
        layer.bias.data[...] = init_mean + init_std * noise[:, 0]
        if bias_value is not None:
            layer.bias.data[...] = bias_value
    return model


def huber(error: Tensor, delta: float) -> Tensor:
    """Elementwise Huber cost of ``error``: e²/2 where |e| <= delta, else delta (|e| - delta/2).

    f(e) = e²/2 or delta (|e| - delta/2);  f'(e) = e or delta sign(e).
    """
    size = error.abs()
    return where(size.data <= delta, 0.5 * error.square(), delta * (size - 0.5 * delta))


@dataclass
class TrainResult:
    """Per-step batch costs (before each update) of one training run."""

    squared: np.ndarray  # sum((out - y)**2) of each batch: the article's cost
    absolute: np.ndarray  # sum(|out - y|) of each batch
    diverged: bool = False  # the cost became inf or NaN; training stopped there


def train(
    model: StudyNet,
    x_batches: np.ndarray,
    y_batches: np.ndarray,
    steps: int,
    lr: float,
    cost: str = "squared",
    *,
    delta: float = 1.0,
    l1: float = 0.0,
    l2: float = 0.0,
    l1_prox: float = 0.0,
    schedule: str = "constant",
) -> TrainResult:
    """Plain SGD for ``steps`` steps, cycling through the batches in order.

    Args:
        model: the network (its parameters are updated in place).
        x_batches: inputs of shape (n_batches, batch, in).
        y_batches: targets of shape (n_batches, batch, out).
        steps: number of updates; batch ``step % n_batches`` feeds step ``step``.
        lr: learning rate (the first one for a schedule).
        cost: ``"squared"`` (sum(e²) / 2B, the article's), ``"absolute"`` (sum(|e|) / B) or
            ``"huber"`` (sum(huber(e, delta)) / B).
        delta: the Huber cost's threshold.
        l1: strength of the L1 penalty sum(|w|) over the weight matrices (subgradient).
        l2: strength of the L2 penalty sum(w²) over the weight matrices.
        l1_prox: strength of an L1 penalty applied by its proximal step after each update:
            w <- sign(w) max(|w| - lr_t l1_prox, 0), which sets small weights exactly to 0.
        schedule: ``"constant"`` or ``"linear"`` (lr_t = lr (1 - t / steps), down to 0).
    """
    if cost not in COSTS:
        raise ValueError(f"train: cost must be one of {COSTS}, got {cost!r}")
    if schedule not in SCHEDULES:
        raise ValueError(f"train: schedule must be one of {SCHEDULES}, got {schedule!r}")
    inputs = [Tensor(x) for x in x_batches]
    targets = [Tensor(y) for y in y_batches]
    squared = np.full(steps, np.nan)
    absolute = np.full(steps, np.nan)
    result = TrainResult(squared, absolute)
    parameters = list(model.parameters())
    weights = [layer.weight for layer in model.layers]
    scale = 1.0 / (2 * x_batches.shape[1]) if cost == "squared" else 1.0 / x_batches.shape[1]
    with np.errstate(over="ignore", invalid="ignore"):  # a diverging run stops at its inf
        for step in range(steps):
            index = step % len(inputs)
            out = model(inputs[index])
            error = out.data - y_batches[index]
            squared[step] = np.dot(error.ravel(), error.ravel())
            absolute[step] = np.abs(error).sum()
            if not math.isfinite(squared[step]):
                result.diverged = True
                break
            if cost == "squared":
                loss = losses.squared_error(out, targets[index]) * scale
            elif cost == "absolute":
                loss = losses.absolute_error(out, targets[index]) * scale
            else:
                loss = huber(out - targets[index], delta).sum() * scale
            if l1:
                loss = loss + l1 * losses.l1_penalty(weights)
            if l2:
                loss = loss + l2 * losses.l2_penalty(weights)
            for parameter in parameters:
                parameter.grad = None
            loss.backward()
            rate = lr * (1.0 - step / steps) if schedule == "linear" else lr
            for parameter in parameters:
                parameter.data -= rate * parameter.grad
            if l1_prox:
                for weight in weights:
                    weight.data[...] = np.sign(weight.data) * np.maximum(
                        np.abs(weight.data) - rate * l1_prox, 0.0
                    )
    return result


def error_metrics(model: Module, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Mean squared and mean absolute error of the model on ``(x, y)`` (over all entries).

    A network whose outputs overflowed gets inf for both.
    """
    with no_grad(), np.errstate(all="ignore"):
        error = model(Tensor(x)).data - y
        mse, mae = float(np.mean(error**2)), float(np.mean(np.abs(error)))
    if not (math.isfinite(mse) and math.isfinite(mae)):
        return {"mse": math.inf, "mae": math.inf}
    return {"mse": mse, "mae": mae}


def dead_units(model: StudyNet, probe: np.ndarray) -> dict[str, list[bool]]:
    """Which relu units output 0 for every probe input (so pass back no gradient).

    A relu unit is dead on the probe set when its pre-activation is <= 0 at every probe
    point. For the hidden layer of the article's net the pre-activation is linear in x, so
    a probe grid on [0, 1] decides it for every training input in [0, 1). Units of other
    activations never die (all False): even leaky relu keeps a gradient below 0.

    Returns:
        ``{"hidden": [...], "output": [...]}``: one flag per unit, hidden layers
        concatenated.
    """
    activations = Tensor(probe)
    hidden: list[bool] = []
    output: list[bool] = []
    last = len(model.layers) - 1
    with no_grad():
        for index, layer in enumerate(model.layers):
            z = layer(activations)
            name = model.output_activation if index == last else model.activation
            dead = (z.data.max(axis=0) <= 0) if name == "relu" else np.zeros(z.shape[1], bool)
            (output if index == last else hidden).extend(bool(flag) for flag in dead)
            activations = _activate(name, z)
    return {"hidden": hidden, "output": output}


def weight_norms(model: StudyNet) -> dict[str, float]:
    """sum(|w|), sqrt(sum(w**2)) and the count of exact zeros over the weight matrices."""
    weights = [layer.weight.data for layer in model.layers]
    return {
        "l1_norm": float(sum(np.abs(w).sum() for w in weights)),
        "l2_norm": float(np.sqrt(sum((w**2).sum() for w in weights))),
        "zero_weights": int(sum((w == 0).sum() for w in weights)),
    }


@dataclass(frozen=True)
class ArticleSettings:
    """The article's setup: shared fields of the studies that train on fresh sin/cos batches.

    Every step sees a new batch of ``batch_size`` points x ~ U[0, 1) with targets
    (sin x, cos x), as in the article (300 batches of 32). The "final cost" is the
    article's batch cost sum((out - y)**2) averaged over the last ``final_window`` steps;
    each of those batches is new to the network, so it is an out-of-sample estimate.
    """

    shape: tuple[int, ...] = (1, 16, 2)
    batch_size: int = 32
    steps: int = 300
    init_std: float = 0.1
    final_window: int = 10
    failure_threshold: float = 1.0
    test_points: int = 101
    probe_points: int = 101


def steps_to_target(costs: Sequence[float], target: float, window: int) -> int | None:
    """First step at which the mean of the last ``window`` batch costs is below ``target``.

    Example:
        >>> steps_to_target([5.0, 3.0, 1.0, 0.5, 0.2], 1.0, 2)
        4
    """
    array = np.asarray(costs, dtype=np.float64)
    if array.size < window:
        return None
    running = np.convolve(np.nan_to_num(array, nan=np.inf), np.ones(window) / window, "valid")
    below = np.nonzero(running < target)[0]
    return int(below[0] + window) if below.size else None


def article_run(
    settings: ArticleSettings,
    seed: int,
    run: int,
    phase: int,
    lr: float,
    *,
    activation: str = "relu",
    output_activation: str | None = "relu",
    init_mean: float = 0.0,
    he_weights: bool = False,
    bias_value: float | None = None,
    cost: str = "squared",
    delta: float = 1.0,
    schedule: str = "constant",
    steps: int | None = None,
    outliers: float = 0.0,
    outlier_std: float = 3.0,
    target_cost: float | None = None,
) -> dict[str, Any]:
    """Train one network on the article's task and measure it; returns a plain-data record.

    Run ``run`` of ``phase`` draws its batches from stream ``(seed, run, DATA_STREAM)``, its
    weights from ``(seed, run, WEIGHT_STREAM)`` and target corruption from ``NOISE_STREAM``
    (see `run_rng`), whatever the other arguments, so two arms with the same run index see
    the same data and the same weight noise. With ``outliers`` > 0 that fraction of the
    training targets gets normal(0, outlier_std) noise added; test errors are always
    against the clean functions.

    Returns:
        ``costs`` (per-step batch cost sum(e**2)), ``final_cost``, ``failed`` (final cost
        above ``settings.failure_threshold``), ``diverged``, ``test_mse``/``test_mae`` on
        ``test_points`` evenly spaced x in [0, 1], dead relus before and after training
        (``dead_hidden_init``/``_end`` as fractions of hidden units, ``dead_outputs_init``/
        ``_end`` as counts, ``revived_hidden``), ``steps_to_target`` when a target is given.
    """
    from tinygrad_nn.data import sincos, sincos_grid
    from tinygrad_nn.experiments.runner import DATA_STREAM, NOISE_STREAM, WEIGHT_STREAM, run_rng

    steps = settings.steps if steps is None else steps
    x, y = sincos(steps, settings.batch_size, rng=run_rng(seed, run, DATA_STREAM, phase))
    if outliers:
        noise = run_rng(seed, run, NOISE_STREAM, phase)
        hit = noise.random(y.shape) < outliers
        y = y + hit * noise.normal(0.0, outlier_std, size=y.shape)
    model = build_net(
        settings.shape,
        activation,
        output_activation,
        run_rng(seed, run, WEIGHT_STREAM, phase),
        init_mean=init_mean,
        init_std=settings.init_std,
        he_weights=he_weights,
        bias_value=bias_value,
    )
    probe = np.linspace(0.0, 1.0, settings.probe_points)[:, None]
    dead_before = dead_units(model, probe)
    history = train(model, x, y, steps, lr, cost=cost, delta=delta, schedule=schedule)
    dead_after = dead_units(model, probe)
    with np.errstate(over="ignore"):
        final_cost = float(np.mean(history.squared[steps - settings.final_window :]))
    final_cost = final_cost if math.isfinite(final_cost) else math.inf
    test = error_metrics(model, *sincos_grid(settings.test_points))
    hidden_count = max(1, len(dead_before["hidden"]))
    revived = sum(
        b and not a for b, a in zip(dead_before["hidden"], dead_after["hidden"], strict=True)
    )
    record: dict[str, Any] = {
        "costs": history.squared.tolist(),
        "final_cost": final_cost,
        "failed": bool(not final_cost <= settings.failure_threshold),
        "diverged": history.diverged,
        "test_mse": test["mse"],
        "test_mae": test["mae"],
        "dead_hidden_init": sum(dead_before["hidden"]) / hidden_count,
        "dead_hidden_end": sum(dead_after["hidden"]) / hidden_count,
        "dead_outputs_init": sum(dead_before["output"]),
        "dead_outputs_end": sum(dead_after["output"]),
        "revived_hidden": revived,
    }
    if target_cost is not None:
        record["steps_to_target"] = steps_to_target(
            history.squared, target_cost, settings.final_window
        )
    return record
