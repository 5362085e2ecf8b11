"""See computation graphs and training: graph drawings, backward traces, plots.

- `draw_graph(loss)` returns a ``graphviz.Digraph``; `save_graph(loss, "g.svg")` writes
  .svg/.png/.pdf (Graphviz's ``dot``, or a matplotlib drawing without it) or .dot text;
  `to_dot(loss)` returns the DOT text.
- `trace_backward(loss)` lists the backward steps: gradient in, local derivative rule,
  gradients out, axes summed by broadcasting. ``print()`` it.
- `explore(loss, "explore.html")` writes one self-contained HTML page that steps through
  the forward and backward pass, node by node, with values and gradients.
- `keep_graphs()` keeps the graphs of the backward passes run inside it, so they can be
  drawn after backward.
- `TrainingHistory` records cost, per-layer gradient norms and dead ReLU units while
  training; `tinygrad_nn.viz.plots` turns it (and fits, costs) into matplotlib Figures.

Importing this package loads neither matplotlib nor graphviz: they are imported by the
functions that need them.
"""

from __future__ import annotations

import importlib
from typing import Any

from tinygrad_nn.viz.explore import explore
from tinygrad_nn.viz.graph import GraphvizMissingWarning, draw_graph, save_graph, to_dot
from tinygrad_nn.viz.history import TrainingHistory
from tinygrad_nn.viz.keep import keep_graphs
from tinygrad_nn.viz.trace import BackwardTrace, trace_backward

__all__ = [
    "BackwardTrace",
    "GraphvizMissingWarning",
    "TrainingHistory",
    "draw_graph",
    "explore",
    "keep_graphs",
    "plots",
    "save_graph",
    "to_dot",
    "trace_backward",
]


def __getattr__(name: str) -> Any:
    # `tnn.viz.plots` without importing matplotlib until it is used.
    if name == "plots":
        return importlib.import_module("tinygrad_nn.viz.plots")
    raise AttributeError(f"module 'tinygrad_nn.viz' has no attribute {name!r}")
