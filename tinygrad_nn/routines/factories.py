"""Array creation on Tensors: zeros, ones, full, eye, arange, linspace, the ``*_like``
versions and the random rand/randn, all with a ``requires_grad=`` keyword.

New tensors take the default float dtype (`tnn.get_default_dtype()`) unless ``dtype`` is
given; the ``*_like`` ones take their model's dtype, as in NumPy. Random tensors come from
the default generator, which `tnn.manual_seed` seeds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from tinygrad_nn import _random
from tinygrad_nn.autograd import get_default_dtype, is_tensor, make_tensor
from tinygrad_nn.dispatch import implements
from tinygrad_nn.routines._common import pair, refuse, shape_tuple

if TYPE_CHECKING:
    from tinygrad_nn.tensor import Tensor

__all__ = [
    "arange",
    "eye",
    "full",
    "full_like",
    "linspace",
    "manual_seed",
    "ones",
    "ones_like",
    "rand",
    "randn",
    "zeros",
    "zeros_like",
]

manual_seed = _random.manual_seed


def _new(array: np.ndarray, requires_grad: bool, name: str) -> Tensor:
    """Wrap a freshly made array as a leaf, checking ``requires_grad`` as Tensor() does."""
    if requires_grad and array.dtype.kind != "f":
        raise TypeError(
            f"{name}: only floating-point tensors can require grad, got dtype {array.dtype}; "
            "pass dtype=np.float64 (or float32)"
        )
    return make_tensor(array, bool(requires_grad))


def _dtype(dtype: Any) -> np.dtype:
    return get_default_dtype() if dtype is None else np.dtype(dtype)


def zeros(
    shape: int | tuple[int, ...], dtype: Any = None, *, requires_grad: bool = False
) -> Tensor:
    """A tensor of zeros (np.zeros), in the default float dtype unless ``dtype`` is given."""
    return _new(np.zeros(shape_tuple(shape), _dtype(dtype)), requires_grad, "zeros")


def ones(shape: int | tuple[int, ...], dtype: Any = None, *, requires_grad: bool = False) -> Tensor:
    """A tensor of ones (np.ones)."""
    return _new(np.ones(shape_tuple(shape), _dtype(dtype)), requires_grad, "ones")


def full(
    shape: int | tuple[int, ...],
    fill_value: float,
    dtype: Any = None,
    *,
    requires_grad: bool = False,
) -> Tensor:
    """A tensor filled with ``fill_value`` (np.full; the default float dtype unless given)."""
    return _new(np.full(shape_tuple(shape), fill_value, _dtype(dtype)), requires_grad, "full")


def eye(
    N: int, M: int | None = None, k: int = 0, dtype: Any = None, *, requires_grad: bool = False
) -> Tensor:
    """An (N, M) matrix with ones on diagonal ``k`` (np.eye)."""
    return _new(np.eye(N, M, k, dtype=_dtype(dtype)), requires_grad, "eye")


def arange(
    start: float,
    stop: float | None = None,
    step: float = 1,
    dtype: Any = None,
    *,
    requires_grad: bool = False,
) -> Tensor:
    """Evenly spaced values in [start, stop) (np.arange), as floats of the default dtype
    unless ``dtype`` is given (PyTorch's and NumPy's give integers for integer arguments)."""
    if stop is None:
        start, stop = 0, start
    return _new(np.arange(start, stop, step, dtype=_dtype(dtype)), requires_grad, "arange")


@implements(np.linspace)
def linspace(
    start: Any,
    stop: Any,
    num: int = 50,
    endpoint: bool = True,
    dtype: Any = None,
    *,
    requires_grad: bool = False,
) -> Tensor:
    """``num`` evenly spaced values from start to stop (np.linspace).

    With Tensor ``start`` or ``stop`` the result is start + (stop - start) * t for the
    constant fractions t, differentiable in both (array endpoints add a leading axis, as
    in NumPy).

    Args:
        start, stop: numbers, arrays or Tensors.
        num: the number of values.
        endpoint: include ``stop``.
        dtype: the result's dtype (default: the default dtype, or the endpoints' for
            Tensors).
        requires_grad: make a constant-endpoint result a leaf that requires grad.

    Returns:
        A Tensor of ``num`` values along a new first axis.

    Example:
        >>> a = tnn.Tensor(0.0, requires_grad=True)
        >>> tnn.linspace(a, 1.0, 5).tolist()
        [0.0, 0.25, 0.5, 0.75, 1.0]
    """
    if not (is_tensor(start) or is_tensor(stop)):
        values = np.linspace(start, stop, num, endpoint=endpoint, dtype=_dtype(dtype))
        return _new(values, requires_grad, "linspace")
    first, last = pair(start, stop)
    ndim = len(np.broadcast_shapes(first.shape, last.shape))
    fractions = np.linspace(0.0, 1.0, num, endpoint=endpoint, dtype=first.dtype)
    out = first + (last - first) * fractions.reshape((num,) + (1,) * ndim)
    return out if dtype is None else out.astype(dtype)


@implements(np.zeros_like)
def zeros_like(
    x: Any, dtype: Any = None, *, requires_grad: bool = False, **numpy_only: Any
) -> Tensor:
    """Zeros with ``x``'s shape (and dtype unless given)."""
    return full_like(x, 0, dtype, requires_grad=requires_grad, **numpy_only)


