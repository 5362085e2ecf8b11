"""Draw computation graphs: `draw_graph`, `to_dot` and `save_graph`.

Drawing is split in two: the graph is traced into a light copy (`tinygrad_nn.viz.snapshot`)
and styled (`tinygrad_nn.viz.drawing`); then it is rendered as DOT text
(`tinygrad_nn.viz.dot`, Graphviz turns it into SVG/PNG/PDF) or, when Graphviz's ``dot``
program is missing, drawn with matplotlib (`tinygrad_nn.viz.fallback`).

Reading a drawing: ellipses are ops, boxes are tensors; blue boxes are parameters
(labelled by their module path, ``layers.0.weight``), yellow ones inputs (dashed:
constants written in the expression), white ones intermediates, the green one the
output. Each tensor shows its shape and dtype, a value summary and, after backward, the
norm of its gradient. Every ReLU output says how many of its units are dead on this batch
(zero for every row), and turns red when that fraction reaches ``dead_threshold``.

A graph can be drawn before or after ``backward()``. A plain backward releases the
intermediate values (that returns their memory) but keeps the structure, so the drawing
then shows shapes and the parameters' gradients without intermediate values; draw after
``backward(retain_graph=True)``, or run the step inside
``with tinygrad_nn.viz.keep_graphs():``, to see those too.
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tinygrad_nn._files import atomic_path
from tinygrad_nn.viz import dot as _dot
from tinygrad_nn.viz.drawing import Drawing, build_drawing
from tinygrad_nn.viz.snapshot import GraphWalk, walk
from tinygrad_nn.viz.snapshot import snapshot as _snapshot
from tinygrad_nn.viz.svg import builtin_svg
from tinygrad_nn.viz.trace import BackwardTrace, trace_walk

if TYPE_CHECKING:
    import graphviz

    from tinygrad_nn.tensor import Tensor

__all__ = ["GraphvizMissingWarning", "draw_graph", "save_graph", "to_dot"]

RANKDIRS = ("LR", "TB", "RL", "BT")
RENDERED = (".svg", ".png", ".pdf")
INSTALL_HINT = (
    "install Graphviz for better layouts: apt-get install graphviz, brew install graphviz, "
    "or conda install graphviz"
)


class GraphvizMissingWarning(UserWarning):
    """`save_graph` drew with matplotlib because Graphviz's ``dot`` program is missing."""


def build(
    tensor: Tensor,
    values: bool = True,
    grads: bool = True,
    group_modules: bool = True,
    rankdir: str = "LR",
    *,
    order: bool = False,
    max_nodes: int | None = 300,
    dead_threshold: float = 0.5,
    legend: bool = True,
    params: Mapping[str, Tensor] | None = None,
    expand: bool = False,
    caller: str = "draw_graph",
) -> Drawing:
    """Trace ``tensor``'s graph and decide what to draw (the options of `draw_graph`)."""
    if rankdir not in RANKDIRS:
        raise ValueError(f"{caller}: rankdir must be one of {RANKDIRS}, got {rankdir!r}")
    if max_nodes is not None and (isinstance(max_nodes, bool) or int(max_nodes) < 1):
        raise ValueError(f"{caller}: max_nodes must be None or a positive int, got {max_nodes}")
    if not 0.0 <= dead_threshold <= 1.0:
        raise ValueError(f"{caller}: dead_threshold must be in [0, 1], got {dead_threshold}")
    graph = walk(tensor, params, caller=caller)
    step_numbers: dict[int, int] | None = None
    extra_norms = None
    if order:
        if not tensor.requires_grad:
            raise ValueError(
                f"{caller}: order=True numbers the backward steps, but this tensor does "
                "not require grad, so backward has none"
            )
        step_numbers, extra_norms = trace_annotations(graph, trace_walk(graph))
    snap = _snapshot(graph, values=values, grads=grads, extra_grad_norms=extra_norms)
    return build_drawing(
        snap,
        values=values,
        grads=grads,
        group_modules=group_modules,
        rankdir=rankdir,
        max_nodes=None if max_nodes is None else int(max_nodes),
        order=step_numbers,
        dead_threshold=dead_threshold,
        legend=legend,
        expand=expand,
    )


