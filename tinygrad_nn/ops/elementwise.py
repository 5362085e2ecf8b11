"""Elementwise ops beyond the core ones: NumPy's trigonometric, hyperbolic, exponential and
logarithmic functions, rounding, and the binary maximum, minimum, arctan2, hypot, logaddexp
and mod.

Each backward is written with NumPy functions and operators on ``grad`` and ``ctx.saved``
(the inputs and the output), so it also records itself for higher-order gradients (see
`tinygrad_nn.ops`). Constants are Python floats, never NumPy float64 scalars, so float32
stays float32 under NumPy 2's promotion rules. A saved output is an ndarray even for 0-d
inputs (where NumPy returns a scalar), so the engine can map it back to the output Tensor.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from tinygrad_nn.autograd import Function

__all__ = [
    "Arccos",
    "Arccosh",
    "Arcsin",
    "Arcsinh",
    "Arctan",
    "Arctan2",
    "Arctanh",
    "Ceil",
    "Cos",
    "Cosh",
    "Erf",
    "Exp2",
    "Expm1",
    "Floor",
    "Hypot",
    "Log1p",
    "Log2",
    "Log10",
    "Logaddexp",
    "Maximum",
    "Minimum",
    "Mod",
    "Reciprocal",
    "Round",
    "Sin",
    "Sinh",
    "Tan",
]

_LN2 = math.log(2.0)
_LN10 = math.log(10.0)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_BROADCAST_HINT = (
    "the shapes must broadcast under NumPy's rules (trailing axes equal or 1); "
    "reshape one of them, e.g. with .reshape(...) or [:, None]"
)


# --------------------------------------------------------------------------- trigonometric


class Sin(Function):
    """f(x) = sin(x);  f'(x) = cos(x)"""

    @staticmethod
    def forward(ctx: Function, x: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x)
        return np.sin(x)

    @staticmethod
    def backward(ctx: Function, grad: Any) -> tuple[Any, ...]:
        (x,) = ctx.saved
        return (grad * np.cos(x),)


class Cos(Function):
    """f(x) = cos(x);  f'(x) = -sin(x)"""

    @staticmethod
    def forward(ctx: Function, x: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x)
        return np.cos(x)

    @staticmethod
    def backward(ctx: Function, grad: Any) -> tuple[Any, ...]:
        (x,) = ctx.saved
        return (-grad * np.sin(x),)


class Tan(Function):
    """f(x) = tan(x);  f'(x) = 1 + tan(x)**2"""

    @staticmethod
    def forward(ctx: Function, x: np.ndarray) -> np.ndarray:
        out = np.asarray(np.tan(x))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Function, grad: Any) -> tuple[Any, ...]:
        (out,) = ctx.saved
        return (grad * (1 + out * out),)


class Arcsin(Function):
    """f(x) = arcsin(x);  f'(x) = 1 / sqrt(1 - x**2)  (|x| < 1)"""

    @staticmethod
    def forward(ctx: Function, x: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x)
        return np.arcsin(x)

    @staticmethod
    def backward(ctx: Function, grad: Any) -> tuple[Any, ...]:
        (x,) = ctx.saved
        return (grad / np.sqrt(1 - x * x),)


class Arccos(Function):
    """f(x) = arccos(x);  f'(x) = -1 / sqrt(1 - x**2)  (|x| < 1)"""

    @staticmethod
    def forward(ctx: Function, x: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x)
        return np.arccos(x)

    @staticmethod
    def backward(ctx: Function, grad: Any) -> tuple[Any, ...]:
        (x,) = ctx.saved
        return (-grad / np.sqrt(1 - x * x),)


class Arctan(Function):
    """f(x) = arctan(x);  f'(x) = 1 / (1 + x**2)"""

    @staticmethod
    def forward(ctx: Function, x: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x)
        return np.arctan(x)

    @staticmethod
    def backward(ctx: Function, grad: Any) -> tuple[Any, ...]:
        (x,) = ctx.saved
        return (grad / (1 + x * x),)


