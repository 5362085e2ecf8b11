"""`TrainingHistory`: record cost, per-layer gradient norms and dead ReLU units while training.

Plain lists and dicts, no matplotlib; `tinygrad_nn.viz.plots.plot_training` draws them.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from tinygrad_nn import autograd
from tinygrad_nn.viz.snapshot import DeadUnits, walk

if TYPE_CHECKING:
    from tinygrad_nn.tensor import Tensor

__all__ = ["TrainingHistory"]


class TrainingHistory:
    """Collects one row per `record` call: the cost and, for every layer with a weight,
    its weight-gradient norm and the fraction of its ReLU units that are dead.

    A unit is dead on a batch when the ReLU after that layer outputs zero for every row:
    no gradient reaches the weights feeding it, and with every batch drawn from the same
    range it never comes back. That is one way the article's network "sometimes gets bad
    results": when an output unit dies, its output is stuck at 0.

    Cost of recording: the gradient norms read ``.grad`` (cheap). Dead fractions come
    from the loss's graph when it is still whole (called before backward, after
    ``backward(retain_graph=True)``, or inside `tinygrad_nn.viz.keep_graphs`), which is free;
    otherwise, when the batch ``x`` is given, from one extra forward pass of ``model`` on
    it (about a third of a training step); otherwise they are not recorded (NaN).

    Attributes:
        steps: the step number of every row.
        costs: the cost of every row.
        grad_norms: layer name (``layers.0``) -> weight-gradient norm per row.
        dead_fractions: layer name -> fraction of dead ReLU units per row (NaN when the
            layer has no ReLU or it was not measured).

    Example:
        >>> history = TrainingHistory()
        >>> for step in range(300):
        ...     loss = squared_error(model(Tensor(x[step])), Tensor(y[step]))
        ...     optimizer.zero_grad()
        ...     loss.backward()
        ...     history.record(model, loss, x[step])
        ...     optimizer.step()
        >>> fig = tnn.viz.plots.plot_training(history)
    """

    def __init__(self) -> None:
        self.steps: list[int] = []
        self.costs: list[float] = []
        self.grad_norms: dict[str, list[float]] = {}
        self.dead_fractions: dict[str, list[float]] = {}

    def __len__(self) -> int:
        return len(self.steps)

    def __repr__(self) -> str:
        return f"TrainingHistory({len(self)} steps, layers={list(self.grad_norms)})"

    def record(
        self,
        model: Any,
        loss: Tensor | float,
        x: Any = None,
        cost: float | None = None,
        step: int | None = None,
    ) -> None:
        """Add one row; call it after ``loss.backward()`` and before the optimizer step.

        Args:
            model: the Module being trained; every submodule with a ``weight`` tensor is
                a layer (for an MLP: ``layers.0``, ``layers.1`` ...).
            loss: the loss Tensor of this step (or just its value).
            x: this step's input batch, used to measure dead units when the loss's graph
                was already freed by backward.
            cost: the number to record as the cost (default: the loss's value), e.g. the
                article's unscaled sum of squared errors.
            step: the step number (default: one more than the last).
        """
        layers = _layers(model)
        if cost is None:
            cost = float(loss.item() if hasattr(loss, "item") else loss)
        self.steps.append(step if step is not None else (self.steps[-1] + 1 if self.steps else 0))
        self.costs.append(float(cost))
        dead = _dead_fractions(model, layers, loss, x)
        names = list(dict.fromkeys([*self.grad_norms, *(name for name, _ in layers)]))
        for name in names:
            module = dict(layers).get(name)
            grad = getattr(getattr(module, "weight", None), "grad", None)
            norm = float(np.linalg.norm(np.ravel(grad))) if grad is not None else math.nan
            self._append(self.grad_norms, name, norm)
            self._append(self.dead_fractions, name, dead.get(name, math.nan))

    def _append(self, table: dict[str, list[float]], name: str, value: float) -> None:
        column = table.setdefault(name, [])
        column.extend([math.nan] * (len(self.steps) - 1 - len(column)))  # a layer added late
        column.append(value)

    def as_dict(self) -> dict[str, Any]:
        """The history as plain lists and dicts (JSON-friendly)."""
        return {
            "steps": list(self.steps),
            "costs": list(self.costs),
            "grad_norms": {k: list(v) for k, v in self.grad_norms.items()},
            "dead_fractions": {k: list(v) for k, v in self.dead_fractions.items()},
        }


def _layers(model: Any) -> list[tuple[str, Any]]:
    """(name, module) for every module that owns a ``weight`` tensor."""
    named = model.named_modules() if callable(getattr(model, "named_modules", None)) else []
    layers = [(name or "model", m) for name, m in named if hasattr(m, "weight")]
    if not layers and hasattr(model, "weight"):
        layers = [("model", model)]
    return layers


def _dead_fractions(
    model: Any, layers: list[tuple[str, Any]], loss: Any, x: Any
) -> dict[str, float]:
    """Layer name -> fraction of dead units of the ReLU that follows it."""
    node = getattr(loss, "grad_fn", None)
    root = None
    if node is not None and not autograd.is_released(node):
        root = loss
    elif x is not None:
        from tinygrad_nn.tensor import Tensor

        with autograd.enable_grad():  # a graph is needed to find the ReLU outputs
            root = model(x if isinstance(x, Tensor) else Tensor(x))
    if root is None or root._ctx is None:
        return {}
    graph = walk(root, caller="TrainingHistory.record")
    by_call = {key: call.name or "model" for key, call in graph.calls.items()}
    layer_names = {name for name, _ in layers}
    fractions: dict[str, float] = {}
    for out in graph.ops:
        if out._ctx.op_name() != "Relu" or out.data is None or not out.data.size:
            continue
        source = out._ctx.parents[0]
        keys = graph.op_calls.get(id(source), ()) if source._ctx is not None else ()
        layer = by_call[keys[-1]] if keys else None
        if layer not in layer_names:
            # An activation module wrapping the ReLU: attribute it to its own call.
            own = graph.op_calls.get(id(out), ())
            layer = by_call[own[-1]] if own else None
        if layer in layer_names:
            fractions[layer] = DeadUnits.of(out.data).fraction
    return fractions