def trace_annotations(
    graph: GraphWalk, trace: BackwardTrace
) -> tuple[dict[int, int], dict[int, float]]:
    """What a drawing shows of a trace: op index -> backward step number, and
    id(tensor) -> the norm of the gradient backward sent it."""
    step_numbers = {}
    for i, out in enumerate(graph.ops):
        number = trace.step_number(out)
        if number is not None:
            step_numbers[i] = number
    norms = {}
    for tensor in graph.tensors:
        gradient = trace.gradient(tensor)
        if gradient is not None:
            norms[id(tensor)] = float(np.linalg.norm(np.ravel(gradient)))
    return step_numbers, norms


def to_dot(tensor: Tensor, **options: Any) -> str:
    """The DOT text of ``tensor``'s graph; needs neither Graphviz nor its Python package.

    Takes the options of `draw_graph`.

    Example:
        >>> text = to_dot(loss)
        >>> text.splitlines()[0]
        'digraph tinygrad_nn {'
    """
    caller = options.pop("caller", "to_dot")
    return _dot_source(build(tensor, caller=caller, **options))


def _dot_source(drawing: Drawing) -> str:
    return f"digraph {_dot.GRAPH_NAME} {{\n" + "".join(_dot.to_dot_lines(drawing)) + "}\n"


def draw_graph(
    tensor: Tensor,
    values: bool = True,
    grads: bool = True,
    group_modules: bool = True,
    rankdir: str = "LR",
    *,
    order: bool = False,
    max_nodes: int | None = 300,
    dead_threshold: float = 0.5,
    legend: bool = True,
    params: Mapping[str, Tensor] | None = None,
    expand: bool = False,
) -> graphviz.Digraph:
    """Draw the computation graph that produced ``tensor``.

    One node per op (ellipse, named by its op: ``Linear``, ``Relu``, ``Sum`` ...) and one
    per tensor (box: shape and dtype; parameters named by their dotted module path).
    See the module docstring for how to read it.

    Args:
        tensor: the graph's output, usually the loss.
        values: show each tensor's value (one element) or mean/min/max.
        grads: show the norm of each ``.grad`` (leaves after backward, and tensors that
            called ``retain_grad()``).
        group_modules: draw the ops of each Module call inside a cluster labelled like
            ``layers.0: Linear(1→16)``.
        rankdir: "LR" draws left to right, "TB" top to bottom ("RL", "BT" reverse them).
        order: number the ops in the order backward visits them (``#1`` is the op that
            made ``tensor``) and show the gradient norm reaching every tensor; this runs
            `trace_backward` (one extra backward pass that changes no ``.grad``).
        max_nodes: draw at most this many nodes, those nearest the output, plus a note
            saying how many were left out; None draws all.
        dead_threshold: highlight ReLU outputs with at least this fraction of dead units.
        legend: add a legend of the node colours.
        params: extra ``{name: tensor}`` labels, e.g. ``dict(model.named_parameters())``;
            tensors used inside Module calls are named automatically.
        expand: show the ops inside composite functions (``cross_entropy``,
            ``log_softmax``, ``softmax``) in a frame named after the function; by default
            each call is one node of that name.

    Returns:
        A ``graphviz.Digraph`` (display it in Jupyter, or ``.render()`` it). Its
        ``.source`` is the DOT text, the same as `to_dot` returns. In a notebook without
        Graphviz's ``dot`` it displays the built-in layout instead of raising.

    Raises:
        ImportError: the ``graphviz`` Python package is missing (`to_dot` and
            `save_graph` work without it).

    Example:
        >>> loss = squared_error(model(x), y)
        >>> loss.backward(retain_graph=True)
        >>> draw_graph(loss)              # in a notebook this displays the SVG
    """
    try:
        import graphviz  # noqa: F401  (needed by the Digraph that is returned)
    except ImportError as error:
        raise ImportError(
            "draw_graph returns a graphviz.Digraph and needs the graphviz Python package: "
            "pip install graphviz (or pip install 'tinygrad-nn[viz]'); to_dot() and "
            "save_graph() work without it"
        ) from error
    drawing = build(
        tensor,
        values,
        grads,
        group_modules,
        rankdir,
        order=order,
        max_nodes=max_nodes,
        dead_threshold=dead_threshold,
        legend=legend,
        params=params,
        expand=expand,
    )
    digraph = _graph_drawing_class()(name=_dot.GRAPH_NAME)
    digraph.body.extend(_dot.to_dot_lines(drawing))
    digraph.drawing = drawing
    return digraph