class Arctan2(Function):
    """f(y, x) = arctan2(y, x);  df/dy = x / (x**2 + y**2), df/dx = -y / (x**2 + y**2)

    At the origin, where the angle is undefined, both derivatives are 0 (not NaN).
    """

    hint = _BROADCAST_HINT

    @staticmethod
    def forward(ctx: Function, y: np.ndarray, x: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(y, x)
        return np.arctan2(y, x)

    @staticmethod
    def backward(ctx: Function, grad: Any) -> tuple[Any, ...]:
        y, x = ctx.saved
        radius2 = x * x + y * y
        scale = grad / np.where(radius2 == 0, 1, radius2)
        needs_y, needs_x = ctx.needs_input_grad
        return (scale * x if needs_y else None, -scale * y if needs_x else None)


# --------------------------------------------------------------------------- hyperbolic


class Sinh(Function):
    """f(x) = sinh(x);  f'(x) = cosh(x)"""

    @staticmethod
    def forward(ctx: Function, x: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x)
        return np.sinh(x)

    @staticmethod
    def backward(ctx: Function, grad: Any) -> tuple[Any, ...]:
        (x,) = ctx.saved
        return (grad * np.cosh(x),)


class Cosh(Function):
    """f(x) = cosh(x);  f'(x) = sinh(x)"""

    @staticmethod
    def forward(ctx: Function, x: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x)
        return np.cosh(x)

    @staticmethod
    def backward(ctx: Function, grad: Any) -> tuple[Any, ...]:
        (x,) = ctx.saved
        return (grad * np.sinh(x),)


class Arcsinh(Function):
    """f(x) = arcsinh(x);  f'(x) = 1 / sqrt(x**2 + 1)"""

    @staticmethod
    def forward(ctx: Function, x: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x)
        return np.arcsinh(x)

    @staticmethod
    def backward(ctx: Function, grad: Any) -> tuple[Any, ...]:
        (x,) = ctx.saved
        return (grad / np.sqrt(x * x + 1),)


class Arccosh(Function):
    """f(x) = arccosh(x);  f'(x) = 1 / sqrt(x**2 - 1)  (x > 1)"""

    @staticmethod
    def forward(ctx: Function, x: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x)
        return np.arccosh(x)

    @staticmethod
    def backward(ctx: Function, grad: Any) -> tuple[Any, ...]:
        (x,) = ctx.saved
        return (grad / np.sqrt(x * x - 1),)


class Arctanh(Function):
    """f(x) = arctanh(x);  f'(x) = 1 / (1 - x**2)  (|x| < 1)"""

    @staticmethod
    def forward(ctx: Function, x: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x)
        return np.arctanh(x)

    @staticmethod
    def backward(ctx: Function, grad: Any) -> tuple[Any, ...]:
        (x,) = ctx.saved
        return (grad / (1 - x * x),)


# --------------------------------------------------------------------------- exponents and logs


class Exp2(Function):
    """f(x) = 2**x;  f'(x) = 2**x ln 2"""

    @staticmethod
    def forward(ctx: Function, x: np.ndarray) -> np.ndarray:
        out = np.asarray(np.exp2(x))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Function, grad: Any) -> tuple[Any, ...]:
        (out,) = ctx.saved
        return (grad * out * _LN2,)


class Expm1(Function):
    """f(x) = exp(x) - 1 (accurate near 0);  f'(x) = exp(x) = f(x) + 1"""

    @staticmethod
    def forward(ctx: Function, x: np.ndarray) -> np.ndarray:
        out = np.asarray(np.expm1(x))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Function, grad: Any) -> tuple[Any, ...]:
        (out,) = ctx.saved
        return (grad * (out + 1),)


class Log2(Function):
    """f(x) = log2(x);  f'(x) = 1 / (x ln 2)"""

    @staticmethod
    def forward(ctx: Function, x: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x)
        return np.log2(x)

    @staticmethod
    def backward(ctx: Function, grad: Any) -> tuple[Any, ...]:
        (x,) = ctx.saved
        return (grad / (x * _LN2),)


class Log10(Function):
    """f(x) = log10(x);  f'(x) = 1 / (x ln 10)"""

    @staticmethod
    def forward(ctx: Function, x: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x)
        return np.log10(x)

    @staticmethod
    def backward(ctx: Function, grad: Any) -> tuple[Any, ...]:
        (x,) = ctx.saved
        return (grad / (x * _LN10),)


class Log1p(Function):
    """f(x) = log(1 + x) (accurate near 0);  f'(x) = 1 / (1 + x)"""

    @staticmethod
    def forward(ctx: Function, x: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x)
        return np.log1p(x)

    @staticmethod
    def backward(ctx: Function, grad: Any) -> tuple[Any, ...]:
        (x,) = ctx.saved
        return (grad / (1 + x),)


class Reciprocal(Function):
    """f(x) = 1 / x;  f'(x) = -1 / x**2 = -f(x)**2"""

    @staticmethod
    def forward(ctx: Function, x: np.ndarray) -> np.ndarray:
        out = np.asarray(np.reciprocal(x))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Function, grad: Any) -> tuple[Any, ...]:
        (out,) = ctx.saved
        return (-grad * out * out,)


class Logaddexp(Function):
    """f(a, b) = log(exp(a) + exp(b)) (stable);  df/da = exp(a - f), df/db = exp(b - f)"""

    hint = _BROADCAST_HINT

    @staticmethod
    def forward(ctx: Function, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        out = np.asarray(np.logaddexp(a, b))
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx: Function, grad: Any) -> tuple[Any, ...]:
        a, b, out = ctx.saved
        needs_a, needs_b = ctx.needs_input_grad
        return (
            grad * np.exp(a - out) if needs_a else None,
            grad * np.exp(b - out) if needs_b else None,
        )


