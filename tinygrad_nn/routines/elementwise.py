"""NumPy's mathematical functions on Tensors: arithmetic, trigonometric, hyperbolic,
exponents and logarithms, rounding, and elementwise extrema (``tnn.sin``, ``np.sin(t)``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from tinygrad_nn import ops
from tinygrad_nn.autograd import as_tensor
from tinygrad_nn.dispatch import implements
from tinygrad_nn.routines._common import pair, refuse

if TYPE_CHECKING:
    from tinygrad_nn.tensor import Tensor

__all__ = [
    "abs",
    "add",
    "arccos",
    "arccosh",
    "arcsin",
    "arcsinh",
    "arctan",
    "arctan2",
    "arctanh",
    "ceil",
    "clip",
    "cos",
    "cosh",
    "divide",
    "exp",
    "exp2",
    "expm1",
    "floor",
    "hypot",
    "log",
    "log1p",
    "log2",
    "log10",
    "logaddexp",
    "maximum",
    "minimum",
    "mod",
    "multiply",
    "negative",
    "power",
    "reciprocal",
    "round",
    "sign",
    "sin",
    "sinh",
    "sqrt",
    "square",
    "subtract",
    "tan",
    "tanh",
]


# --------------------------------------------------------------------------- arithmetic


@implements(np.add)
def add(a: Any, b: Any) -> Tensor:
    """a + b, broadcasting."""
    return ops.Add.apply(*pair(a, b))


@implements(np.subtract)
def subtract(a: Any, b: Any) -> Tensor:
    """a - b, broadcasting."""
    return ops.Sub.apply(*pair(a, b))


@implements(np.multiply)
def multiply(a: Any, b: Any) -> Tensor:
    """a * b, broadcasting."""
    return ops.Mul.apply(*pair(a, b))


@implements(np.divide, np.true_divide)
def divide(a: Any, b: Any) -> Tensor:
    """a / b, broadcasting."""
    return ops.Div.apply(*pair(a, b))


@implements(np.power)
def power(a: Any, b: Any) -> Tensor:
    """a ** b, broadcasting."""
    return ops.Pow.apply(*pair(a, b))


@implements(np.mod)
def mod(a: Any, b: Any) -> Tensor:
    """a mod b with the sign of b (np.mod, Python's %); the gradient is 1 for a and
    -floor(a / b) for b. Also ``a % b`` on Tensors and ``np.remainder``.

    Example:
        >>> tnn.mod(tnn.Tensor([5.5, -1.0]), 2.0).tolist()
        [1.5, 1.0]
    """
    return ops.Mod.apply(*pair(a, b))


@implements(np.negative)
def negative(x: Any) -> Tensor:
    """-x."""
    return ops.Neg.apply(as_tensor(x))


@implements(np.reciprocal)
def reciprocal(x: Any) -> Tensor:
    """1 / x, elementwise."""
    return ops.Reciprocal.apply(as_tensor(x))


@implements(np.square)
def square(x: Any) -> Tensor:
    """x ** 2, elementwise."""
    return ops.Square.apply(as_tensor(x))


@implements(np.sqrt)
def sqrt(x: Any) -> Tensor:
    """The square root, elementwise."""
    return ops.Sqrt.apply(as_tensor(x))


@implements(np.abs, np.absolute)
def abs(x: Any) -> Tensor:
    """|x|, elementwise (gradient 0 at 0)."""
    return ops.Abs.apply(as_tensor(x))


@implements(np.sign)
def sign(x: Any) -> Tensor:
    """-1, 0 or 1 by the sign of x (gradient 0 everywhere)."""
    return ops.Sign.apply(as_tensor(x))


@implements(np.clip)
def clip(
    x: Any, a_min: float | None = None, a_max: float | None = None, **numpy_only: Any
) -> Tensor:
    """x limited to [a_min, a_max] (np.clip); the gradient is 1 inside, bounds included."""
    if numpy_only:
        a_min = numpy_only.pop("min", a_min)
        a_max = numpy_only.pop("max", a_max)
        refuse(numpy_only, "clip")
    return ops.Clip.apply(as_tensor(x), lo=a_min, hi=a_max)


# --------------------------------------------------------------------------- trigonometric


@implements(np.sin)
def sin(x: Any) -> Tensor:
    """sin(x), elementwise."""
    return ops.Sin.apply(as_tensor(x))


@implements(np.cos)
def cos(x: Any) -> Tensor:
    """cos(x), elementwise."""
    return ops.Cos.apply(as_tensor(x))


@implements(np.tan)
def tan(x: Any) -> Tensor:
    """tan(x), elementwise."""
    return ops.Tan.apply(as_tensor(x))


@implements(np.arcsin)
def arcsin(x: Any) -> Tensor:
    """The inverse sine, elementwise (for |x| <= 1)."""
    return ops.Arcsin.apply(as_tensor(x))


@implements(np.arccos)
def arccos(x: Any) -> Tensor:
    """The inverse cosine, elementwise (for |x| <= 1)."""
    return ops.Arccos.apply(as_tensor(x))


@implements(np.arctan)
def arctan(x: Any) -> Tensor:
    """The inverse tangent, elementwise."""
    return ops.Arctan.apply(as_tensor(x))


@implements(np.arctan2)
def arctan2(y: Any, x: Any) -> Tensor:
    """The angle of the point (x, y), elementwise, broadcasting (gradient 0 at the origin)."""
    return ops.Arctan2.apply(*pair(y, x))


@implements(np.hypot)
def hypot(a: Any, b: Any) -> Tensor:
    """sqrt(a**2 + b**2), elementwise, broadcasting (gradient 0 at a = b = 0)."""
    return ops.Hypot.apply(*pair(a, b))


# --------------------------------------------------------------------------- hyperbolic


@implements(np.sinh)
def sinh(x: Any) -> Tensor:
    """sinh(x), elementwise."""
    return ops.Sinh.apply(as_tensor(x))


@implements(np.cosh)
def cosh(x: Any) -> Tensor:
    """cosh(x), elementwise."""
    return ops.Cosh.apply(as_tensor(x))


@implements(np.tanh)
def tanh(x: Any) -> Tensor:
    """tanh(x), elementwise."""
    return ops.Tanh.apply(as_tensor(x))


@implements(np.arcsinh)
def arcsinh(x: Any) -> Tensor:
    """The inverse hyperbolic sine, elementwise."""
    return ops.Arcsinh.apply(as_tensor(x))


@implements(np.arccosh)
def arccosh(x: Any) -> Tensor:
    """The inverse hyperbolic cosine, elementwise (for x >= 1)."""
    return ops.Arccosh.apply(as_tensor(x))


@implements(np.arctanh)
def arctanh(x: Any) -> Tensor:
    """The inverse hyperbolic tangent, elementwise (for |x| < 1)."""
    return ops.Arctanh.apply(as_tensor(x))


# --------------------------------------------------------------------------- exponents and logs


@implements(np.exp)
def exp(x: Any) -> Tensor:
    """e ** x, elementwise."""
    return ops.Exp.apply(as_tensor(x))


@implements(np.exp2)
def exp2(x: Any) -> Tensor:
    """2 ** x, elementwise."""
    return ops.Exp2.apply(as_tensor(x))


@implements(np.expm1)
def expm1(x: Any) -> Tensor:
    """exp(x) - 1, elementwise, accurate for small x."""
    return ops.Expm1.apply(as_tensor(x))


@implements(np.log)
def log(x: Any) -> Tensor:
    """The natural logarithm, elementwise."""
    return ops.Log.apply(as_tensor(x))


@implements(np.log2)
def log2(x: Any) -> Tensor:
    """The base-2 logarithm, elementwise."""
    return ops.Log2.apply(as_tensor(x))


@implements(np.log10)
def log10(x: Any) -> Tensor:
    """The base-10 logarithm, elementwise."""
    return ops.Log10.apply(as_tensor(x))


@implements(np.log1p)
def log1p(x: Any) -> Tensor:
    """log(1 + x), elementwise, accurate for small x."""
    return ops.Log1p.apply(as_tensor(x))


@implements(np.logaddexp)
def logaddexp(a: Any, b: Any) -> Tensor:
    """log(exp(a) + exp(b)), elementwise, broadcasting, without overflow."""
    return ops.Logaddexp.apply(*pair(a, b))


# --------------------------------------------------------------------------- rounding


@implements(np.floor)
def floor(x: Any) -> Tensor:
    """The largest integer <= x, elementwise, as floats (gradient 0)."""
    return ops.Floor.apply(as_tensor(x))


@implements(np.ceil)
def ceil(x: Any) -> Tensor:
    """The smallest integer >= x, elementwise, as floats (gradient 0)."""
    return ops.Ceil.apply(as_tensor(x))


@implements(np.round, np.around, np.rint)
def round(x: Any, decimals: int = 0, **numpy_only: Any) -> Tensor:
    """x rounded to ``decimals`` places, halves to even like np.round (gradient 0)."""
    if numpy_only:
        refuse(numpy_only, "round")
    return ops.Round.apply(as_tensor(x), decimals=int(decimals))


# --------------------------------------------------------------------------- extrema


@implements(np.maximum)
def maximum(a: Any, b: Any) -> Tensor:
    """The larger of a and b, elementwise, broadcasting; ties split the gradient evenly."""
    return ops.Maximum.apply(*pair(a, b))


@implements(np.minimum)
def minimum(a: Any, b: Any) -> Tensor:
    """The smaller of a and b, elementwise, broadcasting; ties split the gradient evenly."""
    return ops.Minimum.apply(*pair(a, b))
