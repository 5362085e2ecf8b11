"""`tinygrad-nn bench`: tinygrad_nn measured against the fastest hand-written NumPy.

The yardstick is the original article's algorithm restated tightly in plain NumPy
(`TightMLP`: the constant-1 bias column written once, preallocated buffers, ``out=``
everywhere), with `tinygrad_nn.reference.HandwrittenMLP`, the correctness oracle, as a
second hand-written candidate; every ratio divides by the faster of the two in the same
case and run. `gemm_floor`, the step's matrix products alone, shows the limit. Every case
runs its candidates in one process, interleaved round by round, and reports medians.

Cases:
    step        forward, cost, backward and SGD update of MLPs S = [1, 16, 2] (batch 32,
                the article's), M = [64, 256, 256, 10] (batch 128) and L = [784, 1024,
                1024, 10] (batch 512), float64 and float32: hand-written (tight and
                HandwrittenMLP), tinygrad_nn eager and captured, PyTorch if installed
    inference   the forward pass without gradients, the same candidates
    ops         forward + backward of add, mul, matmul, relu and sum on tiny arrays
    memory      peak traced memory (tracemalloc) of one L step, state included
    chain       building a chain of a million negations, and its backward

Modules: `handwritten` (the yardstick), `cases` (the candidates), `timing`, `machine`
(BLAS probing and threads), `suite` (`run_benchmarks`), `report` (targets, Markdown),
`command` (the command line). ``--quick`` runs every case once on shrunken networks: a
smoke test that judges no target.
"""

from __future__ import annotations

from tinygrad_nn.bench.command import add_arguments, main, run, validate
from tinygrad_nn.bench.handwritten import TightMLP, gemm_floor
from tinygrad_nn.bench.report import TARGETS, evaluate_targets, to_markdown
from tinygrad_nn.bench.suite import SIZES, run_benchmarks

__all__ = [
    "SIZES",
    "TARGETS",
    "TightMLP",
    "add_arguments",
    "evaluate_targets",
    "gemm_floor",
    "main",
    "run",
    "run_benchmarks",
    "to_markdown",
    "validate",
]
