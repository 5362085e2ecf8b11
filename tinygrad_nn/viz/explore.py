"""`explore`: one self-contained HTML page to step through a forward and backward pass.

The page holds the graph as inline SVG (laid out by Graphviz's ``dot`` when installed,
else by the built-in layout), the pass as JSON, and a small script; it needs no network
and no server. Step with the buttons or the arrow keys: first through the forward pass
(each op and the value it made), then through the backward pass exactly as
`trace_backward` lists it (the gradient arriving at each op, its local derivative rule,
and the gradient it sends along each input edge). Click a node for its summary; click a
frame in the list to collapse or expand it.
"""

from __future__ import annotations

import html
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tinygrad_nn._files import atomic_path
from tinygrad_nn.viz.drawing import Drawing, build_drawing
from tinygrad_nn.viz.explore_page import SCRIPT, STYLE
from tinygrad_nn.viz.graph import trace_annotations
from tinygrad_nn.viz.notebook import summary
from tinygrad_nn.viz.snapshot import GraphWalk, node_of, snapshot, walk
from tinygrad_nn.viz.svg import drawing_svg
from tinygrad_nn.viz.trace import BackwardTrace, trace_walk

if TYPE_CHECKING:
    from tinygrad_nn.tensor import Tensor

__all__ = ["explore", "explore_data", "explore_html"]


def explore(
    tensor: Tensor,
    path: str | os.PathLike[str],
    grad: Any = None,
    *,
    params: Mapping[str, Tensor] | None = None,
    title: str | None = None,
    renderer: str = "auto",
) -> Path:
    """Write an HTML page that steps through the forward and backward pass of ``tensor``.

    The page is self-contained (inline SVG, CSS, JavaScript and data): open it in any
    browser, offline. No ``.grad`` is written and the graph is not freed.

    Args:
        tensor: the graph's output, usually the loss. Without ``requires_grad`` the page
            shows the forward pass only.
        path: the ``.html`` file to write; its folder must exist.
        grad: the seed gradient of backward; may be omitted for a single-element tensor.
        params: extra ``{name: tensor}`` labels, e.g. ``dict(model.named_parameters())``.
        title: the page's title (default: a description of ``tensor``).
        renderer: "auto" (Graphviz's ``dot`` when installed, else the built-in layout),
            "dot" or "builtin".

    Returns:
        The path written.

    Raises:
        FileNotFoundError: the folder of ``path`` does not exist.

    Example:
        >>> model, loss = tinygrad_nn.viz.command.build_loss()
        >>> explore(loss, "explore.html")
        PosixPath('explore.html')
    """
    target = Path(path)
    if not target.parent.is_dir():
        raise FileNotFoundError(
            f"explore: the folder {str(target.parent)!r} does not exist; create it first"
        )
    page = explore_html(tensor, grad, params=params, title=title, renderer=renderer)
    with atomic_path(target) as temporary:
        temporary.write_text(page, encoding="utf-8")
    return target


def explore_html(
    tensor: Tensor,
    grad: Any = None,
    *,
    params: Mapping[str, Tensor] | None = None,
    title: str | None = None,
    renderer: str = "auto",
) -> str:
    """The page `explore` writes, as a string (for notebooks: ``IPython.display.HTML``)."""
    graph = walk(tensor, params, caller="explore")
    trace = trace_walk(graph, grad) if tensor.requires_grad else None
    data = explore_data(graph, trace)
    data["title"] = title or f"tinygrad_nn: {data['root']}"
    step_numbers, norms = trace_annotations(graph, trace) if trace is not None else ({}, {})
    snap = snapshot(graph, extra_grad_norms=norms)
    drawings = {"expanded": build_drawing(snap, max_nodes=None, order=step_numbers, expand=True)}
    if any(call.composite for call in graph.calls.values()):
        drawings["folded"] = build_drawing(snap, max_nodes=None, order=step_numbers)
    data["layouts"] = {name: _layout(drawing) for name, drawing in drawings.items()}
    layouts = "".join(
        f'<div class="layout" data-layout="{name}">{drawing_svg(drawing, renderer)}</div>'
        for name, drawing in drawings.items()
    )
    payload = json.dumps(_json_safe(data), allow_nan=False).replace("</", "<\\/")
    heading = html.escape(data["title"])
    return PAGE.format(
        title=heading, style=STYLE, svg=layouts, data=payload, script=SCRIPT, heading=heading
    )


