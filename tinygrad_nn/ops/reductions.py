"""Reductions and scans beyond sum/max/min: prod, cumsum, cumprod, std, logsumexp, the
2-norm, and the exclusive product that makes prod's gradient exact at zeros.

The routines (`tinygrad_nn.routines`) bring a reduction over several axes (or all) to a
reduction over one axis where an op needs that; var, the other vector norms and argmax are
composites or plain functions there.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinygrad_nn.autograd import Function
from tinygrad_nn.ops.core import _AXIS_HINT, _expand_reduced

__all__ = ["Cumprod", "Cumsum", "ExclusiveProd", "LogSumExp", "Norm", "Prod", "Std"]


class Prod(Function):
    """f(x) = product of x along ``axis``;  df/dx_i = the product of the other elements

    The other elements' products come from `ExclusiveProd`, which never divides: the
    gradient is exact with zeros among the inputs and stays accurate to every order for
    tiny ones (f / x_i would cancel catastrophically in the second derivative).
    """

    hint = _AXIS_HINT

    @staticmethod
    def forward(ctx: Function, x: np.ndarray, *, axis: int, keepdims: bool = False) -> np.ndarray:
        ctx.save_for_backward(x, axis, keepdims)
        return np.asarray(np.prod(x, axis=axis, keepdims=keepdims))

    @staticmethod
    def backward(ctx: Function, grad: Any) -> tuple[Any, ...]:
        x, axis, keepdims = ctx.saved
        grad = _expand_reduced(grad, x.shape, axis, keepdims)
        return (grad * ExclusiveProd.evaluate(x, axis=axis),)


class ExclusiveProd(Function):
    """f(x)_i = product of x_j over j != i along ``axis`` (no division);
    df_i/dx_j = product over k not in {i, j} (0 for j = i)

    Computed from two cumulative products, so zeros are exact. Its own gradient builds the
    (n, n) matrix of x with one element set to 1 per row: that costs O(n**2) memory per
    slice, but only for second and higher order gradients of prod and cumprod.
    """

    hint = _AXIS_HINT

    @staticmethod
    def forward(ctx: Function, x: np.ndarray, *, axis: int) -> np.ndarray:
        ctx.save_for_backward(x, axis)
        if x.size == 0:  # an empty slice has no elements to leave out
            return np.zeros_like(x)
        moved = np.moveaxis(x, axis, -1)
        ones = np.ones((*moved.shape[:-1], 1), dtype=x.dtype)
        before = np.cumprod(np.concatenate([ones, moved[..., :-1]], axis=-1), axis=-1)
        after = np.cumprod(np.concatenate([ones, moved[..., :0:-1]], axis=-1), axis=-1)
        return np.moveaxis(before * after[..., ::-1], -1, axis)

    @staticmethod
    def backward(ctx: Function, grad: Any) -> tuple[Any, ...]:
        x, axis = ctx.saved
        moved = np.moveaxis(x, axis, -1)
        diagonal = np.eye(moved.shape[-1], dtype=bool)
        # Row i: x with element i set to 1; its exclusive product at j != i is the product
        # over k not in {i, j}.
        rows = np.where(diagonal, 1, np.expand_dims(moved, -2))
        second = np.where(diagonal, 0, ExclusiveProd.evaluate(rows, axis=-1))
        upstream = np.expand_dims(np.moveaxis(grad, axis, -1), -1)
        return (np.moveaxis((upstream * second).sum(axis=-2), -1, axis),)


def _reverse_cumsum(values: Any, axis: int) -> Any:
    """Sums from each position to the end along ``axis``."""
    return np.flip(np.cumsum(np.flip(values, axis), axis=axis), axis)


class Cumsum(Function):
    """f(x)_k = x_0 + ... + x_k along ``axis``;  df/dx_i = the sum of grad from i to the end"""

    hint = "axis must be an int within the tensor's ndim"

    @staticmethod
    def forward(ctx: Function, x: np.ndarray, *, axis: int) -> np.ndarray:
        ctx.save_for_backward(axis)
        return np.cumsum(x, axis=axis)

    @staticmethod
    def backward(ctx: Function, grad: Any) -> tuple[Any, ...]:
        (axis,) = ctx.saved
        return (_reverse_cumsum(grad, axis),)


class Cumprod(Function):
    """f(x)_k = x_0 * ... * x_k along ``axis``;  df_k/dx_i = product of x_j, j <= k, j != i

    Without zeros the gradient is the reverse cumulative sum of grad * f, divided by x
    (O(n), as PyTorch's); a slice with zeros takes exclusive products of the prefixes
    instead (exact, O(n**2) memory). The division loses accuracy in second derivatives
    when some |x_i| is tiny compared with the others.
    """

    hint = "axis must be an int within the tensor's ndim"

    @staticmethod
    def forward(ctx: Function, x: np.ndarray, *, axis: int) -> np.ndarray:
        out = np.cumprod(x, axis=axis)
        ctx.save_for_backward(x, out, axis, not x.all())
        return out

    @staticmethod
    def backward(ctx: Function, grad: Any) -> tuple[Any, ...]:
        x, out, axis, has_zero = ctx.saved
        if not has_zero:
            return (_reverse_cumsum(grad * out, axis) / x,)
        moved = np.moveaxis(x, axis, -1)
        prefix = np.tri(moved.shape[-1], dtype=bool)  # row k keeps x_j for j <= k
        rows = np.where(prefix, np.expand_dims(moved, -2), 1)
        partials = np.where(prefix, ExclusiveProd.evaluate(rows, axis=-1), 0)
        upstream = np.expand_dims(np.moveaxis(grad, axis, -1), -1)
        return (np.moveaxis((upstream * partials).sum(axis=-2), -1, axis),)


class Std(Function):
    """f(x) = sqrt(sum((x - mean)**2) / (n - ddof));  df/dx = (x - mean) / ((n - ddof) f)

    Where the standard deviation is 0 (all values equal) the gradient is 0, not NaN.
    """

    hint = _AXIS_HINT

    @staticmethod
    def forward(
        ctx: Function, x: np.ndarray, *, axis: Any = None, keepdims: bool = False, ddof: float = 0
    ) -> np.ndarray:
        out = np.asarray(np.std(x, axis=axis, keepdims=keepdims, ddof=ddof))
        count = x.size // max(out.size, 1)
        ctx.save_for_backward(x, out, axis, keepdims, count - ddof)
        return out

    @staticmethod
    def backward(ctx: Function, grad: Any) -> tuple[Any, ...]:
        x, out, axis, keepdims, dof = ctx.saved
        std = _expand_reduced(out, x.shape, axis, keepdims)
        centred = x - np.mean(x, axis=axis, keepdims=True)
        scale = _expand_reduced(grad, x.shape, axis, keepdims) / (np.where(std == 0, 1, std) * dof)
        return (centred * scale,)


class LogSumExp(Function):
    """f(x) = log(sum(exp(x))) over ``axis``, shifted by the max (stable);  df/dx = exp(x - f)"""

    hint = _AXIS_HINT

    @staticmethod
    def forward(
        ctx: Function, x: np.ndarray, *, axis: Any = None, keepdims: bool = False
    ) -> np.ndarray:
        if x.size == 0:
            raise ValueError("cannot reduce an empty tensor")
        shift = np.max(x, axis=axis, keepdims=True)
        shift = np.where(np.isfinite(shift), shift, 0)  # all -inf: -inf - -inf would be NaN
        with np.errstate(divide="ignore"):  # all -inf: the sum is 0 and log(0) = -inf
            out = np.log(np.sum(np.exp(x - shift), axis=axis, keepdims=True)) + shift
        if not keepdims and out.ndim:
            out = np.squeeze(out, axis=axis)
        out = np.asarray(out)  # a 0-d result must stay the array saved below
        ctx.save_for_backward(x, out, axis, keepdims)
        return out

    @staticmethod
    def backward(ctx: Function, grad: Any) -> tuple[Any, ...]:
        x, out, axis, keepdims = ctx.saved
        out = _expand_reduced(out, x.shape, axis, keepdims)
        return (_expand_reduced(grad, x.shape, axis, keepdims) * np.exp(x - out),)


class Norm(Function):
    """f(x) = sqrt(sum(x**2)) over ``axis`` (the 2-norm, Frobenius for matrices);  df/dx = x / f

    At the zero vector the gradient is 0 (a subgradient), not NaN.
    """

    hint = _AXIS_HINT

    @staticmethod
    def forward(
        ctx: Function, x: np.ndarray, *, axis: Any = None, keepdims: bool = False
    ) -> np.ndarray:
        out = np.asarray(np.sqrt(np.sum(x * x, axis=axis, keepdims=keepdims)))
        ctx.save_for_backward(x, out, axis, keepdims)
        return out

    @staticmethod
    def backward(ctx: Function, grad: Any) -> tuple[Any, ...]:
        x, out, axis, keepdims = ctx.saved
        norm = _expand_reduced(out, x.shape, axis, keepdims)
        scale = _expand_reduced(grad, x.shape, axis, keepdims) / np.where(norm == 0, 1, norm)
        return (x * scale,)