@implements(np.ones_like)
def ones_like(
    x: Any, dtype: Any = None, *, requires_grad: bool = False, **numpy_only: Any
) -> Tensor:
    """Ones with ``x``'s shape (and dtype unless given)."""
    return full_like(x, 1, dtype, requires_grad=requires_grad, **numpy_only)


@implements(np.full_like)
def full_like(
    x: Any, fill_value: float, dtype: Any = None, *, requires_grad: bool = False, **numpy_only: Any
) -> Tensor:
    """``fill_value`` with ``x``'s shape (and dtype unless given), a constant unless
    ``requires_grad``."""
    if numpy_only:
        refuse(numpy_only, "full_like")
    data = x.data if is_tensor(x) else np.asarray(x)
    array = np.full(data.shape, fill_value, data.dtype if dtype is None else dtype)
    return _new(array, requires_grad, "full_like")


def _random_shape(shape: tuple[Any, ...]) -> tuple[int, ...]:
    """``rand(2, 3)`` and ``rand((2, 3))`` alike (PyTorch's spelling)."""
    if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)):
        return shape_tuple(shape[0])
    return shape_tuple(shape)


def _random_dtype(dtype: Any, name: str) -> np.dtype:
    resolved = _dtype(dtype)
    if resolved not in (np.float32, np.float64):
        raise TypeError(f"{name}: dtype must be float32 or float64, got {resolved}")
    return resolved


def rand(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1) from the default generator (seed it with `manual_seed`).

    Args:
        *shape: the shape, as ints (``rand(2, 3)``) or one tuple (``rand((2, 3))``).
        dtype: float32 or float64; the default dtype when None.
        requires_grad: make the result a leaf that requires grad.

    Returns:
        A new Tensor.

    Example:
        >>> tnn.rand(2, 3).shape
        (2, 3)
    """
    values = _random.default_generator().random(
        _random_shape(shape), dtype=_random_dtype(dtype, "rand")
    )
    return _new(values, requires_grad, "rand")


def randn(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples from the default generator (seed it with `manual_seed`);
    arguments as for `rand`.

    Example:
        >>> _ = tnn.manual_seed(0); tnn.randn(2, 2).shape
        (2, 2)
    """
    generator = _random.default_generator()
    values = generator.standard_normal(_random_shape(shape), dtype=_random_dtype(dtype, "randn"))
    return _new(values, requires_grad, "randn")
