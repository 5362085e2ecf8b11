"""Plots of a fit, a cost curve and a training run, as matplotlib Figures.

Every function returns a ``matplotlib.figure.Figure`` built without pyplot, so nothing
opens a window or blocks, in scripts, tests and servers alike: save it with
`save_figure` (atomic) or ``fig.savefig(path)``, or display it in a notebook.
matplotlib is imported when a function is called, not with this module.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tinygrad_nn._files import atomic_path

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from tinygrad_nn.viz.history import TrainingHistory

__all__ = ["plot_cost", "plot_fit", "plot_training", "save_figure"]

TRUE_COLOUR = "#1f77b4"
ESTIMATE_COLOUR = "#ff7f0e"


def _figure(figsize: tuple[float, float]) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, layout="constrained")


def _as_columns(name: str, values: Any, rows: int | None = None) -> np.ndarray:
    array = np.asarray(getattr(values, "data", values), dtype=np.float64)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise ValueError(f"plot_fit: {name} must be 1-D or 2-D (rows, outputs), got {array.shape}")
    if rows is not None and array.shape[0] != rows:
        raise ValueError(f"plot_fit: {name} has {array.shape[0]} rows but x has {rows}")
    return array


def plot_fit(
    x: Any,
    y_true: Any,
    y_pred: Any,
    labels: Sequence[str] | None = None,
    title: str | None = None,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """True against estimated values, one panel per output (the article's sin and cos plots).

    Args:
        x: inputs, shape (n,) or (n, 1); the horizontal axis.
        y_true: targets, shape (n,) or (n, outputs).
        y_pred: the model's estimates, same shape as ``y_true`` (Tensor or array).
        labels: a name per output, e.g. ``("sin", "cos")``.
        title: a title for the figure.
        figsize: size in inches (default: 4.5 wide per panel, 3.6 high).

    Returns:
        A Figure.

    Example:
        >>> x, y = tnn.data.sincos_grid(30)
        >>> fig = plot_fit(x, y, model(Tensor(x)), labels=("sin", "cos"))
        >>> fig.savefig("fit.png")
    """
    x_values = np.asarray(getattr(x, "data", x), dtype=np.float64).reshape(len(x), -1)[:, 0]
    truth = _as_columns("y_true", y_true, len(x_values))
    estimate = _as_columns("y_pred", y_pred, len(x_values))
    if truth.shape != estimate.shape:
        raise ValueError(
            f"plot_fit: y_true {truth.shape} and y_pred {estimate.shape} must have one shape"
        )
    outputs = truth.shape[1]
    names = list(labels) if labels is not None else [f"output {i}" for i in range(outputs)]
    if len(names) != outputs:
        raise ValueError(f"plot_fit: {len(names)} labels for {outputs} outputs")
    fig = _figure(figsize or (4.5 * outputs, 3.6))
    axes = fig.subplots(1, outputs, squeeze=False)[0]
    order = np.argsort(x_values)
    for i, ax in enumerate(axes):
        ax.plot(x_values[order], truth[order, i], color=TRUE_COLOUR, lw=2.5, label="true")
        ax.plot(
            x_values[order], estimate[order, i], color=ESTIMATE_COLOUR, lw=2, ls="--",
            label="estimated",
        )  # fmt: skip
        error = float(np.sqrt(np.mean((estimate[:, i] - truth[:, i]) ** 2)))
        ax.set_title(f"{names[i]}  (RMS error {error:.3g})")
        ax.set_xlabel("x")
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize="small")
    if title:
        fig.suptitle(title)
    return fig


def plot_cost(
    costs: Sequence[float] | np.ndarray,
    log: bool = False,
    title: str | None = "cost per step",
    smooth: int | None = None,
    figsize: tuple[float, float] = (6.0, 3.6),
) -> Figure:
    """The cost of every training step (the article's third plot).

    Args:
        costs: one cost per step.
        log: use a logarithmic vertical axis (costs often fall by orders of magnitude).
        title: the axes' title.
        smooth: also draw a moving average over this many steps.
        figsize: size in inches.

    Returns:
        A Figure.

    Example:
        >>> fig = plot_cost(history.costs, log=True)
    """
    values = np.asarray(costs, dtype=np.float64).reshape(-1)
    fig = _figure(figsize)
    ax = fig.subplots()
    _draw_cost(ax, values, log, smooth)
    if title:
        ax.set_title(title)
    return fig


def _draw_cost(ax: Any, values: np.ndarray, log: bool, smooth: int | None) -> None:
    steps = np.arange(len(values))
    ax.plot(steps, values, color=TRUE_COLOUR, lw=1.2, label="cost")
    if smooth is not None and smooth > 1 and len(values) >= smooth:
        kernel = np.ones(smooth) / smooth
        ax.plot(
            steps[smooth - 1 :], np.convolve(values, kernel, mode="valid"),
            color=ESTIMATE_COLOUR, lw=2, label=f"mean of {smooth}",
        )  # fmt: skip
        ax.legend(fontsize="small")
    if log and np.any(values > 0):
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("cost")
    ax.grid(alpha=0.3)


def plot_training(
    history: TrainingHistory | Mapping[str, Any],
    title: str | None = "training report",
    log: bool = True,
    figsize: tuple[float, float] = (7.0, 8.5),
) -> Figure:
    """One page about a training run: cost, per-layer gradient norms, dead ReLU units.

    Args:
        history: a `TrainingHistory` (or its ``as_dict()``): ``steps``, ``costs``,
            ``grad_norms`` and ``dead_fractions`` by layer name.
        title: the figure's title.
        log: logarithmic axes for the cost and the gradient norms.
        figsize: size in inches.

    Returns:
        A Figure with three panels. A layer whose dead fraction climbs to 1 has stopped
        learning; gradient norms falling to 0 for a layer say the same from the other side.

    Example:
        >>> fig = plot_training(history)
        >>> save_figure(fig, "training.png")
    """
    data = history.as_dict() if hasattr(history, "as_dict") else dict(history)
    steps = np.asarray(data.get("steps") or range(len(data["costs"])), dtype=np.float64)
    fig = _figure(figsize)
    cost_ax, grad_ax, dead_ax = fig.subplots(3, 1, sharex=True)
    costs = np.asarray(data["costs"], dtype=np.float64)
    cost_ax.plot(steps, costs, color=TRUE_COLOUR, lw=1.2)
    if log and np.any(costs > 0):
        cost_ax.set_yscale("log")
    cost_ax.set_ylabel("cost")
    cost_ax.set_title("cost per step")

    positive = False
    for name, norms in data.get("grad_norms", {}).items():
        values = np.asarray(norms, dtype=np.float64)
        grad_ax.plot(steps[: len(values)], values, lw=1.2, label=name)
        positive = positive or bool(np.any(values > 0))
    if log and positive:
        grad_ax.set_yscale("log")
    grad_ax.set_ylabel("‖weight grad‖")
    grad_ax.set_title("gradient norm per layer")

    for name, fractions in data.get("dead_fractions", {}).items():
        values = np.asarray(fractions, dtype=np.float64)
        if not np.all(np.isnan(values)):
            dead_ax.plot(steps[: len(values)], 100 * values, lw=1.2, label=name)
    dead_ax.set_ylim(-3, 103)
    dead_ax.set_ylabel("dead units (%)")
    dead_ax.set_xlabel("step")
    dead_ax.set_title("ReLU units dead on the batch, per layer")
    for ax in (cost_ax, grad_ax, dead_ax):
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="small", loc="best")
    if title:
        fig.suptitle(title)
    return fig


def save_figure(fig: Figure, path: str | os.PathLike[str], dpi: float = 100) -> Path:
    """Save a Figure atomically (a reader never sees half a file); returns the path.

    The format follows the suffix (.png, .svg, .pdf ...).
    """
    target = Path(path)
    fmt = target.suffix.lstrip(".").lower() or "png"
    with atomic_path(target) as temporary:
        fig.savefig(temporary, format=fmt, dpi=dpi)
    return target
