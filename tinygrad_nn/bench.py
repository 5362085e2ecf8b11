"""`tinygrad-nn bench`: training-step speed and memory against the hand-written network.

The yardstick is `tinygrad_nn.reference.HandwrittenMLP`: the article's network with its
backward pass written by hand in NumPy (same arrays, same BLAS calls, no graph). Every
case runs the candidates in one process, interleaved round by round (the order rotates
each round), and reports the median time per call and its ratio to the hand-written one;
on a shared machine only such ratios mean something.

Cases:
    step        forward, loss, backward and SGD update of MLPs S = [1, 16, 2] (batch 32,
                the article's), M = [64, 256, 256, 10] (batch 128) and L = [784, 1024,
                1024, 10] (batch 512), float64 and float32; tinygrad_nn eager, tinygrad_nn
                with `tinygrad_nn.capture.capture_step`, and PyTorch CPU eager if installed
    inference   the ``no_grad`` forward against `HandwrittenMLP.forward`
    ops         forward + backward of add, mul, matmul, relu and sum on tiny arrays,
                against the same arithmetic written in NumPy
    memory      peak traced memory (tracemalloc) of one L step

``--quick`` runs every case once on shrunken M and L networks (`QUICK_SIZES`): a smoke
test that takes seconds, not a measurement.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import json
import math
import os
import platform
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import tinygrad_nn as tnn
from tinygrad_nn._files import atomic_path
from tinygrad_nn.capture import capture_step
from tinygrad_nn.losses import squared_error
from tinygrad_nn.optim import SGD
from tinygrad_nn.reference import HandwrittenMLP
from tinygrad_nn.tensor import Tensor

__all__ = ["SIZES", "TARGETS", "add_arguments", "machine_info", "run", "run_benchmarks"]

# name -> (layer widths, batch size)
SIZES: dict[str, tuple[list[int], int]] = {
    "S": ([1, 16, 2], 32),
    "M": ([64, 256, 256, 10], 128),
    "L": ([784, 1024, 1024, 10], 512),
}
DTYPES = ("float64", "float32")
# --quick: the same cases on narrow networks and small batches (a smoke test).
QUICK_SIZES: dict[str, tuple[list[int], int]] = {
    "S": SIZES["S"],
    "M": ([64, 32, 32, 10], 8),
    "L": ([784, 64, 64, 10], 8),
}
LEARNING_RATE = 1e-3  # small, so thousands of steps on one batch stay well away from NaN
OP_SHAPE = (8, 8)

# The targets: ratio to hand-written (lower is better) unless said otherwise.
TARGETS: dict[str, float] = {
    "step S": 1.5,
    "step M": 1.15,
    "step L": 1.05,
    "inference S": 1.3,
    "float32 speed-up L": 1.7,  # float64 time / float32 time, at least
    "memory L": 1.25,
}

Candidates = dict[str, Callable[[], Any]]


# --------------------------------------------------------------------------- timing


def interleaved_medians(candidates: Candidates, rounds: int, batch_seconds: float) -> dict:
    """Median seconds per call of each candidate, measured in interleaved rounds.

    Each candidate is called once to warm up, then calibrated to run long enough per
    batch (``batch_seconds``); each round times one batch of every candidate, rotating
    the order. The cyclic garbage collector is off while timing, as in `timeit`.
    """
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
            "rounds": len(values),
            "calls_per_round": numbers[name],
        }
        for name, values in samples.items()
    }


def peak_memory(fn: Callable[[], Any]) -> int:
    """Peak bytes traced by tracemalloc during one call of ``fn``, after two warm-up calls."""
    fn()
    fn()
    gc.collect()
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak - baseline


# --------------------------------------------------------------------------- the candidates


def _data(shape: list[int], batch: int, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    x = rng.random((batch, shape[0])).astype(dtype)
    y = rng.random((batch, shape[-1])).astype(dtype)
    return x, y


def step_candidates(
    shape: list[int], batch: int, dtype: np.dtype, torch: Any = None
) -> tuple[Candidates, Candidates]:
    """Training steps of the same network from the same weights; and inference forwards.

    The tinygrad_nn step is what a user writes: MLP, `squared_error` scaled by
    1 / (2 batch) as the hand-written cost is, backward, SGD. Each candidate owns its
    copy of the weights, so they drift apart slowly; the arithmetic does not change.
    """
    reference = HandwrittenMLP(shape, rng=0, dtype=dtype)
    x, y = _data(shape, batch, dtype)
    scale = 2 * batch

    eager_model = reference.to_module()
    eager_optimizer = SGD(eager_model.parameters(), lr=LEARNING_RATE)

    def eager_step() -> None:
        eager_optimizer.zero_grad()
        loss = squared_error(eager_model(Tensor(x)), y) / scale
        loss.backward()
        eager_optimizer.step()

    captured_model = reference.to_module()
    captured_optimizer = SGD(captured_model.parameters(), lr=LEARNING_RATE)

    @capture_step
    def captured_loss(inputs: Tensor, targets: Tensor) -> Tensor:
        return squared_error(captured_model(inputs), targets) / scale

    def captured_step() -> None:
        captured_optimizer.zero_grad()
        captured_loss(x, y)
        captured_optimizer.step()

    def handwritten_step() -> None:
        reference.step(x, y, LEARNING_RATE)

    def eager_inference() -> None:
        with tnn.no_grad():
            eager_model(Tensor(x))

    steps = {
        "handwritten": handwritten_step,
        "tinygrad_nn": eager_step,
        "captured": captured_step,
    }
    predict = capture_step(lambda inputs: eager_model(inputs), backward=False)
    inference = {
        "handwritten": lambda: reference.forward(x),
        "tinygrad_nn": eager_inference,
        "captured": lambda: predict(x),
    }
    if torch is not None:
        steps["torch"], inference["torch"] = _torch_candidates(torch, reference, x, y)
    return steps, inference


def _torch_candidates(
    torch: Any, reference: HandwrittenMLP, x: np.ndarray, y: np.ndarray
) -> tuple[Callable[[], Any], Callable[[], Any]]:
    """PyTorch CPU eager: nn.Linear + nn.ReLU, mse_loss(reduction="sum"), optim.SGD."""
    dtype = getattr(torch, str(x.dtype))
    layers = []
    for weight in reference.weights:
        linear = torch.nn.Linear(weight.shape[1] - 1, weight.shape[0], dtype=dtype)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(weight[:, 1:].copy()))
            linear.bias.copy_(torch.from_numpy(weight[:, 0].copy()))
        layers += [linear, torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers)
    optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE)
    scale = 2 * x.shape[0]
    mse_loss = torch.nn.functional.mse_loss

    def step() -> None:
        optimizer.zero_grad()
        loss = mse_loss(model(torch.from_numpy(x)), torch.from_numpy(y), reduction="sum") / scale
        loss.backward()
        optimizer.step()

    def inference() -> None:
        with torch.no_grad():
            model(torch.from_numpy(x))

    return step, inference


def check_agreement(shape: list[int], batch: int, dtype: np.dtype) -> float:
    """Largest relative weight difference after one eager step and one hand-written step
    from the same weights: the two do the same arithmetic (up to rounding)."""
    reference = HandwrittenMLP(shape, rng=0, dtype=dtype)
    model = reference.to_module()
    x, y = _data(shape, batch, dtype)
    optimizer = SGD(model.parameters(), lr=0.1)
    (squared_error(model(Tensor(x)), y) / (2 * batch)).backward()
    optimizer.step()
    reference.step(x, y, 0.1)
    after = HandwrittenMLP.from_module(model)
    return max(
        float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), 1e-30))
        for a, b in zip(after.weights, reference.weights, strict=True)
    )


def op_candidates(torch: Any = None) -> dict[str, Candidates]:
    """Forward + backward of one op on tiny float64 arrays: tinygrad_nn, by hand, torch."""
    rng = np.random.default_rng(2)
    a_data, b_data = rng.normal(size=OP_SHAPE), rng.normal(size=OP_SHAPE)
    upstream = np.ones(OP_SHAPE)
    a = Tensor(a_data, requires_grad=True)
    b = Tensor(b_data, requires_grad=True)

    def framework(op: Callable[[Tensor, Tensor], Tensor], scalar: bool = False) -> Callable:
        def call() -> None:
            out = op(a, b)
            out.backward(None if scalar else upstream)
            a.grad = b.grad = None

        return call

    def relu_by_hand() -> None:
        out = np.maximum(a_data, 0)
        upstream * (out > 0)

    def sum_by_hand() -> None:
        a_data.sum()
        grad = np.empty_like(a_data)
        grad[...] = 1.0

    cases: dict[str, Candidates] = {
        "add": {
            "numpy": lambda: (a_data + b_data, upstream.copy(), upstream.copy()),
            "tinygrad_nn": framework(lambda p, q: p + q),
        },
        "mul": {
            "numpy": lambda: (a_data * b_data, upstream * b_data, upstream * a_data),
            "tinygrad_nn": framework(lambda p, q: p * q),
        },
        "matmul": {
            "numpy": lambda: (a_data @ b_data, upstream @ b_data.T, a_data.T @ upstream),
            "tinygrad_nn": framework(lambda p, q: p @ q),
        },
        "relu": {"numpy": relu_by_hand, "tinygrad_nn": framework(lambda p, q: p.relu())},
        "sum": {"numpy": sum_by_hand, "tinygrad_nn": framework(lambda p, q: p.sum(), True)},
    }
    if torch is not None:
        ta = torch.from_numpy(a_data.copy()).requires_grad_()
        tb = torch.from_numpy(b_data.copy()).requires_grad_()
        t_upstream = torch.from_numpy(upstream)

        def torch_call(op: Callable[[Any, Any], Any], scalar: bool = False) -> Callable:
            def call() -> None:
                out = op(ta, tb)
                out.backward(None if scalar else t_upstream)
                ta.grad = tb.grad = None

            return call

        cases["add"]["torch"] = torch_call(lambda p, q: p + q)
        cases["mul"]["torch"] = torch_call(lambda p, q: p * q)
        cases["matmul"]["torch"] = torch_call(lambda p, q: p @ q)
        cases["relu"]["torch"] = torch_call(lambda p, q: p.relu())
        cases["sum"]["torch"] = torch_call(lambda p, q: p.sum(), True)
    return cases


# --------------------------------------------------------------------------- machine


def _cpu_name() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _blas_name() -> str:
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas['name']} {blas.get('version', '')}".strip()
    except Exception:  # older NumPy, or a build without the information
        return "unknown"


def _openblas_function(kind: str) -> Any:
    """``openblas_{kind}_num_threads`` from the OpenBLAS bundled with NumPy, or None."""
    package = Path(np.__file__).parent
    for library in sorted(
        [*package.parent.glob("numpy.libs/*openblas*"), *package.glob(".dylibs/*openblas*")]
    ):
        with contextlib.suppress(OSError):
            handle = ctypes.CDLL(str(library))
            for prefix in ("scipy_openblas", "openblas"):
                for suffix in ("64_", ""):
                    function = getattr(handle, f"{prefix}_{kind}_num_threads{suffix}", None)
                    if function is not None:
                        return function
    return None


def blas_threads() -> int:
    """Threads NumPy's BLAS uses (threadpoolctl if installed, then OpenBLAS, then a guess)."""
    with contextlib.suppress(ImportError):
        from threadpoolctl import threadpool_info

        counts = [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]
        if counts:
            return int(counts[0])
    getter = _openblas_function("get")
    if getter is not None:
        return int(getter())
    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        with contextlib.suppress(KeyError, ValueError):
            return int(os.environ[variable])
    return os.cpu_count() or 1