def _json_safe(value: Any) -> Any:
    """JSON has no NaN or infinity: they are written as the strings the page shows."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_safe(item) for item in value]
    return value


def _layout(drawing: Drawing) -> dict[str, Any]:
    """What the page needs to know about one drawing of the graph.

    ``members``: frame id -> ids of the nodes drawn inside it (nested frames included);
    ``ops``: op id -> the node of the folded call that stands for it; ``labels``: that
    node's label.
    """
    members: dict[str, list[str]] = {f"cluster_{key}": [] for key in drawing.clusters}
    for node in drawing.nodes:
        key = node.cluster
        while key is not None and key in drawing.clusters:
            members[f"cluster_{key}"].append(node.id)
            key = drawing.clusters[key].parent
    folded = {node.id: node for node in drawing.nodes if node.id.startswith("fn_")}
    ops = {f"op{index}": node_id for node_id, node in folded.items() for index in node.folds}
    labels = {node_id: node.lines[0] for node_id, node in folded.items()}
    return {"members": members, "ops": ops, "labels": labels}


def explore_data(graph: GraphWalk, trace: BackwardTrace | None) -> dict[str, Any]:
    """What the page shows, as JSON-friendly dicts (element ids as in the SVG).

    Returns:
        ``{"root", "tensors", "ops", "clusters", "steps"}``: tensors by ``t<i>`` with
        kind, label, shape, dtype, value and gradient summaries and dead units; ops by
        ``op<j>`` with name, derivative rule, inputs, output and frames; frames by
        ``cluster_<key>`` with label and parent; steps in page order, the forward pass
        (``"phase": "forward"``) and then one per `trace_backward` step. `explore_html`
        adds ``"layouts"`` (see `_layout`) and ``"title"``.
    """
    from tinygrad_nn.nn.diagnostics import dead_units
    from tinygrad_nn.viz.snapshot import op_rule

    index = graph.index
    tensors: dict[str, dict[str, Any]] = {}
    for i, tensor in enumerate(graph.tensors):
        gradient = trace.gradient(tensor) if trace is not None else None
        if gradient is None:
            gradient = tensor.grad
        data = getattr(tensor, "data", None)
        dead: dict[str, Any] | None = None
        node = tensor.grad_fn
        if node is not None and node.op_name() == "Relu" and data is not None and data.size:
            flags = dead_units(data)
            dead = {"dead": int(flags.sum()), "units": int(flags.size)}
            dead["indices"] = [int(k) for k in flags.nonzero()[0]]
        tensors[f"t{i}"] = {
            "label": _label(graph, trace, tensor),
            "kind": graph.kinds[id(tensor)],
            "shape": list(tensor.shape),
            "dtype": str(tensor.dtype),
            "value": summary(data),
            "grad": summary(gradient),
            "dead": dead,
        }
    ops: dict[str, dict[str, Any]] = {}
    for j, out in enumerate(graph.ops):
        node = node_of(out)
        ops[f"op{j}"] = {
            "name": node.op_name(),
            "rule": op_rule(node),
            "inputs": [f"t{index[id(p)]}" for p in node.parents],
            "output": f"t{index[id(out)]}",
            "frames": [f"cluster_{key}" for key in graph.op_calls.get(id(out), ())],
        }
    clusters = {
        f"cluster_{key}": {
            "label": call.label,
            "parent": None if call.parent is None else f"cluster_{call.parent}",
            "composite": call.composite,
        }
        for key, call in graph.calls.items()
    }
    steps: list[dict[str, Any]] = [
        {"phase": "forward", "number": j + 1, "op": op_id} for j, op_id in enumerate(ops)
    ]
    if trace is not None:
        op_of_number = {}
        for j, out in enumerate(graph.ops):
            number = trace.step_number(out)
            if number is not None:
                op_of_number[number] = f"op{j}"
        for step in trace.steps:
            op_id = op_of_number[step.number]
            inputs = ops[op_id]["inputs"]
            steps.append(
                {
                    "phase": "backward",
                    "number": step.number,
                    "op": op_id,
                    "grad_in": summary(step.grad),
                    "grad_norm": step.grad_norm,
                    # False after a backward that released the graph: no gradients kept
                    "kept": step.grad_norm is not None,
                    "sends": [
                        {
                            "edge": f"e{op_id[2:]}_{k}",
                            "to": inputs[k],
                            "name": sent.to,
                            "grad": summary(sent.grad),
                            "summed_axes": list(sent.summed_axes),
                        }
                        for k, sent in enumerate(step.sends)
                    ],
                }
            )
    return {
        "root": _root_text(graph),
        "root_id": f"t{index[id(graph.root)]}",
        "tensors": tensors,
        "ops": ops,
        "clusters": clusters,
        "steps": steps,
    }


def _label(graph: GraphWalk, trace: BackwardTrace | None, tensor: Tensor) -> str:
    """A tensor's name, else what made it as the trace calls it (``#4 Relu``)."""
    label = graph.labels.get(id(tensor))
    if label:
        return label
    if tensor.grad_fn is not None:
        number = trace.step_number(tensor) if trace is not None else None
        made_by = tensor.grad_fn.op_name()
        return f"#{number} {made_by}" if number is not None else f"{made_by} output"
    return graph.describe(tensor)


def _root_text(graph: GraphWalk) -> str:
    root = graph.root
    text = f"{graph.labels.get(id(root), 'output')} {tuple(root.shape)} {root.dtype}"
    if root.data is not None and root.data.size == 1:
        text += f" = {float(root.data.reshape(-1)[0]):.6g}"
    return text


PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>{style}</style>
</head>
<body>
<header>
  <h1>{heading}</h1>
  <nav>
    <button id="layout" title="show or fold the ops of functions such as cross_entropy">
      expand functions</button>
    <button id="first" title="first step (Home)">first</button>
    <button id="prev" title="previous step (left arrow)">&#x25C0; back</button>
    <span id="counter"></span>
    <button id="next" title="next step (right arrow)">forward &#x25B6;</button>
    <button id="last" title="last step (End)">last</button>
  </nav>
</header>
<main>
  <div id="graph">{svg}</div>
  <aside>
    <section id="panel"></section>
    <section id="selected"></section>
    <section id="frames"><h2>Frames</h2><p class="hint">click to collapse or expand</p>
    <ul id="frame-list"></ul></section>
  </aside>
</main>
<script type="application/json" id="tnn-data">{data}</script>
<script>{script}</script>
</body>
</html>
"""
