"""Trace a computation graph: walk it once and keep a light structural copy.

`walk` follows ``tensor.grad_fn.parents`` from a root back to the leaves (iteratively, so any
depth works) and names what it finds: parameters by their dotted module path
(``layers.0.weight``), module calls by cluster (``layers.0: Linear(1→16)``). `snapshot`
turns that walk into plain dataclasses (shapes, dtypes, value summaries, gradient norms,
dead-unit counts) that hold no arrays and no references to the graph, which is what the
renderers in `tinygrad_nn.viz.drawing`, `.dot` and `.fallback` consume.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from tinygrad_nn import autograd
from tinygrad_nn._composite import CompositeCall
from tinygrad_nn.nn.diagnostics import dead_units

if TYPE_CHECKING:
    from tinygrad_nn.autograd import Function
    from tinygrad_nn.tensor import Tensor

__all__ = [
    "DeadUnits",
    "GraphSnapshot",
    "ModuleCall",
    "OpNode",
    "TensorNode",
    "ValueStats",
    "snapshot",
    "walk",
]

# What a tensor is in the graph; the drawing gives each kind its own colour.
PARAMETER, INPUT, CONSTANT, INTERMEDIATE, OUTPUT = (
    "parameter",
    "input",
    "constant",
    "intermediate",
    "output",
)

# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class ValueStats:
    """A compact summary of an array: its value when it has one element, else mean/min/max."""

    size: int
    mean: float
    min: float
    max: float

    @classmethod
    def of(cls, array: np.ndarray) -> ValueStats | None:
        if array.size == 0 or array.dtype.kind not in "biuf":
            return None
        values = array.astype(np.float64, copy=False)
        with np.errstate(all="ignore"):
            return cls(array.size, float(values.mean()), float(values.min()), float(values.max()))


@dataclass(frozen=True)
class DeadUnits:
    """How much of a ReLU output is zero.

    A unit is one entry of the last axis (a neuron); it is *dead* on this batch when it
    is zero for every row, so no gradient reaches the weights feeding it.
    """

    dead: int
    units: int
    zero_fraction: float  # fraction of all entries that are zero

    @property
    def fraction(self) -> float:
        return self.dead / self.units if self.units else 0.0

    @classmethod
    def of(cls, output: np.ndarray) -> DeadUnits:
        dead = dead_units(output)
        zero_fraction = float((output == 0).mean()) if output.size else 0.0
        return cls(int(dead.sum()), int(dead.size), zero_fraction)


@dataclass(frozen=True)
class ModuleCall:
    """One call of a Module (a cluster in the drawing)."""

    key: str
    label: str  # e.g. "layers.0: Linear(1→16)"
    name: str  # dotted path, "" for the outermost model
    parent: str | None  # key of the enclosing call
    composite: bool = False  # a composite function (cross_entropy), drawn folded


@dataclass(frozen=True)
class TensorNode:
    """One tensor of the graph (a leaf, an intermediate or the root)."""

    index: int
    kind: str  # parameter, input, constant, intermediate or output
    label: str | None  # dotted parameter path, or the tensor's own name
    shape: tuple[int, ...]
    dtype: str
    producer: int | None  # index of the op that made it
    stats: ValueStats | None
    grad_norm: float | None
    dead: DeadUnits | None  # ReLU outputs only


@dataclass(frozen=True)
class OpNode:
    """One op of the graph."""

    index: int
    name: str  # op_name(), e.g. "Relu"
    rule: str  # first line of the op's docstring: f and its derivative
    inputs: tuple[int, ...]  # tensor indices, in argument order (x * x lists x twice)
    output: int
    calls: tuple[str, ...]  # ModuleCall keys, outermost first


@dataclass
class GraphSnapshot:
    """A structural copy of a graph: no arrays, no links back to tensors or modules."""

    tensors: list[TensorNode]
    ops: list[OpNode]  # in forward (topological) order
    calls: dict[str, ModuleCall] = field(default_factory=dict)
    root: int = 0


# --------------------------------------------------------------------------- the walk


def op_rule(node: Function | type) -> str:
    """The first line of an op's docstring, e.g. ``f(x) = max(x, 0);  f'(x) = ...``."""
    cls = node if isinstance(node, type) else type(node)
    doc = cls.__dict__.get("__doc__") or ""
    lines = doc.strip().splitlines()
    return lines[0].strip().replace("``", "") if lines else ""


def module_summary(module: Any) -> str:
    """``Linear(1→16)`` for modules with in/out features, a composite function's name,
    else the class name."""
    if isinstance(module, CompositeCall):
        return module.name
    kind = type(module).__name__
    in_features = getattr(module, "in_features", None)
    out_features = getattr(module, "out_features", None)
    if isinstance(in_features, int) and isinstance(out_features, int):
        return f"{kind}({in_features}→{out_features})"
    return kind


@dataclass
class GraphWalk:
    """The live graph below a root, in forward order, with names for what it holds.

    Attributes:
        root: the tensor walked from.
        tensors: every tensor reachable from the root, numbered in first-use order.
        ops: the tensors made by an op, in the order the ops ran (their graph nodes
            are ``node_of(tensor)``).
        labels: id(tensor) -> dotted parameter path or the tensor's own name.
        kinds: id(tensor) -> parameter, input, constant, intermediate or output.
        index: id(tensor) -> position in ``tensors``.
        calls: ModuleCall records by key; ``op_calls`` maps id(op output) -> keys.
    """

    root: Tensor
    tensors: list[Tensor]
    ops: list[Tensor]
    labels: dict[int, str]
    kinds: dict[int, str]
    index: dict[int, int]
    calls: dict[str, ModuleCall]
    op_calls: dict[int, tuple[str, ...]]

    def describe(self, tensor: Tensor) -> str:
        """A short reference to a tensor: its label, else its kind and number."""
        label = self.labels.get(id(tensor))
        if label:
            return label
        return f"{self.kinds[id(tensor)]} t{self.index[id(tensor)]}"


def node_of(out: Tensor) -> Function:
    """The graph node that made ``out``, an op's output (every entry of `GraphWalk.ops`)."""
    node = out.grad_fn
    if node is None:
        raise ValueError(f"node_of: {out!r} is a leaf, which no op made")
    return node


