"""The benchmark: its yardstick is honest, its harness reports what it measured, its command
refuses bad arguments before work. Nothing here asserts a timing."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygrad_nn import bench
from tinygrad_nn.autograd import make_node
from tinygrad_nn.bench.cases import LEARNING_RATE, Network, agreement, chain_times
from tinygrad_nn.bench.handwritten import SIGN_MASK_LIMIT, TightMLP, gemm_floor
from tinygrad_nn.bench.report import ratios
from tinygrad_nn.bench.timing import interleaved_medians, peak_memory
from tinygrad_nn.cli import main
from tinygrad_nn.losses import squared_error
from tinygrad_nn.ops.core import RELU_SIGN_SIZE, Relu
from tinygrad_nn.reference import HandwrittenMLP
from tinygrad_nn.testing.strategies import mlp_shapes

CANDIDATES = {"tight", "handwritten", "tinygrad_nn", "captured"}


def _data(shape, batch, seed=3):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(batch, shape[0])), rng.normal(size=(batch, shape[-1]))


# ------------------------------------------------------------------ the yardstick is honest


@settings(max_examples=25)
@given(
    shape=mlp_shapes(max_layers=3, max_width=9), batch=st.integers(1, 9), seed=st.integers(0, 99)
)
def test_tight_yardstick_has_the_oracles_gradients_cost_and_update(shape, batch, seed):
    oracle = HandwrittenMLP(shape, rng=seed)
    x, y = _data(shape, batch, seed)
    tight = TightMLP(oracle.weights, batch)
    np.testing.assert_allclose(tight.forward(x), oracle.forward(x), rtol=1e-13, atol=1e-15)
    for ours, theirs in zip(tight.weight_gradients(x, y), oracle.gradients(x, y), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-14)
    for _ in range(3):  # several steps: the buffers reused across calls hold no stale state
        cost = tight.step(x, y, 0.3)
        assert cost == pytest.approx(oracle.step(x, y, 0.3), rel=1e-12)
    for ours, theirs in zip(tight.weights, oracle.weights, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-14)


def test_both_forms_of_the_relu_derivative_match_the_oracle():
    # one hidden layer below the limit (sign form), one above it (boolean mask)
    width = SIGN_MASK_LIMIT // 32 + 8
    shape, batch = [3, 5, width, 2], 32
    assert 32 * 5 < SIGN_MASK_LIMIT < batch * width
    oracle = HandwrittenMLP(shape, rng=1)
    x, y = _data(shape, batch)
    x *= 4  # many hidden units on both sides of the kink
    tight = TightMLP(oracle.weights, batch)
    for ours, theirs in zip(tight.weight_gradients(x, y), oracle.gradients(x, y), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-14)


def test_tight_yardstick_keeps_float32_and_copies_the_weights():
    oracle = HandwrittenMLP([2, 4, 1], rng=0, dtype=np.float32)
    x, y = (a.astype(np.float32) for a in _data([2, 4, 1], 6))
    tight = TightMLP(oracle.weights, 6)
    before = [w.copy() for w in oracle.weights]
    tight.step(x, y, 0.1)
    assert all(w.dtype == np.float32 for w in tight.weights)
    assert tight.forward(x).dtype == np.float32
    for original, kept in zip(oracle.weights, before, strict=True):
        np.testing.assert_array_equal(original, kept)


def test_tight_yardstick_refuses_mismatched_weights():
    with pytest.raises(ValueError, match=r"weights\[1\] has shape \(2, 4\).*needs 5 columns"):
        TightMLP([np.zeros((4, 2)), np.zeros((2, 4))], 3)
    with pytest.raises(ValueError, match="batch must be a positive int"):
        TightMLP([np.zeros((4, 2))], 0)


def test_gemm_floor_leaves_the_weights_alone():
    oracle = HandwrittenMLP([3, 6, 2], rng=0)
    x, y = _data([3, 6, 2], 4)
    floor = gemm_floor(oracle.weights, x, y)
    before = [w.copy() for w in oracle.weights]
    floor()
    for original, kept in zip(oracle.weights, before, strict=True):
        np.testing.assert_array_equal(original, kept)


def test_every_candidate_moves_the_weights_as_the_oracle_does():
    differences = agreement(Network([2, 8, 3], 5, np.dtype("float64")))
    assert set(differences) == {"tight", "tinygrad_nn", "captured"}
    assert all(value < 1e-12 for value in differences.values()), differences


# ------------------------------------------------------------------ the harness


def test_ratios_divide_by_the_fastest_hand_written_candidate():
    timings = {
        "tight": {"median_s": 4.0, "samples_s": [4.0, 4.0, 4.0]},
        "handwritten": {"median_s": 2.0, "samples_s": [2.0, 2.0, 2.0]},
        "tinygrad_nn": {"median_s": 3.0, "samples_s": [3.0, 2.0, 4.0]},
    }
    row = ratios(timings)
    assert row["yardstick"] == "handwritten"
    assert row["ratio"] == {"tight": 2.0, "handwritten": 1.0, "tinygrad_nn": 1.5}  # per round
    assert row["spread"]["tinygrad_nn"] == [1.25, 1.75]
    with pytest.raises(ValueError, match="no hand-written candidate"):
        ratios({"tinygrad_nn": timings["tinygrad_nn"]})


def test_interleaved_medians_calls_every_candidate():
    calls = {"a": 0, "b": 0}

    def make(name):
        def fn():
            calls[name] += 1

        return fn

    timings = interleaved_medians({"a": make("a"), "b": make("b")}, 3, 0.0)
    assert set(timings) == {"a", "b"}
    assert all(len(timing["samples_s"]) == timing["rounds"] == 3 for timing in timings.values())
    assert calls == {"a": 5, "b": 5}  # warm-up, calibration, three rounds


def test_peak_memory_counts_state_and_temporaries():
    def make():
        state = np.ones(1 << 17)  # 1 MiB kept by the candidate
        return lambda: state + 1  # 1 MiB more, alive during the call

    assert peak_memory(make) >= 2 << 20
    assert peak_memory(lambda: lambda: None) < 1 << 16


def test_chain_times_builds_and_differentiates_the_chain():
    times = chain_times(501)
    assert set(times) == {"tinygrad_nn"}
    assert set(times["tinygrad_nn"]) == {"forward_s", "forward_no_gc_s", "backward_s"}
    assert all(seconds > 0 for seconds in times["tinygrad_nn"].values())
    with pytest.raises(ValueError, match="length must be at least 1"):
        chain_times(0)


def _report(step_s_eager, chain_forward=None):
    """A report with every case at a comfortable ratio but the S step's eager ratio."""
    steps = []
    for case in ("S", "M", "L"):
        for dtype in ("float64", "float32"):
            eager = step_s_eager if case == "S" else 1.0
            seconds = {"tinygrad_nn": 1.0}
            ratio = {"tinygrad_nn": eager, "captured": 0.9}
            steps.append({"case": case, "dtype": dtype, "ratio": ratio, "seconds": seconds})
    inference = [{"case": "S", "dtype": "float64", "ratio": {"tinygrad_nn": 1.2, "captured": 1}}]
    memory = [{"case": "L", "dtype": "float64", "ratio": {"tinygrad_nn": 0.7}}]
    speedup = {"case": "L", "speedup": {"tinygrad_nn": 2.0}}
    report = {"steps": steps, "inference": inference, "memory": memory, "chain": {}}
    report["speedup"] = speedup
    if chain_forward is not None:
        report["chain"] = {
            "tinygrad_nn": {"forward_s": chain_forward},
            "torch": {"forward_s": 2.0},
        }
    return report


