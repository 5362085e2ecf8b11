"""Composite functions built from the primitives in `tinygrad_nn.ops`.

Each is a few lines of Tensor code, so its gradient comes from the primitives' and needs
no derivation of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from tinygrad_nn import ops
from tinygrad_nn._composite import composite
from tinygrad_nn.autograd import as_tensor, is_tensor
from tinygrad_nn.dispatch import implements

if TYPE_CHECKING:
    from tinygrad_nn.tensor import Tensor

__all__ = [
    "concatenate",
    "elu",
    "gelu",
    "hardswish",
    "hardtanh",
    "leaky_relu",
    "linear",
    "log_softmax",
    "logsigmoid",
    "mish",
    "relu",
    "relu6",
    "sigmoid",
    "silu",
    "softmax",
    "softplus",
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


# PyTorch's activations, each a composite of primitives (so twice differentiable with no
# derivative of its own). Where a branch could overflow (exp of a large input) its input
# is clipped first: the branch is not used there, but its gradient, 0 * inf, would be NaN.


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    """x if x > 0 else negative_slope * x;  the gradient at 0 is negative_slope (PyTorch's).

    Example:
        >>> leaky_relu(Tensor([-2.0, 3.0]), 0.1).tolist()
        [-0.2, 3.0]
    """
    x = as_tensor(x)
    return ops.Where.apply(x, x * negative_slope, cond=x.data > 0)


def elu(x: Tensor, alpha: float = 1.0) -> Tensor:
    """x if x > 0 else alpha (exp(x) - 1);  gradient 1 for x > 0, alpha exp(x) otherwise."""
    x = as_tensor(x)
    negative = ops.Expm1.apply(ops.Clip.apply(x, lo=None, hi=0.0)) * alpha
    return ops.Where.apply(x, negative, cond=x.data > 0)


_SQRT_HALF = 0.5**0.5
_SQRT_TWO_OVER_PI = (2.0 / 3.141592653589793) ** 0.5


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    """x Phi(x) with Phi the standard normal CDF, 0.5 x (1 + erf(x / sqrt 2)), as PyTorch.

    Args:
        x: a Tensor.
        approximate: "none" (the exact form) or "tanh":
            0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x**3))).

    Returns:
        GELU(x), elementwise.

    Example:
        >>> round(gelu(Tensor(1.0)).item(), 4), round(gelu(Tensor(1.0), "tanh").item(), 4)
        (0.8413, 0.8412)
    """
    x = as_tensor(x)
    if approximate == "none":
        return x * (ops.Erf.apply(x * _SQRT_HALF) + 1.0) * 0.5
    if approximate == "tanh":
        inner = (x + x * x * x * 0.044715) * _SQRT_TWO_OVER_PI
        return x * (ops.Tanh.apply(inner) + 1.0) * 0.5
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


def silu(x: Tensor) -> Tensor:
    """x sigmoid(x) (also called swish)."""
    x = as_tensor(x)
    return x * ops.Sigmoid.apply(x)


def softplus(x: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(beta x)) / beta, and x itself where beta x > threshold (PyTorch's);
    the gradient is sigmoid(beta x), and 1 above the threshold.

    Args:
        x: a Tensor.
        beta: the sharpness (larger is closer to relu).
        threshold: above ``beta * x > threshold`` the result is x (no exp at all).

    Returns:
        softplus(x), elementwise, finite for any x.

    Example:
        >>> round(softplus(Tensor(0.0)).item(), 6)     # log 2
        0.693147
    """
    x = as_tensor(x)
    scaled = x * beta
    # logaddexp(0, z) = log(1 + exp(z)) without overflow, whatever z.
    smooth = ops.Logaddexp.apply(as_tensor(0.0, like=x), scaled) * (1.0 / beta)
    return ops.Where.apply(x, smooth, cond=scaled.data > threshold)


def mish(x: Tensor) -> Tensor:
    """x tanh(softplus(x))."""
    x = as_tensor(x)
    return x * ops.Tanh.apply(softplus(x))


def hardswish(x: Tensor) -> Tensor:
    """x (x + 3) / 6 on (-3, 3), 0 below, x above;  gradient (2x + 3) / 6 inside, 0 at and
    below -3, 1 at and above 3 (PyTorch's)."""
    x = as_tensor(x)
    data = x.data
    middle = x * (x + 3.0) * (1.0 / 6.0)
    upper = ops.Where.apply(x, middle, cond=data >= 3.0)
    return ops.Where.apply(as_tensor(0.0, like=x), upper, cond=data <= -3.0)


def relu6(x: Tensor) -> Tensor:
    """min(max(x, 0), 6);  gradient 1 on (0, 6), 0 elsewhere and at the bounds (PyTorch's)."""
    return hardtanh(x, 0.0, 6.0)


def hardtanh(x: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    """x clipped to [min_val, max_val];  gradient 1 strictly inside, 0 elsewhere (PyTorch's;
    `Tensor.clip` keeps 1 at the bounds)."""
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val {min_val} must not exceed max_val {max_val}")
    x = as_tensor(x)
    data = x.data
    inside = (data > min_val) & (data < max_val)
    return ops.Where.apply(x, np.asarray(np.clip(data, min_val, max_val)), cond=inside)


def logsigmoid(x: Tensor) -> Tensor:
    """log(sigmoid(x)) = -log(1 + exp(-x)), stable for any x;  gradient sigmoid(-x)."""
    x = as_tensor(x)
    return -ops.Logaddexp.apply(as_tensor(0.0, like=x), -x)


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


@composite  # drawn as one node
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


@composite  # drawn as one node
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
