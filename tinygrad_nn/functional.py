"""Composite functions built from the primitives in `tinygrad_nn.ops`.

Each is a few lines of Tensor code, so its gradient comes from the primitives' and needs
no derivation of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from tinygrad_nn import ops
from tinygrad_nn.autograd import as_tensor, is_tensor
from tinygrad_nn.dispatch import implements

if TYPE_CHECKING:
    from tinygrad_nn.tensor import Tensor

__all__ = [
    "concatenate",
    "linear",
    "log_softmax",
    "relu",
    "sigmoid",
    "softmax",
    "stack",
    "tanh",
    "where",
]


def relu(x: Tensor) -> Tensor:
    """max(x, 0), elementwise."""
    return ops.Relu.apply(x)


def sigmoid(x: Tensor) -> Tensor:
    """1 / (1 + exp(-x)), elementwise, stable for any x."""
    return ops.Sigmoid.apply(x)


def tanh(x: Tensor) -> Tensor:
    """tanh(x), elementwise."""
    return ops.Tanh.apply(x)


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """x @ weight.T + bias, as one fused node.

    Args:
        x: input of shape (..., in_features).
        weight: (out_features, in_features).
        bias: (out_features,) or None.

    Example:
        >>> y = linear(Tensor(np.ones((4, 3))), w, b)   # w (2, 3), b (2,) -> y (4, 2)
    """
    if bias is None:
        return ops.Linear.apply(x, weight)
    return ops.Linear.apply(x, weight, bias)


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    """x - logsumexp(x) along ``axis``, computed stably.

    The maximum is subtracted first (as a constant: the result does not depend on it),
    so exp never overflows.
    """
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        raise TypeError(
            f"log_softmax: axis must be an int, got {axis!r}; to normalise over all elements "
            "flatten first, e.g. x.reshape(-1).softmax()"
        )
    ndim = max(x.ndim, 1)  # NumPy reduces a 0-d array over axis 0 or -1
    if not -ndim <= axis < ndim:
        raise ValueError(
            f"log_softmax: axis {axis} is out of range for a tensor of shape {x.shape}; "
            f"use an axis in [{-ndim}, {ndim - 1}]"
        )
    if x.size == 0:  # nothing to normalise: the (empty) result of the same shape
        return x - x.data
    shift = x.data.max(axis=axis, keepdims=True)
    shifted = x - shift
    return shifted - shifted.exp().sum(axis=axis, keepdims=True).log()


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    """exp(x) / sum(exp(x)) along ``axis``, computed stably through `log_softmax`."""
    return log_softmax(x, axis=axis).exp()


@implements(np.where)
def where(cond: Any, a: Any, b: Any) -> Tensor:
    """Elementwise ``a`` where ``cond`` is true, else ``b`` (np.where with gradients).

    Args:
        cond: a boolean array or Tensor (never differentiated).
        a, b: Tensors, arrays or numbers; all three broadcast together.
    """
    mask = np.asarray(cond.data if is_tensor(cond) else cond)
    if mask.dtype != np.bool_:
        raise TypeError(
            f"where: cond must be boolean, got dtype {mask.dtype}; compare first, e.g. "
            "tnn.where(x > 0, a, b)"
        )
    like = a if is_tensor(a) else b if is_tensor(b) else None
    return ops.Where.apply(as_tensor(a, like=like), as_tensor(b, like=like), cond=mask)


@implements(np.concatenate)
def concatenate(tensors: Sequence[Any], axis: int | None = 0) -> Tensor:
    """Join tensors along an existing axis (np.concatenate with gradients).

    ``axis=None`` flattens every tensor first, as NumPy does.
    """
    if isinstance(tensors, np.ndarray) or is_tensor(tensors):
        raise TypeError("concatenate: expected a sequence of tensors, got a single array")
    parts = [as_tensor(t) for t in tensors]
    if axis is None:
        parts = [part.reshape(-1) for part in parts]
        axis = 0
    return ops.Concatenate.apply(*parts, axis=axis)


@implements(np.stack)
def stack(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """Join same-shaped tensors along a new axis (np.stack with gradients)."""
    return ops.Stack.apply(*[as_tensor(t) for t in tensors], axis=axis)
