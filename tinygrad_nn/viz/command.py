"""``tinygrad-nn graph``: draw the article's network's forward and loss graph for one batch.

The network is ``MLP([1, 16, 2])`` (relu everywhere, weights from normal(0, 0.1)), the batch
is 32 points of the sin/cos data and the cost is the sum of squared errors. The graph is
drawn after one backward pass, so every parameter shows its gradient norm.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from tinygrad_nn._files import check_output_file

if TYPE_CHECKING:
    from tinygrad_nn.nn import MLP
    from tinygrad_nn.tensor import Tensor

__all__ = ["add_arguments", "build_loss", "run", "validate"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``tinygrad-nn graph``."""
    parser.add_argument(
        "--out",
        default="graph.svg",
        help="file to write: .svg, .png, .pdf (Graphviz's dot, or a matplotlib drawing "
        "without it) or .dot text (default: %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=0, help="weights and data seed (default: 0)")
    parser.add_argument(
        "--batch-size", type=int, default=32, help="rows in the batch (default: %(default)s)"
    )
    parser.add_argument(
        "--l2", type=float, default=0.0, help="add l2 * l2_penalty(weights) to the cost"
    )
    parser.add_argument("--order", action="store_true", help="number the ops in backward order")
    parser.add_argument(
        "--trace", action="store_true", help="also print the backward trace as a table"
    )
    parser.add_argument(
        "--html",
        metavar="PATH",
        default=None,
        help="also write an HTML page that steps through the forward and backward pass",
    )


def validate(args: argparse.Namespace) -> None:
    """Refuse bad values before any work; create the folders of the output files."""
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.html is not None and Path(args.html).suffix.lower() not in (".html", ".htm"):
        raise ValueError(f"--html must name an .html file, got {args.html!r}")
    for option, value in (("--out", args.out), ("--html", args.html)):
        if value is not None:
            check_output_file(value, option=option)


def build_loss(seed: int = 0, batch_size: int = 32, l2: float = 0.0) -> tuple[MLP, Tensor]:
    """The article's network, one batch and its cost, after ``backward(retain_graph=True)``.

    Returns:
        ``(model, loss)``.
    """
    from tinygrad_nn._random import as_generator
    from tinygrad_nn.data import sincos
    from tinygrad_nn.losses import l2_penalty, squared_error
    from tinygrad_nn.nn import MLP
    from tinygrad_nn.tensor import Tensor

    rng = as_generator(seed, "build_loss")
    model = MLP([1, 16, 2], rng=rng)
    x, y = sincos(n_batches=1, batch_size=batch_size, rng=rng)
    loss = squared_error(model(Tensor(x[0], name="x")), Tensor(y[0], name="y"))
    if l2:
        loss = loss + l2 * l2_penalty([layer.weight for layer in model.layers])
    loss.name = "cost"
    loss.backward(retain_graph=True)  # keep the graph so it can be drawn with gradients
    return model, loss


def run(args: argparse.Namespace) -> int:
    """Draw the graph; returns the exit status."""
    from tinygrad_nn.viz.explore import explore
    from tinygrad_nn.viz.graph import GraphvizMissingWarning, save_graph
    from tinygrad_nn.viz.trace import trace_backward

    try:
        validate(args)
    except ValueError as error:
        print(f"tinygrad-nn graph: error: {error}", file=sys.stderr)
        return 2
    _, loss = build_loss(args.seed, args.batch_size, args.l2)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", GraphvizMissingWarning)
            path = save_graph(loss, args.out, order=args.order)
        page = explore(loss, args.html) if args.html is not None else None
    except (ValueError, OSError, RuntimeError) as error:
        print(f"tinygrad-nn graph: {error}", file=sys.stderr)
        return 1
    for warning in caught:
        print(f"note: {warning.message}", file=sys.stderr)
    if args.trace:
        print(trace_backward(loss))
    print(f"wrote {path}" + (f" and {page}" if page is not None else ""))
    return 0
