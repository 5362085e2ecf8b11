"""Your own op and your own model: a Softplus `Function` inside a user-defined `Module`.

1. ``Softplus`` is a new differentiable op, written the way every built-in op is: a
   forward and a backward on plain ndarrays, side by side.
2. ``tnn.testing.gradcheck`` compares its backward with finite differences before we
   trust it (and ``check_function`` property-tests it over drawn shapes and values).
3. ``SmoothRegressor`` is a `Module` that uses the op between two `Linear` layers plus a
   learnable output scale, trained with Adam on a small noisy regression.

Run it with ``python examples/custom_model.py``.
"""

from __future__ import annotations

from functools import partial

import numpy as np
from scipy.special import expit

import tinygrad_nn as tnn
from tinygrad_nn import Tensor
from tinygrad_nn.losses import mse
from tinygrad_nn.nn import Linear, Module, init
from tinygrad_nn.optim import Adam
from tinygrad_nn.testing import check_function, gradcheck  # needs hypothesis


class Softplus(tnn.Function):
    """f(x) = log(1 + exp(x));  f'(x) = sigmoid(x)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.logaddexp(0.0, x)  # log(exp(0) + exp(x)) without overflow for large x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved
        return (grad * expit(x),)


class SmoothRegressor(Module):
    """y = scale * Linear(softplus(Linear(x))): a sum of smooth hinges, one per hidden unit.

    Hidden unit i bends at x = -bias_i / weight_i. Steep weights and biases spread over
    the input range put those bends all over the data from the first step on, which makes
    a 1-D fit like this one learn several times faster than a default init. The output
    layer starts at zero, so training starts from the prediction 0 everywhere.
    """

    def __init__(self, hidden: int = 32, rng: np.random.Generator | None = None) -> None:
        super().__init__()
        spread = (partial(init.normal, std=3.0), partial(init.uniform, low=-4.0, high=4.0))
        self.hidden = Linear(1, hidden, init=spread, rng=rng)
        self.output = Linear(hidden, 1, init="zeros", rng=rng)
        self.scale = Tensor(np.ones(1), requires_grad=True, name="scale")

    def forward(self, x: Tensor) -> Tensor:
        return self.output(Softplus.apply(self.hidden(x))) * self.scale


def target(x: np.ndarray) -> np.ndarray:
    """The curve to learn: a wiggle on a slope."""
    return np.sin(3 * x) + 0.5 * x


def main(quick: bool = False, steps: int = 1500, seed: int = 0) -> float:
    """Check the op, train the model; returns the final mean squared error."""
    rng = np.random.default_rng(seed)

    # Trust, then verify: the op's backward against central finite differences.
    gradcheck(Softplus.apply, rng.normal(0.0, 3.0, size=(4, 5)))
    if not quick:
        check_function(Softplus, reference=lambda x: np.log1p(np.exp(x)))
    print("Softplus: backward agrees with finite differences")

    x = rng.uniform(-2.0, 2.0, size=(256, 1))
    y = target(x) + rng.normal(0.0, 0.05, size=x.shape)
    model = SmoothRegressor(rng=rng)
    print(model)
    optimizer = Adam(model.parameters(), lr=0.05)
    for step in range(min(steps, 200) if quick else steps):  # quick: about 0.1 s
        loss = mse(model(Tensor(x)), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 300 == 0:
            print(f"step {step:4d}: mse {loss.item():.4f}")

    grid = np.linspace(-2.0, 2.0, 200)[:, None]
    with tnn.no_grad():
        error = mse(model(Tensor(grid)), target(grid)).item()
    print(f"after training: mse {loss.item():.4f} on the data, {error:.4f} against the curve")
    return error


if __name__ == "__main__":
    main()
