"""Draw a `Drawing` with matplotlib when Graphviz's ``dot`` is not installed.

A small layered (Sugiyama-style) layout:

1. rank every node by its longest path from a source, so edges point one way;
2. order the nodes of each rank by the barycenter of their neighbours, sweeping forward
   and backward a few times, which removes most edge crossings;
3. place each node near the mean position of its predecessors, pushing neighbours apart
   so boxes never overlap;
4. draw clusters as shaded boxes behind their nodes, then edges, then nodes. A box that
   would cover a node outside its cluster is left out; its nodes get a name tag instead.

Coordinates are in inches, so text keeps its size whatever the graph's size.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tinygrad_nn.viz.drawing import (
    CLUSTER_BORDER,
    CLUSTER_FILL,
    EDGE_COLOUR,
    STYLES,
    DrawCluster,
    Drawing,
)

__all__ = ["cluster_boxes", "layout", "render_drawing"]

FONT_SIZE = 8.0
CHAR_WIDTH = 0.066  # inches per character at FONT_SIZE (DejaVu Sans, a little generous)
LINE_HEIGHT = 0.15  # inches per label line
PAD = 0.08  # inside a node box
RANK_GAP = 0.55  # between ranks
NODE_GAP = 0.22  # between neighbours in a rank
SWEEPS = 4
MAX_PIXELS = 4000
DPI = 100


def node_size(lines: Sequence[str], shape: str) -> tuple[float, float]:
    """Width and height in inches of a node showing ``lines``."""
    width = max(len(line) for line in lines) * CHAR_WIDTH + 2 * PAD
    height = len(lines) * LINE_HEIGHT + 2 * PAD
    if shape == "ellipse":  # an ellipse needs room around its text
        width, height = width * 1.25 + 0.1, height * 1.2
    return width, height


def layout(drawing: Drawing) -> dict[str, tuple[float, float, float, float]]:
    """Place the nodes: id -> (x, y, width, height) in inches, centre coordinates."""
    ids = [node.id for node in drawing.nodes]
    sizes = {node.id: node_size(node.lines, node.style.shape) for node in drawing.nodes}
    predecessors: dict[str, list[str]] = {node_id: [] for node_id in ids}
    successors: dict[str, list[str]] = {node_id: [] for node_id in ids}
    for edge in drawing.edges:
        if edge.source in predecessors and edge.target in predecessors:
            predecessors[edge.target].append(edge.source)
            successors[edge.source].append(edge.target)

    ranks = _longest_path_ranks(ids, predecessors, successors)
    layers: list[list[str]] = [[] for _ in range(max(ranks.values(), default=0) + 1)]
    for node_id in ids:
        layers[ranks[node_id]].append(node_id)
    _reduce_crossings(layers, predecessors, successors)
    paths = {node.id: _cluster_path(drawing.clusters, node.cluster) for node in drawing.nodes}
    for i, layer in enumerate(layers):
        layers[i] = _group_clusters(layer, paths, 0)

    horizontal = drawing.rankdir in ("LR", "RL")
    # Along ranks, a node takes its width (left to right) or height (top to bottom).
    main_size = {i: sizes[i][0] if horizontal else sizes[i][1] for i in ids}
    cross_size = {i: sizes[i][1] if horizontal else sizes[i][0] for i in ids}
    main: dict[str, float] = {}
    offset = 0.0
    for layer in layers:
        thickness = max(main_size[i] for i in layer)
        for node_id in layer:
            main[node_id] = offset + thickness / 2
        offset += thickness + RANK_GAP
    cross = _place_across(layers, predecessors, cross_size)

    placed = {}
    for node_id in ids:
        width, height = sizes[node_id]
        if horizontal:
            x, y = main[node_id], -cross[node_id]
        else:
            x, y = cross[node_id], -main[node_id]
        if drawing.rankdir == "RL":
            x = -x
        if drawing.rankdir == "BT":
            y = -y
        placed[node_id] = (x, y, width, height)
    return placed


def _longest_path_ranks(
    ids: list[str], predecessors: dict[str, list[str]], successors: dict[str, list[str]]
) -> dict[str, int]:
    waiting = {node_id: len(predecessors[node_id]) for node_id in ids}
    ready = [node_id for node_id in ids if waiting[node_id] == 0]
    ranks = dict.fromkeys(ids, 0)
    while ready:
        node_id = ready.pop()
        for successor in successors[node_id]:
            ranks[successor] = max(ranks[successor], ranks[node_id] + 1)
            waiting[successor] -= 1
            if waiting[successor] == 0:
                ready.append(successor)
    # Sources (parameters, inputs, constants) sit just before their first user instead of
    # all in rank 0, which would stretch their edges across the whole drawing.
    for node_id in ids:
        if not predecessors[node_id] and successors[node_id]:
            ranks[node_id] = max(min(ranks[s] for s in successors[node_id]) - 1, 0)
    return ranks


def _reduce_crossings(
    layers: list[list[str]],
    predecessors: dict[str, list[str]],
    successors: dict[str, list[str]],
) -> None:
    """Barycenter heuristic: sort each rank by the mean position of its neighbours."""
    position = {node_id: i for layer in layers for i, node_id in enumerate(layer)}

    def sweep(layer_order: Sequence[list[str]], neighbours: dict[str, list[str]]) -> None:
        for layer in layer_order:
            keys = {}
            for i, node_id in enumerate(layer):
                near = neighbours[node_id]
                keys[node_id] = sum(position[n] for n in near) / len(near) if near else i
            layer.sort(key=lambda node_id: keys[node_id])
            position.update({node_id: i for i, node_id in enumerate(layer)})

    for _ in range(SWEEPS):
        sweep(layers[1:], predecessors)
        sweep(list(reversed(layers[:-1])), successors)


def _cluster_path(clusters: dict[str, DrawCluster], key: str | None) -> tuple[str, ...]:
    path: list[str] = []
    while key is not None and key in clusters:
        path.append(key)
        key = clusters[key].parent
    return tuple(reversed(path))


def _group_clusters(layer: list[str], paths: dict[str, tuple[str, ...]], depth: int) -> list[str]:
    """Make the members of each cluster adjacent in a rank, so a cluster's box does not
    cover other nodes; groups keep the mean position their members had."""
    groups: dict[str, list[tuple[int, str]]] = {}
    for position, node_id in enumerate(layer):
        path = paths[node_id]
        key = path[depth] if len(path) > depth else f"node {node_id}"
        groups.setdefault(key, []).append((position, node_id))

    def order(item: tuple[str, list[tuple[int, str]]]) -> tuple[bool, float]:
        key, members = item
        # Outside the top-level clusters, nodes go after them, so that the clusters'
        # boxes, which span several ranks, stay clear of them.
        return depth == 0 and key.startswith("node "), sum(p for p, _ in members) / len(members)

    ordered = sorted(groups.items(), key=order)
    result: list[str] = []
    for key, members in ordered:
        ids = [node_id for _, node_id in members]
        result.extend(ids if key.startswith("node ") else _group_clusters(ids, paths, depth + 1))
    return result


def _place_across(
    layers: list[list[str]], predecessors: dict[str, list[str]], size: dict[str, float]
) -> dict[str, float]:
    """Cross-axis centres: near the predecessors' mean, without overlaps, order kept."""
    cross: dict[str, float] = {}
    for layer in layers:
        wanted = []
        for node_id in layer:
            near = [cross[p] for p in predecessors[node_id] if p in cross]
            wanted.append(sum(near) / len(near) if near else None)
        # Nodes with no placed predecessor are stacked from the running end of the rank.
        positions: list[float] = []
        for i, node_id in enumerate(layer):
            lowest = (
                positions[-1] + (size[layer[i - 1]] + size[node_id]) / 2 + NODE_GAP if i else None
            )
            target = wanted[i] if wanted[i] is not None else (lowest if lowest is not None else 0.0)
            positions.append(max(target, lowest) if lowest is not None else target)
        # Shift the rank so it sits, on average, where its nodes wanted to be.
        errors = [w - p for w, p in zip(wanted, positions, strict=True) if w is not None]
        shift = sum(errors) / len(errors) if errors else -(positions[0] + positions[-1]) / 2
        for node_id, value in zip(layer, positions, strict=True):
            cross[node_id] = value + shift
    return cross


