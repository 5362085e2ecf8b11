"""The cost of a Hessian-vector product on the article's network, relative to one gradient.

A Hessian-vector product by double backward runs the forward pass, a backward pass that
records itself (create_graph=True), and a backward pass through both graphs; the theory
says it costs a small multiple (about 2-4x) of one gradient. Both are timed here on the
article's network ([1, 16, 2], relu, batch 32, float64) and a wider tanh one, as the
median CPU time of interleaved repeats in one process.

Run: ``python benchmarks/hvp.py`` (``--repeats N``).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import tinygrad_nn as tnn
from tinygrad_nn import Tensor
from tinygrad_nn.nn import MLP


def measure(shape: list[int], activation: str, repeats: int) -> tuple[float, float]:
    """(µs per gradient, µs per Hessian-vector product) for an MLP of ``shape``."""
    rng = np.random.default_rng(0)
    model = MLP(shape, activation=activation, output_activation=None, rng=0)
    params = list(model.parameters())
    x = Tensor(rng.random((32, shape[0])))
    y = Tensor(rng.random((32, shape[-1])))
    directions = [rng.standard_normal(p.shape) for p in params]

    def loss() -> Tensor:
        return tnn.losses.squared_error(model(x), y) * (1 / 64)

    def gradient() -> None:
        tnn.gradients(loss(), params)

    def hessian_vector_product() -> None:
        grads = tnn.gradients(loss(), params, create_graph=True)
        tnn.gradients(grads, params, grad_outputs=directions, allow_unused=True)

    times: dict[str, list[float]] = {"gradient": [], "hvp": []}
    for _ in range(repeats):
        for name, fn in (("gradient", gradient), ("hvp", hessian_vector_product)):
            start = time.process_time()
            for _ in range(20):
                fn()
            times[name].append((time.process_time() - start) / 20 * 1e6)
    return statistics.median(times["gradient"]), statistics.median(times["hvp"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    print("network                 gradient µs   hvp µs   hvp / gradient")
    for shape, activation in (([1, 16, 2], "relu"), ([1, 64, 64, 2], "tanh")):
        grad_us, hvp_us = measure(shape, activation, args.repeats)
        label = f"{shape} {activation}"
        print(f"{label:<22}  {grad_us:11.1f}  {hvp_us:7.1f}   {hvp_us / grad_us:.2f}x")


if __name__ == "__main__":
    main()
