"""`keep_graphs`: keep the graphs of the backward passes run inside a ``with`` block.

``backward()`` normally frees the graph it walks (the links and saved arrays go, so
the memory returns at once). Inside ``with keep_graphs() as kept:`` every backward behaves
as if given ``retain_graph=True`` and ``kept`` remembers the tensors it started from, so
a graph can be drawn or traced afterwards, even when the backward ran inside code you
do not control (a training function, a library's step).

Not to be confused with `tinygrad_nn.capture_step`, which records a step's ops to replay
them fast: a replayed step builds no graph, so there is nothing to draw or keep.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from tinygrad_nn import autograd

if TYPE_CHECKING:
    from tinygrad_nn.tensor import Tensor

__all__ = ["keep_graphs"]


class keep_graphs:
    """Keep the graph of every ``backward()`` run in this block, for drawing afterwards.

    Args:
        keep: how many of the latest roots to remember in ``roots`` (each one keeps its
            whole graph, activations included, alive); 0 remembers none but still keeps
            graphs whole for tensors you hold yourself.

    Attributes:
        roots: the tensors backward was called on, oldest first (at most ``keep``).

    Example:
        >>> with tnn.viz.keep_graphs() as kept:
        ...     train_step(model, x, y)        # calls loss.backward() somewhere inside
        >>> tnn.viz.save_graph(kept.last, "step.svg")   # gradients included
    """

    def __init__(self, keep: int = 1) -> None:
        if isinstance(keep, bool) or not isinstance(keep, int) or keep < 0:
            raise ValueError(f"keep_graphs: keep must be an int >= 0, got {keep!r}")
        self.roots: deque[Tensor] = deque(maxlen=keep)

    @property
    def last(self) -> Tensor | None:
        """The tensor of the latest backward in the block (None before any)."""
        return self.roots[-1] if self.roots else None

    def _observe(self, roots: tuple[Tensor, ...]) -> None:
        self.roots.extend(roots)

    def __enter__(self) -> keep_graphs:
        autograd.add_backward_observer(self._observe)
        return self

    def __exit__(self, *exc_info: object) -> None:
        autograd.remove_backward_observer(self._observe)
