"""What glibc's allocator does to a training loop that runs one step alone in its process.

    python benchmarks/allocator.py [--case M] [--dtype float64] [--rounds 15]

`tinygrad-nn bench` interleaves every candidate of a case in one process, so each meets
the allocator as the others left it. A user's training loop runs one step over and over,
alone. This script runs each step that way: every candidate in a fresh Python process,
alternating batches of it with batches of the tight hand-written step (whose buffers are
made once, so it leaves the allocator as it finds it), once with glibc's defaults and once
with its thresholds pinned (``MALLOC_MMAP_THRESHOLD_`` and ``MALLOC_TRIM_THRESHOLD_``, see
``mallopt(3)``). It prints each candidate's median time per step, its median per-batch
ratio to the tight step and its minor page faults per step (fresh pages the kernel had to
map in).

By default glibc serves arrays of 128 KiB and more from ``mmap`` and raises that threshold
to the largest such block freed so far, with the heap trimmed back whenever more than
twice the threshold lies free at its top. A step whose arrays are a few hundred KiB (the
M case) can end each step with more than that free at the top: the heap shrinks every
step and the next one maps and faults the same pages in again. The pinned run shows the
same steps when the allocator keeps its memory.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # works without installing

CASES = {"S": ([1, 16, 2], 32), "M": ([64, 256, 256, 10], 128), "L": ([784, 1024, 1024, 10], 512)}
# The benchmark's names for the steps, and how this script prints them.
CANDIDATES = {"tinygrad_nn": "eager", "captured": "captured", "handwritten": "HandwrittenMLP"}
# Large enough that no array of these cases is mapped on its own or trimmed away.
PINNED = {"MALLOC_MMAP_THRESHOLD_": str(1 << 30), "MALLOC_TRIM_THRESHOLD_": str(1 << 31)}


def measure(case: str, dtype: str, candidate: str, rounds: int, steps: int) -> dict[str, Any]:
    """In this process: ``rounds`` alternating batches of ``steps`` calls of the tight step
    and of ``candidate``; per-step times, per-batch ratios, page faults per step, and
    whether this process runs with the pinned thresholds."""
    import resource

    import numpy as np

    from tinygrad_nn.bench.cases import Network
    from tinygrad_nn.bench.machine import set_blas_threads

    set_blas_threads(1)
    shape, batch = CASES[case]
    factories = Network(shape, batch, np.dtype(dtype)).step_factories()
    tight, step = factories["tight"](), factories[candidate]()
    for _ in range(steps):  # warm up: the allocator settles into its steady state
        tight()
        step()
    times: dict[str, list[float]] = {"tight": [], candidate: []}
    faults = 0
    for _ in range(rounds):
        for name, fn in (("tight", tight), (candidate, step)):
            before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            start = time.perf_counter()
            for _ in range(steps):
                fn()
            times[name].append((time.perf_counter() - start) / steps)
            if name == candidate:
                faults += resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    pairs = zip(times[candidate], times["tight"], strict=True)
    ratios = [ours / yardstick for ours, yardstick in pairs]
    pinned = all(os.environ.get(name) == value for name, value in PINNED.items())
    return {
        "glibc": "pinned" if pinned else "default",
        "step_us": round(statistics.median(times[candidate]) * 1e6, 1),
        "tight_us": round(statistics.median(times["tight"]) * 1e6, 1),
        "ratio": round(statistics.median(ratios), 3),
        "faults_per_step": round(faults / (rounds * steps), 1),
    }


def run_alone(case: str, dtype: str, candidate: str, rounds: int, steps: int, pinned: bool) -> Any:
    """`measure` in a fresh Python process, with glibc's defaults or its thresholds pinned."""
    environment = {k: v for k, v in os.environ.items() if k not in PINNED}
    if pinned:
        environment.update(PINNED)
    command = [sys.executable, __file__, "--child", case, dtype, candidate, str(rounds), str(steps)]
    output = subprocess.run(
        command, env=environment, capture_output=True, text=True, check=True
    ).stdout
    return json.loads(output)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--case", choices=sorted(CASES), default="M")
    parser.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--steps", type=int, default=40, help="calls per timed batch")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        case, dtype, candidate, rounds, steps = args.child
        print(json.dumps(measure(case, dtype, candidate, int(rounds), int(steps))))
        return
    print(f"case {args.case}, {args.dtype}: each step alone in a fresh process, one BLAS thread")
    print("| step | glibc | µs per step | × tight step | page faults per step |")
    print("|---|---|---|---|---|")
    for candidate, label in CANDIDATES.items():
        for pinned in (False, True):
            result = run_alone(args.case, args.dtype, candidate, args.rounds, args.steps, pinned)
            print(
                f"| {label} | {'pinned' if pinned else 'default'} | {result['step_us']} | "
                f"{result['ratio']:.3f} | {result['faults_per_step']} |"
            )


if __name__ == "__main__":
    main()
