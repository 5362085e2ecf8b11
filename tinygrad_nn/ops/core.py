"""Primitive differentiable ops: each a small `Function` with forward and backward on ndarrays.

Each docstring states the function and its local derivative. ``backward`` receives the
gradient of the loss with respect to the op's output (``grad``) and returns one gradient
per input; gradients may keep the broadcast output shape, the engine reduces them.
Composite ops (mean, softmax, losses ...) live in `tinygrad_nn.functional`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ClassVar, cast

import numpy as np

from tinygrad_nn.autograd import Function, unbroadcast

__all__ = [
    "Abs",
    "Add",
    "AsType",
    "BroadcastTo",
    "Clip",
    "Concatenate",
    "Div",
    "Exp",
    "Index",
    "Linear",
    "Log",
    "MatMul",
    "Max",
    "Min",
    "Mul",
    "Neg",
    "Pow",
    "Relu",
    "Reshape",
    "ScatterAdd",
    "Sigmoid",
    "Sign",
    "Sqrt",
    "Square",
    "SquaredError",
    "Stack",
    "Sub",
    "Sum",
    "Tanh",
    "Transpose",
    "Where",
]

_BROADCAST_HINT = (
    "the shapes must broadcast under NumPy's rules (trailing axes equal or 1); "
    "reshape one of them, e.g. with .reshape(...) or [:, None]"
)


# --------------------------------------------------------------------------- elementwise binary


class Add(Function):
    """f(a, b) = a + b;  df/da = 1, df/db = 1"""

    hint = _BROADCAST_HINT

    @staticmethod
    def forward(ctx: Function, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return a + b

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        return (grad, grad)


class Sub(Function):
    """f(a, b) = a - b;  df/da = 1, df/db = -1  (one node instead of Add + Neg)"""

    hint = _BROADCAST_HINT

    @staticmethod
    def forward(ctx: Function, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return a - b

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        return (grad, -grad if ctx.needs_input_grad[1] else None)


class Mul(Function):
    """f(a, b) = a * b;  df/da = b, df/db = a"""

    hint = _BROADCAST_HINT

    @staticmethod
    def forward(ctx: Function, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        a, b = ctx.saved
        needs_a, needs_b = ctx.needs_input_grad
        return (grad * b if needs_a else None, grad * a if needs_b else None)


class Div(Function):
    """f(a, b) = a / b;  df/da = 1 / b, df/db = -a / b**2  (one node instead of Mul + Pow)"""

    hint = _BROADCAST_HINT

    @staticmethod
    def forward(ctx: Function, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        out = a / b
        ctx.save_for_backward(b, out)
        return out

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        b, out = ctx.saved
        grad_a = grad / b
        return (grad_a, -grad_a * out if ctx.needs_input_grad[1] else None)


class Pow(Function):
    """f(a, b) = a ** b;  df/da = b * a**(b - 1), df/db = a**b * log(a)"""

    hint = (
        "the shapes must broadcast (trailing axes equal or 1), and an integer base needs a "
        "non-negative integer exponent: convert with .astype(float) or use a float exponent"
    )

    @staticmethod
    def forward(ctx: Function, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        out = a**b
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        a, b, out = ctx.saved
        needs_a, needs_b = ctx.needs_input_grad
        grad_a = grad_b = None
        if needs_a:
            # Where b == 0, a**b is the constant 1: its derivative is 0 even at a == 0, where
            # b * a**(b - 1) would be 0 * inf (PyTorch's and HIPS autograd's convention).
            # Only there: elsewhere the exponent b - 1 must stay, or the derivative of this
            # gradient in b (second order) would be wrong at b == 0.
            grad_a = grad * b * a ** np.where((b == 0) & (a == 0), 1, b - 1)
        if needs_b:
            # d/db a**b = a**b log(a); where a == 0 PyTorch's convention gives 0, not nan.
            with np.errstate(divide="ignore", invalid="ignore"):
                log_a = np.where(a == 0, 0, np.log(np.where(a == 0, 1, a)))
            grad_b = grad * out * log_a
        return (grad_a, grad_b)


class Where(Function):
    """f(a, b) = a where cond else b;  df/da = cond, df/db = not cond"""

    hint = _BROADCAST_HINT

    @staticmethod
    def forward(ctx: Function, a: np.ndarray, b: np.ndarray, *, cond: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(cond)
        return np.where(cond, a, b)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        (cond,) = ctx.saved
        zero = np.zeros((), dtype=grad.dtype)
        needs_a, needs_b = ctx.needs_input_grad
        return (
            np.where(cond, grad, zero) if needs_a else None,
            np.where(cond, zero, grad) if needs_b else None,
        )


# --------------------------------------------------------------------------- elementwise unary


class Neg(Function):
    """f(x) = -x;  f'(x) = -1"""

    @staticmethod
    def forward(ctx: Function, x: np.ndarray) -> np.ndarray:
        return -x

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        return (-grad,)


