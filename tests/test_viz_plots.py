"""Plots (fit, cost, training report) and the TrainingHistory recorder."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tinygrad_nn import Tensor
from tinygrad_nn.data import sincos, sincos_grid
from tinygrad_nn.losses import squared_error
from tinygrad_nn.nn import MLP
from tinygrad_nn.viz import TrainingHistory, keep_graphs

matplotlib = pytest.importorskip("matplotlib")
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.image import imread  # noqa: E402

from tinygrad_nn.viz import plots  # noqa: E402


def assert_real_png(path: Path, min_width: int = 300) -> None:
    pixels = imread(path)
    assert pixels.ndim == 3 and pixels.shape[1] >= min_width and pixels.shape[0] >= 200
    assert pixels[..., :3].std() > 0.02, "the image is blank"


def train(steps: int = 12, seed: int = 0, record_with_x: bool = True) -> TrainingHistory:
    """A few SGD steps on the article's task, recording as the demo does."""
    model = MLP([1, 16, 2], rng=seed)
    x, y = sincos(n_batches=steps, batch_size=16, rng=seed)
    history = TrainingHistory()
    for step in range(steps):
        loss = squared_error(model(Tensor(x[step])), Tensor(y[step]))
        model.zero_grad()
        loss.backward()
        history.record(model, loss, x[step] if record_with_x else None)
        for p in model.parameters():
            p.data -= 0.05 * p.grad
    return history


# --------------------------------------------------------------------------- history


def test_history_records_cost_gradient_norms_and_dead_fractions() -> None:
    history = train(steps=5)
    assert len(history) == 5 and history.steps == [0, 1, 2, 3, 4]
    assert list(history.grad_norms) == ["layers.0", "layers.1"]
    assert all(len(v) == 5 for v in history.grad_norms.values())
    assert all(n > 0 for n in history.grad_norms["layers.0"])
    for fractions in history.dead_fractions.values():
        assert all(0.0 <= f <= 1.0 for f in fractions)
    assert history.costs[0] > 0
    assert set(history.as_dict()) == {"steps", "costs", "grad_norms", "dead_fractions"}


def test_dead_fractions_agree_between_the_graph_and_an_extra_forward() -> None:
    model = MLP([1, 16, 2], rng=4)
    x = np.linspace(0, 1, 12)[:, None]
    loss = squared_error(model(Tensor(x)), Tensor(np.zeros((12, 2))))
    from_graph, from_forward, unknown = TrainingHistory(), TrainingHistory(), TrainingHistory()
    from_graph.record(model, loss)  # graph still whole: read from it, free
    loss.backward()
    from_forward.record(model, loss, x)  # graph freed: one extra forward on x
    unknown.record(model, loss)
    h = model.layers[0](Tensor(x)).data
    expected = float(np.mean(~(np.maximum(h, 0) != 0).any(axis=0)))
    assert from_graph.dead_fractions["layers.0"] == [pytest.approx(expected)]
    assert from_forward.dead_fractions == from_graph.dead_fractions
    assert math.isnan(unknown.dead_fractions["layers.0"][0])
    assert math.isnan(from_graph.grad_norms["layers.0"][0])  # before backward: no grad
    assert from_forward.grad_norms["layers.0"][0] == pytest.approx(
        np.linalg.norm(model.layers[0].weight.grad)
    )


def test_history_inside_keep_graphs_reads_the_kept_graph() -> None:
    model = MLP([1, 8, 2], rng=2)
    history = TrainingHistory()
    x = np.linspace(0, 1, 10)[:, None]
    with keep_graphs():
        loss = squared_error(model(Tensor(x)), Tensor(np.ones((10, 2))))
        loss.backward()
    history.record(model, loss, cost=123.0, step=7)
    assert history.steps == [7] and history.costs == [123.0]
    assert not math.isnan(history.dead_fractions["layers.1"][0])


# --------------------------------------------------------------------------- plots


def test_plot_fit_draws_true_and_estimated_per_output(tmp_path: Path) -> None:
    x, y = sincos_grid(30)
    estimate = y + 0.05
    fig = plots.plot_fit(x, y, Tensor(estimate), labels=("sin", "cos"), title="fit")
    assert isinstance(fig, Figure)
    axes = fig.get_axes()
    assert len(axes) == 2
    assert axes[0].get_title().startswith("sin") and "RMS error 0.05" in axes[0].get_title()
    assert [line.get_label() for line in axes[1].get_lines()] == ["true", "estimated"]
    assert_real_png(plots.save_figure(fig, tmp_path / "fit.png"))
    with pytest.raises(ValueError, match="labels"):
        plots.plot_fit(x, y, estimate, labels=("sin",))
    with pytest.raises(ValueError, match="rows"):
        plots.plot_fit(x, y[:5], estimate[:5])


def test_plot_cost_linear_and_log(tmp_path: Path) -> None:
    costs = 10.0 * np.exp(-np.linspace(0, 5, 200))
    linear = plots.plot_cost(costs)
    assert linear.get_axes()[0].get_yscale() == "linear"
    logged = plots.plot_cost(costs, log=True, smooth=10)
    ax = logged.get_axes()[0]
    assert ax.get_yscale() == "log" and len(ax.get_lines()) == 2
    assert_real_png(plots.save_figure(logged, tmp_path / "cost.png"))


def test_plot_training_reports_cost_gradients_and_dead_units(tmp_path: Path) -> None:
    history = train(steps=12)
    fig = plots.plot_training(history)
    cost_ax, grad_ax, dead_ax = fig.get_axes()
    assert cost_ax.get_yscale() == "log"
    assert [line.get_label() for line in grad_ax.get_lines()] == ["layers.0", "layers.1"]
    assert len(dead_ax.get_lines()) == 2
    np.testing.assert_allclose(
        dead_ax.get_lines()[0].get_ydata(), 100 * np.array(history.dead_fractions["layers.0"])
    )
    assert_real_png(plots.save_figure(fig, tmp_path / "training.png"))
    # A plain dict (e.g. loaded from JSON) works too.
    assert len(plots.plot_training(history.as_dict(), log=False).get_axes()) == 3


def test_plots_never_touch_pyplot() -> None:
    code = (
        "import sys, numpy as np\n"
        "from tinygrad_nn.viz import plots\n"
        "plots.plot_cost(np.arange(1.0, 5.0), log=True)\n"
        "plots.plot_fit(np.arange(4.0), np.ones(4), np.zeros(4))\n"
        "plots.plot_training({'costs': [3.0, 2.0], 'grad_norms': {'a': [1.0, 0.5]},\n"
        "                     'dead_fractions': {'a': [0.0, 0.5]}})\n"
        "assert 'matplotlib.pyplot' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
