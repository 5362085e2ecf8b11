"""Render a `Drawing` as SVG text: Graphviz's ``dot`` when installed, else pure Python.

`drawing_svg` is what notebooks display and what `tinygrad_nn.viz.explore` embeds. Both
renderers give every node, edge and module frame the same element ids (``t3``, ``op2``,
``e2_0``, ``cluster_c0``), so a page's script can find them whichever one drew the graph.
The built-in one uses the layered layout of `tinygrad_nn.viz.fallback` and needs neither
Graphviz nor matplotlib.
"""

from __future__ import annotations

import html
import math
import subprocess

from tinygrad_nn.viz import dot as _dot
from tinygrad_nn.viz.drawing import CLUSTER_BORDER, CLUSTER_FILL, EDGE_COLOUR, Drawing
from tinygrad_nn.viz.fallback import FONT_SIZE, LINE_HEIGHT, cluster_boxes, layout

__all__ = ["builtin_svg", "dot_svg", "drawing_svg"]

POINTS = 72.0  # SVG user units (points) per inch of the layout
MARGIN = 0.3  # inches around the drawing
FONT = "Helvetica, Arial, sans-serif"


def drawing_svg(drawing: Drawing, renderer: str = "auto") -> str:
    """The SVG text of ``drawing``.

    Args:
        drawing: what to draw (from ``tinygrad_nn.viz.graph.build``).
        renderer: "auto" (Graphviz's ``dot`` when installed, else the built-in layout),
            "dot" or "builtin".

    Returns:
        An ``<svg>`` element (no XML prologue), ready to inline in HTML.
    """
    if renderer not in ("auto", "dot", "builtin"):
        raise ValueError(
            f"drawing_svg: renderer must be 'auto', 'dot' or 'builtin', got {renderer!r}"
        )
    executable = _dot.dot_executable() if renderer != "builtin" else None
    if executable is None:
        if renderer == "dot":
            raise RuntimeError("drawing_svg: Graphviz's dot program was not found")
        return builtin_svg(drawing)
    return dot_svg(drawing, executable)


def dot_svg(drawing: Drawing, executable: str) -> str:
    """``drawing`` laid out by Graphviz's ``dot -Tsvg``, without the XML prologue."""
    source = f"digraph {_dot.GRAPH_NAME} {{\n" + "".join(_dot.to_dot_lines(drawing)) + "}\n"
    try:
        result = subprocess.run(
            [executable, "-Tsvg"], input=source.encode("utf-8"), capture_output=True,
            timeout=120, check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as error:
        raise RuntimeError(f"drawing_svg: could not run Graphviz's dot ({error})") from error
    if result.returncode != 0:
        message = result.stderr.decode("utf-8", "replace").strip()
        raise RuntimeError(f"drawing_svg: Graphviz's dot failed: {message}")
    text = result.stdout.decode("utf-8")
    return text[text.index("<svg") :]


def _escape(text: str) -> str:
    return html.escape(text, quote=True)


def _y(y: float) -> float:
    """The layout's y axis points up; SVG's points down."""
    return -y


def builtin_svg(drawing: Drawing) -> str:
    """``drawing`` laid out by the built-in layered layout (pure Python)."""
    placed = layout(drawing)
    boxes, tags = cluster_boxes(drawing, placed)
    corners = [
        (x - w / 2, _y(y) - h / 2, x + w / 2, _y(y) + h / 2) for x, y, w, h in placed.values()
    ]
    corners += [(x0, _y(y1), x1, _y(y0)) for x0, y0, x1, y1 in boxes.values()]
    left = min((c[0] for c in corners), default=0.0) - MARGIN
    top = min((c[1] for c in corners), default=0.0) - MARGIN - 0.2
    right = max((c[2] for c in corners), default=1.0) + MARGIN
    bottom = max((c[3] for c in corners), default=1.0) + MARGIN
    width, height = (right - left) * POINTS, (bottom - top) * POINTS

    def px(value: float) -> str:
        return f"{value * POINTS:.2f}"

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}pt" height="{height:.0f}pt" '
        f'viewBox="{px(left)} {px(top)} {width:.2f} {height:.2f}" font-family="{FONT}" '
        f'font-size="{FONT_SIZE:g}">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" '
        f'markerHeight="6" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        f'fill="{EDGE_COLOUR}"/></marker></defs>',
        f'<rect x="{px(left)}" y="{px(top)}" width="{width:.2f}" height="{height:.2f}" '
        'fill="white"/>',
        f'<text x="{px(left + 0.1)}" y="{px(top + 0.2)}" fill="#868e96" '
        f'font-size="{FONT_SIZE - 1:g}">drawn by tinygrad_nn\'s built-in layout</text>',
    ]
    for key, (x0, y0, x1, y1) in boxes.items():
        label = drawing.clusters[key].label
        parts.append(
            f'<g id="cluster_{_escape(key)}" class="cluster"><title>{_escape(label)}</title>'
            f'<rect x="{px(x0)}" y="{px(_y(y1))}" width="{px(x1 - x0)}" height="{px(y1 - y0)}" '
            f'rx="6" fill="{CLUSTER_FILL}" stroke="{CLUSTER_BORDER}"/>'
            f'<text x="{px(x0 + 0.06)}" y="{px(_y(y1) + 0.16)}" font-style="italic" '
            f'fill="#343a40">{_escape(label)}</text></g>'
        )
    parts.extend(_edges(drawing, placed, px))
    for node in drawing.nodes:
        x, y, w, h = placed[node.id]
        cy = _y(y)
        style = node.style
        dash = ' stroke-dasharray="4,2"' if style.dashed else ""
        paint = f'fill="{style.fill}" stroke="{style.border}" stroke-width="{style.penwidth:g}"'
        if style.shape == "ellipse":
            shape = (
                f'<ellipse cx="{px(x)}" cy="{px(cy)}" rx="{px(w / 2)}" ry="{px(h / 2)}" '
                f"{paint}{dash}/>"
            )
        else:
            radius = ' rx="4"' if style.rounded else ""
            shape = (
                f'<rect x="{px(x - w / 2)}" y="{px(cy - h / 2)}" width="{px(w)}" '
                f'height="{px(h)}"{radius} {paint}{dash}/>'
            )
        first = cy - (len(node.lines) - 1) * LINE_HEIGHT / 2
        spans = "".join(
            f'<tspan x="{px(x)}" y="{px(first + i * LINE_HEIGHT)}">{_escape(line)}</tspan>'
            for i, line in enumerate(node.lines)
        )
        tag = ""
        if node.id in tags:
            tag = (
                f'<text x="{px(x)}" y="{px(cy - h / 2 - 0.04)}" text-anchor="middle" '
                f'font-style="italic" font-size="{FONT_SIZE - 1.5:g}" fill="#495057">'
                f"{_escape(tags[node.id])}</text>"
            )
        title = f"<title>{_escape(node.tooltip or node.lines[0])}</title>"
        parts.append(
            f'<g id="{_escape(node.id)}" class="node">{title}{shape}'
            f'<text text-anchor="middle" dominant-baseline="central">{spans}</text>{tag}</g>'
        )
    parts.append("</svg>")
    return "\n".join(parts)


