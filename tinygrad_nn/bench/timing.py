"""How the benchmark times and weighs a candidate: interleaved rounds, traced peak memory,
and the build and backward of a long chain."""

from __future__ import annotations

import gc
import math
import statistics
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

__all__ = ["Candidates", "chain_seconds", "interleaved_medians", "peak_memory"]

Candidates = dict[str, Callable[[], Any]]


def interleaved_medians(
    candidates: Candidates, rounds: int, batch_seconds: float
) -> dict[str, dict[str, Any]]:
    """Median seconds per call of each candidate, measured in interleaved rounds.

    Each candidate is called once to warm up, then calibrated to run long enough per
    batch (``batch_seconds``); each round times one batch of every candidate, rotating
    the order, so a slow spell of a shared machine hits every candidate alike. The cyclic
    garbage collector is off while timing, as in `timeit`.

    Args:
        candidates: name -> function of no arguments, one call being what is timed.
        rounds: how many timed batches of each candidate (at least 1).
        batch_seconds: the least duration of one batch; 0 times single calls.

    Returns:
        name -> ``median_s``, ``min_s``, ``max_s`` (per call, over rounds), ``samples_s``
        (each round's seconds per call, in round order), ``rounds``, ``calls_per_round``.

    Example:
        >>> interleaved_medians({"sum": lambda: sum(range(100))}, 5, 0.001)["sum"]["rounds"]
        5
    """
    if rounds < 1:
        raise ValueError(f"interleaved_medians: rounds must be at least 1, got {rounds}")
    names = list(candidates)
    numbers = {}
    for name, fn in candidates.items():
        fn()
        start = time.perf_counter()
        fn()
        elapsed = time.perf_counter() - start
        numbers[name] = max(1, math.ceil(batch_seconds / max(elapsed, 1e-9)))
    samples: dict[str, list[float]] = {name: [] for name in names}
    collecting = gc.isenabled()
    gc.disable()
    try:
        for round_index in range(rounds):
            shift = round_index % len(names)
            for name in names[shift:] + names[:shift]:
                fn, number = candidates[name], numbers[name]
                start = time.perf_counter()
                for _ in range(number):
                    fn()
                samples[name].append((time.perf_counter() - start) / number)
    finally:
        if collecting:
            gc.enable()
    return {
        name: {
            "median_s": statistics.median(values),
            "min_s": min(values),
            "max_s": max(values),
            "samples_s": values,
            "rounds": len(values),
            "calls_per_round": numbers[name],
        }
        for name, values in samples.items()
    }


def peak_memory(make: Callable[[], Callable[[], Any]]) -> int:
    """Peak bytes a candidate holds during one call: its state plus that call's temporaries.

    ``make`` builds the candidate (copies of the weights, its buffers, optimizer state)
    while tracemalloc traces it; after two warm-up calls the peak is reset and one call
    measured. The figure is everything the candidate allocated that is alive at the
    call's peak, so preallocated buffers count as much as per-call temporaries.

    Example:
        >>> peak_memory(lambda: (lambda: bytearray(1 << 20))) >= 1 << 20
        True
    """
    gc.collect()
    tracemalloc.start()
    try:
        fn = make()
        fn()
        fn()
        gc.collect()
        tracemalloc.reset_peak()
        fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak


def chain_seconds(name: str, make_leaf: Callable[[], Any], length: int) -> tuple[float, float]:
    """Seconds to build a chain of ``length`` negations of ``make_leaf()``, and to backward.

    Works with any framework whose tensors negate with ``-`` and have ``backward()`` and
    ``.grad``; raises a RuntimeError naming ``name`` if the gradient is not
    ``(-1) ** length``.

    Example:
        >>> build, back = chain_seconds("x", lambda: Tensor(3.0, requires_grad=True), 10)
    """
    gc.collect()
    leaf = make_leaf()
    start = time.perf_counter()
    node = leaf
    for _ in range(length):
        node = -node
    built = time.perf_counter()
    node.backward()
    done = time.perf_counter()
    expected = -1.0 if length % 2 else 1.0
    got = float(leaf.grad.item() if hasattr(leaf.grad, "item") else leaf.grad)
    if got != expected:
        raise RuntimeError(
            f"chain_seconds: {name}'s gradient through {length} negations is {got}, "
            f"expected {expected}"
        )
    return built - start, done - built