class Erf(Function):
    """f(x) = erf(x);  f'(x) = 2/sqrt(pi) exp(-x**2)

    The Gauss error function, 2/sqrt(pi) times the integral of exp(-t**2) from 0 to x, behind
    `tinygrad_nn.functional.gelu` (NumPy has none).
    """

    @staticmethod
    def forward(ctx: Function, x: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x)
        from scipy.special import erf  # imported here: scipy.special is slow to import

        return np.asarray(erf(x))

    @staticmethod
    def backward(ctx: Function, grad: Any) -> tuple[Any, ...]:
        (x,) = ctx.saved
        return (grad * np.exp(-(x * x)) * _TWO_OVER_SQRT_PI,)


# --------------------------------------------------------------------------- rounding


class Floor(Function):
    """f(x) = the largest integer <= x;  f'(x) = 0 (also at the integers, where it jumps)"""

    # A ufunc is not a descriptor, so the class attribute is the ufunc itself.
    function: ClassVar[np.ufunc] = np.floor

    # ctx is always a node of the op's own class (Function.apply makes it), which mypy
    # cannot know: hence the override ignores on ``ctx: Floor`` and ``ctx: Maximum``.
    @staticmethod
    def forward(ctx: Floor, x: np.ndarray) -> np.ndarray:  # type: ignore[override]
        return type(ctx).function(x)

    @staticmethod
    def backward(ctx: Function, grad: Any) -> tuple[Any, ...]:
        return (np.zeros_like(grad),)


class Ceil(Floor):
    """f(x) = the smallest integer >= x;  f'(x) = 0 (also at the integers)"""

    function = np.ceil


class Round(Function):
    """f(x) = x rounded to ``decimals`` places, halves to even (np.round);  f'(x) = 0"""

    @staticmethod
    def forward(ctx: Function, x: np.ndarray, *, decimals: int = 0) -> np.ndarray:
        return np.round(x, decimals)

    @staticmethod
    def backward(ctx: Function, grad: Any) -> tuple[Any, ...]:
        return (np.zeros_like(grad),)


# --------------------------------------------------------------------------- binary


class Maximum(Function):
    """f(a, b) = max(a, b) elementwise;  df/da = 1 where a > b, 1/2 where a == b, else 0

    Ties split the gradient evenly between the two inputs (PyTorch's convention for
    torch.maximum), so the two halves still add up to the upstream gradient.
    """

    hint = _BROADCAST_HINT
    function: ClassVar[np.ufunc] = np.maximum

    @staticmethod
    def forward(ctx: Maximum, a: np.ndarray, b: np.ndarray) -> np.ndarray:  # type: ignore[override]
        ctx.save_for_backward(a, b)
        return type(ctx).function(a, b)

    @staticmethod
    def backward(ctx: Maximum, grad: Any) -> tuple[Any, ...]:  # type: ignore[override]
        a, b = ctx.saved
        a_wins = a > b if type(ctx).function is np.maximum else a < b
        share = np.where(a == b, grad * 0.5, 0)
        needs_a, needs_b = ctx.needs_input_grad
        return (
            np.where(a_wins, grad, share) if needs_a else None,
            np.where(a_wins, 0, np.where(a == b, share, grad)) if needs_b else None,
        )


class Minimum(Maximum):
    """f(a, b) = min(a, b) elementwise;  df/da = 1 where a < b, 1/2 where a == b, else 0"""

    function = np.minimum


class Hypot(Function):
    """f(a, b) = sqrt(a**2 + b**2);  df/da = a / f, df/db = b / f  (0 at a = b = 0, not NaN)"""

    hint = _BROADCAST_HINT

    @staticmethod
    def forward(ctx: Function, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        out = np.asarray(np.hypot(a, b))
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx: Function, grad: Any) -> tuple[Any, ...]:
        a, b, out = ctx.saved
        scale = grad / np.where(out == 0, 1, out)
        needs_a, needs_b = ctx.needs_input_grad
        return (scale * a if needs_a else None, scale * b if needs_b else None)


class Mod(Function):
    """f(a, b) = a mod b (np.mod: the sign of b);  df/da = 1, df/db = -floor(a / b)

    At the jumps (a a multiple of b) the one-sided derivatives differ; the formula's value
    is used, as in PyTorch.
    """

    hint = _BROADCAST_HINT

    @staticmethod
    def forward(ctx: Function, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(a, b)
        return np.mod(a, b)

    @staticmethod
    def backward(ctx: Function, grad: Any) -> tuple[Any, ...]:
        a, b = ctx.saved
        needs_a, needs_b = ctx.needs_input_grad
        return (grad if needs_a else None, -grad * np.floor(a / b) if needs_b else None)
