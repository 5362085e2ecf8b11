"""Activation functions the layers and losses need, built from existing primitives.

Private and temporary: ``tnn.functional`` gains leaky_relu, elu, gelu, silu and softplus
on the ops branch; when it does, the layers and losses use those (the names at the end of
this file are rebound) and this file can go. Every function here is composed of
primitives (so its gradients come from theirs), except erf, which has no primitive yet:
`_Erf` is a small op whose backward uses only NumPy on its saved input.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.special

from tinygrad_nn import functional
from tinygrad_nn.autograd import Function
from tinygrad_nn.tensor import Tensor

__all__ = ["elu", "gelu", "leaky_relu", "silu", "softplus"]


class _Erf(Function):
    """f(x) = erf(x);  f'(x) = 2 / sqrt(pi) * exp(-x**2)"""

    @staticmethod
    def forward(ctx: Function, x: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x)
        return scipy.special.erf(x)

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        (x,) = ctx.saved
        return (grad * (2.0 / math.sqrt(math.pi)) * np.exp(-x * x),)


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    """x if x > 0 else negative_slope * x."""
    return functional.where(x.data > 0, x, x * negative_slope)


def elu(x: Tensor, alpha: float = 1.0) -> Tensor:
    """x if x > 0 else alpha * (exp(x) - 1); exp only sees the non-positive part."""
    return functional.where(x.data > 0, x, (x.clip(None, 0.0).exp() - 1.0) * alpha)


def silu(x: Tensor) -> Tensor:
    """x * sigmoid(x)."""
    return x * functional.sigmoid(x)


def softplus(x: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(beta * x)) / beta, linear where beta * x > threshold (PyTorch's).

    Computed as ``m + log(exp(-m) + exp(z - m))`` with ``z = beta * x`` and the constant
    ``m = max(z, 0)``: no exp overflows, and the gradient is sigmoid(z) everywhere.
    """
    z = x * beta
    shift = np.maximum(z.data, 0)
    value = (np.exp(-shift) + (z - shift).exp()).log() + shift
    return functional.where(z.data > threshold, x, value * (1.0 / beta))


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    """x * Phi(x) (approximate="none", with erf) or its tanh approximation ("tanh")."""
    if approximate == "none":
        return x * (_Erf.apply(x * (1.0 / math.sqrt(2.0))) + 1.0) * 0.5
    if approximate == "tanh":
        inner = (x + x * x * x * 0.044715) * math.sqrt(2.0 / math.pi)
        return x * (functional.tanh(inner) + 1.0) * 0.5
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


# When `tnn.functional` has these (they come from the ops branch, with the same arguments),
# its versions are the ones used, and this file can go.
leaky_relu = getattr(functional, "leaky_relu", leaky_relu)
elu = getattr(functional, "elu", elu)
silu = getattr(functional, "silu", silu)
softplus = getattr(functional, "softplus", softplus)
gelu = getattr(functional, "gelu", gelu)
