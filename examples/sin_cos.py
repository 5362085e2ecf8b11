"""The original article's experiment in one screen, with autodiff doing the backprop.

A [1, 16, 2] relu network (weights from normal(0, 0.1)) learns sin(x) and cos(x) on
[0, 1) from 300 batches of 32 random points, by plain gradient descent with learning
rate 1.0. The article reports the cost sum((out - y)**2) of each batch; its update is the
gradient of that cost divided by 2 * batch, which is what we hand to ``backward``.

Run it with ``python examples/sin_cos.py [--plot fit.png] [--seed 1]``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import tinygrad_nn as tnn
from tinygrad_nn.data import sincos, sincos_grid
from tinygrad_nn.losses import squared_error
from tinygrad_nn.nn import MLP
from tinygrad_nn.optim import SGD
from tinygrad_nn.viz import plots


def main(quick: bool = False, plot: str | Path = "sin_cos.png", seed: int = 1) -> float:
    """Train, print the article's summary line, save the fit plot; returns the end cost."""
    n_batches, batch_size, learning_rate = (20 if quick else 300), 32, 1.0
    rng = np.random.default_rng(seed)
    x, y = sincos(n_batches, batch_size, rng=rng)
    model = MLP([1, 16, 2], rng=rng)  # relu hidden and output, normal(0, 0.1) init
    optimizer = SGD(model.parameters(), lr=learning_rate)

    costs = np.zeros(n_batches)
    for batch in range(n_batches):
        cost = squared_error(model(tnn.Tensor(x[batch])), y[batch])  # sum of squared errors
        optimizer.zero_grad()
        (cost / (2 * batch_size)).backward()  # the article's update scaling
        optimizer.step()
        costs[batch] = cost.item()

    start, end = costs[:10].max(), costs[-10:].max()
    print(f"{start:.5f} cost at the start of learning and {end:.5f} at the end")

    grid_x, grid_y = sincos_grid(30)
    with tnn.no_grad():
        estimate = model(tnn.Tensor(grid_x)).data
    figure = plots.plot_fit(grid_x, grid_y, estimate, labels=("sin", "cos"))
    print(f"saved the fit to {plots.save_figure(figure, plot)}")
    return float(end)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plot", default="sin_cos.png", help="where to save the fit plot")
    parser.add_argument("--seed", type=int, default=1, help="seed of the weights and data")
    parser.add_argument("--quick", action="store_true", help="train 20 batches only")
    options = parser.parse_args()
    main(quick=options.quick, plot=options.plot, seed=options.seed)