def test_targets_are_judged_per_mode_and_dtype():
    targets = bench.evaluate_targets(_report(2.5))
    by_name = {}
    for row in targets:
        by_name.setdefault(row["target"], []).append(row)
    assert "chain forward vs PyTorch" not in by_name  # no PyTorch: not judged
    eager_s = by_name["S step, eager"]
    assert [row["case"] for row in eager_s] == ["S float64", "S float32"]
    assert not any(row["met"] for row in eager_s)
    assert all(row["met"] for row in by_name["S step, captured"])
    speedup = by_name["L float32 speed-up, eager"][0]
    assert speedup["value"] == 2.0 and speedup["met"]
    summary = bench.report.targets_summary(targets)
    assert summary.startswith("**") and "missed: S step, eager (S float64)" in summary
    targets = bench.evaluate_targets(_report(1.5, chain_forward=3.0))
    chain = [row for row in targets if row["target"] == "chain forward vs PyTorch"]
    assert chain[0]["value"] == 1.5 and not chain[0]["met"]
    assert all(row["met"] for row in targets if row is not chain[0])


# ------------------------------------------------------------------ the command


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


def test_quick_run_reports_every_case_and_judges_nothing(quick_run):
    status, report, markdown = quick_run
    assert status == 0
    for key in ("cpu", "cores", "blas", "blas_threads", "python", "numpy"):
        assert report["machine"][key], key
    expected = {(size, dtype) for size in bench.SIZES for dtype in ("float64", "float32")}
    for section in ("steps", "inference"):
        rows = report[section]
        assert {(row["case"], row["dtype"]) for row in rows} == expected
        for row in rows:
            assert set(row["seconds"]) >= CANDIDATES
            assert all(seconds > 0 for seconds in row["seconds"].values())
            assert row["ratio"][row["yardstick"]] == 1.0
    for row in report["steps"]:
        assert "floor" in row["seconds"]
        limit = 1e-4 if row["dtype"] == "float32" else 1e-10
        assert all(value < limit for value in row["agreement"].values()), row["agreement"]
    assert [row["op"] for row in report["ops"]] == ["add", "mul", "matmul", "relu", "sum"]
    assert {row["dtype"] for row in report["memory"]} == {"float64", "float32"}
    assert set(report["speedup"]["speedup"]) == {"tight", "tinygrad_nn", "captured"}
    assert report["chain"]["length"] == 1000 and report["chain"]["tinygrad_nn"]["forward_s"] > 0
    assert report["targets"] == []
    assert "not a measurement" in markdown
    for verdict in ("## Targets", "MISSED", "met in this run"):
        assert verdict not in markdown
    headings = ("## Training step", "## Inference", "## Per-op", "## Peak memory", "## float32")
    for heading in (*headings, "## Graph"):
        assert heading in markdown


