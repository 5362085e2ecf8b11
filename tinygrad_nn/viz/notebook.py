"""Rich display in Jupyter: HTML for tensors, modules and backward traces.

Jupyter calls ``_repr_html_`` on the last value of a cell; `Tensor`, `Module` and
`BackwardTrace` hand that call to the functions here, and the graphs of `draw_graph`
display as SVG (drawn by the built-in layout when Graphviz's ``dot`` is missing). Nothing
here needs IPython, Graphviz or matplotlib.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from tinygrad_nn.viz.drawing import fmt

if TYPE_CHECKING:
    from tinygrad_nn.tensor import Tensor
    from tinygrad_nn.viz.trace import BackwardTrace

__all__ = ["module_html", "summary", "tensor_html", "trace_html"]

FULL_SIZE = 16  # arrays up to this many elements are shown in full
GRAPH_NODES = 60  # a tensor's display draws at most this many graph nodes
STYLE = (
    "<style>.tnn-table{border-collapse:collapse;font:12px monospace}"
    ".tnn-table td,.tnn-table th{border:1px solid #dee2e6;padding:2px 6px;text-align:left}"
    ".tnn-table th{background:#f1f3f5}</style>"
)


def summary(array: Any) -> dict[str, Any] | None:
    """Shape, mean, min, max and L2 norm of an array, and its values when it is small.

    Returns:
        A JSON-friendly dict, or None for None or an empty array.

    Example:
        >>> summary(np.array([3.0, 4.0]))["norm"]
        5.0
    """
    if array is None:
        return None
    values = np.asarray(getattr(array, "data", array))
    if values.size == 0 or values.dtype.kind not in "biuf":
        return None
    floats = values.astype(np.float64, copy=False)
    with np.errstate(all="ignore"):
        result: dict[str, Any] = {
            "shape": list(values.shape),
            "mean": float(floats.mean()),
            "min": float(floats.min()),
            "max": float(floats.max()),
            "norm": float(np.linalg.norm(floats.ravel())),
        }
    if values.size <= FULL_SIZE:
        result["values"] = floats.ravel().tolist()
    return result


def _number(value: float | None) -> str:
    """Four significant digits, or "-" for a value that was not kept."""
    return "-" if value is None else fmt(value)


def summary_text(stats: dict[str, Any] | None) -> str:
    """One line: ``shape (2,)  mean 3.5  min 3  max 4  norm 5``."""
    if stats is None:
        return "-"
    shape = tuple(stats["shape"])
    return (
        f"shape {shape}  mean {fmt(stats['mean'])}  min {fmt(stats['min'])}  "
        f"max {fmt(stats['max'])}  norm {fmt(stats['norm'])}"
    )


def _rows(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(cell)}</th>" for cell in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in rows
    )
    return f'{STYLE}<table class="tnn-table"><tr>{head}</tr>{body}</table>'


def tensor_html(tensor: Tensor) -> str:
    """A tensor as HTML: its summary and gradient, and the graph that made it, if any."""
    rows = [
        ("name", tensor.name or "-"),
        ("shape, dtype", f"{tensor.shape} {tensor.dtype}"),
        ("requires_grad", str(tensor.requires_grad)),
        ("value", summary_text(summary(tensor.data))),
        ("grad", summary_text(summary(tensor.grad))),
    ]
    stats = summary(tensor.data)
    if stats is not None and "values" in stats:
        rows.append(("values", np.array2string(np.asarray(tensor.data), precision=4)))
    text = _rows(("Tensor", ""), rows)
    if tensor.grad_fn is not None:
        text += "<div>" + _graph_svg(tensor) + "</div>"
    return text


def _graph_svg(tensor: Tensor) -> str:
    from tinygrad_nn.viz.graph import build
    from tinygrad_nn.viz.svg import drawing_svg

    drawing = build(tensor, max_nodes=GRAPH_NODES, legend=False, caller="Tensor display")
    return drawing_svg(drawing)


def module_html(module: Any) -> str:
    """A Module as HTML: its repr and a table of its parameters and gradients."""
    rows = []
    for name, param in module.named_parameters():
        grad = summary(param.grad)
        rows.append(
            (
                name,
                str(param.shape),
                str(param.dtype),
                fmt(float(np.linalg.norm(np.ravel(param.data)))),
                "-" if grad is None else fmt(grad["norm"]),
            )
        )
    table = _rows(("parameter", "shape", "dtype", "‖value‖", "‖grad‖"), rows)
    return f"<pre>{html.escape(repr(module))}</pre>{table}"


def trace_html(trace: BackwardTrace) -> str:
    """A backward trace as an HTML table: one row per step, one line per input."""
    rows = []
    for step in trace.steps:
        sends = "; ".join(
            f"in{i} {sent.to}: "
            + ("no gradient" if sent.norm is None else f"norm {_number(sent.norm)}")
            for i, sent in enumerate(step.sends)
        )
        rows.append(
            (
                str(step.number),
                step.op,
                step.module or "",
                step.output,
                str(step.shape),
                _number(step.grad_norm),
                step.rule,
                sends,
            )
        )
    header = ("#", "op", "module", "output", "grad in", "norm", "local derivative", "sends")
    title = f"<p>backward from {html.escape(trace.root)}: {len(trace.steps)} steps</p>"
    return title + _rows(header, rows)
