"""This checkout's engine against another version of it, both in one process.

    mkdir -p /tmp/old && git archive f573bba tinygrad_nn | tar -x -C /tmp/old   # the other engine
    python benchmarks/engine_ab.py /tmp/old
    python benchmarks/engine_ab.py /tmp/old --case M

Timings of one engine in two processes differ by up to a third on a shared machine, more
than the engines differ. So the other tree's ``tinygrad_nn`` is copied to a temporary
folder as the package ``tinygrad_nn_other`` (its imports rewritten), and both engines run
in this process, interleaved round by round with `TightMLP`, the yardstick, in between.

Prints one JSON line. For each engine (``this``, ``other``): the eager and the captured
training step (S: MLP [1, 16, 2], batch 32; M: [64, 256, 256, 10], batch 128; float64, one
BLAS thread) as medians of per-round ratios to `TightMLP`; ``eager this/other`` and
``captured this/other``: the medians and quartiles of the two engines' per-round ratios;
``eager phases``: the microseconds of each phase of the eager step (zero_grad, the model,
the loss, backward, the update, freeing the graph), medians of alternated rounds. For S
also the seconds to build and differentiate a chain of 300,000 negations (the cyclic
garbage collector on), the median of three alternated runs each.
"""

from __future__ import annotations

import gc
import importlib.util
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OTHER = "tinygrad_nn_other"
CHAIN_LENGTH = 300_000
CHAIN_RUNS = 3
ROUNDS = 41
# The cases of `tinygrad-nn bench` that the comparison runs: (widths, batch).
CASES = {"S": ([1, 16, 2], 32), "M": ([64, 256, 256, 10], 128)}


def _load(name: str) -> ModuleType:
    """A module of this checkout's bench package, loaded without importing either engine."""
    path = ROOT / "tinygrad_nn" / "bench" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"engine_ab: cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def import_other(tree: Path, folder: Path) -> ModuleType:
    """``tree``'s tinygrad_nn, imported as `OTHER` from a copy in ``folder``."""
    copy = folder / OTHER
    shutil.copytree(tree / "tinygrad_nn", copy, ignore=shutil.ignore_patterns("__pycache__"))
    for source in copy.rglob("*.py"):
        source.write_text(source.read_text().replace("tinygrad_nn", OTHER))
    sys.path.insert(0, str(folder))
    return importlib.import_module(OTHER)


def batch_data(shape: list[int], batch: int) -> tuple[Any, Any]:
    """The inputs and targets every timed step uses (the same for both engines)."""
    import numpy as np

    rng = np.random.default_rng(1)
    return rng.random((batch, shape[0])), rng.random((batch, shape[-1]))


def article_model(tnn: Any, shape: list[int]) -> tuple[Any, Any, Callable[..., Any]]:
    """``tnn``'s reference MLP as a Module, its SGD optimizer and ``tnn``'s squared error."""
    name = tnn.__name__
    model = importlib.import_module(f"{name}.reference").HandwrittenMLP(shape, rng=0).to_module()
    optimizer = importlib.import_module(f"{name}.optim").SGD(model.parameters(), lr=1e-3)
    return model, optimizer, importlib.import_module(f"{name}.losses").squared_error


def training_steps(tnn: Any, shape: list[int], batch: int) -> dict[str, Callable[[], None]]:
    """The eager and the captured SGD step of ``tnn`` (either engine) on the article's MLP."""
    x, y = batch_data(shape, batch)
    scale = 2 * batch
    eager_model, eager_optimizer, squared_error = article_model(tnn, shape)

    def eager() -> None:
        eager_optimizer.zero_grad()
        (squared_error(eager_model(tnn.Tensor(x)), y) / scale).backward()
        eager_optimizer.step()

    model, optimizer, _ = article_model(tnn, shape)
    try:  # since capture_step(optimizer=): the whole step in one call
        step = tnn.capture_step(
            lambda a, b: squared_error(model(a), b) / scale, optimizer=optimizer
        )

        def captured() -> None:
            step(x, y)

    except TypeError:  # before it: the update around the replayed loss
        loss_step = tnn.capture_step(lambda a, b: squared_error(model(a), b) / scale)

        def captured() -> None:
            optimizer.zero_grad()
            loss_step(x, y)
            optimizer.step()

    return {"eager": eager, "captured": captured}


PHASES = ("zero_grad", "model", "loss", "backward", "step", "free the graph")


def _phase_timer(tnn: Any, shape: list[int], batch: int) -> Callable[[int], list[float]]:
    """A function timing ``steps`` eager steps of ``tnn``: microseconds per `PHASES` entry."""
    x, y = batch_data(shape, batch)
    model, optimizer, squared_error = article_model(tnn, shape)
    clock = time.perf_counter

    def timed(steps: int) -> list[float]:
        totals = [0.0] * len(PHASES)
        for _ in range(steps):
            start = clock()
            optimizer.zero_grad()
            zeroed = clock()
            prediction = model(tnn.Tensor(x))
            predicted = clock()
            loss = squared_error(prediction, y) / (2 * batch)
            lost = clock()
            loss.backward()
            backed = clock()
            optimizer.step()
            stepped = clock()
            del loss, prediction
            freed = clock()
            marks = (start, zeroed, predicted, lost, backed, stepped, freed)
            for index in range(len(PHASES)):
                totals[index] += marks[index + 1] - marks[index]
        return [total / steps * 1e6 for total in totals]

    return timed