class Exp(Function):
    """f(x) = exp(x);  f'(x) = exp(x)"""

    @staticmethod
    def forward(ctx: Function, x: np.ndarray) -> np.ndarray:
        out = np.exp(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        (out,) = ctx.saved
        return (grad * out,)


class Log(Function):
    """f(x) = log(x);  f'(x) = 1 / x"""

    @staticmethod
    def forward(ctx: Function, x: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x)
        return np.log(x)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        (x,) = ctx.saved
        return (grad / x,)


class Sqrt(Function):
    """f(x) = sqrt(x);  f'(x) = 1 / (2 sqrt(x))"""

    @staticmethod
    def forward(ctx: Function, x: np.ndarray) -> np.ndarray:
        out = np.sqrt(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        (out,) = ctx.saved
        return (grad / (2 * out),)


class Square(Function):
    """f(x) = x**2;  f'(x) = 2x  (cheaper than Pow with a constant exponent)"""

    @staticmethod
    def forward(ctx: Function, x: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        (x,) = ctx.saved
        return (2 * x * grad,)


class Sign(Function):
    """f(x) = -1, 0 or 1 by the sign of x;  f'(x) = 0 (also at 0, where it jumps)"""

    @staticmethod
    def forward(ctx: Function, x: np.ndarray) -> np.ndarray:
        return np.sign(x)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        return (np.zeros_like(grad),)


class Abs(Function):
    """f(x) = |x|;  f'(x) = sign(x)  (0 at x = 0, like PyTorch)"""

    @staticmethod
    def forward(ctx: Function, x: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x)
        return np.abs(x)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        (x,) = ctx.saved
        return (grad * np.sign(x),)


# Relu's 0/1 derivative, in out's dtype, is sign(out) (out >= 0) below this many elements:
# one NumPy call, the fastest there. sign has no vector loop, so from here on comparing and
# casting, (out > 0).astype(dtype), is 1.3–2.3× faster. (A boolean mask times grad would be
# a mixed-type loop, about 3× slower than either.) The two differ only where out is NaN
# (a NaN input): sign gives NaN, the mask 0, so there the gradient is NaN below this size
# and 0 from it on unless the gradient arriving there is NaN already, as it is whenever
# that NaN reaches the loss.
RELU_SIGN_SIZE = 4096


class Relu(Function):
    """f(x) = max(x, 0);  f'(x) = 1 if x > 0 else 0"""

    @staticmethod
    def forward(ctx: Function, x: np.ndarray) -> np.ndarray:
        out = np.maximum(x, 0)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        (out,) = ctx.saved
        derivative = np.sign(out) if out.size < RELU_SIGN_SIZE else (out > 0).astype(out.dtype)
        derivative *= grad
        return (derivative,)


_expit = None


def _load_expit() -> Any:
    # scipy.special takes a third of a second to import, so load it on first use only.
    global _expit
    from scipy.special import expit

    _expit = expit
    return expit


class Sigmoid(Function):
    """f(x) = 1 / (1 + exp(-x));  f'(x) = f(x) (1 - f(x))

    The derivative is written with the output, so it stays finite for any input (the
    form exp(-x) / (1 + exp(-x))**2 overflows to inf / inf = nan near x = -710).
    """

    @staticmethod
    def forward(ctx: Function, x: np.ndarray) -> np.ndarray:
        out = (_expit or _load_expit())(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        (out,) = ctx.saved
        return (grad * out * (1 - out),)


class Tanh(Function):
    """f(x) = tanh(x);  f'(x) = 1 - tanh(x)**2"""

    @staticmethod
    def forward(ctx: Function, x: np.ndarray) -> np.ndarray:
        out = np.tanh(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        (out,) = ctx.saved
        return (grad * (1 - out * out),)


class Clip(Function):
    """f(x) = min(max(x, lo), hi);  f'(x) = 1 if lo <= x <= hi else 0 (PyTorch's clamp)"""

    hint = "give lo and hi as numbers (or None for no bound) with lo <= hi"

    # The bounds are kept as numbers, not arrays: they are constants of the derivative.

    @staticmethod
    def forward(ctx: Function, x: np.ndarray, *, lo: float | None, hi: float | None) -> np.ndarray:
        if lo is None and hi is None:
            raise ValueError("clip needs at least one of lo and hi")
        ctx.save_for_backward(x, lo, hi)
        return np.clip(x, lo, hi)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        x, lo, hi = ctx.saved
        if lo is not None:
            grad = grad * (x >= lo)
        if hi is not None:
            grad = grad * (x <= hi)
        return (grad,)


# --------------------------------------------------------------------------- linear algebra


class MatMul(Function):
    """f(a, b) = a @ b (np.matmul);  df/da = grad @ b^T, df/db = a^T @ grad

    1-D operands are promoted like np.matmul does (a vector on the left is a row, on the
    right a column) and the added axis is removed again from the gradient.
    """

    hint = (
        "matmul needs a.shape[-1] == b.shape[-2] (or b.shape[0] for a 1-D b) and batch "
        "axes that broadcast; transpose or reshape an operand"
    )

    @staticmethod
    def forward(ctx: Function, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError("matmul does not accept 0-d operands; use * for scalars")
        ctx.save_for_backward(a, b)
        return np.matmul(a, b)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        a, b = ctx.saved
        needs_a, needs_b = ctx.needs_input_grad
        if a.ndim == 1 and b.ndim == 1:  # inner product: grad is 0-d
            return (grad * b if needs_a else None, grad * a if needs_b else None)
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        grad2 = grad
        if a.ndim == 1:
            grad2 = grad2[..., None, :]
        if b.ndim == 1:
            grad2 = grad2[..., None]
        grad_a = grad_b = None
        if needs_a:
            grad_a = np.matmul(grad2, np.swapaxes(b2, -1, -2))
            if a.ndim == 1:
                grad_a = grad_a[..., 0, :]
        if needs_b:
            grad_b = np.matmul(np.swapaxes(a2, -1, -2), grad2)
            if b.ndim == 1:
                grad_b = grad_b[..., 0]
        return (grad_a, grad_b)


class Linear(Function):
    """f(x, W, b) = x @ W^T + b  (one fused node for a fully connected layer)

    df/dx = grad @ W,  df/dW = grad^T @ x,  df/db = sum of grad over the batch.
    Fused because it is the hot path of every MLP: one node and three BLAS-sized
    operations instead of three nodes (transpose, matmul, add).
    """

    hint = "linear needs x of shape (..., in_features), weight (out, in) and bias (out,)"

    @staticmethod
    def forward(
        ctx: Function, x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None
    ) -> np.ndarray:
        # Only what np.dot would not reject itself (it names a mismatched in_features).
        if weight.ndim != 2 or x.ndim == 0:
            raise ValueError("x must have at least one axis and the weight exactly two")
        if bias is not None and bias.shape != weight.shape[:1]:
            raise ValueError(f"bias must have shape ({weight.shape[0]},)")
        ctx.save_for_backward(x, weight)
        if x.dtype is not weight.dtype and weight.dtype.kind == "f":
            # Compute in the layer's dtype: a float32 model fed NumPy's float64 data stays
            # float32 (the engine casts x's gradient back to x's dtype).
            x = x.astype(weight.dtype)
        # np.dot is np.matmul for a 2-D right operand, with half the call overhead.
        out = np.dot(x, weight.T)
        if bias is not None:
            out += bias
        return out

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        x, weight = ctx.saved
        needs = ctx.needs_input_grad
        if x.dtype != weight.dtype and weight.dtype.kind == "f":
            x = x.astype(weight.dtype)
        grad_x = np.dot(grad, weight) if needs[0] else None
        grad_w = grad_b = None
        if grad.ndim != 2:  # (..., out): fold the leading axes into one batch axis
            grad = grad.reshape(-1, grad.shape[-1])
            x = x.reshape(-1, x.shape[-1])
        if needs[1]:
            grad_w = np.dot(grad.T, x)
        if len(needs) == 3 and needs[2]:
            # ones @ grad: one BLAS call, several times cheaper than grad.sum(axis=0) for
            # small batches (NumPy's reduction machinery has a high fixed cost).
            grad_b = np.dot(_ones(grad.shape[0], grad.dtype), grad)
        if len(needs) == 3:
            return (grad_x, grad_w, grad_b)
        return (grad_x, grad_w)


@functools.lru_cache(maxsize=32)
def _ones(length: int, dtype: np.dtype) -> np.ndarray:
    """A read-only vector of ``length`` ones (cached: Linear's bias gradient uses it)."""
    ones = np.ones(length, dtype)
    ones.flags.writeable = False
    return ones


# --------------------------------------------------------------------------- reductions


def _expand_reduced(grad: Any, shape: tuple[int, ...], axis: Any, keepdims: bool) -> Any:
    """Reshape a reduced gradient so it broadcasts against the input's ``shape``."""
    if axis is None:
        return grad.reshape((1,) * len(shape)) if not keepdims else grad
    if keepdims or not shape:  # a 0-d input reduced over axis 0 or -1 stays 0-d
        return grad
    axes = (axis,) if np.ndim(axis) == 0 else axis  # an int, NumPy integer or a tuple
    return np.expand_dims(grad, tuple(int(a) % len(shape) for a in axes))


_AXIS_HINT = "axis must be None, an int or a tuple of distinct ints within the tensor's ndim"


class Sum(Function):
    """f(x) = sum of x over ``axis``;  df/dx = 1 (the gradient is broadcast back)"""

    hint = _AXIS_HINT

    @staticmethod
    def forward(
        ctx: Function, x: np.ndarray, *, axis: Any = None, keepdims: bool = False
    ) -> np.ndarray:
        ctx.save_for_backward(x.shape, axis, keepdims)
        return x.sum(axis=axis, keepdims=keepdims)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        shape, axis, keepdims = ctx.saved
        return (BroadcastTo.evaluate(_expand_reduced(grad, shape, axis, keepdims), shape=shape),)


class Max(Function):
    """f(x) = max of x over ``axis``;  df/dx = 1 at the maximum, shared equally among ties"""

    hint = _AXIS_HINT
    reduce: ClassVar[Callable[..., Any]] = staticmethod(np.max)

    @staticmethod
    def forward(
        ctx: Function, x: np.ndarray, *, axis: Any = None, keepdims: bool = False
    ) -> np.ndarray:
        if x.size == 0:
            raise ValueError("cannot reduce an empty tensor")
        out = cast(type[Max], type(ctx)).reduce(x, axis=axis, keepdims=keepdims)
        ctx.save_for_backward(x, out, axis, keepdims)
        return out

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        x, out, axis, keepdims = ctx.saved
        winners = x == _expand_reduced(out, x.shape, axis, keepdims)
        count = winners.sum(axis=axis, keepdims=True)
        share = _expand_reduced(grad, x.shape, axis, keepdims) / count
        return (winners * share,)


class Min(Max):
    """f(x) = min of x over ``axis``;  df/dx = 1 at the minimum, shared equally among ties"""

    reduce: ClassVar[Callable[..., Any]] = staticmethod(np.min)


# --------------------------------------------------------------------------- shape and indexing


class AsType(Function):
    """f(x) = x converted to ``dtype``;  the gradient is converted back"""

    @staticmethod
    def forward(ctx: Function, x: np.ndarray, *, dtype: np.dtype) -> np.ndarray:
        ctx.save_for_backward(x.dtype)
        return x.astype(dtype)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        (dtype,) = ctx.saved
        return (grad.astype(dtype),)


class Reshape(Function):
    """f(x) = x viewed with a new shape;  the gradient is reshaped back"""

    hint = "the new shape must have the same number of elements (one axis may be -1)"

    @staticmethod
    def forward(ctx: Function, x: np.ndarray, *, shape: tuple[int, ...]) -> np.ndarray:
        ctx.save_for_backward(x.shape)
        return x.reshape(shape)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        (shape,) = ctx.saved
        return (grad.reshape(shape),)


class Transpose(Function):
    """f(x) = x with axes permuted;  the gradient is permuted back"""

    hint = "axes must be a permutation of range(ndim), or omitted to reverse the axes"

    @staticmethod
    def forward(ctx: Function, x: np.ndarray, *, axes: tuple[int, ...] | None) -> np.ndarray:
        out = np.transpose(x, axes)
        # Non-negative axes, so argsort in backward inverts the permutation.
        ctx.save_for_backward(None if axes is None else tuple(a % x.ndim for a in axes))
        return out

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        (axes,) = ctx.saved
        inverse = None if axes is None else tuple(np.argsort(axes))
        return (np.transpose(grad, inverse),)


def _is_basic_index(index: Any) -> bool:
    """True for indices made of ints, slices, None and Ellipsis (no repeated elements)."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(
        isinstance(part, (int, np.integer, slice)) or part is None or part is Ellipsis
        for part in parts
    )


class Index(Function):
    """f(x) = x[index];  the gradient is scattered back, adding up repeated indices"""

    hint = "use ints, slices, None, ..., or integer / boolean arrays within the bounds"
    overflow_error = IndexError

    @staticmethod
    def forward(ctx: Function, x: np.ndarray, *, index: Any) -> np.ndarray:
        out = x[index]
        ctx.save_for_backward(x.shape, index)
        return out

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        shape, index = ctx.saved
        return (ScatterAdd.evaluate(grad, shape=shape, index=index),)


class ScatterAdd(Function):
    """f(g) = zeros(shape) with g added at ``index`` (repeats add up);  df/dg = grad[index]

    The gradient of indexing, as an op of its own so that it is differentiable too.
    """

    hint = Index.hint

    @staticmethod
    def forward(
        ctx: Function, values: np.ndarray, *, shape: tuple[int, ...], index: Any
    ) -> np.ndarray:
        ctx.save_for_backward(index)
        full = np.zeros(shape, dtype=values.dtype)
        if _is_basic_index(index):
            full[index] = values
        else:
            np.add.at(full, index, values)
        return full

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        (index,) = ctx.saved
        return (Index.evaluate(grad, index=index),)


class BroadcastTo(Function):
    """f(x) = x repeated to ``shape`` (np.broadcast_to, as a new array);  df/dx = the sum of
    grad over the repeated axes"""

    hint = "the tensor's shape must broadcast to the target shape (trailing axes equal or 1)"

    @staticmethod
    def forward(ctx: Function, x: np.ndarray, *, shape: tuple[int, ...]) -> np.ndarray:
        ctx.save_for_backward(x.shape)
        out = np.empty(shape, dtype=x.dtype)
        out[...] = x
        return out

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        (shape,) = ctx.saved
        return (unbroadcast(grad, shape),)


class Concatenate(Function):
    """f(x1, x2, ...) = concatenation along ``axis``;  each input gets its slice of grad"""

    hint = "all tensors need the same ndim and equal sizes on every axis but `axis`"

    @staticmethod
    def forward(ctx: Function, *arrays: np.ndarray, axis: int = 0) -> np.ndarray:
        if not arrays:
            raise ValueError("need at least one tensor to concatenate")
        out = np.concatenate(arrays, axis=axis)
        ctx.save_for_backward(np.cumsum([a.shape[axis] for a in arrays])[:-1], axis)
        return out

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        boundaries, axis = ctx.saved
        return tuple(np.split(grad, boundaries, axis=axis))


class Stack(Function):
    """f(x1, x2, ...) = stack along a new ``axis``;  input i gets grad's slice i"""

    hint = "all tensors need exactly the same shape"

    @staticmethod
    def forward(ctx: Function, *arrays: np.ndarray, axis: int = 0) -> np.ndarray:
        if not arrays:
            raise ValueError("need at least one tensor to stack")
        out = np.stack(arrays, axis=axis)
        ctx.save_for_backward(axis % out.ndim)
        return out

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        (axis,) = ctx.saved
        return tuple(np.moveaxis(grad, axis, 0))


# --------------------------------------------------------------------------- fused losses


# SquaredError sums the squares with np.dot up to this many elements, with einsum above.
SQUARED_ERROR_DOT_SIZE = 8192


class SquaredError(Function):
    """f(p, t) = sum((p - t)**2)  (or the mean, or elementwise);  df/dp = 2 (p - t) = -df/dt

    ``reduction`` is "sum", "mean" or "none". Fused because it is every regression step's
    cost: one node and one pass over the data instead of Sub + Square + Sum (measured about
    twice as fast for the article's batches; see `tinygrad_nn.losses.squared_error`).
    """

    hint = "prediction and target need the same shape"

    @staticmethod
    def forward(
        ctx: Function, pred: np.ndarray, target: np.ndarray, *, reduction: str = "sum"
    ) -> np.ndarray:
        diff = pred - target
        ctx.save_for_backward(pred, target, reduction)
        if reduction == "none":
            return diff * diff
        flat = diff.reshape(-1)
        # One pass and no temporary for the squares. BLAS dot is fastest for small arrays,
        # but OpenBLAS runs large ones on threads, measured 100x slower on a busy 2-core
        # machine; einsum's single-threaded loop is steady there.
        if flat.size <= SQUARED_ERROR_DOT_SIZE:
            total = np.dot(flat, flat)
        else:
            total = np.einsum("i,i->", flat, flat)
        if reduction == "mean":
            if diff.size == 0:
                raise ValueError("the mean of an empty tensor is undefined")
            total = total / diff.size
        return np.asarray(total, dtype=diff.dtype)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        pred, target, reduction = ctx.saved
        diff = pred - target  # recomputed, not saved: backward needs only inputs and output
        scale = grad * (2.0 / diff.size) if reduction == "mean" else grad * 2.0
        grad_pred = diff * scale
        needs_pred, needs_target = ctx.needs_input_grad
        return (grad_pred if needs_pred else None, -grad_pred if needs_target else None)
