"""`tinygrad-nn bench --quick` runs and writes complete reports (it measures; no timing is
asserted here)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tinygrad_nn import bench
from tinygrad_nn.cli import main

STEP_CANDIDATES = {"handwritten", "tinygrad_nn", "captured"}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bench")
    json_path, markdown_path = folder / "report.json", folder / "report.md"
    status = main(
        [
            "bench",
            "--quick",
            "--no-torch",
            "--json",
            str(json_path),
            "--markdown",
            str(markdown_path),
        ]
    )
    return status, json.loads(json_path.read_text()), markdown_path.read_text()


def test_quick_run_succeeds_and_describes_the_machine(quick_run):
    status, report, markdown = quick_run
    assert status == 0
    machine = report["machine"]
    for key in ("cpu", "cores", "blas", "blas_threads", "python", "numpy"):
        assert machine[key], key
    assert report["settings"]["quick"] is True
    assert "Machine:" in markdown and str(machine["blas_threads"]) in markdown


def test_every_step_and_inference_case_is_reported(quick_run):
    _, report, markdown = quick_run
    expected = {(size, dtype) for size in bench.SIZES for dtype in ("float64", "float32")}
    for section in ("steps", "inference"):
        rows = report[section]
        assert {(row["case"], row["dtype"]) for row in rows} == expected
        for row in rows:
            assert set(row["seconds"]) >= STEP_CANDIDATES
            assert all(seconds > 0 for seconds in row["seconds"].values())
            assert row["ratio"]["handwritten"] == 1.0
    for row in report["steps"]:  # eager and hand-written did the same arithmetic
        assert row["agreement"] < (1e-4 if row["dtype"] == "float32" else 1e-10)
    for heading in ("## Training step", "## Inference", "## Per-op cost", "## Peak memory"):
        assert heading in markdown
    for size in bench.SIZES:
        assert f"| {size} | float64 |" in markdown and f"| {size} | float32 |" in markdown


def test_ops_memory_and_targets_are_reported(quick_run):
    _, report, markdown = quick_run
    assert [row["op"] for row in report["ops"]] == ["add", "mul", "matmul", "relu", "sum"]
    for row in report["ops"]:
        assert {"numpy", "tinygrad_nn"} <= set(row["seconds"])
        assert f"| {row['op']} |" in markdown
    assert {row["dtype"] for row in report["memory"]} == {"float64", "float32"}
    for row in report["memory"]:
        assert all(size > 0 for size in row["bytes"].values())
    names = {row["target"] for row in report["targets"]}
    assert names == set(bench.TARGETS)
    for row in report["targets"]:
        assert isinstance(row["eager_met"], bool)
        assert np.isfinite(row["eager"])
    assert "## Targets" in markdown


def test_peak_memory_sees_an_allocation():
    assert bench.peak_memory(lambda: np.ones(1 << 20)) >= 8 << 20


def test_interleaved_medians_calls_every_candidate():
    calls = {"a": 0, "b": 0}

    def make(name):
        def fn():
            calls[name] += 1

        return fn

    timings = bench.interleaved_medians({"a": make("a"), "b": make("b")}, 3, 0.0)
    assert set(timings) == {"a", "b"}
    assert all(timing["rounds"] == 3 for timing in timings.values())
    assert calls["a"] >= 5 and calls["b"] >= 5  # warm-up, calibration, three rounds


def _target_report(step_s_eager, step_s_captured):
    """A report with every case at a comfortable ratio but the S step as given."""
    ratio = {"handwritten": 1.0, "tinygrad_nn": 0.9, "captured": 0.9}
    seconds = {"handwritten": 1.0, "tinygrad_nn": 1.0, "captured": 1.0}
    steps = []
    for case in ("S", "M", "L"):
        for dtype in ("float64", "float32"):
            row_ratio = dict(ratio)
            if case == "S":
                row_ratio.update(tinygrad_nn=step_s_eager, captured=step_s_captured)
            row_seconds = dict(seconds)
            if case == "L" and dtype == "float32":
                row_seconds = {name: 0.5 for name in seconds}
            steps.append({"case": case, "dtype": dtype, "ratio": row_ratio, "seconds": row_seconds})
    inference = [{"case": "S", "dtype": "float64", "ratio": ratio}]
    memory = [{"case": "L", "dtype": "float64", "ratio": ratio}]
    return {"steps": steps, "inference": inference, "memory": memory}


def test_a_target_counts_as_met_in_either_mode_and_the_summary_says_how():
    targets = bench.evaluate_targets(_target_report(1.8, 1.2))
    step_s = [row for row in targets if row["target"] == "step S"]
    assert all(not row["eager_met"] and row["captured_met"] and row["met"] for row in step_s)
    speedup = next(row for row in targets if row["target"] == "float32 speed-up L")
    assert speedup["eager"] == 2.0 and speedup["met"]
    assert bench.targets_summary(targets) == (
        "**Every target met in this run** (eager, step S with `capture_step`)."
    )
    targets = bench.evaluate_targets(_target_report(1.8, 1.6))
    assert not any(row["met"] for row in targets if row["target"] == "step S")
    summary = bench.targets_summary(targets)
    assert summary.startswith("**Targets missed") and "step S (S float64)" in summary
