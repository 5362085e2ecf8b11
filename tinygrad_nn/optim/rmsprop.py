"""`RMSprop` (with momentum and the centered variant) and `Adagrad`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

import numpy as np

from tinygrad_nn.optim.optimizer import Check, Optimizer, boolean, non_negative, unit_interval
from tinygrad_nn.tensor import Tensor

__all__ = ["Adagrad", "RMSprop"]


class RMSprop(Optimizer):
    """RMSprop, PyTorch's algorithm (``torch.optim.RMSprop``).

    For each parameter ``p`` with gradient ``g`` (``v``, ``g_avg``, ``b`` start at 0)::

        g = g + weight_decay * p
        v = alpha * v + (1 - alpha) * g * g
        centered:  g_avg = alpha * g_avg + (1 - alpha) * g;  d = sqrt(v - g_avg**2) + eps
        else:      d = sqrt(v) + eps
        momentum > 0:  b = momentum * b + g / d;  p = p - lr * b
        else:          p = p - lr * g / d

    Args:
        params: Tensors to optimize, e.g. ``model.parameters()``, or a list of group dicts.
        lr: learning rate, >= 0.
        alpha: smoothing constant in [0, 1].
        eps: added to the denominator, >= 0.
        weight_decay: L2 penalty factor, >= 0.
        momentum: momentum factor, >= 0.
        centered: normalise by the estimated variance of the gradient instead of its
            second moment.

    Example:
        >>> optimizer = RMSprop(model.parameters(), lr=1e-2, momentum=0.9)
    """

    _checks: ClassVar[dict[str, Check]] = {
        "lr": non_negative,
        "alpha": unit_interval,
        "eps": non_negative,
        "weight_decay": non_negative,
        "momentum": non_negative,
        "centered": boolean,
    }
    _state_keys = ("square_avg", "momentum_buffer", "grad_avg")

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "alpha": alpha,
            "eps": eps,
            "weight_decay": weight_decay,
            "momentum": momentum,
            "centered": centered,
        }
        super().__init__(params, defaults)

    def _step_group(self, group: dict[str, Any]) -> None:
        lr, alpha, eps = group["lr"], group["alpha"], group["eps"]
        weight_decay, momentum, centered = (
            group["weight_decay"],
            group["momentum"],
            group["centered"],
        )
        keys = (
            ("square_avg",)
            + (("momentum_buffer",) if momentum else ())
            + (("grad_avg",) if centered else ())
        )
        for param in group["params"]:
            grad = self._gradient(param)
            if grad is None:
                continue
            if weight_decay:
                grad = grad + weight_decay * param.data
            state = self._state_with(param, keys)
            square_avg = state["square_avg"]
            square_avg *= alpha
            square_avg += (1.0 - alpha) * grad * grad
            if centered:
                grad_avg = state["grad_avg"]
                grad_avg *= alpha
                grad_avg += (1.0 - alpha) * grad
                denom = np.sqrt(square_avg - grad_avg * grad_avg) + eps
            else:
                denom = np.sqrt(square_avg) + eps
            if momentum:
                buffer = state["momentum_buffer"]
                buffer *= momentum
                buffer += grad / denom
                param.data -= lr * buffer
            else:
                param.data -= lr * (grad / denom)


class Adagrad(Optimizer):
    """Adagrad, PyTorch's algorithm (``torch.optim.Adagrad``).

    For each parameter ``p`` with gradient ``g``, ``t`` its step count (from 1), the sum
    ``s`` starting at ``initial_accumulator_value``::

        g = g + weight_decay * p
        s = s + g * g
        p = p - lr / (1 + (t - 1) * lr_decay) * g / (sqrt(s) + eps)

    Args:
        params: Tensors to optimize, e.g. ``model.parameters()``, or a list of group dicts.
        lr: learning rate, >= 0.
        lr_decay: learning-rate decay per step, >= 0.
        weight_decay: L2 penalty factor, >= 0.
        initial_accumulator_value: starting value of the sum of squares, >= 0.
        eps: added to the denominator, >= 0.

    Example:
        >>> optimizer = Adagrad(model.parameters(), lr=0.1)
    """

    _checks: ClassVar[dict[str, Check]] = {
        "lr": non_negative,
        "lr_decay": non_negative,
        "weight_decay": non_negative,
        "initial_accumulator_value": non_negative,
        "eps": non_negative,
    }
    _state_keys = ("sum",)

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
    ) -> None:
        defaults = {
            "lr": lr,
            "lr_decay": lr_decay,
            "weight_decay": weight_decay,
            "initial_accumulator_value": initial_accumulator_value,
            "eps": eps,
        }
        super().__init__(params, defaults)

    def _step_group(self, group: dict[str, Any]) -> None:
        lr, lr_decay, weight_decay, eps = (
            group["lr"],
            group["lr_decay"],
            group["weight_decay"],
            group["eps"],
        )
        for param in group["params"]:
            grad = self._gradient(param)
            if grad is None:
                continue
            if weight_decay:
                grad = grad + weight_decay * param.data
            state = self._state_with(param, self._state_keys, group["initial_accumulator_value"])
            total = state["sum"]
            total += grad * grad
            rate = lr / (1.0 + (state["step"] - 1) * lr_decay)
            param.data -= rate * (grad / (np.sqrt(total) + eps))
