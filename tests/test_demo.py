"""The main job: `tinygrad-nn demo` trains the article's network and writes what it learned.

Each distinct run happens once per module (fixtures below) and the tests read its output:
a 40-batch run in-process and the same run through ``python -m tinygrad_nn`` (which must
agree to the last bit), the full default run, and the failing seed 0.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import tinygrad_nn as tnn
from tinygrad_nn import cli, demo
from tinygrad_nn.data import sincos_grid
from tinygrad_nn.nn import MLP

SUMMARY = re.compile(
    r"^(?P<start>\d+\.\d{5}) cost at the start of learning and (?P<end>\d+\.\d{5}) at the end$",
    re.MULTILINE,
)
PLOTS = ("sin.png", "cos.png", "cost.png", "report.png")


@dataclass
class DemoRun:
    """What one demo run printed and wrote."""

    status: int
    stdout: str
    out: Path

    @property
    def summary(self) -> re.Match[str]:
        match = SUMMARY.search(self.stdout)
        assert match, f"no summary line in the demo's output:\n{self.stdout}"
        return match

    @property
    def metrics(self) -> dict:
        return json.loads((self.out / "metrics.json").read_text(encoding="utf-8"))


def run_in_process(out: Path, *options: str) -> DemoRun:
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        status = cli.main(["demo", "--out", str(out), *options])
    return DemoRun(status, buffer.getvalue(), out)


def run_as_module(out: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tinygrad_nn", "demo", "--out", str(out), *options],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=out.parent,
        env={**os.environ, "MPLBACKEND": "Agg"},
    )


@pytest.fixture(scope="module")
def short_run(tmp_path_factory) -> DemoRun:
    return run_in_process(tmp_path_factory.mktemp("demo") / "tmp", "--batches", "40")


@pytest.fixture(scope="module")
def short_run_as_module(tmp_path_factory) -> DemoRun:
    out = tmp_path_factory.mktemp("demo_module") / "tmp"
    process = run_as_module(out, "--batches", "40")
    assert process.returncode == 0, process.stderr
    return DemoRun(process.returncode, process.stdout, out)


@pytest.fixture(scope="module")
def full_run(tmp_path_factory) -> DemoRun:
    return run_in_process(tmp_path_factory.mktemp("demo_full") / "out")


# ---------------------------------------------------------------------- a short run


def test_the_demo_prints_the_articles_summary_line(short_run: DemoRun) -> None:
    assert short_run.status == 0
    start, end = float(short_run.summary["start"]), float(short_run.summary["end"])
    assert end < start


def test_python_dash_m_runs_the_same_demo(short_run_as_module: DemoRun) -> None:
    assert short_run_as_module.summary  # the line is there
    assert (short_run_as_module.out / "model.npz").is_file()


def test_a_seed_makes_the_run_deterministic(
    short_run: DemoRun, short_run_as_module: DemoRun
) -> None:
    assert short_run.metrics["costs"] == short_run_as_module.metrics["costs"]
    assert short_run.summary.group(0) == short_run_as_module.summary.group(0)


def test_every_output_is_written(short_run: DemoRun) -> None:
    expected = {*PLOTS, "model.npz", "metrics.json", "graph.svg", "explore.html"}
    assert expected <= {path.name for path in short_run.out.iterdir()}
    assert "<svg" in (short_run.out / "graph.svg").read_text(encoding="utf-8")


def test_the_graph_names_the_data_the_cost_and_the_objective(short_run: DemoRun) -> None:
    page = (short_run.out / "explore.html").read_text(encoding="utf-8")
    data = json.loads(re.search(r'id="tnn-data">(.*?)</script>', page, re.DOTALL)[1])
    labels = {tensor["label"]: tensor["kind"] for tensor in data["tensors"].values()}
    assert labels["x"] == labels["y"] == "input"
    assert labels["cost C"] == "intermediate" and labels["J = C / 2B"] == "output"
    svg = (short_run.out / "graph.svg").read_text(encoding="utf-8")
    assert "cost C" in svg and "J = C / 2B" in svg


@pytest.mark.parametrize("name", PLOTS)
def test_the_plots_are_real_non_blank_images(short_run: DemoRun, name: str) -> None:
    import matplotlib.image

    image = matplotlib.image.imread(short_run.out / name)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    colours = np.unique(image[..., :3].reshape(-1, 3), axis=0)
    assert len(colours) > 10, f"{name} is (nearly) blank"
    background = np.all(image[..., :3] > 0.95, axis=-1).mean()
    assert background < 0.99, f"{name} is (nearly) blank"


def test_the_metrics_match_the_printed_line(short_run: DemoRun) -> None:
    metrics = short_run.metrics
    assert f"{metrics['start_cost']:.5f}" == short_run.summary["start"]
    assert f"{metrics['end_cost']:.5f}" == short_run.summary["end"]
    costs = np.array(metrics["costs"])
    assert costs.shape == (40,)
    assert metrics["start_cost"] == costs[:10].max() and metrics["end_cost"] == costs[-10:].max()
    assert metrics["config"]["batches"] == 40


def test_the_saved_model_loads_into_a_fresh_mlp_and_predicts_the_same(
    short_run: DemoRun,
) -> None:
    fresh = MLP([1, 16, 2])
    fresh.load_state_dict(tnn.load(short_run.out / "model.npz"))
    grid_x, grid_y = sincos_grid(30)
    with tnn.no_grad():
        loaded = fresh(tnn.Tensor(grid_x)).data
    trained = demo.train(demo.DemoConfig(batches=40)).model  # the same seed: the same model
    with tnn.no_grad():
        expected = trained(tnn.Tensor(grid_x)).data
    np.testing.assert_array_equal(loaded, expected)
    assert np.mean((loaded - grid_y) ** 2) == pytest.approx(short_run.metrics["test_mse"])


def test_without_graphviz_the_demo_still_draws_the_graph(tmp_path, monkeypatch, capfd) -> None:
    from tinygrad_nn.viz import dot

    monkeypatch.setattr(dot, "dot_executable", lambda: None)
    run = run_in_process(tmp_path / "out", "--batches", "10")
    assert run.status == 0
    assert "built-in layout" in (run.out / "graph.svg").read_text(encoding="utf-8")
    assert "drawn by tinygrad_nn's built-in layout" in (run.out / "explore.html").read_text(
        encoding="utf-8"
    )
    assert "install Graphviz" in capfd.readouterr().err


# ---------------------------------------------------------------------- full runs


def test_the_full_default_run_learns_both_curves(full_run: DemoRun) -> None:
    metrics = full_run.metrics
    assert full_run.status == 0
    assert metrics["config"]["batches"] == 300
    assert metrics["end_cost"] < metrics["start_cost"] / 20
    assert metrics["dead_outputs"] == []
    assert "dead" not in full_run.stdout


def test_seed_0_ends_with_a_dead_output_and_says_so(tmp_path) -> None:
    run = run_in_process(tmp_path / "out", "--seed", "0")
    assert run.status == 0
    assert run.summary
    assert "ended dead" in run.stdout and "--seed" in run.stdout
    assert run.metrics["dead_outputs"]


# ---------------------------------------------------------------------- bad options


def test_too_few_batches_fail_with_status_2_and_a_message(tmp_path, capsys) -> None:
    status = cli.main(["demo", "--batches", "5", "--out", str(tmp_path / "out")])
    captured = capsys.readouterr()
    assert status == 2
    assert "--batches" in captured.out + captured.err
    assert not (tmp_path / "out").exists()


def test_too_few_batches_fail_from_the_shell_too(tmp_path) -> None:
    process = run_as_module(tmp_path / "out", "--batches", "5")
    assert process.returncode == 2
    assert "--batches" in process.stdout + process.stderr


@pytest.mark.parametrize(
    "options", [["--batches", "many"], ["--activation", "tanh"], ["--no-such-option"]]
)
def test_malformed_options_are_usage_errors(tmp_path, capsys, options: list[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["demo", "--out", str(tmp_path / "out"), *options])
    assert info.value.code == 2
    message = capsys.readouterr().err
    assert message.startswith("usage: tinygrad-nn") and "error:" in message


def shutil_which_dot() -> bool:
    import shutil

    return shutil.which("dot") is not None


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [("--batches", "5", "at least 10"), ("--lr", "nan", "positive"), ("--seed", "-1", ">= 0")],
)
def test_bad_values_are_refused_before_training(tmp_path, capsys, option, value, message):
    from tinygrad_nn import cli

    assert cli.main(["demo", "--out", str(tmp_path / "out"), option, value]) == 2
    err = capsys.readouterr().err
    assert "tinygrad-nn demo: error:" in err and message in err
    assert not (tmp_path / "out" / "metrics.json").exists()


def test_an_unusable_out_folder_is_refused_before_training(tmp_path, capsys):
    from tinygrad_nn import cli

    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert cli.main(["demo", "--out", str(blocker)]) == 2
    assert "is not a folder" in capsys.readouterr().err
