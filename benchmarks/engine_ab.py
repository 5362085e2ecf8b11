"""One engine tree's training step and chain, for comparing two versions of the engine.

    mkdir -p /tmp/old && git archive f573bba tinygrad_nn | tar -x -C /tmp/old   # the other engine
    python benchmarks/engine_ab.py /tmp/old ; python benchmarks/engine_ab.py .
    python benchmarks/engine_ab.py /tmp/old --case M ; python benchmarks/engine_ab.py . --case M

Imports tinygrad_nn from the given tree (the yardstick and the timing come from this
checkout, so both sides are measured alike) and prints one JSON line: the eager and the
captured step (S: MLP [1, 16, 2], batch 32; M: [64, 256, 256, 10], batch 128; float64, one
BLAS thread) as medians of per-round ratios to `TightMLP`, and for S the seconds to build
and differentiate a chain of 300,000 negations with the cyclic garbage collector on, then
off. Alternate the two trees a few times: docs/performance.md's "Against the engine
before its rewrite" is that.
"""

from __future__ import annotations

import gc
import importlib.util
import json
import statistics
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parents[1] / "tinygrad_nn" / "bench"
CHAIN_LENGTH = 300_000
# The cases of `tinygrad-nn bench` that the comparison runs: (widths, batch).
CASES = {"S": ([1, 16, 2], 32), "M": ([64, 256, 256, 10], 128)}


def _load(name: str) -> ModuleType:
    """A module of this checkout's bench package, loaded without importing tinygrad_nn."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", HERE / f"{name}.py")
    if spec is None or spec.loader is None:
        raise RuntimeError(f"engine_ab: cannot load {HERE / name}.py from this checkout")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def step_ratios(
    tnn: Any, handwritten: ModuleType, timing: ModuleType, shape: list[int], batch: int
) -> dict[str, float]:
    """Eager and captured steps against the tight step, interleaved in one process."""
    import numpy as np

    from tinygrad_nn.losses import squared_error
    from tinygrad_nn.optim import SGD
    from tinygrad_nn.reference import HandwrittenMLP

    reference = HandwrittenMLP(shape, rng=0)
    rng = np.random.default_rng(1)
    x, y = rng.random((batch, shape[0])), rng.random((batch, shape[-1]))
    scale = 2 * batch
    tight = handwritten.TightMLP(reference.weights, batch)
    eager_model = reference.to_module()
    eager_optimizer = SGD(eager_model.parameters(), lr=1e-3)

    def eager() -> None:
        eager_optimizer.zero_grad()
        (squared_error(eager_model(tnn.Tensor(x)), y) / scale).backward()
        eager_optimizer.step()

    model = reference.to_module()
    optimizer = SGD(model.parameters(), lr=1e-3)
    try:  # today's engine: the whole step in one call
        step = tnn.capture_step(
            lambda a, b: squared_error(model(a), b) / scale, optimizer=optimizer
        )

        def captured() -> None:
            step(x, y)

    except TypeError:  # before capture_step(optimizer=): the update around the call
        loss_step = tnn.capture_step(lambda a, b: squared_error(model(a), b) / scale)

        def captured() -> None:
            optimizer.zero_grad()
            loss_step(x, y)
            optimizer.step()

    candidates = {"tight": lambda: tight.step(x, y, 1e-3), "eager": eager, "captured": captured}
    timings = timing.interleaved_medians(candidates, 31, 0.02)
    base = timings["tight"]["samples_s"]
    ratios = {}
    for name in ("eager", "captured"):
        samples = timings[name]["samples_s"]
        ratios[name] = statistics.median(s / b for s, b in zip(samples, base, strict=True))
    return ratios


def chain_times(tnn: Any, timing: ModuleType) -> dict[str, float]:
    """Build and backward seconds of the chain, the cyclic GC on and then off."""
    import numpy as np

    def leaf() -> Any:
        return tnn.Tensor(np.array(3.0), requires_grad=True)

    results = {}
    for collector in ("on", "off"):
        if collector == "off":
            gc.disable()
        build, back = timing.chain_seconds("tinygrad_nn", leaf, CHAIN_LENGTH)
        results[f"chain forward, GC {collector}"] = build
        results[f"chain backward, GC {collector}"] = back
    gc.enable()
    return results


def main(argv: list[str] | None = None) -> int:
    """Measure the tree named on the command line; print one JSON line."""
    args = sys.argv[1:] if argv is None else argv
    case = "S"
    if len(args) == 3 and args[1] == "--case" and args[2] in CASES:
        args, case = args[:1], args[2]
    if len(args) != 1 or not (Path(args[0]) / "tinygrad_nn").is_dir():
        print(
            "usage: python benchmarks/engine_ab.py TREE [--case S|M] "
            "(TREE: a folder holding tinygrad_nn/)"
        )
        return 2
    sys.path.insert(0, str(Path(args[0]).resolve()))
    import tinygrad_nn as tnn

    handwritten, timing = _load("handwritten"), _load("timing")
    _load("machine").set_blas_threads(1)
    shape, batch = CASES[case]
    results = {
        "tree": args[0],
        "case": case,
        **step_ratios(tnn, handwritten, timing, shape, batch),
        **(chain_times(tnn, timing) if case == "S" else {}),
    }
    print(
        json.dumps({key: round(v, 3) if isinstance(v, float) else v for key, v in results.items()})
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
