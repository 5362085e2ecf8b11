"""`trace_backward`: the backward pass, step by step, as a printable table.

It replays what `Tensor.backward` does on the same graph, in the same order (newest node
first), but only records: for every op, the gradient arriving at its output, the local
derivative rule (the first line of the op's docstring), the gradient it sends to each
input and the axes the engine sums away because the input was broadcast. Nothing is
written to any ``.grad`` and the graph is not freed, so the user's graph and gradients
are left exactly as they were.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from tinygrad_nn import autograd
from tinygrad_nn.viz.snapshot import CONSTANT, GraphWalk, op_rule, walk

if TYPE_CHECKING:
    from tinygrad_nn.tensor import Tensor

__all__ = ["BackwardStep", "BackwardTrace", "GradientSent", "trace_backward"]

# (input, its reduced gradient or None, broadcast axes summed, raw gradient shape)
_Sent = tuple["Tensor", "np.ndarray | None", tuple[int, ...], tuple[int, ...]]


@dataclass(frozen=True)
class GradientSent:
    """The gradient one op sends to one of its inputs.

    Attributes:
        to: the input: a parameter path or name, or ``#k Op`` for the output of step k.
        shape: the input's shape (the shape of the gradient after reduction).
        norm: the L2 norm of that gradient, or None when none is sent (a constant, or an
            input that does not require grad).
        summed_axes: axes of the op's raw gradient that the engine summed away because
            the input was broadcast (empty when the shapes already matched).
        raw_shape: the shape of the op's raw gradient before that sum.
        grad: the gradient itself (after the sum), or None when none is sent.
    """

    to: str
    shape: tuple[int, ...]
    norm: float | None
    summed_axes: tuple[int, ...] = ()
    raw_shape: tuple[int, ...] = ()
    grad: np.ndarray | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class BackwardStep:
    """One op visited by backward.

    Attributes:
        number: 1 for the first op visited (the one that made the root).
        op: the op's name, e.g. ``"Relu"``.
        rule: its local derivative in words, from its docstring.
        module: the module call it ran in (``"layers.0: Linear(1→16)"``), or None.
        output: the op's output (its name, if it has one).
        shape: the output's shape, which is also the incoming gradient's shape.
        value: the output's value when it has a single element, else None.
        grad_norm: the L2 norm of the gradient arriving at the output (None when a backward
            without retain_graph released the graph before the trace).
        sends: one `GradientSent` per input, in argument order.
        grad: the gradient arriving at the output.
    """

    number: int
    op: str
    rule: str
    module: str | None
    output: str
    shape: tuple[int, ...]
    value: float | None
    grad_norm: float | None
    sends: tuple[GradientSent, ...]
    grad: np.ndarray | None = field(default=None, repr=False, compare=False)


class BackwardTrace:
    """The steps of a backward pass; ``print(trace)`` shows them as a table.

    Attributes:
        steps: the `BackwardStep` list in visit order.
        root: a description of the tensor backward started from.
        terms: ``(name, value)`` for every named single-element intermediate (such as the
            ``l2_penalty`` term of a loss), so the loss can be read term by term.
    """

    def __init__(
        self,
        steps: list[BackwardStep],
        root: str,
        terms: list[tuple[str, float]],
        grads: dict[int, np.ndarray],
        step_of: dict[int, int],
    ) -> None:
        self.steps = steps
        self.root = root
        self.terms = terms
        # id(tensor) -> its total gradient, and id(op output) -> step number, valid
        # while the traced graph is alive (read through step_number and gradient).
        self._grads = grads
        self._step_of = step_of

    def step_number(self, tensor: Tensor) -> int | None:
        """The number of the step that visited the op which made ``tensor`` (or None)."""
        return self._step_of.get(id(tensor))

    def gradient(self, tensor: Tensor) -> np.ndarray | None:
        """The total gradient backward sent to ``tensor`` of the traced graph (or None)."""
        return self._grads.get(id(tensor))

    def __len__(self) -> int:
        return len(self.steps)

    def __iter__(self) -> Iterator[BackwardStep]:
        return iter(self.steps)

    def __getitem__(self, index: int) -> BackwardStep:
        return self.steps[index]

    def __repr__(self) -> str:
        return f"<BackwardTrace of {self.root}: {len(self.steps)} steps>"

    def __str__(self) -> str:
        return format_trace(self)

    def _repr_html_(self) -> str:
        from tinygrad_nn.viz.notebook import trace_html

        return trace_html(self)


def trace_backward(
    tensor: Tensor, grad: Any = None, params: Mapping[str, Tensor] | None = None
) -> BackwardTrace:
    """List the steps backward takes from ``tensor``, without changing any gradient.

    It runs the engine's backward loop once more (no ``.grad`` is written, the graph is
    kept). After a plain ``backward()``, which released the graph, the steps are still
    listed but without the intermediate gradients; for those, trace before backward, after
    ``backward(retain_graph=True)``, or inside ``tinygrad_nn.viz.keep_graphs()``.

    Args:
        tensor: where backward starts, usually the loss.
        grad: the seed gradient; may be omitted for a single-element tensor.
        params: optional ``{name: tensor}`` names for leaves, e.g.
            ``dict(model.named_parameters())`` (found automatically for tensors used
            inside Module calls).

    Returns:
        A `BackwardTrace`; print it for a table.

    Example:
        >>> x = Tensor(np.ones((4, 3)), name="x")
        >>> b = Tensor(np.zeros(3), requires_grad=True, name="b")
        >>> trace = trace_backward((x + b).relu().sum())
        >>> [step.op for step in trace]
        ['Sum', 'Relu', 'Add']
        >>> trace[2].sends[1].summed_axes
        (0,)
    """
    return trace_walk(walk(tensor, params, caller="trace_backward"), grad)


def trace_walk(graph: GraphWalk, grad: Any = None) -> BackwardTrace:
    """`trace_backward` on a graph already walked (shares the walk with a drawing).

    The engine's own backward loop runs, keeping the graph and writing no ``.grad``, and
    reports every node it visits; the trace is that report. On a graph a backward has
    already released the ops are listed in the same order, without the gradients that
    were not kept.
    """
    tensor = graph.root
    if not tensor.requires_grad:
        raise RuntimeError(
            "trace_backward: this tensor does not require grad, so backward has no steps; "
            "create the inputs with requires_grad=True"
        )
    seed = autograd.seed_gradient(tensor, grad, "trace_backward")
    visits: list[tuple[Tensor, np.ndarray | None, list[_Sent]]] = []
    gradients: dict[int, np.ndarray] = {}
    released = any(autograd.is_released(out.grad_fn) for out in graph.ops)

    def record(out: Tensor, node: Any, out_grad: Any, raw_grads: tuple) -> None:
        sent: list[_Sent] = []
        for parent, raw in zip(node.parents, raw_grads, strict=True):
            if raw is None or not parent.requires_grad:
                sent.append((parent, None, (), ()))
            else:
                reduced = autograd.conform_gradient(node, raw, parent)
                raw_shape = np.shape(raw)
                sent.append((parent, reduced, broadcast_axes(raw_shape, parent.shape), raw_shape))
        gradients[id(out)] = out_grad
        visits.append((out, out_grad, sent))

    if released:
        for out in reversed(graph.ops):
            sent = [(parent, None, (), ()) for parent in out.grad_fn.parents]
            visits.append((out, None, sent))
    else:
        order = autograd.backward_order((tensor,))
        result = autograd.backpropagate(
            order, {id(tensor): seed}, retain_graph=True, observer=record
        )
        gradients.update({key: entry[1] for key, entry in result.leaves.items()})

    step_of = {id(out): number for number, (out, _, _) in enumerate(visits, start=1)}
    steps = [_step(graph, step_of, number, *visit) for number, visit in enumerate(visits, 1)]
    terms = [
        (graph.labels[id(t)], float(t.data.reshape(-1)[0]))
        for t in graph.ops
        if t is not tensor and id(t) in graph.labels and t.data is not None and t.size == 1
    ]
    return BackwardTrace(steps, _describe_root(graph), terms, gradients, step_of)


def broadcast_axes(grad_shape: tuple[int, ...], shape: tuple[int, ...]) -> tuple[int, ...]:
    """Axes of ``grad_shape`` that `unbroadcast` sums to reach ``shape``.

    Example:
        >>> broadcast_axes((32, 16), (16,))
        (0,)
        >>> broadcast_axes((4, 2, 3), (2, 1))
        (0, 2)
    """
    extra = len(grad_shape) - len(shape)
    if extra < 0:
        return ()
    stretched = [
        extra + i for i, size in enumerate(shape) if size == 1 and grad_shape[extra + i] != 1
    ]
    return (*range(extra), *stretched)


def _norm(array: np.ndarray) -> float:
    return float(np.linalg.norm(np.ravel(array)))


def _reference(graph: GraphWalk, step_of: dict[int, int], tensor: Tensor) -> str:
    """How a step's table row names a tensor: label, ``#k Op`` for intermediates, or kind."""
    label = graph.labels.get(id(tensor))
    if tensor._ctx is not None and id(tensor) in step_of:
        made_by = f"#{step_of[id(tensor)]} {tensor._ctx.op_name()}"
        return f"{label} ({made_by})" if label else made_by
    if graph.kinds[id(tensor)] == CONSTANT:
        return f"constant {float(tensor.data.reshape(-1)[0]):.4g}"
    return graph.describe(tensor)


