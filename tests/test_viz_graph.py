"""Graph drawings and backward traces: DOT text, SVG through Graphviz, the matplotlib
fallback, dead-ReLU highlighting, elision, trace_backward, keep_graphs and the `graph` command."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

import tinygrad_nn as tnn
from tinygrad_nn import Tensor, autograd
from tinygrad_nn.losses import l2_penalty, squared_error
from tinygrad_nn.nn import MLP, Linear, Module
from tinygrad_nn.viz import (
    GraphvizMissingWarning,
    keep_graphs,
    save_graph,
    to_dot,
    trace_backward,
)
from tinygrad_nn.viz import dot as viz_dot
from tinygrad_nn.viz.drawing import STYLES

SVG = "{http://www.w3.org/2000/svg}"
HAS_DOT = viz_dot.dot_executable() is not None
needs_dot = pytest.mark.skipif(not HAS_DOT, reason="Graphviz's dot is not installed")


def article_loss(seed: int = 0, batch: int = 8, l2: float = 0.0) -> tuple[MLP, Tensor]:
    """The article's network on one batch, after backward(retain_graph=True)."""
    rng = np.random.default_rng(seed)
    model = MLP([1, 16, 2], rng=rng)
    x = Tensor(rng.random((batch, 1)), name="x")
    y = Tensor(np.concatenate([np.sin(x.data), np.cos(x.data)], axis=1), name="y")
    loss = squared_error(model(x), y)
    if l2:
        loss = loss + l2 * l2_penalty([layer.weight for layer in model.layers])
    loss.name = "loss"
    loss.backward(retain_graph=True)
    return model, loss


def svg_nodes(path: Path) -> dict[str, list[str]]:
    """Graphviz SVG: node title -> its text lines."""
    root = ET.parse(path).getroot()
    nodes = {}
    for group in root.iter(f"{SVG}g"):
        if group.get("class") == "node":
            title = group.find(f"{SVG}title").text
            nodes[title] = [t.text for t in group.iter(f"{SVG}text")]
    return nodes


def svg_groups(path: Path, kind: str) -> dict[str, list[str]]:
    root = ET.parse(path).getroot()
    return {
        g.find(f"{SVG}title").text: [t.text for t in g.iter(f"{SVG}text")]
        for g in root.iter(f"{SVG}g")
        if g.get("class") == kind
    }


def node_line(dot: str, node_id: str) -> str:
    return next(line for line in dot.splitlines() if line.strip().startswith(f'"{node_id}" ['))


# --------------------------------------------------------------------------- imports


