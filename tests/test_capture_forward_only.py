"""Forward-only capture (``capture_step(fn, backward=False)``): replays of ops that read
class attributes, and replays running on two threads at once."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

import tinygrad_nn as tnn


def test_forward_only_capture_of_ops_that_use_class_attributes() -> None:
    step = tnn.capture_step(lambda x: x.max(axis=1) + x.min(axis=1), backward=False)
    data = np.arange(6.0).reshape(2, 3)
    for _ in range(2):
        np.testing.assert_array_equal(step(data).data, [2.0, 8.0])


def test_forward_only_replays_give_each_thread_its_own_context() -> None:
    barrier = threading.Barrier(2)

    class Stash(tnn.Function):
        """f(x) = 2x, parking the result on ctx while another call runs."""

        replaying = False

        @staticmethod
        def forward(ctx: Any, x: np.ndarray) -> np.ndarray:
            ctx.result = x * 2
            if Stash.replaying:
                barrier.wait(timeout=10)
            return ctx.result

        @staticmethod
        def backward(ctx: Any, grad: np.ndarray) -> tuple[np.ndarray]:
            return (2 * grad,)

    step = tnn.capture_step(lambda x: Stash.apply(x), backward=False)
    step(np.zeros(3))
    Stash.replaying = True
    results = {}

    def call(value: float) -> None:
        results[value] = step(np.full(3, value)).data

    threads = [threading.Thread(target=call, args=(v,)) for v in (1.0, 5.0)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    np.testing.assert_array_equal(results[1.0], [2.0] * 3)
    np.testing.assert_array_equal(results[5.0], [10.0] * 3)