def set_blas_threads(count: int) -> None:
    """Make NumPy's BLAS use ``count`` threads from now on (threadpoolctl or OpenBLAS)."""
    with contextlib.suppress(ImportError):
        from threadpoolctl import threadpool_limits

        threadpool_limits(count, user_api="blas")
        return
    setter = _openblas_function("set")
    if setter is None:
        raise RuntimeError(
            "bench: cannot set the BLAS thread count here; install threadpoolctl or start "
            f"the process with OPENBLAS_NUM_THREADS={count} (or OMP_NUM_THREADS)"
        )
    setter(count)


def machine_info(torch: Any = None) -> dict[str, Any]:
    """The machine and libraries the numbers come from."""
    info = {
        "cpu": _cpu_name(),
        "cores": os.cpu_count(),
        "blas": _blas_name(),
        "blas_threads": blas_threads(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "tinygrad_nn": tnn.__version__,
        "platform": platform.platform(),
    }
    if torch is not None:
        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    return info


# --------------------------------------------------------------------------- the run


def run_benchmarks(
    quick: bool = False,
    use_torch: bool = True,
    threads: int | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Measure every case; returns the report as a JSON-ready dict."""
    if threads is not None:
        set_blas_threads(threads)
    torch = _import_torch() if use_torch else None
    if torch is not None:
        torch.set_num_threads(blas_threads())  # the same thread count for both
    machine = machine_info(torch)
    log(_machine_line(machine))
    # (rounds, seconds per timed batch) per size: small cases need many short repeats.
    plan = {"S": (31, 0.02), "M": (15, 0.02), "L": (7, 0.0)}
    if quick:
        plan = {name: (1, 0.0) for name in plan}

    report: dict[str, Any] = {
        "machine": machine,
        "settings": {"quick": quick, "plan": plan, "learning_rate": LEARNING_RATE},
        "steps": [],
        "inference": [],
        "ops": [],
        "memory": [],
    }
    for size, (shape, batch) in (QUICK_SIZES if quick else SIZES).items():
        rounds, batch_seconds = plan[size]
        for dtype_name in DTYPES:
            dtype = np.dtype(dtype_name)
            steps, inference = step_candidates(shape, batch, dtype, torch)
            common = {"case": size, "shape": shape, "batch": batch, "dtype": dtype_name}
            timings = interleaved_medians(steps, rounds, batch_seconds)
            row = {**common, **_ratios(timings), "agreement": check_agreement(shape, batch, dtype)}
            report["steps"].append(row)
            log(_progress("step", row))
            row = {**common, **_ratios(interleaved_medians(inference, rounds, batch_seconds))}
            report["inference"].append(row)
            log(_progress("inference", row))
            if size == "L":
                memory = {name: peak_memory(fn) for name, fn in steps.items() if name != "torch"}
                base = memory["handwritten"]
                row = {**common, "bytes": memory}
                row["ratio"] = {name: value / base for name, value in memory.items()}
                report["memory"].append(row)
                log(f"memory L {dtype_name}: {_ratio_text(row['ratio'])}")
    for name, candidates in op_candidates(torch).items():
        timings = interleaved_medians(candidates, plan["S"][0], plan["S"][1] / 2)
        row = {"op": name, "shape": list(OP_SHAPE), "dtype": "float64"}
        row["seconds"] = {key: value["median_s"] for key, value in timings.items()}
        row["overhead_s"] = row["seconds"]["tinygrad_nn"] - row["seconds"]["numpy"]
        report["ops"].append(row)
    report["targets"] = evaluate_targets(report)
    return report


def _import_torch() -> Any:
    try:
        import torch
    except ImportError:
        return None
    return torch


def _ratios(timings: dict[str, dict[str, Any]]) -> dict[str, Any]:
    base = timings["handwritten"]["median_s"]
    return {
        "seconds": {name: value["median_s"] for name, value in timings.items()},
        "ratio": {name: value["median_s"] / base for name, value in timings.items()},
        "timing": timings,
    }


def evaluate_targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets, each with tinygrad_nn eager's and the captured step's value.

    A target is met (``met``) when either way of running meets it: `capture_step` is the
    documented mode for networks too small for eager execution's per-op overhead.
    """
    rows = []

    def add(name: str, case: str, eager: float, captured: float | None, higher: bool) -> None:
        limit = TARGETS[name]

        def met(value: float | None) -> bool | None:
            if value is None:
                return None
            return value >= limit if higher else value <= limit

        rows.append(
            {
                "target": name,
                "case": case,
                "limit": limit,
                "direction": "≥" if higher else "≤",
                "eager": eager,
                "captured": captured,
                "eager_met": met(eager),
                "captured_met": met(captured),
                "met": bool(met(eager) or met(captured)),
            }
        )

    for row in report["steps"]:
        ratio = row["ratio"]
        add(
            f"step {row['case']}",
            f"{row['case']} {row['dtype']}",
            ratio["tinygrad_nn"],
            ratio["captured"],
            False,
        )
    for row in report["inference"]:
        if row["case"] == "S":
            ratio = row["ratio"]
            add("inference S", f"S {row['dtype']}", ratio["tinygrad_nn"], ratio["captured"], False)
    l_steps = {row["dtype"]: row["seconds"] for row in report["steps"] if row["case"] == "L"}
    if set(l_steps) == {"float32", "float64"}:
        speedup = {
            name: l_steps["float64"][name] / l_steps["float32"][name]
            for name in ("tinygrad_nn", "captured")
        }
        add("float32 speed-up L", "L", speedup["tinygrad_nn"], speedup["captured"], True)
    for row in report["memory"]:
        ratio = row["ratio"]
        add("memory L", f"L {row['dtype']}", ratio["tinygrad_nn"], ratio["captured"], False)
    return rows


# --------------------------------------------------------------------------- the report


def _time_text(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def _ratio_text(ratios: dict[str, float]) -> str:
    return ", ".join(f"{name} {value:.2f}×" for name, value in ratios.items())


def _progress(kind: str, row: dict[str, Any]) -> str:
    return f"{kind} {row['case']} {row['dtype']}: {_ratio_text(row['ratio'])}"


def _machine_line(machine: dict[str, Any]) -> str:
    line = (
        f"{machine['cpu']}, {machine['cores']} cores; NumPy {machine['numpy']} with "
        f"{machine['blas']} ({_threads_text(machine['blas_threads'])}); "
        f"Python {machine['python']}"
    )
    if "torch" in machine:
        line += f"; PyTorch {machine['torch']} ({_threads_text(machine['torch_threads'])})"
    return line


def _threads_text(count: int) -> str:
    return f"{count} thread" if count == 1 else f"{count} threads"


def _timing_rows(rows: list[dict[str, Any]]) -> list[list[str]]:
    """Table cells for step or inference results: the case, then each candidate's time."""
    table = []
    for row in rows:
        cells = [row["case"], row["dtype"], str(row["batch"])]
        cells.append(_time_text(row["seconds"]["handwritten"]))
        for name in ("tinygrad_nn", "captured", "torch"):
            cells += _cell(row["seconds"], row["ratio"], name)
        table.append(cells)
    return table


def _cell(seconds: dict[str, float], ratio: dict[str, float], name: str) -> list[str]:
    if name not in seconds:
        return ["–", "–"]
    return [_time_text(seconds[name]), f"{ratio[name]:.2f}×"]


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def to_markdown(report: dict[str, Any]) -> str:
    """The report as Markdown tables (what ``--markdown`` writes and the command prints)."""
    settings = report["settings"]
    lines = ["# tinygrad_nn benchmark", "", f"Machine: {_machine_line(report['machine'])}.", ""]
    lines.append(
        "Times are medians of interleaved rounds in one process; ratios are to the "
        "hand-written NumPy network (`HandwrittenMLP`), lower is better."
    )
    if settings["quick"]:
        lines.append("**Quick run** (a smoke test on shrunken M and L): not a measurement.")
    step_header = ["case", "dtype", "batch", "hand-written", "tinygrad_nn", "ratio"]
    step_header += ["captured", "ratio", "PyTorch", "ratio"]
    lines += ["", "## Training step (forward, loss, backward, SGD update)", ""]
    lines += _table(step_header, _timing_rows(report["steps"]))
    lines += ["", "## Inference (`no_grad` forward)", ""]
    lines += _table(step_header, _timing_rows(report["inference"]))
    rows = []
    for row in report["ops"]:
        seconds = row["seconds"]
        cells = [row["op"], _time_text(seconds["numpy"]), _time_text(seconds["tinygrad_nn"])]
        cells.append(_time_text(row["overhead_s"]))
        cells.append(_time_text(seconds["torch"]) if "torch" in seconds else "–")
        rows.append(cells)
    shape = "×".join(str(n) for n in OP_SHAPE)
    lines += ["", f"## Per-op cost, forward + backward ({shape} float64)", ""]
    lines += _table(["op", "NumPy by hand", "tinygrad_nn", "overhead", "PyTorch"], rows)
    rows = []
    for row in report["memory"]:
        cells = [row["dtype"], str(row["batch"])]
        for name in ("handwritten", "tinygrad_nn", "captured"):
            cells.append(f"{row['bytes'][name] / 2**20:.1f} MiB")
            if name != "handwritten":
                cells.append(f"{row['ratio'][name]:.2f}×")
        rows.append(cells)
    lines += ["", "## Peak memory of one L step (tracemalloc)", ""]
    lines += _table(
        ["dtype", "batch", "hand-written", "tinygrad_nn", "ratio", "captured", "ratio"], rows
    )
    rows = []
    for row in report["targets"]:
        target = f"{row['target']} {row['direction']} {row['limit']}"
        cells = [target, row["case"], _verdict(row["eager"], row["eager_met"])]
        cells.append(_verdict(row["captured"], row["captured_met"]))
        rows.append(cells)
    lines += ["", "## Targets", ""]
    lines += _table(["target", "case", "tinygrad_nn eager", "captured"], rows)
    lines += ["", targets_summary(report["targets"])]
    return "\n".join(lines) + "\n"


def targets_summary(targets: list[dict[str, Any]]) -> str:
    """One line: whether every target was met in this run, and how (eager or captured)."""
    missed = [f"{row['target']} ({row['case']})" for row in targets if not row["met"]]
    if missed:
        return f"**Targets missed in this run:** {', '.join(missed)}."
    captured_only = sorted(
        {row["target"] for row in targets if row["captured_met"] and not row["eager_met"]}
    )
    how = f", {', '.join(captured_only)} with `capture_step`" if captured_only else ""
    return f"**Every target met in this run** (eager{how})."


def _verdict(value: float | None, met: bool | None) -> str:
    if value is None:
        return "–"
    return f"{value:.3f} {'met' if met else 'MISSED'}"


def _write_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (see `tinygrad_nn._files.atomic_path`)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as temporary:
        temporary.write_text(text, encoding="utf-8")


# --------------------------------------------------------------------------- command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``tinygrad-nn bench``."""
    parser.add_argument("--quick", action="store_true", help="a few-second smoke run")
    parser.add_argument("--json", metavar="PATH", help="write the full report as JSON")
    parser.add_argument("--markdown", metavar="PATH", help="write the tables as Markdown")
    parser.add_argument(
        "--threads", type=int, metavar="N", help="BLAS (and PyTorch) threads (default: as set)"
    )
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorch even if installed")


def run(args: argparse.Namespace) -> int:
    """Run the benchmark, print the Markdown report, write the requested files."""
    if args.threads is not None and args.threads < 1:
        raise SystemExit("bench: --threads must be at least 1")
    report = run_benchmarks(
        quick=args.quick,
        use_torch=not args.no_torch,
        threads=args.threads,
        log=lambda line: print(line, file=sys.stderr, flush=True),
    )
    markdown = to_markdown(report)
    print(markdown)
    if args.json:
        _write_atomic(args.json, json.dumps(report, indent=2) + "\n")
    if args.markdown:
        _write_atomic(args.markdown, markdown)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m tinygrad_nn.bench`` (the same as ``tinygrad-nn bench``)."""
    parser = argparse.ArgumentParser(prog="tinygrad-nn bench", description=__doc__.split("\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