def test_importing_viz_loads_neither_matplotlib_nor_graphviz() -> None:
    code = (
        "import sys, tinygrad_nn\n"
        "assert 'tinygrad_nn.viz' not in sys.modules, 'tinygrad_nn imported viz'\n"
        "import tinygrad_nn.viz\n"
        "bad = [m for m in ('matplotlib', 'graphviz') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# --------------------------------------------------------------------------- DOT text


def test_dot_names_ops_tensors_parameters_and_clusters() -> None:
    _, loss = article_loss()
    dot = to_dot(loss)
    assert dot.startswith("digraph tinygrad_nn {")
    for text in ("Linear", "Relu", "SquaredError"):
        assert f'label="{text}"' in dot
    assert "layers.0.weight\\n(16, 1) float64" in dot
    assert "layers.1.bias\\n(2,) float64" in dot
    assert "x\\n(8, 1) float64" in dot
    assert 'label="layers.0: Linear(1→16)"' in dot
    assert 'label="layers.1: Linear(16→2)"' in dot
    assert 'label="MLP"' in dot
    assert "‖grad‖" in dot
    assert '"legend"' in dot


def test_kinds_are_drawn_distinctly() -> None:
    w = Tensor(np.ones(3), requires_grad=True, name="w")
    x = Tensor(np.arange(3.0), name="x")
    out = ((w * x) - 0.5).sum()
    dot = to_dot(out, legend=False)
    fills = {
        node: node_line(dot, node).split('fillcolor="')[1].split('"')[0]
        for node in ("t0", "t1", "t3", "t5")
    }
    assert fills["t0"] == STYLES["parameter"].fill
    assert fills["t1"] == STYLES["input"].fill
    assert "dashed" in node_line(dot, "t3")  # the constant 0.5
    assert fills["t5"] == STYLES["output"].fill
    assert len({STYLES[k].fill for k in ("parameter", "input", "intermediate", "output")}) == 4


def test_values_show_scalars_and_summaries_and_can_be_turned_off() -> None:
    w = Tensor(np.array([1.0, 2.0, 6.0]), requires_grad=True, name="w")
    loss = (w * 2.0).sum()
    loss.backward(retain_graph=True)
    dot = to_dot(loss)
    assert "mean 3 min 1 max 6" in node_line(dot, "t0")
    assert "= 18" in node_line(dot, "t3")
    assert "‖grad‖ 3.464" in node_line(dot, "t0")  # |(2, 2, 2)| = sqrt(12)
    quiet = to_dot(loss, values=False, grads=False)
    assert "mean" not in quiet and "‖grad‖" not in quiet and "= 18" not in quiet


def test_repeated_input_gets_one_edge_per_argument() -> None:
    x = Tensor(np.ones(2), requires_grad=True)
    dot = to_dot((x * x).sum())
    assert dot.count('"t0" -> "op0"') == 2


def test_draw_graph_returns_a_digraph_with_the_same_source() -> None:
    graphviz = pytest.importorskip("graphviz")
    _, loss = article_loss()
    graph = tnn.viz.draw_graph(loss, rankdir="TB")
    assert isinstance(graph, graphviz.Digraph)
    assert graph.source == to_dot(loss, rankdir="TB")
    with pytest.raises(ValueError, match="rankdir"):
        tnn.viz.draw_graph(loss, rankdir="sideways")


def test_parameter_names_fall_back_to_tensor_names_and_explicit_params() -> None:
    a = Tensor(np.ones((2, 2)), requires_grad=True, name="a")
    b = Tensor(np.ones((2, 2)), requires_grad=True)
    out = (a @ b).sum()
    assert "a\\n(2, 2)" in to_dot(out)
    assert "my.b\\n(2, 2)" in to_dot(out, params={"my.b": b})


# --------------------------------------------------------------------------- modules


class Doubler(Module):
    """A stand-in with no parameters of its own: clusters come from its scope alone."""

    def forward(self, x: Tensor) -> Tensor:
        return x * 2.0


class Twice(Module):
    def __init__(self) -> None:
        super().__init__()
        self.inner = Linear(2, 2)
        self.scale = Doubler()

    def forward(self, x: Tensor) -> Tensor:
        return self.scale(self.inner(self.inner(x)))


def test_each_call_of_an_innermost_module_is_its_own_cluster() -> None:
    model = Twice()
    out = model(Tensor(np.ones((3, 2)))).sum()
    dot = to_dot(out)
    assert dot.count('label="inner: Linear(2→2)"') == 2
    assert dot.count('label="scale: Doubler"') == 1
    assert dot.count('label="Twice"') == 1
    assert "inner.weight" in dot and "inner.bias" in dot
    flat = to_dot(out, group_modules=False)
    assert "subgraph" not in flat


# --------------------------------------------------------------------------- dead ReLUs


def relu_graph() -> Tensor:
    # Column 0 is negative on every row: 1 of 3 units dead; zeros are 4 of 6 entries.
    z = Tensor(np.array([[-1.0, 2.0, -3.0], [-1.0, -2.0, 3.0]]), requires_grad=True)
    return z.relu().sum()


def test_relu_outputs_report_dead_units_and_are_highlighted_past_the_threshold() -> None:
    dot = to_dot(relu_graph(), dead_threshold=0.3)
    line = node_line(dot, "t1")
    assert "dead 1/3 units (33%), zeros 67%" in line
    assert STYLES["dead"].fill in line
    calm = node_line(to_dot(relu_graph(), dead_threshold=0.5), "t1")
    assert "dead 1/3 units" in calm and STYLES["dead"].fill not in calm
    with pytest.raises(ValueError, match="dead_threshold"):
        to_dot(relu_graph(), dead_threshold=2)


# --------------------------------------------------------------------------- max_nodes


def test_max_nodes_keeps_the_nodes_nearest_the_output_and_says_what_was_left_out() -> None:
    x = Tensor(np.ones(2), requires_grad=True)
    y = x
    for _ in range(30):
        y = y * 1.01
    out = y.sum()  # 31 ops, 31 intermediates, x and 30 constants: 93 nodes
    dot = to_dot(out, max_nodes=10, legend=False)
    drawn = [line for line in dot.splitlines() if line.strip().startswith('"') and "->" not in line]
    assert len(drawn) == 11  # 10 nodes and the note
    note = node_line(dot, "elided")
    assert "… 83 more nodes not drawn" in note and "max_nodes=None" in note
    assert '"elided" -> ' in dot and 'style="dashed"' in dot
    assert "… " not in to_dot(out, max_nodes=None)
    with pytest.raises(ValueError, match="max_nodes"):
        to_dot(out, max_nodes=0)


# --------------------------------------------------------------------------- after backward


def test_a_graph_is_drawn_and_traced_after_a_plain_backward() -> None:
    w = Tensor(np.ones(3), requires_grad=True, name="w")
    loss = (w * w).sum()
    loss.backward()
    dot = to_dot(loss)
    assert "w" in dot and "Mul" in dot and "‖grad‖" in dot  # the leaf's gradient norm
    trace = trace_backward(loss)
    assert [step.op for step in trace] == ["Sum", "Mul"]
    assert trace[0].grad_norm is None  # intermediate gradients were not kept
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        loss.backward()


def test_keep_graphs_keeps_the_graphs_of_backward_run_inside(tmp_path: Path) -> None:
    model = MLP([1, 4, 2], rng=1)

    def train_step() -> None:  # code that never hands its loss back
        loss = squared_error(model(Tensor(np.ones((3, 1)))), Tensor(np.zeros((3, 2))))
        loss.backward()

    with keep_graphs() as kept:
        train_step()
        train_step()
    assert len(kept.roots) == 1
    assert not autograd.is_released(kept.last.grad_fn)
    dot = to_dot(kept.last)
    assert "layers.0.weight" in dot and "‖grad‖" in dot
    assert trace_backward(kept.last)[0].op == "SquaredError"
    assert trace_backward(kept.last)[0].grad_norm is not None
    # Outside the block backward releases its graph again (the structure stays drawable).
    loss = squared_error(model(Tensor(np.ones((3, 1)))), Tensor(np.zeros((3, 2))))
    loss.backward()
    assert autograd.is_released(loss.grad_fn)
    assert "layers.0.weight" in to_dot(loss)
    with pytest.raises(ValueError, match="keep"):
        keep_graphs(keep=-1)


# --------------------------------------------------------------------------- trace_backward


def broadcast_graph() -> tuple[Tensor, Tensor, Tensor]:
    x = Tensor(np.arange(12.0).reshape(4, 3) - 4.0, name="x")
    b = Tensor(np.array([0.5, -0.25, 1.0]), requires_grad=True, name="b")
    loss = ((x + b).relu() * 2.0).sum()
    loss.name = "loss"
    return x, b, loss


def test_trace_lists_the_steps_in_backward_order_with_rules_and_broadcast_axes() -> None:
    _, b, loss = broadcast_graph()
    trace = trace_backward(loss)
    assert [step.op for step in trace] == ["Sum", "Mul", "Relu", "Add"]
    assert [step.number for step in trace] == [1, 2, 3, 4]
    relu = trace[2]
    assert relu.rule == "f(x) = max(x, 0);  f'(x) = 1 if x > 0 else 0"
    assert relu.shape == (4, 3) and relu.grad_norm == pytest.approx(np.sqrt(12 * 4))
    add = trace[3]
    to_x, to_b = add.sends
    assert to_x.norm is None and to_x.to == "x"
    assert to_b.to == "b" and to_b.shape == (3,)
    assert to_b.summed_axes == (0,) and to_b.raw_shape == (4, 3)
    expected = 2.0 * ((np.arange(12.0).reshape(4, 3) - 4.0 + b.data) > 0).sum(axis=0)
    assert to_b.norm == pytest.approx(np.linalg.norm(expected))
    assert trace[1].sends[0].to == "#3 Relu"
    assert trace[1].sends[1].to == "constant 2" and trace[1].sends[1].norm is None
    text = str(trace)
    assert "summed over broadcast axes (0,) of (4, 3)" in text
    assert "f(x) = max(x, 0)" in text and text.splitlines()[0].startswith("backward from loss")


def test_trace_leaves_gradients_and_the_graph_untouched() -> None:
    _, b, loss = broadcast_graph()
    trace_backward(loss)
    assert b.grad is None
    assert loss._ctx.parents is not None
    loss.backward()
    assert b.grad is not None
    expected = 2.0 * ((np.arange(12.0).reshape(4, 3) - 4.0 + b.data) > 0).sum(axis=0)
    np.testing.assert_allclose(b.grad, expected)


def test_trace_gradient_norms_match_the_engine() -> None:
    model, loss = article_loss()
    trace = trace_backward(loss)
    linear0 = trace[-1]
    assert linear0.module == "layers.0: Linear(1→16)"
    sent = {s.to: s.norm for s in linear0.sends}
    assert sent["layers.0.weight"] == pytest.approx(np.linalg.norm(model.layers[0].weight.grad))
    assert sent["layers.0.bias"] == pytest.approx(np.linalg.norm(model.layers[0].bias.grad))
    with pytest.raises(RuntimeError, match="single-element"):
        trace_backward(model(Tensor(np.ones((2, 1)))))


def test_penalty_terms_are_named_in_the_trace_and_the_drawing() -> None:
    _, loss = article_loss(l2=0.01)
    trace = trace_backward(loss)
    names = dict(trace.terms)
    assert "l2_penalty" in names and names["l2_penalty"] > 0
    assert "l2_penalty" in str(trace)
    assert "l2_penalty\\nscalar float64\\n= " in to_dot(loss)


def test_order_numbers_ops_in_backward_order_and_shows_intermediate_gradients() -> None:
    _, _, loss = broadcast_graph()
    dot = to_dot(loss, order=True)
    for number, op in enumerate(["Sum", "Mul", "Relu", "Add"], start=1):
        assert f'label="#{number} {op}"' in dot
    # Without .grad on intermediates, the norms come from the trace.
    assert "‖grad‖" in node_line(dot, "t2")
    with pytest.raises(ValueError, match="order"):
        to_dot(Tensor(np.ones(2)).sum(), order=True)


# --------------------------------------------------------------------------- files


@needs_dot
def test_svg_through_graphviz_has_labelled_nodes_clusters_and_edges(tmp_path: Path) -> None:
    _, loss = article_loss()
    path = save_graph(loss, tmp_path / "graph.svg", order=True)
    nodes = svg_nodes(path)
    texts = {title: " | ".join(lines) for title, lines in nodes.items()}
    assert texts["op0"] == "#5 Linear"  # the first op is the last backward step
    assert texts["t1"].startswith("layers.0.weight | (16, 1) float64")
    assert "dead" in texts["t4"]
    clusters = svg_groups(path, "cluster")
    labels = sorted(line for lines in clusters.values() for line in lines)
    assert labels == ["MLP", "layers.0: Linear(1→16)", "layers.1: Linear(16→2)"]
    edges = svg_groups(path, "edge")
    assert len(edges) == to_dot(loss).count(" -> ")
    assert "legend" in nodes and "parameter" in nodes["legend"]


@needs_dot
def test_png_and_pdf_through_graphviz(tmp_path: Path) -> None:
    image = pytest.importorskip("matplotlib.image")
    _, loss = article_loss()
    png = image.imread(save_graph(loss, tmp_path / "g.png"))
    assert png.shape[0] > 100 and png.shape[1] > 300 and png.std() > 0.05
    assert save_graph(loss, tmp_path / "g.pdf").read_bytes().startswith(b"%PDF")
    save_graph(loss, tmp_path / "explicit.svg", renderer="dot")


def test_dot_file_is_written_without_graphviz(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(viz_dot, "dot_executable", lambda: None)
    _, loss = article_loss()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        path = save_graph(loss, tmp_path / "graph.dot")
    assert path.read_text(encoding="utf-8") == to_dot(loss)
    assert [p.name for p in tmp_path.iterdir()] == ["graph.dot"]  # no temporary left


def test_missing_dot_falls_back_to_matplotlib_with_a_notice(tmp_path: Path, monkeypatch) -> None:
    image = pytest.importorskip("matplotlib.image")
    monkeypatch.setattr(viz_dot, "dot_executable", lambda: None)
    _, loss = article_loss()
    with pytest.warns(GraphvizMissingWarning, match="apt-get install graphviz.*brew.*conda"):
        path = save_graph(loss, tmp_path / "graph.png")
    pixels = image.imread(path)
    assert pixels.shape[0] > 200 and pixels.shape[1] > 600
    assert pixels[..., :3].std() > 0.05  # not blank
    with pytest.raises(RuntimeError, match="dot program was not found"):
        save_graph(loss, tmp_path / "strict.png", renderer="dot")


def test_fallback_svg_keeps_the_labels_as_text(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    _, _, loss = broadcast_graph()
    path = save_graph(loss, tmp_path / "g.svg", renderer="matplotlib", order=True)
    texts = svg_texts(path)
    for label in ("#1 Sum", "#3 Relu", "b", "(4, 3) float64", "dead 0/3 units", "output"):
        assert label in texts


def svg_texts(path: Path) -> str:
    return " | ".join("".join(t.itertext()) for t in ET.parse(path).getroot().iter(f"{SVG}text"))


@pytest.mark.parametrize("dot", [None, "/usr/bin/dot"])
def test_fallback_notice_says_dot_is_missing_only_when_it_is(
    tmp_path: Path, monkeypatch, dot: str | None
) -> None:
    pytest.importorskip("matplotlib")
    monkeypatch.setattr(viz_dot, "dot_executable", lambda: dot)
    _, _, loss = broadcast_graph()
    texts = svg_texts(save_graph(loss, tmp_path / "g.svg", renderer="matplotlib"))
    assert "drawn by tinygrad_nn's built-in layout" in texts
    assert ("dot was not found" in texts) == (dot is None)
    assert "name tags" not in texts  # no modules, no frames to replace


def test_fallback_notice_says_when_frames_became_name_tags(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    _, loss = article_loss()
    # The MLP's frame would cover the input x, and layers.1's would cover layers.0's
    # output: both are replaced by tags; layers.0 keeps its frame.
    texts = svg_texts(save_graph(loss, tmp_path / "g.svg", renderer="matplotlib"))
    assert "frames that would cover other nodes are shown as name tags" in texts
    assert "layers.0: Linear(1→16)" in texts and "layers.1: Linear(16→2)" in texts


def test_fallback_layout_ranks_nodes_and_never_overlaps_them() -> None:
    from tinygrad_nn.viz.fallback import layout
    from tinygrad_nn.viz.graph import build

    _, loss = article_loss()
    drawing = build(loss, order=True)
    placed = layout(drawing)
    for edge in drawing.edges:  # left to right: every edge points right
        assert placed[edge.target][0] > placed[edge.source][0]
    boxes = list(placed.values())
    for i, (x1, y1, w1, h1) in enumerate(boxes):
        for x2, y2, w2, h2 in boxes[i + 1 :]:
            apart = abs(x1 - x2) >= (w1 + w2) / 2 or abs(y1 - y2) >= (h1 + h2) / 2
            assert apart


def test_failed_render_keeps_the_old_file(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "graph.svg"
    target.write_text("old")

    def broken(*args: object) -> None:
        raise RuntimeError("dot crashed")

    monkeypatch.setattr(viz_dot, "dot_executable", lambda: "/usr/bin/dot")
    monkeypatch.setattr(viz_dot, "render_dot", broken)
    _, _, loss = broadcast_graph()
    with pytest.raises(RuntimeError, match="dot crashed"):
        save_graph(loss, target)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["graph.svg"]


def test_unknown_suffix_is_refused(tmp_path: Path) -> None:
    _, _, loss = broadcast_graph()
    with pytest.raises(ValueError, match=r"\.svg, \.png, \.pdf or \.dot"):
        save_graph(loss, tmp_path / "graph.jpeg")


# --------------------------------------------------------------------------- command


def graph_command(argv: list[str]) -> int:
    from tinygrad_nn.viz import command

    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    return command.run(parser.parse_args(argv))


def test_graph_command_writes_the_articles_graph(tmp_path: Path, capsys) -> None:
    out = tmp_path / "article.dot"
    assert graph_command(["--out", str(out), "--seed", "3", "--order", "--trace"]) == 0
    text = out.read_text(encoding="utf-8")
    assert "layers.0: Linear(1→16)" in text and "cost" in text and "#1 SquaredError" in text
    printed = capsys.readouterr().out
    assert f"wrote {out}" in printed and "local derivative" in printed
    assert graph_command(["--out", str(tmp_path / "bad.txt")]) == 1


@needs_dot
def test_graph_command_through_the_cli(tmp_path: Path) -> None:
    out = tmp_path / "graph.svg"
    env = {**os.environ, "MPLBACKEND": "Agg"}
    result = subprocess.run(
        [sys.executable, "-c", "from tinygrad_nn.cli import main; raise SystemExit(main())",
         "graph", "--out", str(out)],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    if "No module named" in result.stderr:
        pytest.skip("another CLI command's module is not written yet")
    assert result.returncode == 0, result.stderr
    assert "cost" in " ".join(" ".join(v) for v in svg_nodes(out).values())


# --------------------------------------------------------------------------- composites


def classifier_loss() -> Tensor:
    from tinygrad_nn.losses import cross_entropy

    rng = np.random.default_rng(3)
    model = MLP([2, 8, 3], output_activation=None, rng=rng)
    loss = cross_entropy(model(Tensor(rng.normal(size=(6, 2)), name="x")), np.arange(6) % 3)
    loss.name = "cost"
    return loss


def test_a_composite_loss_is_one_node_until_expanded() -> None:
    loss = classifier_loss()
    folded = to_dot(loss, order=True)
    assert "#1-#9 cross_entropy" in folded and "(9 ops, expand=True shows them)" in folded
    for primitive in ("Exp", "Log", "Index", "Sub"):
        assert not re.search(rf'label="(#\d+ )?{primitive}"', folded)
    assert "(6, 1)" not in folded  # the function's internal tensors fold away too
    expanded = to_dot(loss, order=True, expand=True)
    assert 'label="cross_entropy"' in expanded and 'label="log_softmax"' in expanded
    assert "Exp" in expanded and "Index" in expanded


def test_internal_constants_are_never_drawn_as_inputs() -> None:
    loss = classifier_loss()
    expanded = to_dot(loss, expand=True)
    # log_softmax's row maximum, a (6, 1) array made inside the function, is a constant.
    leaves = [
        line
        for line in expanded.splitlines()
        if "(6, 1) float64" in line and "rounded" not in line  # intermediates are rounded
    ]
    (row_max,) = leaves
    assert "dashed" in row_max and 'label="constant' in row_max
    input_fill = f'fillcolor="{STYLES["input"].fill}"'
    inputs = [line for line in expanded.splitlines() if input_fill in line and "dashed" not in line]
    assert len(inputs) == 1 and 'label="x' in inputs[0]
