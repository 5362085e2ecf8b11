"""`TensorMath`: Tensor's NumPy-named methods (``t.exp()``, ``t.sum(axis=0)``, ``t.softmax()``).

Each method calls the module-level function of the same name (`tinygrad_nn.routines`,
`tinygrad_nn.functional`), which is also what ``np.NAME(t)`` runs, so the three spellings
cannot disagree. `Tensor` inherits these; tensor.py keeps the core (data, grad, backward,
operators).

PyTorch's spellings are accepted where they do not clash with NumPy's: ``dim=`` for
``axis=``, ``unsqueeze``, ``permute``, ``view``, ``t()``, ``clone()``, ``float()`` and
``double()``. ``max``/``min``/``sort`` refuse ``dim=``: PyTorch's return (values,
indices) there, NumPy's only values, and a silent difference would be a bug in a port.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from tinygrad_nn import functional, ops, routines

if TYPE_CHECKING:
    from tinygrad_nn.tensor import Tensor

__all__ = ["TensorMath"]

Axis = int | tuple[int, ...] | None


def _axis(axis: Any, dim: Any, name: str) -> Any:
    """PyTorch's ``dim``, given instead of ``axis`` (not both). The methods call this only
    when ``dim`` is given, which keeps the common call one comparison cheaper."""
    if axis is not None:
        raise TypeError(f"{name}: give axis= or its PyTorch spelling dim=, not both")
    return dim


def _as_axes(axes: tuple[Any, ...]) -> tuple[int, ...] | None:
    """Accept ``f(1, 0)`` and ``f((1, 0))`` alike; no arguments means None."""
    if not axes:
        return None
    if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
        return tuple(axes[0])
    return tuple(axes)


def _no_dim(dim: Any, name: str) -> None:
    if dim is not None:
        raise TypeError(
            f"{name}: dim= is not accepted, since PyTorch's {name}(dim=) returns (values, "
            f"indices) and NumPy's only values; use {name}(axis=...) for the values and "
            f"arg{name}(axis=...) for the indices"
        )


class TensorMath:
    """Methods shared by every Tensor; see `tinygrad_nn.routines` for each one's semantics."""

    __slots__ = ()

    # ------------------------------------------------------------------ operators

    def __mod__(self: Any, other: Any) -> Tensor:
        return routines.mod(self, other)

    def __rmod__(self: Any, other: Any) -> Tensor:
        return routines.mod(other, self)

    def __abs__(self: Any) -> Tensor:
        return routines.abs(self)

    # ------------------------------------------------------------------ reductions

    def sum(self: Any, axis: Axis = None, keepdims: bool = False, *, dim: Axis = None) -> Tensor:
        """Sum over ``axis`` (all axes when None)."""
        return routines.sum(self, axis if dim is None else _axis(axis, dim, "sum"), keepdims)

    def mean(self: Any, axis: Axis = None, keepdims: bool = False, *, dim: Axis = None) -> Tensor:
        """Mean over ``axis`` (all axes when None): the sum times 1 / count."""
        return routines.mean(self, axis if dim is None else _axis(axis, dim, "mean"), keepdims)

    def max(self: Any, axis: Axis = None, keepdims: bool = False, *, dim: Any = None) -> Tensor:
        """Maximum over ``axis``; ties share the gradient equally."""
        _no_dim(dim, "max")
        return routines.max(self, axis, keepdims)

    def min(self: Any, axis: Axis = None, keepdims: bool = False, *, dim: Any = None) -> Tensor:
        """Minimum over ``axis``; ties share the gradient equally."""
        _no_dim(dim, "min")
        return routines.min(self, axis, keepdims)

    def prod(self: Any, axis: Axis = None, keepdims: bool = False, *, dim: Axis = None) -> Tensor:
        """Product over ``axis``; exact gradients at zeros."""
        return routines.prod(self, axis if dim is None else _axis(axis, dim, "prod"), keepdims)

    def var(
        self: Any, axis: Axis = None, keepdims: bool = False, ddof: float = 0, *, dim: Axis = None
    ) -> Tensor:
        """Variance over ``axis`` with ``ddof`` (NumPy's default 0)."""
        return routines.var(self, axis if dim is None else _axis(axis, dim, "var"), keepdims, ddof)

    def std(
        self: Any, axis: Axis = None, keepdims: bool = False, ddof: float = 0, *, dim: Axis = None
    ) -> Tensor:
        """Standard deviation over ``axis`` with ``ddof``; gradient 0 where it is 0."""
        return routines.std(self, axis if dim is None else _axis(axis, dim, "std"), keepdims, ddof)

    def cumsum(self: Any, axis: int | None = None, *, dim: int | None = None) -> Tensor:
        """Running sums along ``axis`` (the flattened tensor when None)."""
        return routines.cumsum(self, axis if dim is None else _axis(axis, dim, "cumsum"))

    def cumprod(self: Any, axis: int | None = None, *, dim: int | None = None) -> Tensor:
        """Running products along ``axis`` (the flattened tensor when None)."""
        return routines.cumprod(self, axis if dim is None else _axis(axis, dim, "cumprod"))

    def logsumexp(
        self: Any, axis: Axis = None, keepdims: bool = False, *, dim: Axis = None
    ) -> Tensor:
        """log(sum(exp(x))) over ``axis``, without overflow."""
        return routines.logsumexp(
            self, axis if dim is None else _axis(axis, dim, "logsumexp"), keepdims
        )

    def norm(
        self: Any, ord: Any = None, axis: Axis = None, keepdims: bool = False, *, dim: Axis = None
    ) -> Tensor:
        """Vector or matrix norm (np.linalg.norm); gradient 0 at the zero vector."""
        return routines.norm(self, ord, axis if dim is None else _axis(axis, dim, "norm"), keepdims)

    def argmax(
        self: Any, axis: int | None = None, keepdims: bool = False, *, dim: Any = None
    ) -> Tensor:
        """Indices of the maxima (an integer Tensor, no gradient)."""
        return routines.argmax(self, axis if dim is None else _axis(axis, dim, "argmax"), keepdims)

    def argmin(
        self: Any, axis: int | None = None, keepdims: bool = False, *, dim: Any = None
    ) -> Tensor:
        """Indices of the minima (an integer Tensor, no gradient)."""
        return routines.argmin(self, axis if dim is None else _axis(axis, dim, "argmin"), keepdims)

    def trace(self: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Tensor:
        """The sum along a diagonal."""
        return routines.trace(self, offset, axis1, axis2)

    # ------------------------------------------------------------------ shape

    def reshape(self: Any, *shape: Any) -> Tensor:
        """``t.reshape(2, 3)`` or ``t.reshape((2, 3))``; one axis may be -1."""
        return routines.reshape(self, _as_axes(shape) or ())

    def view(self: Any, *shape: Any) -> Tensor:
        """PyTorch's spelling of `reshape`."""
        return routines.reshape(self, _as_axes(shape) or ())

    def transpose(self: Any, *axes: Any) -> Tensor:
        """Permute the axes like ndarray.transpose; no arguments reverses them."""
        return routines.transpose(self, _as_axes(axes))

    def permute(self: Any, *dims: Any) -> Tensor:
        """PyTorch's spelling of ``transpose(*axes)``: ``t.permute(2, 0, 1)``."""
        return routines.transpose(self, _as_axes(dims) or ())

    def t(self: Any) -> Tensor:
        """The transpose of a tensor of at most 2 axes (PyTorch's ``t()``)."""
        if self.ndim > 2:
            raise ValueError(
                f"t: expects a tensor of at most 2 axes, got shape {self.shape}; use "
                "transpose(*axes) or swapaxes(a, b)"
            )
        return routines.transpose(self)

    def flatten(self: Any) -> Tensor:
        """The elements as a 1-D tensor."""
        return routines.ravel(self)

    def ravel(self: Any) -> Tensor:
        """The elements as a 1-D tensor."""
        return routines.ravel(self)

    def squeeze(self: Any, axis: Any = None, *, dim: Any = None) -> Tensor:
        """Remove size-1 axes (all of them when ``axis`` is None)."""
        return routines.squeeze(self, axis if dim is None else _axis(axis, dim, "squeeze"))

    def expand_dims(self: Any, axis: int | tuple[int, ...]) -> Tensor:
        """Insert size-1 axes at the positions ``axis`` of the result."""
        return routines.expand_dims(self, axis)

    def unsqueeze(self: Any, dim: int) -> Tensor:
        """PyTorch's spelling of ``expand_dims(axis)`` for one axis."""
        return routines.expand_dims(self, dim)

    def swapaxes(self: Any, axis1: int, axis2: int) -> Tensor:
        """Exchange two axes."""
        return routines.swapaxes(self, axis1, axis2)

    def moveaxis(self: Any, source: Any, destination: Any) -> Tensor:
        """Move axes to new positions."""
        return routines.moveaxis(self, source, destination)

    def broadcast_to(self: Any, shape: Any) -> Tensor:
        """The tensor repeated to ``shape`` by NumPy's broadcasting."""
        return routines.broadcast_to(self, shape)

    def flip(self: Any, axis: Any = None, *, dim: Any = None) -> Tensor:
        """Reverse the elements along ``axis`` (all axes when None)."""
        return routines.flip(self, axis if dim is None else _axis(axis, dim, "flip"))

    def roll(self: Any, shift: Any, axis: Any = None, *, dim: Any = None) -> Tensor:
        """Shift elements cyclically along ``axis``."""
        return routines.roll(self, shift, axis if dim is None else _axis(axis, dim, "roll"))

    def repeat(self: Any, repeats: Any, axis: int | None = None) -> Tensor:
        """Repeat each element along ``axis`` (np.repeat; not PyTorch's repeat, which is tile)."""
        return routines.repeat(self, repeats, axis)

    def tile(self: Any, reps: Any) -> Tensor:
        """The tensor repeated ``reps`` times along each axis."""
        return routines.tile(self, reps)

    def diagonal(self: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Tensor:
        """The diagonal of the (axis1, axis2) planes as a new last axis."""
        return routines.diagonal(self, offset, axis1, axis2)

    def triu(self: Any, k: int = 0) -> Tensor:
        """The upper triangle of the last two axes."""
        return routines.triu(self, k)

    def tril(self: Any, k: int = 0) -> Tensor:
        """The lower triangle of the last two axes."""
        return routines.tril(self, k)

    def clone(self: Any) -> Tensor:
        """A differentiable copy (PyTorch's ``clone()``)."""
        return ops.AsType.apply(self, dtype=self.dtype)

    # ------------------------------------------------------------------ products

    def dot(self: Any, other: Any) -> Tensor:
        """np.dot(self, other)."""
        return routines.dot(self, other)

    def outer(self: Any, other: Any) -> Tensor:
        """The outer product with ``other``."""
        return routines.outer(self, other)

    def inner(self: Any, other: Any) -> Tensor:
        """Sum over the last axes of self and ``other``."""
        return routines.inner(self, other)

    def kron(self: Any, other: Any) -> Tensor:
        """The Kronecker product with ``other``."""
        return routines.kron(self, other)

    # ------------------------------------------------------------------ elementwise

    def relu(self: Any) -> Tensor:
        """max(x, 0)."""
        return functional.relu(self)

    def sigmoid(self: Any) -> Tensor:
        """1 / (1 + exp(-x)), stable for any x."""
        return functional.sigmoid(self)

    def tanh(self: Any) -> Tensor:
        """tanh(x)."""
        return routines.tanh(self)

    def exp(self: Any) -> Tensor:
        """e ** x."""
        return routines.exp(self)

    def log(self: Any) -> Tensor:
        """The natural logarithm."""
        return routines.log(self)

    def abs(self: Any) -> Tensor:
        """|x| (gradient 0 at 0)."""
        return routines.abs(self)

    def sqrt(self: Any) -> Tensor:
        """The square root."""
        return routines.sqrt(self)

    def square(self: Any) -> Tensor:
        """x ** 2."""
        return routines.square(self)

    def sign(self: Any) -> Tensor:
        """-1, 0 or 1 by sign (gradient 0)."""
        return routines.sign(self)

    def clip(self: Any, lo: float | None = None, hi: float | None = None) -> Tensor:
        """Limit values to [lo, hi]; the gradient is 1 inside (bounds included), else 0."""
        return routines.clip(self, lo, hi)

    def sin(self: Any) -> Tensor:
        """sin(x)."""
        return routines.sin(self)

    def cos(self: Any) -> Tensor:
        """cos(x)."""
        return routines.cos(self)

    def tan(self: Any) -> Tensor:
        """tan(x)."""
        return routines.tan(self)

    def arcsin(self: Any) -> Tensor:
        """The inverse sine."""
        return routines.arcsin(self)

    def arccos(self: Any) -> Tensor:
        """The inverse cosine."""
        return routines.arccos(self)

    def arctan(self: Any) -> Tensor:
        """The inverse tangent."""
        return routines.arctan(self)

    def sinh(self: Any) -> Tensor:
        """sinh(x)."""
        return routines.sinh(self)

    def cosh(self: Any) -> Tensor:
        """cosh(x)."""
        return routines.cosh(self)

    def arcsinh(self: Any) -> Tensor:
        """The inverse hyperbolic sine."""
        return routines.arcsinh(self)

    def arccosh(self: Any) -> Tensor:
        """The inverse hyperbolic cosine."""
        return routines.arccosh(self)

    def arctanh(self: Any) -> Tensor:
        """The inverse hyperbolic tangent."""
        return routines.arctanh(self)

    def log2(self: Any) -> Tensor:
        """The base-2 logarithm."""
        return routines.log2(self)

    def log10(self: Any) -> Tensor:
        """The base-10 logarithm."""
        return routines.log10(self)

    def log1p(self: Any) -> Tensor:
        """log(1 + x), accurate for small x."""
        return routines.log1p(self)

    def exp2(self: Any) -> Tensor:
        """2 ** x."""
        return routines.exp2(self)

    def expm1(self: Any) -> Tensor:
        """exp(x) - 1, accurate for small x."""
        return routines.expm1(self)

    def reciprocal(self: Any) -> Tensor:
        """1 / x."""
        return routines.reciprocal(self)

    def floor(self: Any) -> Tensor:
        """Round down (gradient 0)."""
        return routines.floor(self)

    def ceil(self: Any) -> Tensor:
        """Round up (gradient 0)."""
        return routines.ceil(self)

    def round(self: Any, decimals: int = 0) -> Tensor:
        """Round to ``decimals`` places, halves to even (gradient 0)."""
        return routines.round(self, decimals)

    def maximum(self: Any, other: Any) -> Tensor:
        """The elementwise larger of self and ``other``; ties split the gradient."""
        return routines.maximum(self, other)

    def minimum(self: Any, other: Any) -> Tensor:
        """The elementwise smaller of self and ``other``; ties split the gradient."""
        return routines.minimum(self, other)

    # ------------------------------------------------------------------ activations

    def softmax(self: Any, axis: int = -1, *, dim: int | None = None) -> Tensor:
        """exp(x) / sum(exp(x)) along ``axis``, computed stably."""
        return functional.softmax(self, axis=axis if dim is None else dim)

    def log_softmax(self: Any, axis: int = -1, *, dim: int | None = None) -> Tensor:
        """x - logsumexp(x) along ``axis``, computed stably."""
        return functional.log_softmax(self, axis=axis if dim is None else dim)

    def leaky_relu(self: Any, negative_slope: float = 0.01) -> Tensor:
        """x if x > 0 else negative_slope * x."""
        return functional.leaky_relu(self, negative_slope)

    def elu(self: Any, alpha: float = 1.0) -> Tensor:
        """x if x > 0 else alpha (exp(x) - 1)."""
        return functional.elu(self, alpha)

    def gelu(self: Any, approximate: str = "none") -> Tensor:
        """x Phi(x), exactly or with the tanh approximation."""
        return functional.gelu(self, approximate)

    def silu(self: Any) -> Tensor:
        """x sigmoid(x)."""
        return functional.silu(self)

    def softplus(self: Any, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
        """log(1 + exp(beta x)) / beta, linear above ``threshold``."""
        return functional.softplus(self, beta, threshold)

    def mish(self: Any) -> Tensor:
        """x tanh(softplus(x))."""
        return functional.mish(self)

    def hardswish(self: Any) -> Tensor:
        """x relu6(x + 3) / 6."""
        return functional.hardswish(self)

    def relu6(self: Any) -> Tensor:
        """min(max(x, 0), 6)."""
        return functional.relu6(self)

    def hardtanh(self: Any, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
        """x clipped to [min_val, max_val]."""
        return functional.hardtanh(self, min_val, max_val)

    def logsigmoid(self: Any) -> Tensor:
        """log(sigmoid(x)), stable for any x."""
        return functional.logsigmoid(self)

    # ------------------------------------------------------------------ dtype (last: `float`
    # and `double` would shadow the builtins in annotations further down the class body)

    def double(self: Any) -> Tensor:
        """A float64 copy (differentiable; PyTorch's ``double()``)."""
        return ops.AsType.apply(self, dtype=np.dtype(np.float64))

    def float(self: Any) -> Tensor:
        """A float32 copy (differentiable; PyTorch's ``float()``, float32 as in PyTorch)."""
        return ops.AsType.apply(self, dtype=np.dtype(np.float32))
