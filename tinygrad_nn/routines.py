"""NumPy-named functions on Tensors: ``tnn.exp(t)``, ``tnn.sum(t, axis=0)``, ``tnn.reshape(t, s)``.

Each is a thin call of an op from `tinygrad_nn.ops`, with NumPy's name and semantics, and
is registered (`tinygrad_nn.dispatch.implements`) as what ``np.NAME`` does on a Tensor.
Tensor's methods of the same names (`tinygrad_nn.tensor_math`) call these functions, so a
function, its method and its NumPy spelling can never disagree. Arguments may be Tensors,
ndarrays or numbers; numbers and arrays are constants.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from tinygrad_nn import ops
from tinygrad_nn.autograd import as_tensor, make_tensor
from tinygrad_nn.dispatch import implements

if TYPE_CHECKING:
    from tinygrad_nn.tensor import Tensor

__all__ = [
    "abs",
    "add",
    "broadcast_to",
    "divide",
    "dot",
    "exp",
    "expand_dims",
    "log",
    "matmul",
    "max",
    "mean",
    "min",
    "moveaxis",
    "multiply",
    "negative",
    "power",
    "ravel",
    "reshape",
    "sign",
    "split",
    "sqrt",
    "square",
    "subtract",
    "sum",
    "swapaxes",
    "tanh",
    "transpose",
    "zeros_like",
]

Axis = int | tuple[int, ...] | None


# --------------------------------------------------------------------------- arithmetic


@implements(np.add)
def add(a: Any, b: Any) -> Tensor:
    """a + b, broadcasting."""
    return ops.Add.apply(*_pair(a, b))


@implements(np.subtract)
def subtract(a: Any, b: Any) -> Tensor:
    """a - b, broadcasting."""
    return ops.Sub.apply(*_pair(a, b))


@implements(np.multiply)
def multiply(a: Any, b: Any) -> Tensor:
    """a * b, broadcasting."""
    return ops.Mul.apply(*_pair(a, b))


@implements(np.divide, np.true_divide)
def divide(a: Any, b: Any) -> Tensor:
    """a / b, broadcasting."""
    return ops.Div.apply(*_pair(a, b))


@implements(np.power)
def power(a: Any, b: Any) -> Tensor:
    """a ** b, broadcasting."""
    return ops.Pow.apply(*_pair(a, b))


@implements(np.negative)
def negative(x: Any) -> Tensor:
    """-x."""
    return ops.Neg.apply(as_tensor(x))


@implements(np.matmul)
def matmul(a: Any, b: Any) -> Tensor:
    """a @ b with np.matmul's rules for 1-D operands and batch axes."""
    return ops.MatMul.apply(*_pair(a, b))


@implements(np.dot)
def dot(a: Any, b: Any) -> Tensor:
    """np.dot: a product of scalars, an inner product, or a matrix product.

    For operands of up to two axes it is `matmul` (a scalar operand multiplies);
    N-D operands follow np.dot's rule (sum over a's last and b's second-to-last axis).
    """
    a, b = _pair(a, b)
    if a.ndim == 0 or b.ndim == 0:
        return ops.Mul.apply(a, b)
    if a.ndim <= 2 and b.ndim <= 2:
        return ops.MatMul.apply(a, b)
    return ops.Dot.apply(a, b) if hasattr(ops, "Dot") else _nd_dot(a, b)


def _nd_dot(a: Tensor, b: Tensor) -> Tensor:
    """np.dot for N-D operands: a's last axis against b's second-to-last."""
    if b.ndim == 1:
        return ops.MatMul.apply(a, b)
    moved = moveaxis(b, -2, 0)  # (k, ..., m): contract a's last axis with axis 0
    flat = reshape(moved, (moved.shape[0], -1))
    out = ops.MatMul.apply(a, flat)
    return reshape(out, a.shape[:-1] + moved.shape[1:])


# --------------------------------------------------------------------------- elementwise


@implements(np.exp)
def exp(x: Any) -> Tensor:
    """e ** x, elementwise."""
    return ops.Exp.apply(as_tensor(x))


@implements(np.log)
def log(x: Any) -> Tensor:
    """The natural logarithm, elementwise."""
    return ops.Log.apply(as_tensor(x))


@implements(np.sqrt)
def sqrt(x: Any) -> Tensor:
    """The square root, elementwise."""
    return ops.Sqrt.apply(as_tensor(x))


@implements(np.square)
def square(x: Any) -> Tensor:
    """x ** 2, elementwise."""
    return ops.Square.apply(as_tensor(x))


@implements(np.abs, np.absolute)
def abs(x: Any) -> Tensor:
    """|x|, elementwise (gradient 0 at 0)."""
    return ops.Abs.apply(as_tensor(x))


@implements(np.sign)
def sign(x: Any) -> Tensor:
    """-1, 0 or 1 by the sign of x (gradient 0 everywhere)."""
    return ops.Sign.apply(as_tensor(x))


@implements(np.tanh)
def tanh(x: Any) -> Tensor:
    """The hyperbolic tangent, elementwise."""
    return ops.Tanh.apply(as_tensor(x))


# --------------------------------------------------------------------------- reductions


@implements(np.sum)
def sum(x: Any, axis: Axis = None, keepdims: bool = False, **numpy_only: Any) -> Tensor:
    """Sum over ``axis`` (all axes when None)."""
    _refuse(numpy_only, "sum")
    return ops.Sum.apply(as_tensor(x), axis=axis, keepdims=keepdims)


@implements(np.mean)
def mean(x: Any, axis: Axis = None, keepdims: bool = False, **numpy_only: Any) -> Tensor:
    """Mean over ``axis`` (all axes when None)."""
    _refuse(numpy_only, "mean")
    return as_tensor(x).mean(axis=axis, keepdims=keepdims)


