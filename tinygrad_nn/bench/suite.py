"""`run_benchmarks`: every case of the benchmark in one process, as a JSON-ready report."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tinygrad_nn.bench.cases import (
    HANDWRITTEN,
    LEARNING_RATE,
    OP_SHAPE,
    Network,
    agreement,
    chain_times,
    op_candidates,
)
from tinygrad_nn.bench.machine import blas_threads, machine_info, set_blas_threads
from tinygrad_nn.bench.report import evaluate_targets, ratios
from tinygrad_nn.bench.timing import interleaved_medians, peak_memory

__all__ = ["CHAIN_LENGTH", "DTYPES", "QUICK_SIZES", "SIZES", "run_benchmarks"]

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
CHAIN_LENGTH = 1_000_000
QUICK_CHAIN_LENGTH = 1_000
# (rounds, least seconds per timed batch) per size: small cases need many short repeats.
PLAN = {"S": (31, 0.02), "M": (15, 0.02), "L": (9, 0.0)}


def run_benchmarks(
    quick: bool = False,
    use_torch: bool = True,
    threads: int | None = None,
    chain_length: int | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Measure every case; returns the report as a JSON-ready dict.

    Args:
        quick: one round of every case on the shrunken `QUICK_SIZES` (a smoke test;
            no targets are judged).
        use_torch: add PyTorch's candidates when it is installed.
        threads: BLAS (and PyTorch) threads; None leaves them as they are.
        chain_length: nodes of the graph-building chain; None for the default
            (`CHAIN_LENGTH`, 1,000 with ``quick``), 0 to skip it.
        log: called with one line of progress per case.

    Returns:
        ``machine``, ``settings``, ``steps``, ``inference``, ``ops``, ``memory``,
        ``speedup`` (float32 against float64 at L), ``chain`` and ``targets`` (empty for
        a quick run).

    Example:
        >>> report = run_benchmarks(quick=True, use_torch=False, log=lambda line: None)
        >>> sorted(report["steps"][0]["seconds"])[:2]
        ['captured', 'floor']
    """
    if threads is not None:
        set_blas_threads(threads)
    torch = _import_torch() if use_torch else None
    if torch is not None:
        torch.set_num_threads(blas_threads())  # the same thread count for both
    if chain_length is None:
        chain_length = QUICK_CHAIN_LENGTH if quick else CHAIN_LENGTH
    machine = machine_info(torch)
    plan = {name: (1, 0.0) for name in PLAN} if quick else PLAN
    report: dict[str, Any] = {
        "machine": machine,
        "settings": {
            "quick": quick,
            "plan": plan,
            "learning_rate": LEARNING_RATE,
            "chain_length": chain_length,
        },
        "steps": [],
        "inference": [],
        "ops": [],
        "memory": [],
        "speedup": {},
        "chain": {},
        "targets": [],
    }
    for size, (shape, batch) in (QUICK_SIZES if quick else SIZES).items():
        rounds, batch_seconds = plan[size]
        for dtype_name in DTYPES:
            network = Network(shape, batch, np.dtype(dtype_name), torch)
            common = {"case": size, "shape": shape, "batch": batch, "dtype": dtype_name}
            factories = network.step_factories()
            steps = {name: make() for name, make in factories.items()}
            steps["floor"] = network.floor()
            timings = interleaved_medians(steps, rounds, batch_seconds)
            row = {**common, **ratios(timings), "agreement": agreement(network)}
            report["steps"].append(row)
            log(_progress("step", row))
            inference = {name: make() for name, make in network.inference_factories().items()}
            row = {**common, **ratios(interleaved_medians(inference, rounds, batch_seconds))}
            report["inference"].append(row)
            log(_progress("inference", row))
            del steps, inference
            if size == "L":
                memory = {
                    name: peak_memory(make) for name, make in factories.items() if name != "torch"
                }
                yardstick = min(HANDWRITTEN, key=memory.__getitem__)
                row = {**common, "yardstick": yardstick, "bytes": memory}
                row["ratio"] = {name: value / memory[yardstick] for name, value in memory.items()}
                report["memory"].append(row)
                log(f"memory L {dtype_name}: {_ratio_text(row['ratio'])}")
    shape, batch = (QUICK_SIZES if quick else SIZES)["L"]
    report["speedup"] = dtype_speedup(shape, batch, plan["L"][0])
    log(f"float32 speed-up L: {_ratio_text(report['speedup']['speedup'])}")
    for name, candidates in op_candidates(torch).items():
        timings = interleaved_medians(candidates, plan["S"][0], plan["S"][1] / 2)
        row = {"op": name, "shape": list(OP_SHAPE), "dtype": "float64"}
        row["seconds"] = {key: value["median_s"] for key, value in timings.items()}
        row["overhead_s"] = row["seconds"]["tinygrad_nn"] - row["seconds"]["numpy"]
        report["ops"].append(row)
    if chain_length:
        report["chain"] = {"length": chain_length, **chain_times(chain_length, torch)}
        log(
            "chain: "
            + ", ".join(
                f"{name} {value['forward_s']:.2f} s + {value['backward_s']:.2f} s"
                for name, value in report["chain"].items()
                if name != "length"
            )
        )
    if not quick:
        report["targets"] = evaluate_targets(report)
    return report


def dtype_speedup(shape: list[int], batch: int, rounds: int) -> dict[str, Any]:
    """float64 time / float32 time of the same steps, both dtypes in one interleaved timing.

    Timed apart (in the step rows) the two dtypes meet different spells of a shared
    machine; interleaved, the ratio holds.
    """
    networks = {name: Network(shape, batch, np.dtype(name)) for name in DTYPES}
    names = ("tight", "tinygrad_nn", "captured")
    candidates = {
        f"{name} {dtype}": networks[dtype].step_factories()[name]()
        for name in names
        for dtype in DTYPES
    }
    timings = interleaved_medians(candidates, rounds, 0.0)
    seconds = {
        dtype: {name: timings[f"{name} {dtype}"]["median_s"] for name in names} for dtype in DTYPES
    }
    return {
        "case": "L",
        "shape": shape,
        "batch": batch,
        "seconds": seconds,
        "speedup": {name: seconds["float64"][name] / seconds["float32"][name] for name in names},
    }


def _import_torch() -> Any:
    try:
        import torch
    except ImportError:
        return None
    return torch


def _ratio_text(ratios: dict[str, float]) -> str:
    return ", ".join(f"{name} {value:.2f}×" for name, value in ratios.items())


def _progress(kind: str, row: dict[str, Any]) -> str:
    return f"{kind} {row['case']} {row['dtype']}: {_ratio_text(row['ratio'])}"
