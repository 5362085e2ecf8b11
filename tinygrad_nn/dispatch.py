"""NumPy's dispatch protocols for Tensor: ``np.exp(t)`` and ``np.sum(t)`` record like ``t.exp()``.

NumPy hands a call to Tensor when one of its arguments is a Tensor: ufuncs (``np.exp``,
``np.add``, ``a * t`` with an ndarray ``a``) through ``Tensor.__array_ufunc__`` (NEP 13),
other functions (``np.sum``, ``np.reshape``, ``np.concatenate``) through
``Tensor.__array_function__`` (NEP 18). Both look the NumPy function up in the tables
below, which the modules defining tinygrad_nn's functions fill with `implements`::

    @implements(np.sin)
    def sin(x): return ops.Sin.apply(x)

    np.sin(t)   ->  Tensor.__array_ufunc__(np.sin, "__call__", t)  ->  sin(t)

This is what makes every op twice differentiable with its derivative written once: a
backward written with NumPy functions runs on ndarrays for first-order gradients, and on
Tensors (recording a graph) when the engine differentiates the backward pass itself.

A NumPy function with no differentiable counterpart raises a TypeError that names it and
says what to use instead, never a silently detached ndarray. ``np.asarray(t)`` and
``t.numpy()`` still give the data (``Tensor.__array__``), deliberately without a graph.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

__all__ = ["FUNCTIONS", "UFUNCS", "call_function", "call_ufunc", "implements"]

F = TypeVar("F", bound=Callable[..., Any])

# NumPy function or ufunc -> the tinygrad_nn function that implements it on Tensors.
UFUNCS: dict[np.ufunc, Callable[..., Any]] = {}
FUNCTIONS: dict[Callable[..., Any], Callable[..., Any]] = {}

# Comparisons and logic: their results are masks, so they are computed on the data and
# returned as Tensors that never require grad (as Tensor's comparison operators do).
_NOT_DIFFERENTIABLE_UFUNCS = (
    np.greater,
    np.greater_equal,
    np.less,
    np.less_equal,
    np.equal,
    np.not_equal,
    np.logical_and,
    np.logical_or,
    np.logical_xor,
    np.logical_not,
    np.bitwise_and,
    np.bitwise_or,
    np.bitwise_xor,
    np.invert,
    np.isfinite,
    np.isinf,
    np.isnan,
    np.signbit,
)

# Functions that only inspect a Tensor's values (shape, size, comparisons of whole arrays,
# counts) and return plain Python values or boolean/integer arrays, never a graph.
_INSPECTING_FUNCTIONS = (
    np.shape,
    np.ndim,
    np.size,
    np.result_type,
    np.allclose,
    np.array_equal,
    np.array_equiv,
    np.isclose,
    np.count_nonzero,
    np.any,
    np.all,
    np.argsort,
    np.nonzero,
    np.argwhere,
)


def implements(*numpy_functions: Any) -> Callable[[F], F]:
    """Register the decorated function as the Tensor version of ``numpy_functions``."""

    def register(fn: F) -> F:
        for numpy_function in numpy_functions:
            table: dict[Any, Any] = UFUNCS if isinstance(numpy_function, np.ufunc) else FUNCTIONS
            table[numpy_function] = fn
        return fn

    return register


def _data(value: Any) -> Any:
    """Arrays inside ``value`` (Tensors, or lists and tuples of them) for a data-only call."""
    if isinstance(value, (list, tuple)):
        return type(value)(_data(item) for item in value)
    data = getattr(value, "data", None)
    return data if isinstance(data, np.ndarray) and hasattr(value, "requires_grad") else value


def call_ufunc(
    ufunc: np.ufunc, method: str, inputs: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """``Tensor.__array_ufunc__``: run ``ufunc`` on Tensors through its tinygrad_nn function."""
    from tinygrad_nn import autograd

    if ufunc in _NOT_DIFFERENTIABLE_UFUNCS:
        if "out" in kwargs:
            kwargs["out"] = _data(kwargs["out"])
        result = getattr(ufunc, method)(*_data(inputs), **kwargs)
        if isinstance(result, np.ndarray) and "out" not in kwargs:
            return autograd.make_tensor(result, False)
        return result
    name = f"np.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}")
    if method != "__call__" or kwargs.get("out") is not None:
        what = "with out=" if method == "__call__" else "as a ufunc method"
        raise TypeError(
            f"{name} {what} is not differentiable on Tensors; call the function form "
            f"(np.{ufunc.__name__}(a, b)) or compute on the data with np.asarray(t)"
        )
    implementation = UFUNCS.get(ufunc)
    if implementation is None:
        raise TypeError(
            f"{name} has no differentiable counterpart for Tensors; compute on the data with "
            "np.asarray(t) (no gradient), or write a tnn.Function for it"
        )
    extra = {key: value for key, value in kwargs.items() if value is not None}
    if extra:
        raise TypeError(
            f"{name}: the keyword arguments {sorted(extra)} are not supported on Tensors; "
            "convert dtypes with t.astype(...) and select with tnn.where(...)"
        )
    return implementation(*inputs)


def call_function(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``Tensor.__array_function__``: run a NumPy function through its tinygrad_nn version."""
    if func in _INSPECTING_FUNCTIONS:
        return func(*_data(args), **kwargs)
    implementation = FUNCTIONS.get(func)
    if implementation is None:
        name = getattr(func, "__name__", repr(func))
        raise TypeError(
            f"np.{name} has no differentiable counterpart for Tensors; compute on the data "
            f"with np.{name}(np.asarray(t)) (no gradient), or see docs/api.md for the "
            "Tensor functions and methods"
        )
    return implementation(*args, **kwargs)
