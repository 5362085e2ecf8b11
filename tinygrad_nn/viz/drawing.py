"""Decide what a graph drawing shows: nodes with label lines and styles, edges, clusters.

`build_drawing` turns a `GraphSnapshot` into a `Drawing`, independent of how it is
rendered; `tinygrad_nn.viz.dot` writes it as DOT text for Graphviz and
`tinygrad_nn.viz.fallback` draws it with matplotlib, with the same labels and colours.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, replace

from tinygrad_nn.viz.snapshot import (
    CONSTANT,
    INPUT,
    INTERMEDIATE,
    OUTPUT,
    PARAMETER,
    GraphSnapshot,
    TensorNode,
)

__all__ = ["LEGEND", "STYLES", "DrawCluster", "DrawEdge", "DrawNode", "Drawing", "NodeStyle"]


@dataclass(frozen=True)
class NodeStyle:
    """How one kind of node looks: Graphviz shape name and colours (hex)."""

    shape: str  # "box", "ellipse" or "note"
    fill: str
    border: str
    penwidth: float = 1.0
    dashed: bool = False
    rounded: bool = False


OP, DEAD, ELIDED = "op", "dead", "elided"

STYLES: dict[str, NodeStyle] = {
    OP: NodeStyle("ellipse", "#e9ecef", "#495057"),
    PARAMETER: NodeStyle("box", "#cfe2ff", "#084298"),
    INPUT: NodeStyle("box", "#fff3cd", "#997404"),
    CONSTANT: NodeStyle("box", "#fff3cd", "#997404", dashed=True),
    INTERMEDIATE: NodeStyle("box", "#ffffff", "#6c757d", rounded=True),
    OUTPUT: NodeStyle("box", "#d1e7dd", "#0f5132", penwidth=2.0),
    DEAD: NodeStyle("box", "#f8d7da", "#dc3545", penwidth=2.5, rounded=True),
    ELIDED: NodeStyle("note", "#f8f9fa", "#6c757d", dashed=True),
}

# Legend entries in display order: (style key, text). The dead entry's text gets the
# threshold filled in.
LEGEND: tuple[tuple[str, str], ...] = (
    (OP, "op"),
    (PARAMETER, "parameter"),
    (INPUT, "input"),
    (CONSTANT, "constant"),
    (INTERMEDIATE, "intermediate"),
    (OUTPUT, "output"),
    (DEAD, "ReLU output, dead units ≥ {threshold:.0%}"),
)

CLUSTER_FILL = "#f1f3f5"
CLUSTER_BORDER = "#adb5bd"
EDGE_COLOUR = "#6c757d"


@dataclass
class DrawNode:
    id: str
    lines: tuple[str, ...]
    kind: str  # a key of STYLES
    cluster: str | None = None
    tooltip: str = ""
    folds: tuple[int, ...] = ()  # a folded call's node: the indices of the ops it stands for

    @property
    def style(self) -> NodeStyle:
        return STYLES[self.kind]


@dataclass(frozen=True)
class DrawEdge:
    source: str
    target: str
    dashed: bool = False
    id: str = ""  # e<op>_<k> for an op's k-th input, e<op>_out for its output


@dataclass(frozen=True)
class DrawCluster:
    id: str
    label: str
    parent: str | None


@dataclass
class Drawing:
    """Everything a renderer needs; node ids are ``t<i>`` (tensors) and ``op<j>`` (ops)."""

    nodes: list[DrawNode]
    edges: list[DrawEdge]
    clusters: dict[str, DrawCluster] = field(default_factory=dict)
    rankdir: str = "LR"
    legend: list[tuple[str, str]] = field(default_factory=list)  # (style key, text)
    elided: int = 0  # nodes left out by max_nodes

    def node(self, node_id: str) -> DrawNode:
        for node in self.nodes:
            if node.id == node_id:
                return node
        raise KeyError(node_id)


# --------------------------------------------------------------------------- labels


def fmt(value: float) -> str:
    """Four significant digits, compact."""
    return f"{value:.4g}"


def shape_text(shape: tuple[int, ...]) -> str:
    return "scalar" if shape == () else str(shape)


_TITLES = {PARAMETER: "parameter", INPUT: "input", CONSTANT: "constant", OUTPUT: "output"}


def tensor_lines(node: TensorNode, values: bool, grads: bool) -> tuple[str, ...]:
    """Label lines of a tensor node: name, shape and dtype, values, gradient, dead units."""
    lines = []
    title = node.label or _TITLES.get(node.kind)
    if title:
        lines.append(title)
    lines.append(f"{shape_text(node.shape)} {node.dtype}")
    stats = node.stats
    if stats is not None and (values or node.kind == CONSTANT):
        if stats.size == 1:
            lines.append(f"= {fmt(stats.mean)}")
        else:
            lines.append(f"mean {fmt(stats.mean)} min {fmt(stats.min)} max {fmt(stats.max)}")
    if grads and node.grad_norm is not None:
        lines.append(f"‖grad‖ {fmt(node.grad_norm)}")
    if node.dead is not None:
        dead = node.dead
        lines.append(
            f"dead {dead.dead}/{dead.units} units ({dead.fraction:.0%}), "
            f"zeros {dead.zero_fraction:.0%}"
        )
    return tuple(lines)


# --------------------------------------------------------------------------- building


def build_drawing(
    snap: GraphSnapshot,
    values: bool = True,
    grads: bool = True,
    group_modules: bool = True,
    rankdir: str = "LR",
    max_nodes: int | None = 300,
    order: dict[int, int] | None = None,
    dead_threshold: float = 0.5,
    legend: bool = True,
    expand: bool = False,
) -> Drawing:
    """Lay out what to draw.

    Args:
        snap: the graph.
        values: show value summaries.
        grads: show gradient norms where known.
        group_modules: draw the ops of each module call inside a labelled cluster.
        rankdir: Graphviz direction, "LR" (left to right) or "TB" (top to bottom) ...
        max_nodes: draw at most this many nodes, those nearest the root; a note says how
            many were left out. None draws everything.
        order: op index -> backward step number, shown as ``#k`` on each op.
        dead_threshold: highlight ReLU outputs whose fraction of dead units reaches this.
        legend: include a legend.
        expand: draw the ops inside composite functions (``cross_entropy``,
            ``log_softmax``) in a frame named after the function; by default each call is
            folded into one node of that name.

    Returns:
        A `Drawing`.
    """
    kept_tensors, kept_ops = _keep_nearest(snap, max_nodes)
    elided = len(snap.tensors) + len(snap.ops) - len(kept_tensors) - len(kept_ops)

    op_cluster: dict[int, str | None] = {}
    for op in snap.ops:
        op_cluster[op.index] = op.calls[-1] if group_modules and op.calls else None
    users: dict[int, list[int]] = {}
    for op in snap.ops:
        for tensor_index in op.inputs:
            users.setdefault(tensor_index, []).append(op.index)
    composite_of = {op.index: _outermost_composite(snap, op.calls) for op in snap.ops}
    folded = {} if expand else {i: key for i, key in composite_of.items() if key is not None}
    hidden = _folded_away(snap, users, composite_of, folded)

    def frame_of(op_index: int) -> str | None:
        key = folded.get(op_index)
        if key is None:
            return op_cluster[op_index]
        return snap.calls[key].parent if group_modules else None

    nodes: list[DrawNode] = []
    for tensor in snap.tensors:
        if tensor.index not in kept_tensors or tensor.index in hidden:
            continue
        kind = tensor.kind
        if _internal_constant(tensor, users, composite_of) is not None:
            # e.g. log_softmax's row maximum: made inside the function, not an input
            tensor = replace(tensor, kind=CONSTANT)
            kind = CONSTANT
        if (
            tensor.dead is not None
            and tensor.dead.dead > 0
            and tensor.dead.fraction >= dead_threshold
        ):
            kind = DEAD
        cluster = None
        if tensor.producer is not None:
            cluster = frame_of(tensor.producer)
        elif kind in (PARAMETER, CONSTANT) and len(set(users.get(tensor.index, ()))) == 1:
            cluster = frame_of(users[tensor.index][0])
        if tensor.index == snap.root and tensor.producer is not None:
            cluster = None  # the result stands apart, even when a module computed it
        nodes.append(
            DrawNode(f"t{tensor.index}", tensor_lines(tensor, values, grads), kind, cluster)
        )
    folded_ops: dict[str, list[int]] = {}
    for op in snap.ops:
        if op.index not in kept_ops:
            continue
        if op.index in folded:
            folded_ops.setdefault(folded[op.index], []).append(op.index)
            continue
        number = order.get(op.index) if order else None
        label = f"#{number} {op.name}" if number is not None else op.name
        nodes.append(DrawNode(f"op{op.index}", (label,), OP, op_cluster[op.index], op.rule))
    for key, members in folded_ops.items():
        numbers = sorted(order[i] for i in members if i in order) if order else []
        steps = f"#{numbers[0]}-#{numbers[-1]} " if len(numbers) > 1 else ""
        label = f"{steps}{snap.calls[key].label}"
        note = f"({len(members)} ops, expand=True shows them)"
        tooltip = f"{snap.calls[key].label}: " + ", ".join(snap.ops[i].name for i in members)
        node = DrawNode(f"fn_{key}", (label, note), OP, frame_of(members[0]), tooltip)
        node.folds = tuple(members)
        nodes.append(node)

    edges: list[DrawEdge] = []
    fed_from_elided: list[str] = []
    seen_folded: set[tuple[str, str]] = set()
    for op in snap.ops:
        if op.index not in kept_ops:
            continue
        key = folded.get(op.index)
        node_id = f"op{op.index}" if key is None else f"fn_{key}"
        for position, tensor_index in enumerate(op.inputs):
            if tensor_index in hidden:
                continue
            if tensor_index in kept_tensors:
                pair = (f"t{tensor_index}", node_id)
                if key is not None and pair in seen_folded:
                    continue  # a folded call draws one edge per input tensor
                seen_folded.add(pair)
                edge_id = f"e{op.index}_{position}"
                edges.append(DrawEdge(f"t{tensor_index}", node_id, id=edge_id))
            elif node_id not in fed_from_elided:
                fed_from_elided.append(node_id)
        if op.output in kept_tensors and op.output not in hidden:
            edges.append(DrawEdge(node_id, f"t{op.output}", id=f"e{op.index}_out"))
    for tensor in snap.tensors:
        made_by = tensor.producer
        if tensor.index in kept_tensors and made_by is not None and made_by not in kept_ops:
            fed_from_elided.append(f"t{tensor.index}")
    if elided:
        nodes.append(DrawNode("elided", _elided_lines(snap, kept_tensors, kept_ops), ELIDED))
        edges.extend(DrawEdge("elided", target, dashed=True) for target in fed_from_elided)

    used = {node.cluster for node in nodes if node.cluster is not None}
    clusters: dict[str, DrawCluster] = {}
    for key in list(used):
        while key is not None and key not in clusters:
            call = snap.calls[key]
            clusters[key] = DrawCluster(key, call.label, call.parent)
            key = call.parent
    ordered = {key: clusters[key] for key in snap.calls if key in clusters}

    legend_entries = []
    if legend:
        legend_entries = [(key, text.format(threshold=dead_threshold)) for key, text in LEGEND]
    return Drawing(nodes, edges, ordered, rankdir, legend_entries, elided)


def _outermost_composite(snap: GraphSnapshot, calls: tuple[str, ...]) -> str | None:
    """The outermost composite function call among an op's calls (None if it is in none)."""
    return next((key for key in calls if snap.calls[key].composite), None)