@functools.cache
def _graph_drawing_class() -> type:
    import graphviz

    class GraphDrawing(graphviz.Digraph):
        """A ``graphviz.Digraph`` that displays itself in Jupyter without ``dot`` too.

        With Graphviz's ``dot`` it renders like any Digraph; without it the notebook
        shows the built-in layout of the same drawing (statements added to the Digraph
        afterwards are then not shown).
        """

        drawing: Drawing

        def _repr_mimebundle_(
            self, include: Any = None, exclude: Any = None, **kwargs: Any
        ) -> dict[str, Any]:
            if _dot.dot_executable() is not None:
                try:
                    return super()._repr_mimebundle_(include, exclude, **kwargs)
                except graphviz.ExecutableNotFound:
                    pass
            return {"image/svg+xml": builtin_svg(self.drawing)}

        def _repr_svg_(self) -> str:
            return self._repr_mimebundle_()["image/svg+xml"]

    return GraphDrawing


def save_graph(
    tensor: Tensor,
    path: str | os.PathLike[str],
    renderer: str = "auto",
    **options: Any,
) -> Path:
    """Write ``tensor``'s graph to ``path``: ``.svg``, ``.png``, ``.pdf`` or ``.dot``.

    ``.dot`` (or ``.gv``) is DOT text and always works. The other formats are rendered by
    Graphviz's ``dot`` program; when it is not installed they are drawn with matplotlib
    instead (a simpler layered layout with the same labels and colours) and a
    `GraphvizMissingWarning` says how to install Graphviz. The file is written
    atomically: a reader never sees half of it.

    Args:
        tensor: the graph's output, usually the loss.
        path: where to write; the suffix picks the format.
        renderer: "auto" (``dot`` if installed, else matplotlib), "dot" (fail without
            Graphviz) or "matplotlib".
        **options: the options of `draw_graph` (values, grads, order, max_nodes ...).

    Returns:
        The path written.

    Example:
        >>> loss.backward(retain_graph=True)
        >>> save_graph(loss, "graph.svg", order=True)
        PosixPath('graph.svg')
    """
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in (*RENDERED, ".dot", ".gv"):
        raise ValueError(
            f"save_graph: cannot tell the format of {str(target)!r}; use a path ending in "
            ".svg, .png, .pdf or .dot"
        )
    if renderer not in ("auto", "dot", "matplotlib"):
        raise ValueError(
            f"save_graph: renderer must be 'auto', 'dot' or 'matplotlib', got {renderer!r}"
        )
    drawing = build(tensor, caller="save_graph", **options)
    if suffix in (".dot", ".gv"):
        with atomic_path(target) as temporary:
            temporary.write_text(_dot_source(drawing), encoding="utf-8")
        return target
    executable = _dot.dot_executable() if renderer != "matplotlib" else None
    if executable is None and renderer == "dot":
        raise RuntimeError(f"save_graph: Graphviz's dot program was not found; {INSTALL_HINT}")
    with atomic_path(target) as temporary:
        if executable is not None:
            _dot.render_dot(_dot_source(drawing), temporary, suffix[1:], executable)
        else:
            from tinygrad_nn.viz.fallback import render_drawing

            dot_missing = renderer == "auto" or _dot.dot_executable() is None
            render_drawing(drawing, temporary, suffix[1:], dot_missing=dot_missing)
    if executable is None and renderer == "auto":
        warnings.warn(
            f"save_graph: Graphviz's dot was not found, so {target.name} was drawn with "
            f"matplotlib; {INSTALL_HINT}",
            GraphvizMissingWarning,
            stacklevel=2,
        )
    return target