@implements(np.max, np.amax)
def max(x: Any, axis: Axis = None, keepdims: bool = False, **numpy_only: Any) -> Tensor:
    """Maximum over ``axis``; ties share the gradient equally."""
    _refuse(numpy_only, "max")
    return ops.Max.apply(as_tensor(x), axis=axis, keepdims=keepdims)


@implements(np.min, np.amin)
def min(x: Any, axis: Axis = None, keepdims: bool = False, **numpy_only: Any) -> Tensor:
    """Minimum over ``axis``; ties share the gradient equally."""
    _refuse(numpy_only, "min")
    return ops.Min.apply(as_tensor(x), axis=axis, keepdims=keepdims)


# --------------------------------------------------------------------------- shape


@implements(np.reshape)
def reshape(x: Any, shape: int | Sequence[int], **numpy_only: Any) -> Tensor:
    """The same elements in a new shape (one axis may be -1)."""
    _refuse(numpy_only, "reshape")
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    return ops.Reshape.apply(as_tensor(x), shape=shape)


@implements(np.ravel)
def ravel(x: Any, **numpy_only: Any) -> Tensor:
    """The elements as a 1-D tensor."""
    _refuse(numpy_only, "ravel")
    return reshape(x, (-1,))


@implements(np.transpose)
def transpose(x: Any, axes: Sequence[int] | None = None) -> Tensor:
    """Permute the axes (reverse them when ``axes`` is None)."""
    return ops.Transpose.apply(as_tensor(x), axes=None if axes is None else tuple(axes))


@implements(np.swapaxes)
def swapaxes(x: Any, axis1: int, axis2: int) -> Tensor:
    """Exchange two axes."""
    tensor = as_tensor(x)
    axes = list(range(tensor.ndim))
    axes[axis1], axes[axis2] = axes[axis2], axes[axis1]
    return ops.Transpose.apply(tensor, axes=tuple(axes))


@implements(np.moveaxis)
def moveaxis(x: Any, source: int | Sequence[int], destination: int | Sequence[int]) -> Tensor:
    """Move axes to new positions, keeping the order of the others."""
    tensor = as_tensor(x)
    sources = _axes_list(source, tensor.ndim)
    destinations = _axes_list(destination, tensor.ndim)
    if len(sources) != len(destinations):
        raise ValueError(
            f"moveaxis: source {source} and destination {destination} need the same number of axes"
        )
    order = [axis for axis in range(tensor.ndim) if axis not in sources]
    for axis_to, axis_from in sorted(zip(destinations, sources, strict=True)):
        order.insert(axis_to, axis_from)
    return ops.Transpose.apply(tensor, axes=tuple(order))


@implements(np.expand_dims)
def expand_dims(x: Any, axis: int | Sequence[int]) -> Tensor:
    """Insert size-1 axes at the positions ``axis`` of the result."""
    tensor = as_tensor(x)
    return ops.Reshape.apply(tensor, shape=np.expand_dims(np.empty(tensor.shape, bool), axis).shape)


@implements(np.broadcast_to)
def broadcast_to(x: Any, shape: int | Sequence[int]) -> Tensor:
    """The tensor repeated along axes of size 1 (and new leading axes) to ``shape``."""
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    return ops.BroadcastTo.apply(as_tensor(x), shape=shape)


@implements(np.split)
def split(x: Any, indices_or_sections: int | Sequence[int], axis: int = 0) -> list[Tensor]:
    """Split into equal sections, or at the given indices, along ``axis`` (np.split)."""
    tensor = as_tensor(x)
    size = tensor.shape[axis]
    if isinstance(indices_or_sections, (int, np.integer)):
        sections = int(indices_or_sections)
        if sections <= 0 or size % sections:
            raise ValueError(
                f"split: an axis of size {size} does not divide into {sections} equal "
                "sections; give split indices instead (or use tnn.array_split)"
            )
        bounds = list(range(0, size + 1, size // sections)) if size else [0] * (sections + 1)
    else:
        bounds = [0, *(int(i) for i in indices_or_sections), size]
    prefix = (slice(None),) * (axis % tensor.ndim)
    return [tensor[(*prefix, slice(start, stop))] for start, stop in itertools.pairwise(bounds)]


# --------------------------------------------------------------------------- factories


@implements(np.zeros_like)
def zeros_like(x: Any, dtype: Any = None, **numpy_only: Any) -> Tensor:
    """A constant of zeros with ``x``'s shape (and dtype unless given)."""
    _refuse(numpy_only, "zeros_like")
    data = x.data if hasattr(x, "requires_grad") else np.asarray(x)
    return make_tensor(np.zeros(data.shape, dtype=data.dtype if dtype is None else dtype), False)


# --------------------------------------------------------------------------- helpers


def _pair(a: Any, b: Any) -> tuple[Tensor, Tensor]:
    """Both operands as Tensors; a number takes the float dtype of the other operand."""
    if hasattr(a, "requires_grad"):
        return a, as_tensor(b, like=a)
    b = as_tensor(b)
    return as_tensor(a, like=b), b


def _axes_list(axes: int | Sequence[int], ndim: int) -> list[int]:
    values = [axes] if isinstance(axes, (int, np.integer)) else list(axes)
    return [int(axis) % ndim for axis in values]


def _refuse(numpy_only: dict[str, Any], name: str) -> None:
    """NumPy keyword arguments (out=, dtype=, order= ...) that Tensors do not support."""
    given = sorted(key for key, value in numpy_only.items() if value is not None)
    if given:
        raise TypeError(
            f"{name}: the NumPy arguments {given} are not supported on Tensors; convert with "
            "t.astype(...) and write results to new tensors"
        )
