"""Regenerate the pictures of docs/tutorial.md.

Run from anywhere: ``python docs/images/make_tutorial_images.py``. It writes into
``docs/images/tutorial/``, with the same seeds and code as the tutorial's blocks:

- neuron_graph.png: the graph of a one-unit model, after backward (section 2).
- mlp_graph.png: the article's network on a batch of 4 points, after backward (section 4).
- fit_before.png, fit.png: the network's sin/cos estimates before and after the
  article's 300 batches (section 6); cost.png: the cost of every batch.
- report.png: the demo's training report for its default seed (section 8);
  report_dead.png: the same for seed 0, where an output unit dies.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tinygrad_nn import Tensor
from tinygrad_nn.data import sincos, sincos_grid
from tinygrad_nn.demo import DemoConfig, train
from tinygrad_nn.losses import squared_error
from tinygrad_nn.nn import MLP
from tinygrad_nn.optim import SGD
from tinygrad_nn.viz import plots, save_graph

OUT = Path(__file__).resolve().parent / "tutorial"
SEED = 1  # the demo's default seed: a run that learns both curves
BATCH = 32


def neuron_graph() -> None:
    """Section 2: one relu unit, z = x @ w + b, and a squared error."""
    x = Tensor(np.array([[0.5], [-1.0], [2.0]]), name="x")
    y = Tensor(np.array([[1.0], [0.0], [3.0]]), name="y")
    w = Tensor(np.array([[0.8]]), requires_grad=True, name="w")
    b = Tensor(np.array([0.1]), requires_grad=True, name="b")
    loss = ((x @ w + b).relu() - y).square().sum()
    loss.name = "loss"
    loss.backward(retain_graph=True)
    save_graph(loss, OUT / "neuron_graph.png", order=True)


def mlp_graph() -> None:
    """Section 4: the article's network and cost on 4 points."""
    rng = np.random.default_rng(SEED)
    model = MLP([1, 16, 2], rng=rng)
    x, y = sincos(n_batches=1, batch_size=4, rng=rng)
    cost = squared_error(model(Tensor(x[0], name="x")), Tensor(y[0], name="y"))
    cost.name = "cost"
    cost.backward(retain_graph=True)
    save_graph(cost, OUT / "mlp_graph.png")


def fits() -> None:
    """Section 6: the article's run, the same code as the tutorial's training block."""
    rng = np.random.default_rng(SEED)
    x, y = sincos(n_batches=300, batch_size=BATCH, rng=rng)
    model = MLP([1, 16, 2], rng=rng)
    grid_x, grid_y = sincos_grid(30)
    before = plots.plot_fit(
        grid_x, grid_y, model(Tensor(grid_x)), labels=("sin", "cos"), title="before training"
    )
    plots.save_figure(before, OUT / "fit_before.png")

    optimizer = SGD(model.parameters(), lr=1.0)
    costs = []
    for batch in range(len(x)):
        cost = squared_error(model(Tensor(x[batch])), y[batch])
        optimizer.zero_grad()
        (cost / (2 * BATCH)).backward()
        optimizer.step()
        costs.append(cost.item())
    after = plots.plot_fit(
        grid_x, grid_y, model(Tensor(grid_x)), labels=("sin", "cos"), title="after 300 batches"
    )
    plots.save_figure(after, OUT / "fit.png")
    plots.save_figure(plots.plot_cost(costs, log=True, smooth=20), OUT / "cost.png")


def reports() -> None:
    """Section 8: the training reports the demo writes, for a good and a bad seed."""
    for seed, name, title in ((SEED, "report.png", "seed 1: learns"),
                              (0, "report_dead.png", "seed 0: an output dies")):  # fmt: skip
        result = train(DemoConfig(seed=seed), record_history=True)
        plots.save_figure(plots.plot_training(result.history, title=title), OUT / name)


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    neuron_graph()
    mlp_graph()
    fits()
    reports()
    print(f"wrote the tutorial's images in {OUT}")