def _step(
    graph: GraphWalk,
    step_of: dict[int, int],
    number: int,
    out: Tensor,
    out_grad: np.ndarray | None,
    sent: list[_Sent],
) -> BackwardStep:
    node = out._ctx
    calls = graph.op_calls.get(id(out), ())
    sends = tuple(
        GradientSent(
            to=_reference(graph, step_of, parent),
            shape=tuple(parent.shape),
            norm=None if reduced is None else _norm(reduced),
            summed_axes=axes,
            raw_shape=tuple(raw_shape),
            grad=reduced,
        )
        for parent, reduced, axes, raw_shape in sent
    )
    name = graph.labels.get(id(out))
    return BackwardStep(
        number=number,
        op=node.op_name(),
        rule=op_rule(node),
        module=graph.calls[calls[-1]].label if calls else None,
        output=name or ("output" if out is graph.root else "-"),
        shape=tuple(out.shape),
        value=float(out.data.reshape(-1)[0]) if out.data is not None and out.size == 1 else None,
        grad_norm=None if out_grad is None else _norm(out_grad),
        sends=sends,
        grad=out_grad,
    )


def _describe_root(graph: GraphWalk) -> str:
    root = graph.root
    name = graph.labels.get(id(root), "output")
    shape = "scalar" if root.data.size == 1 and root.ndim == 0 else str(tuple(root.shape))
    text = f"{name} ({shape} {root.dtype})"
    if root.data.size == 1:
        text += f" = {float(root.data.reshape(-1)[0]):.6g}"
    return text


