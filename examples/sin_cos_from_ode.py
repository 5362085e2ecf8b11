"""sin and cos learned with no data at all, from their differential equation.

Both solve u'' + u = 0; the starting values pick which: u(0) = 0, u'(0) = 1 gives sin and
u(0) = 1, u'(0) = 0 gives cos. A small tanh network N(x) with two outputs is turned into
two trial solutions that meet the starting values by construction,

    u_sin(x) = x + x**2 N_0(x),        u_cos(x) = 1 + x**2 N_1(x),

and trained so that the residual u'' + u is zero at points of [0, 1]. The loss contains
d²u/dx², a second derivative of the network taken with `tnn.gradients(...,
create_graph=True)`; training differentiates that loss by the weights, a third-order graph.
This is a physics-informed network in miniature (the trial-solution form is Lagaris,
Likas and Fotiadis's, 1998).

Run it with ``python examples/sin_cos_from_ode.py [--plot ode_fit.png] [--steps 2500]``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import tinygrad_nn as tnn
from tinygrad_nn import Tensor
from tinygrad_nn.nn import MLP
from tinygrad_nn.optim import Adam


def trial_solutions(model: MLP, x: Tensor) -> Tensor:
    """(u_sin, u_cos) at ``x`` (shape (n, 1)) as an (n, 2) Tensor meeting the start values."""
    net = model(x)
    start = tnn.concatenate([x, x * 0.0 + 1.0], axis=1)  # u(0) and u'(0) of each column
    return start + x * x * net


def ode_residual(model: MLP, x: Tensor) -> Tensor:
    """u'' + u at the points ``x`` for both columns, an (n, 2) Tensor.

    Each point's output depends on that point only, so the gradient of a column's sum
    with respect to ``x`` is the column's derivative at every point.
    """
    u = trial_solutions(model, x)
    columns = []
    for k in range(2):
        (du,) = tnn.gradients(u[:, k].sum(), x, create_graph=True)
        (d2u,) = tnn.gradients(du.sum(), x, create_graph=True)
        columns.append(d2u[:, 0] + u[:, k])
    return tnn.stack(columns, axis=1)


def train(steps: int = 2500, points: int = 32, seed: int = 0) -> tuple[MLP, list[float]]:
    """Fit the network to the ODE; returns it and the loss after each step."""
    model = MLP(
        [1, 24, 24, 2], activation="tanh", output_activation=None, init="xavier_uniform", rng=seed
    )
    optimizer = Adam(model.parameters(), lr=0.01)
    x = Tensor(np.linspace(0.0, 1.0, points).reshape(-1, 1), requires_grad=True)
    losses = []
    for step in range(steps):
        if step == int(0.6 * steps):
            optimizer.lr = 0.002  # a smaller step to settle
        optimizer.zero_grad()
        loss = (ode_residual(model, x) ** 2).mean()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return model, losses


def max_error(model: MLP, grid: int = 201) -> float:
    """The largest distance from sin and cos on a grid of [0, 1]."""
    x = np.linspace(0.0, 1.0, grid).reshape(-1, 1)
    with tnn.no_grad():
        u = trial_solutions(model, Tensor(x)).data
    exact = np.concatenate([np.sin(x), np.cos(x)], axis=1)
    return float(np.abs(u - exact).max())


def main(quick: bool = False, plot: str | Path | None = "ode_fit.png", steps: int = 2500) -> float:
    """Train, print the fit's error, save a plot; returns the largest error on [0, 1]."""
    model, losses = train(steps=150 if quick else steps)
    error = max_error(model)
    print(
        f"residual loss {losses[0]:.3g} -> {losses[-1]:.3g}; max |u - sin|, |u - cos| = {error:.2e}"
    )
    if plot is not None:
        from tinygrad_nn.viz import plots

        x = np.linspace(0.0, 1.0, 101).reshape(-1, 1)
        with tnn.no_grad():
            estimate = trial_solutions(model, Tensor(x)).data
        exact = np.concatenate([np.sin(x), np.cos(x)], axis=1)
        figure = plots.plot_fit(x, exact, estimate, labels=("sin", "cos"))
        figure.suptitle("learned from u'' + u = 0 and u(0), u'(0) alone")
        print(f"saved the fit to {plots.save_figure(figure, plot)}")
    return error


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plot", default="ode_fit.png", help="where to save the fit plot")
    parser.add_argument("--steps", type=int, default=2500, help="training steps")
    options = parser.parse_args()
    main(plot=options.plot, steps=options.steps)