def _internal_constant(
    tensor: TensorNode, users: dict[int, list[int]], composite_of: dict[int, str | None]
) -> str | None:
    """The composite call that made an unnamed non-parameter leaf used only inside it."""
    if tensor.producer is not None or tensor.kind not in (INPUT, CONSTANT) or tensor.label:
        return None
    keys = {composite_of[i] for i in users.get(tensor.index, ())}
    return keys.pop() if len(keys) == 1 and None not in keys else None


def _folded_away(
    snap: GraphSnapshot,
    users: dict[int, list[int]],
    composite_of: dict[int, str | None],
    folded: dict[int, str],
) -> set[int]:
    """Tensors inside folded calls: made and used only there, or constants made there."""
    hidden = set()
    for tensor in snap.tensors:
        if tensor.index == snap.root:
            continue
        if tensor.producer is not None and tensor.producer in folded:
            key = folded[tensor.producer]
            if all(folded.get(i) == key for i in users.get(tensor.index, ())):
                hidden.add(tensor.index)
        elif _internal_constant(tensor, users, composite_of) is not None and any(
            i in folded for i in users[tensor.index]
        ):
            hidden.add(tensor.index)
    return hidden


def _keep_nearest(snap: GraphSnapshot, max_nodes: int | None) -> tuple[set[int], set[int]]:
    """Tensor and op indices to draw: breadth-first from the root, up to max_nodes."""
    if max_nodes is None or len(snap.tensors) + len(snap.ops) <= max_nodes:
        return {t.index for t in snap.tensors}, {op.index for op in snap.ops}
    tensors: set[int] = set()
    ops: set[int] = set()
    queue: deque[tuple[str, int]] = deque([("t", snap.root)])
    while queue and len(tensors) + len(ops) < max_nodes:
        kind, index = queue.popleft()
        if kind == "t":
            if index in tensors:
                continue
            tensors.add(index)
            producer = snap.tensors[index].producer
            if producer is not None and producer not in ops:
                queue.append(("op", producer))
        else:
            if index in ops:
                continue
            ops.add(index)
            queue.extend(("t", i) for i in snap.ops[index].inputs if i not in tensors)
    return tensors, ops


def _elided_lines(snap: GraphSnapshot, tensors: set[int], ops: set[int]) -> tuple[str, ...]:
    missing_ops = len(snap.ops) - len(ops)
    missing_tensors = len(snap.tensors) - len(tensors)
    total = missing_ops + missing_tensors
    return (
        f"… {total} more nodes not drawn",
        f"({missing_ops} ops, {missing_tensors} tensors, farthest from the output)",
        "max_nodes=None draws them all",
    )