def _cluster_depth(clusters: dict[str, DrawCluster], key: str) -> int:
    depth = 0
    while clusters[key].parent is not None:
        key = clusters[key].parent
        depth += 1
    return depth


def cluster_boxes(
    drawing: Drawing, placed: dict[str, tuple[float, float, float, float]]
) -> tuple[dict[str, tuple[float, float, float, float]], dict[str, str]]:
    """Each cluster's box ``(x0, y0, x1, y1)`` in inches, outermost first, and the name
    tags that replace boxes this simple layout cannot keep clear of other nodes.

    A box that would cover a node outside its cluster is left out, and the nodes directly
    in that cluster are tagged with its label instead (node id -> tag).
    """
    clusters = drawing.clusters
    members: dict[str, list[str]] = {key: [] for key in clusters}
    for node in drawing.nodes:
        key = node.cluster
        while key is not None and key in clusters:
            members[key].append(node.id)
            key = clusters[key].parent
    depth = {key: _cluster_depth(clusters, key) for key in clusters}
    deepest = max(depth.values(), default=0)
    failed: set[str] = set()
    boxes: dict[str, tuple[float, float, float, float]] = {}
    for key in sorted(clusters, key=depth.__getitem__):
        if not members[key]:
            continue
        pad = 0.1 + 0.12 * (deepest - depth[key])
        inner = [placed[n] for n in members[key]]
        x0 = min(x - w / 2 for x, _, w, _ in inner) - pad
        x1 = max(x + w / 2 for x, _, w, _ in inner) + pad
        y0 = min(y - h / 2 for _, y, _, h in inner) - pad
        y1 = max(y + h / 2 for _, y, _, h in inner) + pad + 0.26
        inside = set(members[key])
        if any(
            x - w / 2 < x1 and x + w / 2 > x0 and y - h / 2 < y1 and y + h / 2 > y0
            for node_id, (x, y, w, h) in placed.items()
            if node_id not in inside
        ):
            failed.add(key)
            continue
        boxes[key] = (x0, y0, x1, y1)
    tags = {
        node.id: clusters[node.cluster].label for node in drawing.nodes if node.cluster in failed
    }
    return boxes, tags