def _args(**overrides):
    values = {"threads": None, "chain_length": None, "json": None, "markdown": None}
    return argparse.Namespace(**{**values, **overrides})


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"threads": 0}, "--threads must be between 1 and"),
        ({"threads": 10**6}, "--threads must be between 1 and"),
        ({"chain_length": -1}, "--chain-length must be between 0"),
    ],
)
def test_validate_refuses_bad_numbers(overrides, message):
    with pytest.raises(ValueError, match=message):
        bench.validate(_args(**overrides))


def test_validate_creates_missing_output_folders(tmp_path):
    target = tmp_path / "a" / "b" / "report.json"
    bench.validate(_args(json=str(target), markdown=str(tmp_path / "c" / "report.md")))
    assert target.parent.is_dir() and (tmp_path / "c").is_dir()
    assert list(target.parent.iterdir()) == []  # the write probe leaves nothing behind


def test_validate_refuses_unusable_output_paths(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ValueError, match=r"^--json '.*report.json': its folder .* not a folder"):
        bench.validate(_args(json=str(blocker / "report.json")))
    with pytest.raises(ValueError, match=r"^--markdown .* is a folder"):
        bench.validate(_args(markdown=str(tmp_path)))
    same = str(tmp_path / "out")
    with pytest.raises(ValueError, match="--json and --markdown name the same file"):
        bench.validate(_args(json=same, markdown=same))


