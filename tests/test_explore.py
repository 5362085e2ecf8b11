"""`tnn.viz.explore`'s page and data, notebook display and the dead-unit helper, without
a browser (tests/test_explore_browser.py drives the page in Chromium)."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np
import pytest

import tinygrad_nn as tnn
from tinygrad_nn import Tensor
from tinygrad_nn.nn import MLP
from tinygrad_nn.nn.diagnostics import dead_units
from tinygrad_nn.viz import command, draw_graph, explore, trace_backward
from tinygrad_nn.viz import dot as viz_dot
from tinygrad_nn.viz.command import build_loss
from tinygrad_nn.viz.notebook import summary


def page_data(path: Path) -> dict:
    text = path.read_text(encoding="utf-8")
    return json.loads(re.search(r'id="tnn-data">(.*?)</script>', text, re.DOTALL)[1])


def test_the_page_is_self_contained(tmp_path: Path) -> None:
    _, loss = build_loss(seed=1, batch_size=4)
    text = explore(loss, tmp_path / "page.html").read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and "<svg" in text and "<script>" in text
    # Nothing is fetched: no src/href attributes, URLs only as XML namespaces.
    assert not re.search(r"\s(src|href)=", text)
    urls = set(re.findall(r"https?://[^\"' ]+", text))
    assert urls <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}


@pytest.mark.parametrize("renderer", ["builtin", "dot"])
def test_every_step_and_edge_of_the_data_is_in_the_svg(tmp_path: Path, renderer: str) -> None:
    if renderer == "dot" and viz_dot.dot_executable() is None:
        pytest.skip("Graphviz's dot is not installed")
    _, loss = build_loss(seed=1, batch_size=4)
    path = explore(loss, tmp_path / "page.html", renderer=renderer)
    text = path.read_text(encoding="utf-8")
    data = page_data(path)
    ids = set(re.findall(r'<g id="([^"]+)"', text))
    assert set(data["tensors"]) | set(data["ops"]) <= ids
    for step in data["steps"]:
        if step["phase"] == "backward":
            assert {sent["edge"] for sent in step["sends"]} <= ids
    if renderer == "dot":  # the built-in layout may show a frame as name tags instead
        assert set(data["clusters"]) <= ids


def test_the_data_follows_the_trace_and_the_engine(tmp_path: Path) -> None:
    model, loss = build_loss(seed=2, batch_size=5)
    data = page_data(explore(loss, tmp_path / "page.html"))
    trace = trace_backward(loss)
    backward = [s for s in data["steps"] if s["phase"] == "backward"]
    assert [data["ops"][s["op"]]["name"] for s in backward] == [step.op for step in trace]
    assert [s["grad_norm"] for s in backward] == [step.grad_norm for step in trace]
    forward = [s for s in data["steps"] if s["phase"] == "forward"]
    assert len(forward) == len(data["ops"])
    # Leaves show the gradient backward wrote into .grad.
    by_label = {t["label"]: t for t in data["tensors"].values()}
    for name, param in model.named_parameters():
        assert by_label[name]["grad"]["norm"] == pytest.approx(np.linalg.norm(param.grad))
        assert by_label[name]["kind"] == "parameter"
    relu = next(t for t in data["tensors"].values() if t["dead"] is not None)
    assert relu["dead"]["dead"] == len(relu["dead"]["indices"])


def test_steps_are_the_forward_ops_then_the_backward_steps(tmp_path: Path) -> None:
    w = Tensor(np.ones(3), name="w")
    data = page_data(explore((w * 2).sum(), tmp_path / "page.html", renderer="builtin"))
    assert [s["phase"] for s in data["steps"]] == []  # no op recorded without grad
    x = Tensor(np.ones(3), requires_grad=True)
    data = page_data(explore((x * 2).sum(), tmp_path / "page2.html", renderer="builtin"))
    assert [s["phase"] for s in data["steps"]] == ["forward"] * 2 + ["backward"] * 2


def test_small_arrays_are_shown_in_full_and_non_finite_values_survive(tmp_path: Path) -> None:
    assert summary(np.array([[1.0, 2.0], [3.0, 4.0]]))["values"] == [1.0, 2.0, 3.0, 4.0]
    assert "values" not in summary(np.zeros(17))
    x = Tensor(np.array([1.0, 0.0]), requires_grad=True, name="x")
    with np.errstate(divide="ignore"):
        loss = (x.log() * 1.0).sum()
        data = page_data(explore(loss, tmp_path / "page.html", renderer="builtin"))
    assert "-inf" in json.dumps(data)


def test_explore_needs_an_existing_folder(tmp_path: Path) -> None:
    _, loss = build_loss(batch_size=2)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        explore(loss, tmp_path / "missing" / "page.html")


def test_graph_command_writes_the_page_too(tmp_path: Path, capsys) -> None:
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    page = tmp_path / "new" / "page.html"
    args = parser.parse_args(["--out", str(tmp_path / "g.dot"), "--html", str(page)])
    assert command.run(args) == 0
    assert page_data(page)["steps"] and f"and {page}" in capsys.readouterr().out
    with pytest.raises(ValueError, match=r"--html must name an \.html file"):
        command.validate(parser.parse_args(["--html", str(tmp_path / "page.txt")]))


# ------------------------------------------------------------------ notebook display


def test_graphs_display_in_notebooks_without_dot(monkeypatch) -> None:
    pytest.importorskip("graphviz")
    _, loss = build_loss(batch_size=3)
    graph = draw_graph(loss)
    monkeypatch.setattr(viz_dot, "dot_executable", lambda: None)
    monkeypatch.setenv("PATH", "")  # graphviz's own search for dot fails too
    bundle = graph._repr_mimebundle_()
    assert bundle["image/svg+xml"].startswith("<svg") and "layers.0.weight" in graph._repr_svg_()


def test_tensors_modules_and_traces_display_as_html() -> None:
    model, loss = build_loss(batch_size=3)
    trace_html = trace_backward(loss)._repr_html_()
    assert "SquaredError" in trace_html and "<table" in trace_html
    tensor_html = loss._repr_html_()
    assert "cost" in tensor_html and "<svg" in tensor_html
    module_html = model._repr_html_()
    assert "layers.0.weight" in module_html and "(16, 1)" in module_html
    small = Tensor(np.array([1.5, 2.5]))._repr_html_()
    assert "[1.5 2.5]" in small and "<svg" not in small


# ------------------------------------------------------------------ dead units


def test_dead_units_flags_units_zero_on_every_row() -> None:
    activations = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 2.0]])
    assert dead_units(activations).tolist() == [True, False, False]
    assert dead_units(Tensor(np.zeros((2, 3, 4)))).tolist() == [True] * 4
    assert dead_units(np.array([0.0, 3.0])).tolist() == [True, False]
    with pytest.raises(ValueError, match="dead_units"):
        dead_units(np.float64(0.0))


def test_dead_units_agree_with_the_drawing_and_the_history() -> None:
    model = MLP([1, 16, 2], rng=np.random.default_rng(0))
    x = np.linspace(0, 1, 8).reshape(-1, 1)
    hidden = np.maximum(x @ model.layers[0].weight.data.T + model.layers[0].bias.data, 0)
    history = tnn.viz.TrainingHistory()
    loss = model(Tensor(x)).sum()
    history.record(model, loss)
    assert history.dead_fractions["layers.0"][0] == dead_units(hidden).mean()


# ------------------------------------------------------------------ the notebook

NOTEBOOK = Path(__file__).resolve().parents[1] / "docs" / "notebooks" / "explore.ipynb"


def test_the_notebook_runs_build_draw_backward_draw(tmp_path: Path) -> None:
    nbformat = pytest.importorskip("nbformat", reason="pip install nbformat (dev extra)")
    nbclient = pytest.importorskip("nbclient", reason="pip install nbclient (dev extra)")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=120, kernel_name="python3", allow_errors=True,
        resources={"metadata": {"path": str(tmp_path)}},
    )  # fmt: skip
    client.execute()
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]

    def outputs(index: int, kind: str) -> list:
        return [o for o in code[index].outputs if o.get("output_type") == kind]

    def data(index: int) -> dict:
        results = outputs(index, "execute_result") + outputs(index, "display_data")
        return results[0]["data"] if results else {}

    assert not outputs(0, "error") and "text/html" in data(0)  # the model's table
    assert "image/svg+xml" in data(1) and "layers.0.weight" in data(1)["image/svg+xml"]
    after_backward = 2
    assert all(not outputs(i, "error") for i in range(len(code)))
    assert "‖grad‖" in data(after_backward)["image/svg+xml"]
    assert "<table" in data(3)["text/html"]
    assert (tmp_path / "explore.html").is_file()