def phase_times(engines: dict[str, Any], case: str) -> dict[str, dict[str, float]]:
    """Microseconds of each phase of both engines' eager steps, medians of alternated rounds."""
    shape, batch = CASES[case]
    timers = {label: _phase_timer(tnn, shape, batch) for label, tnn in engines.items()}
    samples: dict[str, list[list[float]]] = {label: [] for label in engines}
    collecting = gc.isenabled()
    gc.disable()
    try:
        for round_index in range(ROUNDS):
            labels = list(engines) if round_index % 2 else list(engines)[::-1]
            for label in labels:
                timers[label](20)  # warm up after the other engine's round
                samples[label].append(timers[label](200))
    finally:
        if collecting:
            gc.enable()
    return {
        label: {
            phase: round(statistics.median(column), 1)
            for phase, column in zip(PHASES, zip(*rounds, strict=True), strict=True)
        }
        for label, rounds in samples.items()
    }


def _quartiles(values: list[float]) -> list[float]:
    low, median, high = statistics.quantiles(values, n=4)
    return [round(low, 3), round(median, 3), round(high, 3)]


def step_ratios(engines: dict[str, Any], case: str) -> dict[str, Any]:
    """Both engines' steps against `TightMLP`, interleaved in this process."""
    shape, batch = CASES[case]
    timing, handwritten = _load("timing"), _load("handwritten")
    reference = importlib.import_module("tinygrad_nn.reference").HandwrittenMLP(shape, rng=0)
    x, y = batch_data(shape, batch)
    tight = handwritten.TightMLP(reference.weights, batch)
    candidates: dict[str, Callable[[], Any]] = {"tight": lambda: tight.step(x, y, 1e-3)}
    for label, tnn in engines.items():
        for kind, step in training_steps(tnn, shape, batch).items():
            candidates[f"{kind} {label}"] = step
    samples = {
        name: result["samples_s"]
        for name, result in timing.interleaved_medians(candidates, ROUNDS, 0.02).items()
    }
    results: dict[str, Any] = {}
    for name, times in samples.items():
        if name != "tight":
            ratios = [t / b for t, b in zip(times, samples["tight"], strict=True)]
            results[name] = round(statistics.median(ratios), 3)
    for kind in ("eager", "captured"):
        pairs = zip(samples[f"{kind} this"], samples[f"{kind} other"], strict=True)
        results[f"{kind} this/other (quartiles)"] = _quartiles([a / b for a, b in pairs])
    return results


def chain_times(engines: dict[str, Any]) -> dict[str, float]:
    """Build and backward seconds of the chain, the engines alternated, medians."""
    import numpy as np

    timing = _load("timing")
    runs: dict[str, list[tuple[float, float]]] = {label: [] for label in engines}
    for _ in range(CHAIN_RUNS):
        for label, tnn in engines.items():

            def leaf(tnn: Any = tnn) -> Any:
                return tnn.Tensor(np.array(3.0), requires_grad=True)

            runs[label].append(timing.chain_seconds(tnn.__name__, leaf, CHAIN_LENGTH))
    results = {}
    for label, times in runs.items():
        results[f"chain forward {label}"] = round(statistics.median(t[0] for t in times), 3)
        results[f"chain backward {label}"] = round(statistics.median(t[1] for t in times), 3)
    return results


def main(argv: list[str] | None = None) -> int:
    """Compare this checkout's engine with the tree named on the command line."""
    args = sys.argv[1:] if argv is None else argv
    case = "S"
    if len(args) == 3 and args[1] == "--case" and args[2] in CASES:
        args, case = args[:1], args[2]
    if len(args) != 1 or not (Path(args[0]) / "tinygrad_nn").is_dir():
        print(
            "usage: python benchmarks/engine_ab.py TREE [--case S|M] "
            "(TREE: a folder holding the other version's tinygrad_nn/)"
        )
        return 2
    sys.path.insert(0, str(ROOT))
    import tinygrad_nn

    _load("machine").set_blas_threads(1)
    with tempfile.TemporaryDirectory() as folder:
        engines = {"this": tinygrad_nn, "other": import_other(Path(args[0]), Path(folder))}
        results: dict[str, Any] = {"other": args[0], "case": case}
        results.update(step_ratios(engines, case))
        for label, phases in phase_times(engines, case).items():
            results[f"eager phases {label} (us)"] = phases
        if case == "S":
            results.update(chain_times(engines))
    gc.enable()
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
