"""Time a conv2d forward + backward: ``python benchmarks/conv.py [--rounds N] [--dtype float32]``.

The case: x (32, 16, 28, 28) and w (32, 16, 3, 3), padding 1, a bias, the gradients of x,
w and b (the backward of a CNN's second layer). tinygrad_nn's fused `conv2d` (im2col and
one matmul) is timed against PyTorch CPU eager (``torch.nn.functional.conv2d``) when torch
is installed, both on the same number of threads, interleaved round by round; each figure
is the median over rounds. ``--parts`` also times the step's pieces on their own (the three
conv ops on ndarrays and the bias gradient); ``--chunk-bytes`` sets how many bytes of im2col
columns tinygrad_nn handles at a time (`tinygrad_nn.ops.conv.CHUNK_BYTES`; 1e12: the whole
batch at once).

Interleaving shares the machine's caches and cores between the candidates: each step starts
with the other's data in cache, and OpenBLAS's and PyTorch's worker threads keep spinning a
while after their calls. With as many threads as the machine has cores both are slowed,
PyTorch most; ``--threads 1`` is the cleaner comparison there.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # works without installing

from tinygrad_nn import Tensor
from tinygrad_nn.bench.machine import blas_threads, set_blas_threads
from tinygrad_nn.functional import conv2d
from tinygrad_nn.ops import conv as conv_ops

X_SHAPE = (32, 16, 28, 28)
W_SHAPE = (32, 16, 3, 3)


def tinygrad_step(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> Callable[[], None]:
    xt, wt, bt = (Tensor(a, requires_grad=True) for a in (x, w, b))
    upstream = np.ones((X_SHAPE[0], W_SHAPE[0], X_SHAPE[2], X_SHAPE[3]), x.dtype)

    def step() -> None:
        for tensor in (xt, wt, bt):
            tensor.grad = None
        conv2d(xt, wt, bt, padding=1).backward(upstream)

    return step


def tinygrad_parts(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> dict[str, Callable[[], object]]:
    """The step's pieces on their own: its three conv ops on ndarrays, and the bias gradient."""
    upstream = np.ones((X_SHAPE[0], W_SHAPE[0], X_SHAPE[2], X_SHAPE[3]), x.dtype)
    settings = {"stride": (1, 1), "padding": (1, 1), "dilation": (1, 1), "groups": 1}
    return {
        "  forward": lambda: conv_ops.Conv2d.evaluate(x, w, b, **settings),
        "  grad x": lambda: conv_ops.Conv2dInputGrad.evaluate(
            upstream, w, x_shape=X_SHAPE, **settings
        ),
        "  grad w": lambda: conv_ops.Conv2dWeightGrad.evaluate(
            x, upstream, w_shape=W_SHAPE, **settings
        ),
        "  grad b": lambda: upstream.sum(axis=(0, 2, 3)),
    }


def torch_step(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> Callable[[], None] | None:
    try:
        import torch
    except ImportError:
        return None
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    upstream = torch.ones(X_SHAPE[0], W_SHAPE[0], X_SHAPE[2], X_SHAPE[3], dtype=xt.dtype)

    def step() -> None:
        for tensor in (xt, wt, bt):
            tensor.grad = None
        torch.nn.functional.conv2d(xt, wt, bt, padding=1).backward(upstream)

    return step


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="timed rounds (default 15)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--threads", type=int, help="BLAS and PyTorch threads (default: as set)")
    parser.add_argument("--parts", action="store_true", help="also time the step's pieces")
    parser.add_argument(
        "--chunk-bytes", type=float, help="bytes of im2col columns at a time (default 2**20)"
    )
    args = parser.parse_args(argv)
    if args.threads is not None:
        set_blas_threads(args.threads)
    if args.chunk_bytes is not None:
        conv_ops.CHUNK_BYTES = int(args.chunk_bytes)
    rng = np.random.default_rng(0)
    dtype = np.dtype(args.dtype)
    x = rng.normal(size=X_SHAPE).astype(dtype)
    w = rng.normal(size=W_SHAPE).astype(dtype)
    b = rng.normal(size=W_SHAPE[0]).astype(dtype)
    candidates: dict[str, Callable[[], object]] = {"tinygrad_nn": tinygrad_step(x, w, b)}
    if args.parts:
        candidates.update(tinygrad_parts(x, w, b))
    theirs = torch_step(x, w, b)
    if theirs is not None:
        import torch

        torch.set_num_threads(blas_threads())  # the same thread count for both
        candidates["PyTorch CPU"] = theirs
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for step in candidates.values():  # warm up
        step()
    for _ in range(args.rounds):
        for name, step in candidates.items():
            start = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - start)
    threads = blas_threads()
    print(
        f"conv2d forward + backward, x {X_SHAPE}, w {W_SHAPE}, padding 1, {dtype}, "
        f"{threads} thread{'s' if threads != 1 else ''}:"
    )
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, median in medians.items():
        print(f"  {name:12s} {median * 1e3:8.2f} ms")
    if "PyTorch CPU" in medians:
        print(
            f"  ratio tinygrad_nn / PyTorch: {medians['tinygrad_nn'] / medians['PyTorch CPU']:.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
