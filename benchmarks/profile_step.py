"""Where an eager training step's time goes: phase timings and a cProfile breakdown.

    python benchmarks/profile_step.py [--case S|M|L] [--dtype float64] [--steps 3000]

Two views of the same step (`tinygrad_nn.bench.cases.Network`'s eager candidate: MLP,
``squared_error / (2 batch)``, backward, SGD), both against the tight hand-written step:

1. Phases, timed without a profiler (interleaved rounds, one BLAS thread): zero_grad,
   the forward pass (graph building), backward (by difference within each round), the
   SGD update, the whole step and its ratio to the tight hand-written step.
2. cProfile of many steps, each function's own time grouped by what it is: Module calls,
   `Function.apply`, Tensor creation, the backward engine, ops' forward and backward, the
   optimizer, NumPy itself. cProfile's own per-call cost inflates Python-heavy groups;
   read the shares, and the phase timings for wall-clock figures.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # works without installing

import numpy as np

from tinygrad_nn.bench.cases import LEARNING_RATE, Network
from tinygrad_nn.bench.machine import set_blas_threads
from tinygrad_nn.bench.suite import SIZES
from tinygrad_nn.bench.timing import interleaved_medians
from tinygrad_nn.losses import squared_error
from tinygrad_nn.optim import SGD
from tinygrad_nn.tensor import Tensor

# The backward loop and what it calls in autograd.py, by function name.
BACKWARD = {
    "backpropagate",
    "_route_gradients",
    "backward",
    "backward_order",
    "write",
    "write_gradients",
    "<listcomp>",  # released nodes' rebuilt parents
    "_is_private",
    "conform_gradient",
    "_check_unmodified",
    "seed_gradient",
}
# (group, test on "file:function") in order; the first match wins.
GROUPS = (
    ("Module.__call__ and forward methods", lambda f: "/nn/" in f),
    ("Function.apply", lambda f: f.endswith("autograd.py:apply")),
    (
        "backward engine",
        lambda f: "autograd.py" in f and f.rsplit(":", 1)[1] in BACKWARD,
    ),
    ("other engine (grad mode, scope, checks)", lambda f: "autograd.py" in f),
    ("Tensor creation", lambda f: f.endswith(("tensor.py:__init__", "tensor.py:_make"))),
    ("Tensor methods and operators", lambda f: "tensor" in f or "dispatch.py" in f),
    ("ops' forward and backward", lambda f: "/ops/" in f or "functional.py" in f),
    ("loss", lambda f: "losses.py" in f),
    ("optimizer step and zero_grad", lambda f: "optim.py" in f),
    ("NumPy functions", lambda f: "numpy" in f or f.startswith("~:<")),
    ("the benchmark's step function", lambda f: "/bench/" in f or "profile_step.py" in f),
)


def phases(network: Network) -> dict[str, float]:
    """Microseconds of the eager step's phases, medians over interleaved rounds.

    Backward is timed by difference within each round (forward + backward, less forward
    and zero_grad), and the step's ratio to the tight hand-written step is the median of
    per-round ratios, so a slow spell of a shared machine cancels out.
    """
    model = network.reference.to_module()
    optimizer = SGD(model.parameters(), lr=LEARNING_RATE)
    x, y, scale = network.x, network.y, network.scale

    def forward() -> Tensor:
        return squared_error(model(x), y) / scale

    def forward_backward() -> None:
        optimizer.zero_grad()
        forward().backward()

    def step() -> None:
        forward_backward()
        optimizer.step()

    forward_backward()  # every parameter holds a .grad for the first update timed
    candidates = {
        "zero_grad": optimizer.zero_grad,
        "forward (graph building)": forward,
        "zero_grad, forward, backward": forward_backward,
        "SGD update": optimizer.step,
        "whole step": step,
        "tight hand-written step": network.step_factories()["tight"](),
    }
    samples = {
        name: timing["samples_s"]
        for name, timing in interleaved_medians(candidates, 41, 0.05).items()
    }
    rounds = list(zip(*samples.values(), strict=True))
    names = list(samples)
    per_round = [dict(zip(names, values, strict=True)) for values in rounds]
    result = {name: statistics.median(values) * 1e6 for name, values in samples.items()}
    result["backward (by difference)"] = 1e6 * statistics.median(
        r["zero_grad, forward, backward"] - r["forward (graph building)"] - r["zero_grad"]
        for r in per_round
    )
    result["whole step / tight step (ratio)"] = statistics.median(
        r["whole step"] / r["tight hand-written step"] for r in per_round
    )
    return result


def profile(network: Network, steps: int) -> tuple[dict[str, float], list[tuple[str, float]]]:
    """µs per step of own time by group, and the ten costliest functions, under cProfile."""
    step = network.step_factories()["tinygrad_nn"]()
    step()
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(steps):
        step()
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # (file, line, function) -> (cc, nc, tt, ct, callers)
    groups: dict[str, float] = defaultdict(float)
    functions = []
    for (file, line, function), (_, _, own, _, _) in stats.items():
        key = f"{file}:{function}"
        group = next((name for name, test in GROUPS if test(key)), "other Python")
        micros = own / steps * 1e6
        groups[group] += micros
        functions.append((f"{Path(file).name}:{line}({function})", micros))
    functions.sort(key=lambda item: -item[1])
    return dict(groups), functions[:12]


def main(argv: list[str] | None = None) -> int:
    """Print both views for one case."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--case", choices=sorted(SIZES), default="S")
    parser.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    parser.add_argument("--steps", type=int, default=3000, help="steps under cProfile")
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error(f"--steps must be at least 1, got {args.steps}")
    set_blas_threads(1)
    shape, batch = SIZES[args.case]
    network = Network(shape, batch, np.dtype(args.dtype))
    print(f"# Eager step of {shape}, batch {batch}, {args.dtype}, one BLAS thread\n")
    print("| phase (no profiler) | µs per step |\n|---|---|")
    for name, value in phases(network).items():
        print(f"| {name} | {value:.2f}× |" if "ratio" in name else f"| {name} | {value:.1f} |")
    groups, functions = profile(network, args.steps)
    total = sum(groups.values())
    print("\n| group (cProfile, own time) | µs per step | share |\n|---|---|---|")
    for name, value in sorted(groups.items(), key=lambda item: -item[1]):
        print(f"| {name} | {value:.1f} | {value / total:.0%} |")
    print("\n| costliest functions (own time) | µs per step |\n|---|---|")
    for name, value in functions:
        print(f"| `{name}` | {value:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
