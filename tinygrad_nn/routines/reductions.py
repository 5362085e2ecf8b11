"""NumPy's reductions on Tensors: sums and products, cumulative ones, statistics, norms,
logsumexp and the (non-differentiable) argmax and argmin."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from tinygrad_nn import ops
from tinygrad_nn.autograd import as_tensor, make_tensor
from tinygrad_nn.dispatch import implements
from tinygrad_nn.routines._common import Axis, axes_list, refuse

if TYPE_CHECKING:
    from tinygrad_nn.tensor import Tensor

__all__ = [
    "argmax",
    "argmin",
    "average",
    "cumprod",
    "cumsum",
    "logsumexp",
    "max",
    "mean",
    "min",
    "norm",
    "prod",
    "std",
    "sum",
    "var",
]


@implements(np.sum)
def sum(x: Any, axis: Axis = None, keepdims: bool = False, **numpy_only: Any) -> Tensor:
    """Sum over ``axis`` (all axes when None)."""
    if numpy_only:
        refuse(numpy_only, "sum")
    return ops.Sum.apply(as_tensor(x), axis=axis, keepdims=keepdims)


@implements(np.mean)
def mean(x: Any, axis: Axis = None, keepdims: bool = False, **numpy_only: Any) -> Tensor:
    """Mean over ``axis`` (all axes when None): the sum times 1 / count."""
    if numpy_only:
        refuse(numpy_only, "mean")
    tensor = as_tensor(x)
    total = ops.Sum.apply(tensor, axis=axis, keepdims=keepdims)
    # Elements per output entry (an empty result divides nothing, so any count will do).
    count = tensor.size // total.size if total.size else 1
    if count == 0:
        raise ValueError(f"mean: cannot average over an empty axis of shape {tensor.shape}")
    return total * (1.0 / count)


@implements(np.average)
def average(
    x: Any, axis: Axis = None, weights: Any = None, returned: bool = False, keepdims: bool = False
) -> Any:
    """The weighted mean sum(x * w) / sum(w) over ``axis`` (np.average), differentiable in
    x and in Tensor weights; 1-D weights apply along a single ``axis``. With ``returned``,
    the pair (average, sum of weights)."""
    tensor = as_tensor(x)
    if weights is None:
        result = mean(tensor, axis=axis, keepdims=keepdims)
        count = tensor.size // result.size if result.size else 0
        return (
            (result, make_tensor(np.full(result.shape, count, tensor.dtype), False))
            if returned
            else result
        )
    weight = as_tensor(weights, like=tensor)
    if weight.shape != tensor.shape:
        if axis is None or not isinstance(axis, (int, np.integer)) or weight.ndim != 1:
            raise ValueError(
                f"average: weights of shape {weight.shape} need the shape of x {tensor.shape}, "
                "or one axis= and 1-D weights along it"
            )
        along = axes_list(axis, tensor.ndim, "average")[0]
        weight = ops.Reshape.apply(weight, shape=(-1,) + (1,) * (tensor.ndim - along - 1))
    total = ops.Sum.apply(
        ops.BroadcastTo.apply(weight, shape=tensor.shape), axis=axis, keepdims=keepdims
    )
    result = ops.Sum.apply(tensor * weight, axis=axis, keepdims=keepdims) / total
    return (result, total) if returned else result


@implements(np.max, np.amax)
def max(x: Any, axis: Axis = None, keepdims: bool = False, **numpy_only: Any) -> Tensor:
    """Maximum over ``axis``; ties share the gradient equally."""
    if numpy_only:
        refuse(numpy_only, "max")
    return ops.Max.apply(as_tensor(x), axis=axis, keepdims=keepdims)


@implements(np.min, np.amin)
def min(x: Any, axis: Axis = None, keepdims: bool = False, **numpy_only: Any) -> Tensor:
    """Minimum over ``axis``; ties share the gradient equally."""
    if numpy_only:
        refuse(numpy_only, "min")
    return ops.Min.apply(as_tensor(x), axis=axis, keepdims=keepdims)


@implements(np.prod)
def prod(x: Any, axis: Axis = None, keepdims: bool = False, **numpy_only: Any) -> Tensor:
    """Product over ``axis`` (all axes when None); exact gradients also where x has zeros.

    Example:
        >>> x = tnn.Tensor([2.0, 0.0, 3.0], requires_grad=True)
        >>> tnn.prod(x).backward();  x.grad.tolist()
        [0.0, 6.0, 0.0]
    """
    if numpy_only:
        refuse(numpy_only, "prod")
    tensor = as_tensor(x)
    if isinstance(axis, (int, np.integer)) and tensor.ndim:
        return ops.Prod.apply(
            tensor, axis=axes_list(axis, tensor.ndim, "prod")[0], keepdims=keepdims
        )
    # Several axes (or all): move them to the end and merge them into one.
    if tensor.ndim == 0:  # NumPy reduces a 0-d array over axis None, 0 or -1 alike
        reduced = []
    else:
        reduced = list(range(tensor.ndim)) if axis is None else axes_list(axis, tensor.ndim, "prod")
    kept = [a for a in range(tensor.ndim) if a not in reduced]
    moved = ops.Transpose.apply(tensor, axes=(*kept, *reduced))
    merged = ops.Reshape.apply(moved, shape=(*(tensor.shape[a] for a in kept), -1))
    out = ops.Prod.apply(merged, axis=-1)
    if keepdims:
        shape = tuple(1 if a in reduced else size for a, size in enumerate(tensor.shape))
        out = ops.Reshape.apply(out, shape=shape)
    return out


def _degrees_of_freedom(tensor: Tensor, axis: Axis, ddof: float, name: str) -> float:
    reduced = range(tensor.ndim) if axis is None else axes_list(axis, tensor.ndim, name)
    count = math.prod(tensor.shape[a] for a in reduced) if tensor.ndim else 1
    if count - ddof <= 0:
        raise ValueError(
            f"{name}: ddof={ddof} leaves no degrees of freedom for {count} values per result "
            f"(shape {tensor.shape}, axis {axis}); use a ddof below {count}"
        )
    return count - ddof


@implements(np.var)
def var(
    x: Any, axis: Axis = None, keepdims: bool = False, ddof: float = 0, **numpy_only: Any
) -> Tensor:
    """Variance over ``axis``: sum((x - mean)**2) / (n - ddof) (np.var).

    Args:
        x: a Tensor, array or number.
        axis: None (all axes), an int or a tuple of ints.
        keepdims: keep the reduced axes with size 1.
        ddof: subtracted from the count; PyTorch's unbiased default is ``ddof=1``.

    Returns:
        The variance; ValueError when ``ddof`` leaves no degrees of freedom.

    Example:
        >>> tnn.var(tnn.Tensor([1.0, 2.0, 3.0, 4.0]), ddof=1).item()
        1.6666666666666665
    """
    if numpy_only:
        refuse(numpy_only, "var")
    tensor = as_tensor(x)
    dof = _degrees_of_freedom(tensor, axis, ddof, "var")
    # A composite: Sub, Square and Sum are each one pass, as a fused op would be.
    centred = tensor - mean(tensor, axis=axis, keepdims=True)
    return ops.Sum.apply(ops.Square.apply(centred), axis=axis, keepdims=keepdims) * (1.0 / dof)


@implements(np.std)
def std(
    x: Any, axis: Axis = None, keepdims: bool = False, ddof: float = 0, **numpy_only: Any
) -> Tensor:
    """Standard deviation over ``axis`` (np.std); the gradient is 0 where it is 0.

    Args:
        x: a Tensor, array or number.
        axis: None (all axes), an int or a tuple of ints.
        keepdims: keep the reduced axes with size 1.
        ddof: subtracted from the count (``ddof=1`` is PyTorch's default).

    Returns:
        sqrt(var(x, axis, keepdims, ddof)).

    Example:
        >>> x = tnn.Tensor([2.0, 2.0], requires_grad=True)
        >>> tnn.std(x).backward();  x.grad.tolist()       # zero variance: 0, not NaN
        [0.0, 0.0]
    """
    if numpy_only:
        refuse(numpy_only, "std")
    tensor = as_tensor(x)
    _degrees_of_freedom(tensor, axis, ddof, "std")
    return ops.Std.apply(tensor, axis=axis, keepdims=keepdims, ddof=ddof)


@implements(np.cumsum)
def cumsum(x: Any, axis: int | None = None, **numpy_only: Any) -> Tensor:
    """Running sums along ``axis`` (of the flattened tensor when None)."""
    if numpy_only:
        refuse(numpy_only, "cumsum")
    tensor, axis = _scan_axis(as_tensor(x), axis, "cumsum")
    return ops.Cumsum.apply(tensor, axis=axis)


@implements(np.cumprod)
def cumprod(x: Any, axis: int | None = None, **numpy_only: Any) -> Tensor:
    """Running products along ``axis`` (of the flattened tensor when None); exact gradients
    also where x has zeros."""
    if numpy_only:
        refuse(numpy_only, "cumprod")
    tensor, axis = _scan_axis(as_tensor(x), axis, "cumprod")
    return ops.Cumprod.apply(tensor, axis=axis)


def _scan_axis(tensor: Tensor, axis: int | None, name: str) -> tuple[Tensor, int]:
    if axis is None or tensor.ndim == 0:
        return ops.Reshape.apply(tensor, shape=(-1,)), 0
    if not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{name}: axis must be an int or None, got {axis!r}")
    return tensor, axes_list(axis, tensor.ndim, name)[0]


def logsumexp(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """log(sum(exp(x))) over ``axis``, without overflow (scipy.special.logsumexp).

    Example:
        >>> float(tnn.logsumexp(tnn.Tensor([1000.0, 1000.0])))   # 1000 + log 2
        1000.6931471805599
    """
    return ops.LogSumExp.apply(as_tensor(x), axis=axis, keepdims=keepdims)


_VECTOR_ORDS = (None, 2, 1, 0, math.inf, -math.inf)
_MATRIX_ORDS = (None, "fro", 1, -1, math.inf, -math.inf)


@implements(np.linalg.norm)
def norm(x: Any, ord: Any = None, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Vector or matrix norm (np.linalg.norm); the gradient is 0 at the zero vector.

    Vectors (a 1-D tensor or an int ``axis``): ``ord`` None or 2 (Euclidean), 1, inf, -inf
    or 0 (the count of non-zeros, no gradient). Matrices (a 2-D tensor or an axis pair):
    None or "fro" (Frobenius), 1, -1 (max/min column sum of |x|), inf, -inf (rows).
    ``ord=None`` with ``axis=None`` is the 2-norm of all elements, whatever the ndim.

    Args:
        x: a Tensor, array or number.
        ord: the order, as above.
        axis: None, an int (vector norms) or a pair of ints (matrix norms).
        keepdims: keep the reduced axes with size 1.

    Returns:
        The norm; ValueError for an order it cannot differentiate (2, -2, "nuc" for
        matrices) or axes that do not fit.

    Example:
        >>> tnn.norm(tnn.Tensor([3.0, -4.0])).item(), tnn.norm(tnn.Tensor([3.0, -4.0]), 1).item()
        (5.0, 7.0)
    """
    tensor = as_tensor(x)
    if axis is None and ord is None:
        return ops.Norm.apply(tensor, axis=None, keepdims=keepdims)
    if axis is None:
        if tensor.ndim not in (1, 2):
            raise ValueError(
                f"norm: ord={ord!r} needs a 1-D or 2-D tensor, got shape {tensor.shape}; give "
                "axis= (an int for vectors, a pair for matrices)"
            )
        axis = tuple(range(tensor.ndim))
    axes = axes_list(axis, tensor.ndim, "norm")
    if len(axes) == 1:
        return _vector_norm(tensor, ord, axes[0], keepdims)
    if len(axes) == 2 and axes[0] != axes[1]:
        return _matrix_norm(tensor, ord, axes, keepdims)
    raise ValueError(f"norm: axis must be an int or a pair of distinct ints, got {axis!r}")


def _vector_norm(tensor: Tensor, ord: Any, axis: int, keepdims: bool) -> Tensor:
    if ord is None or ord == 2:
        return ops.Norm.apply(tensor, axis=axis, keepdims=keepdims)
    if ord == 1:
        return ops.Sum.apply(ops.Abs.apply(tensor), axis=axis, keepdims=keepdims)
    if ord == math.inf:
        return ops.Max.apply(ops.Abs.apply(tensor), axis=axis, keepdims=keepdims)
    if ord == -math.inf:
        return ops.Min.apply(ops.Abs.apply(tensor), axis=axis, keepdims=keepdims)
    if ord == 0:
        count = np.sum(tensor.data != 0, axis=axis, keepdims=keepdims).astype(tensor.dtype)
        return make_tensor(np.asarray(count), False)
    raise ValueError(f"norm: unsupported vector ord {ord!r}; use one of {_VECTOR_ORDS}")


def _matrix_norm(tensor: Tensor, ord: Any, axes: list[int], keepdims: bool) -> Tensor:
    rows, columns = axes
    if ord is None or ord == "fro":
        return ops.Norm.apply(tensor, axis=tuple(axes), keepdims=keepdims)
    if ord in (1, -1, math.inf, -math.inf):
        summed, extreme = (rows, columns) if ord in (1, -1) else (columns, rows)
        sums = ops.Sum.apply(ops.Abs.apply(tensor), axis=summed, keepdims=True)
        pick = ops.Max if ord in (1, math.inf) else ops.Min
        out = pick.apply(sums, axis=extreme, keepdims=True)
        if keepdims:
            return out
        shape = tuple(size for a, size in enumerate(tensor.shape) if a not in axes)
        return ops.Reshape.apply(out, shape=shape)
    raise ValueError(
        f"norm: unsupported matrix ord {ord!r}; use one of {_MATRIX_ORDS} (2, -2 and 'nuc' "
        "need singular values, which tinygrad_nn does not differentiate)"
    )


@implements(np.argmax)
def argmax(x: Any, axis: int | None = None, keepdims: bool = False, **numpy_only: Any) -> Tensor:
    """Indices of the maxima along ``axis`` (of the flattened tensor when None): an integer
    Tensor without gradient."""
    if numpy_only:
        refuse(numpy_only, "argmax")
    return _indices(np.argmax, x, axis, keepdims)


@implements(np.argmin)
def argmin(x: Any, axis: int | None = None, keepdims: bool = False, **numpy_only: Any) -> Tensor:
    """Indices of the minima along ``axis`` (of the flattened tensor when None): an integer
    Tensor without gradient."""
    if numpy_only:
        refuse(numpy_only, "argmin")
    return _indices(np.argmin, x, axis, keepdims)


def _indices(find: Any, x: Any, axis: int | None, keepdims: bool) -> Tensor:
    data = as_tensor(x).data
    return make_tensor(np.asarray(find(data, axis=axis, keepdims=keepdims)), False)