def _edges(drawing: Drawing, placed: dict[str, tuple[float, float, float, float]], px) -> list[str]:
    """Straight edges between facing sides; repeated edges (x * x) bend apart."""
    horizontal = drawing.rankdir in ("LR", "RL")
    seen: dict[tuple[str, str], int] = {}
    parts = []
    for edge in drawing.edges:
        if edge.source not in placed or edge.target not in placed:
            continue
        sx, sy, sw, sh = placed[edge.source]
        tx, ty, tw, th = placed[edge.target]
        sy, ty = _y(sy), _y(ty)
        if horizontal:
            direction = 1 if tx >= sx else -1
            start, end = (sx + direction * sw / 2, sy), (tx - direction * tw / 2, ty)
        else:
            direction = 1 if ty >= sy else -1
            start, end = (sx, sy + direction * sh / 2), (tx, ty - direction * th / 2)
        repeat = seen.get((edge.source, edge.target), 0)
        seen[(edge.source, edge.target)] = repeat + 1
        bend = 0.0 if repeat == 0 else 0.25 * (1 if repeat % 2 else -1) * ((repeat + 1) // 2)
        mid_x, mid_y = (start[0] + end[0]) / 2, (start[1] + end[1]) / 2
        length = math.hypot(end[0] - start[0], end[1] - start[1]) or 1.0
        normal = (-(end[1] - start[1]) / length, (end[0] - start[0]) / length)
        control = (mid_x + bend * length * normal[0], mid_y + bend * length * normal[1])
        dash = ' stroke-dasharray="4,2"' if edge.dashed else ""
        edge_id = f' id="{_escape(edge.id)}"' if edge.id else ""
        parts.append(
            f'<g{edge_id} class="edge"><title>{_escape(edge.source)}-&gt;{_escape(edge.target)}'
            f'</title><path d="M{px(start[0])},{px(start[1])} Q{px(control[0])},{px(control[1])} '
            f'{px(end[0])},{px(end[1])}" fill="none" stroke="{EDGE_COLOUR}" stroke-width="1"'
            f'{dash} marker-end="url(#arrow)"/></g>'
        )
    return parts
