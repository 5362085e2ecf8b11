"""Activation modules with PyTorch's names and arguments (ReLU, Sigmoid, Tanh: `layers`).

``inplace=`` is accepted where PyTorch has it, so code written for PyTorch runs, and ignored:
these modules always return a new Tensor and never change their input.
"""

from __future__ import annotations

import warnings

from tinygrad_nn import functional
from tinygrad_nn.nn.module import Module
from tinygrad_nn.tensor import Tensor

__all__ = ["ELU", "GELU", "LeakyReLU", "LogSoftmax", "SiLU", "Softmax", "Softplus"]


class LeakyReLU(Module):
    """x if x > 0 else negative_slope * x.

    Example:
        >>> LeakyReLU(0.1)(Tensor([-1.0, 2.0])).data.tolist()
        [-0.1, 2.0]
    """

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope = float(negative_slope)

    def forward(self, x: Tensor) -> Tensor:
        return functional.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class ELU(Module):
    """x if x > 0 else alpha * (exp(x) - 1).

    Example:
        >>> ELU()(Tensor([0.0, 1.0])).data.tolist()
        [0.0, 1.0]
    """

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha = float(alpha)

    def forward(self, x: Tensor) -> Tensor:
        return functional.elu(x, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


class GELU(Module):
    """x * Phi(x), Phi the standard normal CDF; approximate="tanh" uses the tanh formula.

    Example:
        >>> round(GELU()(Tensor([1.0])).item(), 4)
        0.8413
    """

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x: Tensor) -> Tensor:
        return functional.gelu(x, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class SiLU(Module):
    """x * sigmoid(x) (also called swish).

    Example:
        >>> SiLU()(Tensor([0.0])).item()
        0.0
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()

    def forward(self, x: Tensor) -> Tensor:
        return functional.silu(x)


class Softplus(Module):
    """log(1 + exp(beta * x)) / beta, and x itself where beta * x > threshold.

    Example:
        >>> round(Softplus()(Tensor([0.0])).item(), 4)
        0.6931
    """

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta = float(beta)
        if not self.beta > 0:
            raise ValueError(f"Softplus: beta must be > 0, got {beta!r}")
        self.threshold = float(threshold)

    def forward(self, x: Tensor) -> Tensor:
        return functional.softplus(x, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


def _implicit_dim(owner: str, ndim: int) -> int:
    """PyTorch's legacy axis when ``dim`` is None: 0 for 0-, 1- and 3-d inputs, else 1."""
    warnings.warn(
        f"{owner}: no dim given, so the axis is chosen from the input's rank as PyTorch "
        f"once did (axis {0 if ndim in (0, 1, 3) else 1} here); pass dim= explicitly",
        UserWarning,
        stacklevel=3,
    )
    return 0 if ndim in (0, 1, 3) else 1


class Softmax(Module):
    """exp(x) / sum(exp(x)) along ``dim``, computed stably.

    Example:
        >>> Softmax(dim=-1)(Tensor([[0.0, 0.0]])).data.tolist()
        [[0.5, 0.5]]
    """

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        dim = _implicit_dim("Softmax", x.ndim) if self.dim is None else self.dim
        return functional.softmax(x, axis=dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """x - logsumexp(x) along ``dim``, computed stably.

    Example:
        >>> LogSoftmax(dim=1)(Tensor([[0.0, 0.0]])).data.round(4).tolist()
        [[-0.6931, -0.6931]]
    """

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        dim = _implicit_dim("LogSoftmax", x.ndim) if self.dim is None else self.dim
        return functional.log_softmax(x, axis=dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"
