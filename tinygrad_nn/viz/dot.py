"""Write a `Drawing` as DOT text, and render DOT with Graphviz's ``dot`` program.

The text is produced here, so ``.dot`` files need neither Graphviz nor its Python
package; only turning DOT into SVG/PNG/PDF runs ``dot``.
"""

from __future__ import annotations

import html
import shutil
import subprocess
from pathlib import Path

from tinygrad_nn.viz.drawing import CLUSTER_BORDER, CLUSTER_FILL, EDGE_COLOUR, STYLES, Drawing

__all__ = ["GRAPH_NAME", "dot_executable", "quote", "render_dot", "to_dot_lines"]

GRAPH_NAME = "tinygrad_nn"
FONT = "Helvetica"


def quote(text: str) -> str:
    """A DOT string literal; a newline becomes DOT's centred line break ``\\n``."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _attributes(**values: object) -> str:
    parts = []
    for key, value in values.items():
        if value is None or value == "":
            continue
        text = quote(value) if isinstance(value, str) else str(value)
        parts.append(f"{key}={text}")
    return "[" + " ".join(parts) + "]"


def _node_line(node_id: str, lines: tuple[str, ...], kind: str, tooltip: str = "") -> str:
    style = STYLES[kind]
    styles = ["filled"]
    if style.rounded:
        styles.append("rounded")
    if style.dashed:
        styles.append("dashed")
    attributes = _attributes(
        id=node_id,
        label="\n".join(lines),
        shape=style.shape,
        style=",".join(styles),
        fillcolor=style.fill,
        color=style.border,
        penwidth=style.penwidth if style.penwidth != 1.0 else None,
        tooltip=tooltip or None,
    )
    return f"{quote(node_id)} {attributes}"


def to_dot_lines(drawing: Drawing) -> list[str]:
    """The body of the digraph: one statement per line, each ending in a newline.

    These are the lines of a ``graphviz.Digraph``'s ``body``; `to_dot` wraps them.
    """
    body = [
        "\tgraph "
        + _attributes(
            rankdir=drawing.rankdir,
            fontname=FONT,
            fontsize=11,
            nodesep=0.25,
            ranksep=0.35,
            newrank="true",
        ),
        "\tnode " + _attributes(fontname=FONT, fontsize=10, margin="0.08,0.04", height=0.3),
        "\tedge " + _attributes(color=EDGE_COLOUR, arrowsize=0.6),
    ]
    children: dict[str | None, list[str]] = {}
    for cluster in drawing.clusters.values():
        children.setdefault(cluster.parent, []).append(cluster.id)
    members: dict[str | None, list[str]] = {}
    for node in drawing.nodes:
        members.setdefault(node.cluster, []).append(
            _node_line(node.id, node.lines, node.kind, node.tooltip)
        )

    def emit(cluster_id: str | None, depth: int) -> None:
        indent = "\t" * depth
        for line in members.get(cluster_id, ()):
            body.append(indent + line)
        for child_id in children.get(cluster_id, ()):
            cluster = drawing.clusters[child_id]
            body.append(f"{indent}subgraph {quote('cluster_' + child_id)} {{")
            body.append(
                f"{indent}\tgraph "
                + _attributes(
                    id="cluster_" + child_id,
                    label=cluster.label,
                    style="rounded,filled",
                    fillcolor=CLUSTER_FILL,
                    color=CLUSTER_BORDER,
                    fontsize=10,
                    labeljust="l",
                )
            )
            emit(child_id, depth + 1)
            body.append(f"{indent}}}")

    emit(None, 1)
    for edge in drawing.edges:
        attributes = _attributes(id=edge.id, style="dashed" if edge.dashed else None)
        attributes = "" if attributes == "[]" else " " + attributes
        body.append(f"\t{quote(edge.source)} -> {quote(edge.target)}{attributes}")
    if drawing.legend:
        body.append(f"\t{quote('legend')} {_legend_attributes(drawing)}")
    return [line + "\n" for line in body]


def _legend_attributes(drawing: Drawing) -> str:
    """One plain node holding a table of swatches: a column beside a left-to-right graph,
    a row above a top-to-bottom one."""
    cells = []
    for key, text in drawing.legend:
        style = STYLES[key]
        td_style = ",".join(
            name for name, on in (("rounded", style.rounded), ("dashed", style.dashed)) if on
        )
        td_style = f' style="{td_style}"' if td_style else ""
        cells.append(
            f'<td bgcolor="{style.fill}" color="{style.border}"{td_style}>'
            f"{html.escape(text, quote=False)}</td>"
        )
    if drawing.rankdir in ("LR", "RL"):
        rows = "".join(f"<tr>{cell}</tr>" for cell in cells)
    else:
        rows = "<tr>" + "".join(cells) + "</tr>"
    table = (
        '<table border="0" cellborder="1" cellspacing="3" cellpadding="3">'
        f'<tr><td border="0"><b>legend</b></td></tr>{rows}</table>'
        if drawing.rankdir in ("LR", "RL")
        else f'<table border="0" cellborder="1" cellspacing="3" cellpadding="3">{rows}</table>'
    )
    return f"[shape=plaintext fontsize=9 label=<{table}>]"


def dot_executable() -> str | None:
    """The path of Graphviz's ``dot`` program, or None when it is not installed."""
    return shutil.which("dot")


def render_dot(source: str, path: Path, fmt: str, executable: str) -> None:
    """Run ``dot -T<fmt>`` on ``source``, writing ``path``.

    Raises:
        RuntimeError: dot failed; the message includes its error output.
    """
    try:
        result = subprocess.run(
            [executable, f"-T{fmt}", "-o", str(path)],
            input=source.encode("utf-8"),
            capture_output=True,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise RuntimeError(f"save_graph: could not run Graphviz's dot ({error})") from error
    if result.returncode != 0:
        message = result.stderr.decode("utf-8", "replace").strip()
        raise RuntimeError(f"save_graph: Graphviz's dot failed writing {fmt}: {message}")
