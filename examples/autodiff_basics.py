"""Reverse-mode autodiff in a dozen lines: fit y = 3x - 1 with a hand-rolled SGD loop.

Run it with ``python examples/autodiff_basics.py``; ``main(quick=True)`` (what the test
suite calls) takes a few steps only.
"""

import numpy as np

import tinygrad_nn as tnn


def main(steps: int = 200, quick: bool = False) -> float:
    """Fit w and b by gradient descent; returns the final mean squared error."""
    if quick:
        steps = min(steps, 20)
    rng = np.random.default_rng(0)
    x = tnn.Tensor(rng.uniform(-1, 1, size=(64, 1)))
    y = 3 * x - 1
    w = tnn.Tensor(np.zeros((1, 1)), requires_grad=True, name="w")
    b = tnn.Tensor(np.zeros(1), requires_grad=True, name="b")
    for _ in range(steps):
        loss = ((x @ w + b - y) ** 2).mean()
        w.grad = b.grad = None
        loss.backward()
        with tnn.no_grad():
            w.data -= 0.5 * w.grad
            b.data -= 0.5 * b.grad
    print(f"w = {w.item():.4f}, b = {b.item():.4f}, loss = {loss.item():.2e}")
    return loss.item()


if __name__ == "__main__":
    main()
