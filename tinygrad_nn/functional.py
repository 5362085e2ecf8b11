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


# ------------------------------------------------------------------ convolution and pooling
# (nn/optim engineer; NCHW, PyTorch's semantics; the ops are in tinygrad_nn/ops/conv.py)

__all__ += ["avg_pool2d", "conv2d", "max_pool2d"]


def _int_pair(fn: str, name: str, value: Any, minimum: int) -> tuple[int, int]:
    """An int or a pair of ints, each >= minimum, as a pair."""
    pair = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(pair) != 2 or any(
        isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < minimum for v in pair
    ):
        raise ValueError(
            f"{fn}: {name} must be an int >= {minimum} or a pair of them, got {value!r}"
        )
    return int(pair[0]), int(pair[1])


def _batched(fn: str, x: Any) -> tuple[Tensor, bool]:
    """x as a 4-d (N, C, H, W) Tensor; a 3-d (C, H, W) input gets a batch axis of 1."""
    x = as_tensor(x)
    if x.dtype.kind != "f":
        raise TypeError(f"{fn}: expected a floating input, got dtype {x.dtype}")
    if x.ndim == 3:
        return x.reshape(1, *x.shape), True
    if x.ndim != 4:
        raise ValueError(
            f"{fn}: expected an input of shape (N, C, H, W) or (C, H, W), got {x.shape}"
        )
    return x, False


def _check_output(
    fn: str,
    x: Tensor,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
) -> None:
    sizes = [
        ops.conv.output_size(x.shape[2 + i], kernel[i], stride[i], padding[i], dilation[i])
        for i in (0, 1)
    ]
    if min(sizes) < 1:
        raise ValueError(
            f"{fn}: the input's spatial size {x.shape[2:]} with padding {padding} is smaller "
            f"than the kernel {kernel} with dilation {dilation}; pad more or use a smaller kernel"
        )


def _pool_window(
    fn: str, x: Any, kernel_size: Any, stride: Any, padding: Any, dilation: Any
) -> tuple[Tensor, bool, dict[str, tuple[int, int]]]:
    """The batched input, whether a batch axis was added, and the checked window geometry."""
    x, unbatched = _batched(fn, x)
    kernel = _int_pair(fn, "kernel_size", kernel_size, 1)
    window = {
        "kernel_size": kernel,
        "stride": kernel if stride is None else _int_pair(fn, "stride", stride, 1),
        "padding": _int_pair(fn, "padding", padding, 0),
        "dilation": _int_pair(fn, "dilation", dilation, 1),
    }
    pad = window["padding"]
    if pad[0] > kernel[0] // 2 or pad[1] > kernel[1] // 2:
        raise ValueError(
            f"{fn}: padding {pad} must be at most half the kernel size {kernel} (PyTorch's "
            "rule, so that every window holds an input element)"
        )
    _check_output(fn, x, kernel, window["stride"], pad, window["dilation"])
    return x, unbatched, window


