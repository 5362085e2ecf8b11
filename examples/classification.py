"""Classify two interleaved spirals: cross-entropy, Adam, and a picture of the decision boundary.

Each class is one arm of a spiral winding one and a half times around the origin, so no
straight line separates them. A [2, 32, 32, 2] relu network with a linear output turns
each point into two class scores (logits); `tnn.losses.cross_entropy` compares them with
the labels, and Adam trains the whole batch for 1000 steps (about a second). The plot
shows the learned class-1 probability over the plane with the training points on top.

Run it with ``python examples/classification.py [--plot spirals.png] [--seed 0]``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import tinygrad_nn as tnn
from tinygrad_nn import Tensor
from tinygrad_nn.data import two_spirals
from tinygrad_nn.losses import cross_entropy
from tinygrad_nn.nn import MLP
from tinygrad_nn.optim import Adam
from tinygrad_nn.viz.plots import save_figure

NOISE = 0.08  # standard deviation of the jitter around each arm; arms are 1/3 apart


def accuracy(model: MLP, x: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of points whose larger logit is their label's."""
    with tnn.no_grad():
        return float(np.mean(model(Tensor(x)).data.argmax(axis=1) == labels))


def plot_decision_boundary(model: MLP, x: np.ndarray, labels: np.ndarray, title: str):
    """The model's class-1 probability over the plane, the 50% contour and the points."""
    from matplotlib.figure import Figure

    low, high = x.min() - 0.2, x.max() + 0.2
    axis = np.linspace(low, high, 300)
    grid_x, grid_y = np.meshgrid(axis, axis)
    points = np.column_stack([grid_x.ravel(), grid_y.ravel()])
    with tnn.no_grad():
        probability = model(Tensor(points)).softmax(axis=1).data[:, 1].reshape(grid_x.shape)

    figure = Figure(figsize=(5.5, 5), layout="constrained")
    ax = figure.subplots()
    filled = ax.contourf(grid_x, grid_y, probability, levels=20, cmap="RdBu_r", alpha=0.45)
    ax.contour(grid_x, grid_y, probability, levels=[0.5], colors="k", linewidths=1.5)
    for label, colour in ((0, "#08306b"), (1, "#99000d")):
        chosen = labels == label
        ax.scatter(*x[chosen].T, s=14, c=colour, edgecolors="white", linewidths=0.4,
                   label=f"class {label}")  # fmt: skip
    figure.colorbar(filled, ax=ax, label="P(class 1)")
    ax.set_aspect("equal")
    ax.legend(loc="upper right", fontsize="small")
    ax.set_title(title)
    return figure


def main(quick: bool = False, plot: str | Path = "spirals.png", seed: int = 0) -> float:
    """Train on two spirals, save the decision boundary; returns the training accuracy."""
    n_per_class, steps = (50, 10) if quick else (200, 1000)
    x, labels = two_spirals(n_per_class, noise=NOISE, rng=seed)
    model = MLP([2, 32, 32, 2], activation="relu", output_activation=None,
                init="kaiming_uniform", rng=seed)  # fmt: skip
    optimizer = Adam(model.parameters(), lr=0.01)

    inputs = Tensor(x)
    start = time.perf_counter()
    for step in range(steps):
        loss = cross_entropy(model(inputs), labels)  # mean over the batch
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 200 == 0 or step == steps - 1:
            print(f"step {step:4d}: cross-entropy {loss.item():.4f}")
    seconds = time.perf_counter() - start

    train_accuracy = accuracy(model, x, labels)
    test_x, test_labels = two_spirals(n_per_class, noise=NOISE, rng=seed + 1000)
    test_accuracy = accuracy(model, test_x, test_labels)
    print(
        f"accuracy: {train_accuracy:.1%} on the training points, {test_accuracy:.1%} on "
        f"fresh ones ({steps} steps in {seconds:.2f} s)"
    )
    title = f"two spirals: {train_accuracy:.1%} training accuracy"
    figure = plot_decision_boundary(model, x, labels, title)
    print(f"saved the decision boundary to {save_figure(figure, plot)}")
    return train_accuracy


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plot", default="spirals.png", help="where to save the picture")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data and weights")
    parser.add_argument("--quick", action="store_true", help="a few steps on a small set")
    options = parser.parse_args()
    main(quick=options.quick, plot=options.plot, seed=options.seed)