def walk(
    root: Tensor, params: Mapping[str, Tensor] | None = None, caller: str = "draw_graph"
) -> GraphWalk:
    """Walk the graph below ``root``, before or after backward.

    After a backward without ``retain_graph`` the intermediate tensors are
    `tinygrad_nn.autograd.ReleasedTensor` records: shapes and ops stay, values do not.

    Args:
        root: the tensor to start from, usually the loss.
        params: optional extra names, ``{name: tensor}`` (e.g. ``dict(model.named_parameters())``);
            they win over names found through the module scope.
        caller: the public function's name, for error messages.

    Returns:
        A `GraphWalk`.
    """
    # The engine's own walk, in the order the ops ran (also through a released graph).
    ops = autograd.backward_order((root,), allow_released=True)[::-1]
    tensors: list[Tensor] = []
    index: dict[int, int] = {}

    def number(tensor: Tensor) -> None:
        if id(tensor) not in index:
            index[id(tensor)] = len(tensors)
            tensors.append(tensor)

    for out in ops:
        for parent in node_of(out).parents:
            number(parent)
        number(out)
    number(root)

    module_names, param_names = _module_names(ops)
    if params:
        param_names.update({id(tensor): name for name, tensor in params.items()})
    labels: dict[int, str] = {}
    kinds: dict[int, str] = {}
    for tensor in tensors:
        key = id(tensor)
        label = param_names.get(key) or tensor.name
        if label:
            labels[key] = label
        kinds[key] = _kind(tensor, root)
    calls, op_calls = _module_calls(ops, module_names)
    return GraphWalk(root, tensors, ops, labels, kinds, index, calls, op_calls)


def _kind(tensor: Tensor, root: Tensor) -> str:
    if tensor is root:
        return OUTPUT
    if tensor.grad_fn is not None:
        return INTERMEDIATE
    if tensor.requires_grad:
        return PARAMETER
    # An unnamed one-element leaf is a number written in the expression (x - 0.5).
    if tensor.name is None and tensor.size == 1:
        return CONSTANT
    return INPUT


def _module_names(ops: list[Tensor]) -> tuple[dict[int, str], dict[int, str]]:
    """Map id(module) and id(parameter) to dotted names, from each outermost module."""
    module_names: dict[int, str] = {}
    param_names: dict[int, str] = {}
    outermost: dict[int, Any] = {}
    for out in ops:
        scope = getattr(node_of(out), "scope", ())
        if scope:
            outermost.setdefault(id(scope[0]), scope[0])
    for model in outermost.values():
        named_modules = getattr(model, "named_modules", None)
        if callable(named_modules):
            for name, module in named_modules():
                module_names.setdefault(id(module), name)
        else:
            module_names.setdefault(id(model), "")
        named_parameters = getattr(model, "named_parameters", None)
        if callable(named_parameters):
            for name, param in named_parameters():
                param_names.setdefault(id(param), name)
    return module_names, param_names