def conv2d(
    x: Any,
    w: Any,
    b: Any = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
    groups: int = 1,
) -> Tensor:
    """2-d cross-correlation, NCHW, as in ``torch.nn.functional.conv2d``; one graph node.

    ``y[n, o, h, w] = b[o] + sum_{c,i,j} w[o, c, i, j] * x_pad[n, g(o) + c, s h + d i, s w + d j]``

    Args:
        x: input (N, C, H, W), or (C, H, W) for one sample.
        w: kernel (O, C / groups, KH, KW).
        b: optional bias (O,).
        stride: step between windows (int or (sh, sw)).
        padding: zeros added on each side (int or (ph, pw)).
        dilation: spacing between kernel elements (int or (dh, dw)).
        groups: split C and O into this many independent groups.

    Returns:
        (N, O, OH, OW) with OH = (H + 2 ph - dh (KH - 1) - 1) // sh + 1 (likewise OW).

    Example:
        >>> conv2d(Tensor(np.ones((1, 1, 4, 4))), Tensor(np.ones((2, 1, 3, 3)))).shape
        (1, 2, 2, 2)
    """
    fn = "conv2d"
    x, unbatched = _batched(fn, x)
    w = as_tensor(w, like=x)
    stride_ = _int_pair(fn, "stride", stride, 1)
    padding_ = _int_pair(fn, "padding", padding, 0)
    dilation_ = _int_pair(fn, "dilation", dilation, 1)
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{fn}: groups must be a positive int, got {groups!r}")
    if w.ndim != 4:
        raise ValueError(f"{fn}: w must have shape (O, C / groups, KH, KW), got {w.shape}")
    channels, out_channels = x.shape[1], w.shape[0]
    if channels % groups or out_channels % groups or w.shape[1] * groups != channels:
        raise ValueError(
            f"{fn}: input with {channels} channels, w of shape {w.shape} and groups={groups} "
            f"do not fit: need C = {w.shape[1]} * groups and O divisible by groups"
        )
    if w.dtype != x.dtype:
        raise TypeError(
            f"{fn}: x has dtype {x.dtype} but w {w.dtype}; convert one (e.g. w.astype(x.dtype))"
        )
    _check_output(fn, x, (w.shape[2], w.shape[3]), stride_, padding_, dilation_)
    settings = {"stride": stride_, "padding": padding_, "dilation": dilation_, "groups": groups}
    if b is None:
        out = ops.Conv2d.apply(x, w, **settings)
    else:
        b = as_tensor(b, like=x)
        if b.shape != (out_channels,):
            raise ValueError(f"{fn}: b must have shape ({out_channels},), got {b.shape}")
        if b.dtype != x.dtype:
            raise TypeError(
                f"{fn}: x has dtype {x.dtype} but b {b.dtype}; convert one (e.g. b.astype(x.dtype))"
            )
        out = ops.Conv2d.apply(x, w, b, **settings)
    return out.reshape(*out.shape[1:]) if unbatched else out


def max_pool2d(
    x: Any,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
) -> Tensor:
    """The maximum of each window, NCHW, as ``torch.nn.functional.max_pool2d``; one node.

    Args:
        x: input (N, C, H, W), or (C, H, W).
        kernel_size: window size (int or pair).
        stride: step between windows; defaults to kernel_size.
        padding: -inf added on each side, at most half the kernel (int or pair).
        dilation: spacing inside a window.

    Example:
        >>> max_pool2d(Tensor(np.arange(16.0).reshape(1, 1, 4, 4)), 2).data.ravel().tolist()
        [5.0, 7.0, 13.0, 15.0]
    """
    x, unbatched, window = _pool_window("max_pool2d", x, kernel_size, stride, padding, dilation)
    out = ops.MaxPool2d.apply(x, **window)
    return out.reshape(*out.shape[1:]) if unbatched else out


def avg_pool2d(
    x: Any,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
    count_include_pad: bool = True,
) -> Tensor:
    """The mean of each window, NCHW, as ``torch.nn.functional.avg_pool2d``.

    Composed, not a primitive: a `conv2d` of every channel (as a batch of 1-channel images)
    with a constant kernel of 1 / (KH KW), so its gradients are the convolution's.

    Args:
        x: input (N, C, H, W), or (C, H, W).
        kernel_size: window size (int or pair).
        stride: step between windows; defaults to kernel_size.
        padding: zeros added on each side, at most half the kernel.
        count_include_pad: divide by the whole window (True) or only by its real elements.

    Example:
        >>> avg_pool2d(Tensor(np.arange(16.0).reshape(1, 1, 4, 4)), 2).data.ravel().tolist()
        [2.5, 4.5, 10.5, 12.5]
    """
    x, unbatched, window = _pool_window("avg_pool2d", x, kernel_size, stride, padding, 1)
    kernel, stride_, padding_ = window["kernel_size"], window["stride"], window["padding"]
    n, c, h, w = x.shape
    ones = np.ones((1, 1, *kernel), dtype=x.dtype)
    planes = x.reshape(n * c, 1, h, w)
    out = conv2d(planes, ones / ones.size, stride=stride_, padding=padding_)
    if not count_include_pad and (padding_[0] or padding_[1]):
        counts = ops.Conv2d.evaluate(
            np.ones((1, 1, h, w), x.dtype),
            ones,
            stride=stride_,
            padding=padding_,
            dilation=(1, 1),
            groups=1,
        )
        out = out * (ones.size / counts)
    out = out.reshape(n, c, *out.shape[2:])
    return out.reshape(*out.shape[1:]) if unbatched else out
