"""`Adam` (L2 weight decay added to the gradient) and `AdamW` (decoupled weight decay)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, ClassVar

import numpy as np

from tinygrad_nn.optim.optimizer import Check, Optimizer, betas_pair, boolean, non_negative
from tinygrad_nn.tensor import Tensor

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    """Adam, PyTorch's algorithm (``torch.optim.Adam``), with optional AMSGrad.

    For each parameter ``p`` with gradient ``g``, ``t`` its step count (from 1), ``m`` and
    ``v`` starting at 0::

        g = g + weight_decay * p
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        v_max = max(v_max, v)                           (amsgrad; then v_max replaces v below)
        p = p - lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

    Args:
        params: Tensors to optimize, e.g. ``model.parameters()``, or a list of group dicts.
        lr: learning rate, >= 0.
        betas: decay rates (beta1, beta2) of the moment estimates, each in [0, 1).
        eps: added to the denominator, >= 0.
        weight_decay: L2 penalty factor added to the gradient, >= 0 (see `AdamW` for the
            decoupled decay).
        amsgrad: keep the running maximum of ``v`` (AMSGrad).

    Example:
        >>> optimizer = Adam(model.parameters(), lr=1e-3)
    """

    _checks: ClassVar[dict[str, Check]] = {
        "lr": non_negative,
        "betas": betas_pair,
        "eps": non_negative,
        "weight_decay": non_negative,
        "amsgrad": boolean,
    }
    _state_keys = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")
    _state_together = ("exp_avg", "exp_avg_sq")
    _decoupled = False  # AdamW: decay the weights directly instead of adding to the gradient

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "amsgrad": amsgrad,
        }
        super().__init__(params, defaults)

    def _step_group(self, group: dict[str, Any]) -> None:
        lr, eps, weight_decay = group["lr"], group["eps"], group["weight_decay"]
        beta1, beta2 = group["betas"]
        amsgrad = group["amsgrad"]
        keys = self._state_keys if amsgrad else self._state_keys[:2]
        for param in group["params"]:
            grad = self._gradient(param)
            if grad is None:
                continue
            if weight_decay:
                if self._decoupled:
                    param.data *= 1.0 - lr * weight_decay
                else:
                    grad = grad + weight_decay * param.data
            state = self._state_with(param, keys)
            step = state["step"]
            exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
            exp_avg *= beta1
            exp_avg += (1.0 - beta1) * grad
            exp_avg_sq *= beta2
            exp_avg_sq += (1.0 - beta2) * grad * grad
            if amsgrad:
                np.maximum(state["max_exp_avg_sq"], exp_avg_sq, out=state["max_exp_avg_sq"])
                exp_avg_sq = state["max_exp_avg_sq"]
            step_size = lr / (1.0 - beta1**step)
            denom = np.sqrt(exp_avg_sq) / math.sqrt(1.0 - beta2**step) + eps
            param.data -= step_size * (exp_avg / denom)


class AdamW(Adam):
    """Adam with decoupled weight decay (``torch.optim.AdamW``; Loshchilov and Hutter).

    Each step first shrinks the weights, ``p = p * (1 - lr * weight_decay)``, then takes
    Adam's step with the plain gradient (the decay never enters ``m`` or ``v``).

    Args:
        params: Tensors to optimize, e.g. ``model.parameters()``, or a list of group dicts.
        lr: learning rate, >= 0.
        betas: decay rates (beta1, beta2), each in [0, 1).
        eps: added to the denominator, >= 0.
        weight_decay: decoupled decay factor, >= 0 (PyTorch's default 1e-2).
        amsgrad: keep the running maximum of ``v`` (AMSGrad).

    Example:
        >>> optimizer = AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    """

    _decoupled = True

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)