def _module_calls(
    ops: list[Tensor], module_names: dict[int, str]
) -> tuple[dict[str, ModuleCall], dict[int, tuple[str, ...]]]:
    """Group ops by module call.

    ``ctx.scope`` is a tuple made afresh each time a Module is entered, so ops sharing
    one scope tuple ran in the same call. Innermost calls (modules whose ops call no
    further module, such as Linear) are told apart call by call; enclosing modules are
    grouped by module, since a scope does not record which outer call an inner one
    belongs to.
    """
    paths: dict[int, tuple[int, ...]] = {}
    for out in ops:
        scope = getattr(node_of(out), "scope", ())
        paths[id(out)] = tuple(id(m) for m in scope)
    prefixes = {path[:i] for path in paths.values() for i in range(1, len(path))}

    calls: dict[str, ModuleCall] = {}
    keys_by_identity: dict[Any, str] = {}
    op_calls: dict[int, tuple[str, ...]] = {}
    for out in ops:
        scope = getattr(node_of(out), "scope", ())
        path = paths[id(out)]
        keys: list[str] = []
        for depth, module in enumerate(scope):
            level_path = path[: depth + 1]
            innermost = depth == len(scope) - 1 and level_path not in prefixes
            identity = ("call", id(scope)) if innermost else ("module", level_path)
            key = keys_by_identity.get(identity)
            if key is None:
                key = f"c{len(keys_by_identity)}"
                keys_by_identity[identity] = key
                name = module_names.get(id(module), "")
                summary = module_summary(module)
                label = f"{name}: {summary}" if name else summary
                parent = keys[-1] if keys else None
                folded = isinstance(module, CompositeCall)
                calls[key] = ModuleCall(key, label, name, parent, composite=folded)
            keys.append(key)
        op_calls[id(out)] = tuple(keys)
    return calls, op_calls


# --------------------------------------------------------------------------- snapshot


def snapshot(
    graph: GraphWalk,
    values: bool = True,
    grads: bool = True,
    extra_grad_norms: Mapping[int, float] | None = None,
) -> GraphSnapshot:
    """Copy what a drawing needs out of a live graph.

    Args:
        graph: the result of `walk`.
        values: summarise each tensor's values (costs one pass over each array).
        grads: record the norm of each tensor's ``.grad`` where it has one.
        extra_grad_norms: id(tensor) -> gradient norm for tensors without ``.grad``
            (intermediates), e.g. from `trace_backward`.

    Returns:
        A `GraphSnapshot`.
    """
    producer = {id(out): i for i, out in enumerate(graph.ops)}
    tensors = []
    for i, tensor in enumerate(graph.tensors):
        key = id(tensor)
        kind = graph.kinds[key]
        grad_norm = None
        if grads:
            if tensor.grad is not None:
                grad_norm = float(np.linalg.norm(np.ravel(tensor.grad)))
            elif extra_grad_norms and key in extra_grad_norms:
                grad_norm = extra_grad_norms[key]
        node = tensor.grad_fn
        dead = None
        released = tensor.data is None  # an intermediate whose values backward released
        if node is not None and node.op_name() == "Relu" and not released and tensor.size:
            dead = DeadUnits.of(tensor.data)
        tensors.append(
            TensorNode(
                index=i,
                kind=kind,
                label=graph.labels.get(key),
                shape=tuple(tensor.shape),
                dtype=str(tensor.dtype),
                producer=producer.get(key),
                stats=(
                    ValueStats.of(tensor.data)
                    if (values or kind == CONSTANT) and not released
                    else None
                ),
                grad_norm=grad_norm,
                dead=dead,
            )
        )
    ops = [
        OpNode(
            index=i,
            name=node.op_name(),
            rule=op_rule(node),
            inputs=tuple(graph.index[id(p)] for p in node.parents),
            output=graph.index[id(out)],
            calls=graph.op_calls[id(out)],
        )
        for i, out in enumerate(graph.ops)
        for node in (node_of(out),)
    ]
    return GraphSnapshot(tensors, ops, dict(graph.calls), graph.index[id(graph.root)])