def test_the_command_line_refuses_bad_values_before_any_work(capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    for options in (["--threads", "0"], ["--json", str(blocker / "out.json")]):
        assert main(["bench", "--quick", *options]) == 2
        err = capsys.readouterr().err
        assert err.startswith("tinygrad-nn bench: error: --") and "step S" not in err


def test_module_entry_point_refuses_bad_threads_with_status_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        bench.main(["--threads", "0"])
    assert exit_info.value.code == 2
    assert "--threads must be between 1 and" in capsys.readouterr().err


def _benchmark_script(name):
    """benchmarks/<name>.py imported as a module (the folder is not a package)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tape_floor():
    return _benchmark_script("tape_floor")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_the_floors_of_benchmarks_tape_floor_make_the_eager_steps_numpy_calls(dtype):
    # benchmarks/tape_floor.py times floors for eager and compiled steps: they must make
    # the NumPy calls of tinygrad_nn's steps, so their gradients, updates, losses and
    # outputs are the same bits.
    tape_floor = _tape_floor()
    network = Network([1, 16, 2], 32, np.dtype(dtype))
    rate = np.asarray(LEARNING_RATE, dtype)
    expected = tape_floor.eager_gradients(network)
    step, params = tape_floor.tape_step(network)
    start = [p.data.copy() for p in params]
    step()
    line, weights = tape_floor.straight_step(network)
    loss, grads = line()
    for bare, straight, ours, before in zip(params, grads, expected, start, strict=True):
        assert bare.grad.dtype == straight.dtype == ours.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(bare.grad, ours)
        np.testing.assert_array_equal(straight, ours)
        np.testing.assert_array_equal(bare.data, before - bare.grad * rate)
    for weight, param in zip(weights, params, strict=True):
        np.testing.assert_array_equal(weight, param.data)
    model = network.reference.to_module()
    assert loss == (squared_error(model(network.x), network.y) / network.scale).item()
    output = model(network.x).data
    for forward in (tape_floor.tape_forward(network)[0], tape_floor.straight_forward(network)[0]):
        np.testing.assert_array_equal(forward(), output)
    tape_floor.check_floors(network)


@pytest.mark.parametrize("size", [RELU_SIGN_SIZE - 1, RELU_SIGN_SIZE])
def test_tape_floors_relu_derivative_takes_the_form_ops_relu_takes(size):
    # Below RELU_SIGN_SIZE ops.Relu's derivative is sign(out), from there on a mask: the
    # values agree except at NaN, where sign gives NaN and the mask 0. The floor must time
    # the same form, so it is checked at a NaN on both sides of the switch.
    tape_floor = _tape_floor()
    activation = np.ones(size)
    activation[0] = np.nan
    node = make_node(Relu, (True,))
    node.save_for_backward(activation)
    (ours,) = Relu.backward(node, np.ones(size))
    np.testing.assert_array_equal(tape_floor.relu_derivative(activation), ours)


def test_tape_floor_checks_a_wide_and_a_deeper_network():
    tape_floor = _tape_floor()
    tape_floor.check_floors(Network([3, 64, 2], 64, np.dtype("float32")))  # both relu forms
    deeper = Network([3, 8, 8, 2], 16, np.dtype("float64"))
    tape_floor.check_floors(deeper)  # the bare tape only
    with pytest.raises(ValueError, match="two layers"):
        tape_floor.straight_step(deeper)


def test_tape_floor_times_the_bare_tapes_chain_and_checks_its_gradient():
    tape_floor = _tape_floor()
    assert tape_floor.tape_chain_seconds(11) > 0  # an odd chain: gradient -1
    assert tape_floor.tape_chain_seconds(10) > 0


def test_benchmarks_engine_ab_runs_another_tree_beside_this_engine(tmp_path, monkeypatch):
    # benchmarks/engine_ab.py imports the other tree as its own package, to time both
    # engines in one process: here this checkout, which must come out separate and working.
    import sys
    from pathlib import Path

    import tinygrad_nn

    root = Path(__file__).parents[1]
    engine_ab = _benchmark_script("engine_ab")
    monkeypatch.setattr(sys, "path", list(sys.path))
    try:
        other = engine_ab.import_other(root, tmp_path)
        assert other.Tensor is not tinygrad_nn.Tensor
        loaded = [m for name, m in sys.modules.items() if name.startswith(engine_ab.OTHER)]
        assert len(loaded) > 10
        assert all(Path(m.__file__).is_relative_to(tmp_path) for m in loaded if m.__file__)
        x = other.Tensor([1.0, 2.0], requires_grad=True)
        (x * x).sum().backward()
        np.testing.assert_array_equal(x.grad, [2.0, 4.0])
        steps = engine_ab.training_steps(other, [1, 4, 2], 8)
        assert sorted(steps) == ["captured", "eager"]
        for step in steps.values():
            step()
    finally:
        for name in [name for name in sys.modules if name.startswith(engine_ab.OTHER)]:
            del sys.modules[name]


def test_benchmarks_allocator_runs_a_step_alone_with_either_allocator_setting():
    # benchmarks/allocator.py times each step alone in a fresh process, with glibc's
    # defaults or its thresholds pinned: the child must see the setting it was given.
    allocator = _benchmark_script("allocator")
    for pinned in (False, True):
        result = allocator.run_alone("S", "float64", "tinygrad_nn", 2, 2, pinned)
        assert result["glibc"] == ("pinned" if pinned else "default")
        assert result["step_us"] > 0 and result["tight_us"] > 0 and result["ratio"] > 0
        assert result["faults_per_step"] >= 0
