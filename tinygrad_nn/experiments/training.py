"""Training and measuring the article's network with tinygrad_nn itself.

`build_mlp` draws the weights exactly as the article (and `tnn.reference.HandwrittenMLP`)
does: one ``(out, in + 1)`` array per layer from normal(init_mean, init_std), bias in
column 0, so a seed gives the article's network. `train` runs plain SGD on the scalar the
article's update follows::

    loss = squared_error(out, y) / (2 B)   or   absolute_error(out, y) / B
           + l1 * l1_penalty(weights) + l2 * l2_penalty(weights)     (biases not penalised)

and records, per step and before the update, the article's reported batch cost
``sum((out - y)**2)`` together with ``sum(|out - y|)``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import expit

from tinygrad_nn import losses, no_grad
from tinygrad_nn.data import sincos, sincos_grid
from tinygrad_nn.experiments.runner import DATA_STREAM, WEIGHT_STREAM, run_rng
from tinygrad_nn.nn import MLP
from tinygrad_nn.optim import SGD
from tinygrad_nn.tensor import Tensor

__all__ = [
    "COSTS",
    "ArticleSettings",
    "TrainResult",
    "article_run",
    "build_mlp",
    "dead_units",
    "error_metrics",
    "train",
    "weight_norms",
]

COSTS = ("squared", "absolute")


def build_mlp(
    shape: Sequence[int],
    activation: str,
    output_activation: str | None,
    rng: np.random.Generator,
    init_mean: float = 0.0,
    init_std: float = 0.1,
) -> MLP:
    """The article's network with weights and biases from normal(init_mean, init_std).

    The draws are those of ``HandwrittenMLP(shape, rng=rng, init_mean=init_mean)``: layer by
    layer, one ``(out, in + 1)`` array whose column 0 becomes the bias.
    """
    model = MLP(list(shape), activation=activation, output_activation=output_activation, rng=0)
    for layer in model.layers:
        n_out, n_in = layer.weight.shape
        drawn = rng.normal(init_mean, init_std, size=(n_out, n_in + 1))
        layer.weight.data[...] = drawn[:, 1:]
        layer.bias.data[...] = drawn[:, 0]
    return model


@dataclass
class TrainResult:
    """Per-step batch costs (before each update) of one training run."""

    squared: np.ndarray  # sum((out - y)**2) of each batch: the article's cost
    absolute: np.ndarray  # sum(|out - y|) of each batch


def train(
    model: MLP,
    x_batches: np.ndarray,
    y_batches: np.ndarray,
    steps: int,
    lr: float,
    cost: str = "squared",
    l1: float = 0.0,
    l2: float = 0.0,
) -> TrainResult:
    """Plain SGD for ``steps`` steps, cycling through the batches in order.

    Args:
        model: the network (its parameters are updated in place).
        x_batches: inputs of shape (n_batches, batch, in).
        y_batches: targets of shape (n_batches, batch, out).
        steps: number of updates; batch ``step % n_batches`` feeds step ``step``.
        lr: learning rate.
        cost: ``"squared"`` (loss sum(e**2) / 2B, the article's) or ``"absolute"``
            (sum(|e|) / B).
        l1: strength of the L1 penalty sum(|w|) over the weight matrices.
        l2: strength of the L2 penalty sum(w**2) over the weight matrices.
    """
    if cost not in COSTS:
        raise ValueError(f"train: cost must be one of {COSTS}, got {cost!r}")
    optimizer = SGD(model.parameters(), lr=lr)
    weights = [layer.weight for layer in model.layers]
    batch = x_batches.shape[1]
    scale = 1.0 / (2 * batch) if cost == "squared" else 1.0 / batch
    inputs = [Tensor(x) for x in x_batches]
    targets = [Tensor(y) for y in y_batches]
    squared = np.empty(steps)
    absolute = np.empty(steps)
    for step in range(steps):
        index = step % len(inputs)
        out = model(inputs[index])
        error = out.data - y_batches[index]
        squared[step] = np.dot(error.ravel(), error.ravel())
        absolute[step] = np.abs(error).sum()
        if cost == "squared":
            loss = losses.squared_error(out, targets[index]) * scale
        else:
            loss = losses.absolute_error(out, targets[index]) * scale
        if l1:
            loss = loss + l1 * losses.l1_penalty(weights)
        if l2:
            loss = loss + l2 * losses.l2_penalty(weights)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return TrainResult(squared, absolute)


def error_metrics(model: MLP, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Mean squared and mean absolute error of the model on ``(x, y)`` (over all entries)."""
    with no_grad():
        error = model(Tensor(x)).data - y
    return {"mse": float(np.mean(error**2)), "mae": float(np.mean(np.abs(error)))}


def dead_units(model: MLP, probe: np.ndarray) -> dict[str, list[bool]]:
    """Which relu units output 0 for every probe input (so pass back no gradient).

    A relu unit is dead on the probe set when its pre-activation is <= 0 at every probe
    point. For the hidden layer of the article's net the pre-activation is linear in x, so
    a probe grid on [0, 1] decides it for every training input in [0, 1). Non-relu layers
    have no dead units (all False).

    Returns:
        ``{"hidden": [...], "output": [...]}``: one flag per unit, hidden layers
        concatenated.
    """
    activations = probe
    hidden: list[bool] = []
    output: list[bool] = []
    last = len(model.layers) - 1
    for index, layer in enumerate(model.layers):
        z = activations @ layer.weight.data.T + layer.bias.data
        name = model.output_activation if index == last else model.activation
        flags = (z.max(axis=0) <= 0) if name == "relu" else np.zeros(z.shape[1], dtype=bool)
        (output if index == last else hidden).extend(bool(flag) for flag in flags)
        if name == "relu":
            activations = np.maximum(z, 0)
        elif name == "sigmoid":
            activations = expit(z)
        elif name == "tanh":
            activations = np.tanh(z)
        else:
            activations = z
    return {"hidden": hidden, "output": output}


def weight_norms(model: MLP) -> dict[str, float]:
    """sum(|w|) and sqrt(sum(w**2)) over the weight matrices (biases excluded)."""
    weights = [layer.weight.data for layer in model.layers]
    return {
        "l1_norm": float(sum(np.abs(w).sum() for w in weights)),
        "l2_norm": float(np.sqrt(sum((w**2).sum() for w in weights))),
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
    lr: float = 1.0
    init_std: float = 0.1
    final_window: int = 10
    failure_threshold: float = 1.0
    test_points: int = 101
    probe_points: int = 101


def _count(before: list[bool], after: list[bool], revived: bool) -> int:
    """Units dead before and alive after (``revived``), or alive before and dead after."""
    return sum(b != a and b == revived for b, a in zip(before, after, strict=True))


def article_run(
    settings: ArticleSettings,
    seed: int,
    run: int,
    activation: str = "relu",
    output_activation: str | None = "relu",
    init_mean: float = 0.0,
    cost: str = "squared",
    lr: float | None = None,
    keep_absolute: bool = False,
) -> dict[str, Any]:
    """Train one network on the article's task and measure it; returns a plain-data record.

    Run ``run`` draws its batches from stream ``(seed, run, DATA_STREAM)`` and its weights
    from ``(seed, run, WEIGHT_STREAM)``, whatever the other arguments, so two arms with the
    same run index see the same data and the same weight noise.

    Returns:
        ``run``, ``seed``, ``costs`` (per-step batch cost sum(e**2)), optionally
        ``absolute_costs`` (sum(|e|)), ``final_cost``, ``failed`` (final cost above
        ``settings.failure_threshold``), ``test_mse``/``test_mae`` on ``test_points``
        evenly spaced x in [0, 1], dead relu counts before and after training
        (``dead_hidden_init``/``_end`` as fractions of hidden units, ``dead_outputs_init``/
        ``_end`` as counts, ``revived_hidden``/``revived_outputs``: dead at init and alive at
        the end, ``died_hidden``: alive at init and dead at the end), ``seconds``.
    """
    x, y = sincos(settings.steps, settings.batch_size, rng=run_rng(seed, run, DATA_STREAM))
    model = build_mlp(
        settings.shape,
        activation,
        output_activation,
        run_rng(seed, run, WEIGHT_STREAM),
        init_mean=init_mean,
        init_std=settings.init_std,
    )
    probe = np.linspace(0.0, 1.0, settings.probe_points)[:, None]
    dead_before = dead_units(model, probe)
    start = time.perf_counter()
    history = train(model, x, y, settings.steps, settings.lr if lr is None else lr, cost=cost)
    seconds = time.perf_counter() - start
    dead_after = dead_units(model, probe)
    final_cost = float(np.mean(history.squared[-settings.final_window :]))
    test = error_metrics(model, *sincos_grid(settings.test_points))
    hidden_count = max(1, len(dead_before["hidden"]))
    record: dict[str, Any] = {
        "run": run,
        "seed": [seed, run],
        "costs": history.squared.tolist(),
        "final_cost": final_cost,
        "failed": bool(final_cost > settings.failure_threshold),
        "test_mse": test["mse"],
        "test_mae": test["mae"],
        "dead_hidden_init": sum(dead_before["hidden"]) / hidden_count,
        "dead_hidden_end": sum(dead_after["hidden"]) / hidden_count,
        "dead_outputs_init": sum(dead_before["output"]),
        "dead_outputs_end": sum(dead_after["output"]),
        "revived_hidden": _count(dead_before["hidden"], dead_after["hidden"], True),
        "died_hidden": _count(dead_before["hidden"], dead_after["hidden"], False),
        "revived_outputs": _count(dead_before["output"], dead_after["output"], True),
        "seconds": seconds,
    }
    if keep_absolute:
        record["absolute_costs"] = history.absolute.tolist()
    return record