def _draw_clusters(
    ax: Any, drawing: Drawing, placed: dict[str, tuple[float, float, float, float]]
) -> dict[str, str]:
    """Shade each cluster's box behind its nodes (outermost first, so inner ones sit on
    top); returns the name tags of `cluster_boxes`."""
    from matplotlib.patches import FancyBboxPatch

    boxes, tags = cluster_boxes(drawing, placed)
    for key, (x0, y0, x1, y1) in boxes.items():
        ax.add_patch(
            FancyBboxPatch(
                (x0, y0),
                x1 - x0,
                y1 - y0,
                boxstyle="round,pad=0,rounding_size=0.08",
                facecolor=CLUSTER_FILL,
                edgecolor=CLUSTER_BORDER,
                linewidth=0.8,
                alpha=0.7,
                zorder=0,
            )
        )
        ax.text(
            x0 + 0.06,
            y1 - 0.05,
            drawing.clusters[key].label,
            fontsize=FONT_SIZE - 0.5,
            ha="left",
            va="top",
            style="italic",
            color="#343a40",
            zorder=1,
        )
    return tags


def render_drawing(drawing: Drawing, path: str | Path, fmt: str, dot_missing: bool = False) -> None:
    """Draw ``drawing`` with matplotlib and save it to ``path`` in format ``fmt``.

    A grey notice in the corner says the drawing is the built-in layout, why (when
    ``dot_missing``), and when module frames were replaced by name tags.
    """
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.patches import Ellipse, FancyArrowPatch, FancyBboxPatch, Patch

    placed = layout(drawing)
    xs = [x - w / 2 for x, _, w, _ in placed.values()] + [
        x + w / 2 for x, _, w, _ in placed.values()
    ]
    ys = [y - h / 2 for _, y, _, h in placed.values()] + [
        y + h / 2 for _, y, _, h in placed.values()
    ]
    margin = 0.35
    legend_room = 0.55 if drawing.legend else 0.0
    left, right = min(xs) - margin, max(xs) + margin
    bottom, top = min(ys) - margin - legend_room, max(ys) + margin + 0.2
    width, height = max(right - left, 3.0), max(top - bottom, 1.5)
    fig = Figure(figsize=(width, height))
    dpi = min(DPI, MAX_PIXELS / max(width, height))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(left, left + width)
    ax.set_ylim(bottom, bottom + height)
    ax.set_axis_off()

    tagged = _draw_clusters(ax, drawing, placed)

    # Edges: from the side of the source facing the next rank to the opposite side of the
    # target; repeated edges (x * x) bend apart so both stay visible.
    horizontal = drawing.rankdir in ("LR", "RL")
    seen: dict[tuple[str, str], int] = {}
    for edge in drawing.edges:
        if edge.source not in placed or edge.target not in placed:
            continue
        sx, sy, sw, sh = placed[edge.source]
        tx, ty, tw, th = placed[edge.target]
        if horizontal:
            direction = 1 if tx >= sx else -1
            start, end = (sx + direction * sw / 2, sy), (tx - direction * tw / 2, ty)
        else:
            direction = 1 if ty >= sy else -1
            start, end = (sx, sy + direction * sh / 2), (tx, ty - direction * th / 2)
        repeat = seen.get((edge.source, edge.target), 0)
        seen[(edge.source, edge.target)] = repeat + 1
        bend = 0.0 if repeat == 0 else 0.25 * (1 if repeat % 2 else -1) * ((repeat + 1) // 2)
        ax.add_patch(
            FancyArrowPatch(
                start,
                end,
                arrowstyle="-|>",
                mutation_scale=8,
                color=EDGE_COLOUR,
                linewidth=0.8,
                linestyle="--" if edge.dashed else "-",
                connectionstyle=f"arc3,rad={bend}",
                shrinkA=0,
                shrinkB=0,
                zorder=2,
            )
        )

    for node in drawing.nodes:
        x, y, w, h = placed[node.id]
        style = node.style
        common = {
            "facecolor": style.fill,
            "edgecolor": style.border,
            "linewidth": style.penwidth,
            "linestyle": "--" if style.dashed else "-",
            "zorder": 3,
        }
        if style.shape == "ellipse":
            ax.add_patch(Ellipse((x, y), w, h, **common))
        else:
            boxstyle = "round,pad=0,rounding_size=0.06" if style.rounded else "square,pad=0"
            ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle=boxstyle, **common))
        ax.text(
            x,
            y,
            "\n".join(node.lines),
            fontsize=FONT_SIZE,
            ha="center",
            va="center",
            linespacing=1.25,
            zorder=4,
        )
        if node.id in tagged:
            ax.text(
                x,
                y + h / 2 + 0.03,
                tagged[node.id],
                fontsize=FONT_SIZE - 1.5,
                ha="center",
                va="bottom",
                style="italic",
                color="#495057",
                zorder=4,
            )

    notice = "drawn by tinygrad_nn's built-in layout"
    if dot_missing:
        notice += " (Graphviz's dot was not found)"
    if tagged:
        notice += "; module frames that would cover other nodes are shown as name tags instead"
    ax.text(
        left + 0.1,
        bottom + height - 0.08,
        notice,
        fontsize=FONT_SIZE - 1,
        color="#868e96",
        ha="left",
        va="top",
    )
    if drawing.legend:
        handles = [
            Patch(
                facecolor=STYLES[key].fill,
                edgecolor=STYLES[key].border,
                linestyle="--" if STYLES[key].dashed else "-",
                label=text,
            )
            for key, text in drawing.legend
        ]
        fig.legend(
            handles=handles,
            loc="lower center",
            ncol=min(len(handles), 4),
            fontsize=FONT_SIZE - 0.5,
            frameon=False,
        )
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        fig.savefig(path, format=fmt, dpi=dpi, facecolor="white")