# --------------------------------------------------------------------------- table


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def format_trace(trace: BackwardTrace) -> str:
    """The trace as a fixed-width table (what ``str(trace)`` returns)."""
    lines = [f"backward from {trace.root}: {len(trace.steps)} steps, newest op first"]
    if trace.terms:
        lines.append("named terms: " + ", ".join(f"{n} = {v:.6g}" for n, v in trace.terms))
    rows = [("#", "op", "module", "output", "value", "grad in: shape", "norm", "local derivative")]
    for step in trace.steps:
        rows.append(
            (
                str(step.number),
                step.op,
                step.module or "",
                step.output,
                _fmt(step.value) if step.value is not None else "",
                str(step.shape),
                _fmt(step.grad_norm),
                step.rule,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]

    def row_text(row: tuple[str, ...]) -> str:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        return "  ".join([*cells, row[-1]]).rstrip()

    lines.append(row_text(rows[0]))
    for step, row in zip(trace.steps, rows[1:], strict=True):
        lines.append(row_text(row))
        indent = " " * (widths[0] + 2)
        for index, sent in enumerate(step.sends):
            if sent.norm is None:
                lines.append(f"{indent}-> in{index} {sent.to}: no gradient")
                continue
            text = f"{indent}-> in{index} {sent.to}: shape {sent.shape}, norm {_fmt(sent.norm)}"
            if sent.summed_axes:
                text += f", summed over broadcast axes {sent.summed_axes} of {sent.raw_shape}"
            lines.append(text)
    return "\n".join(lines)
