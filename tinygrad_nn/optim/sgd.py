"""`SGD`: stochastic gradient descent with momentum, dampening, weight decay and Nesterov."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

import numpy as np

from tinygrad_nn.optim.optimizer import (
    Check,
    Optimizer,
    boolean,
    non_negative,
    unit_interval,
)
from tinygrad_nn.tensor import Tensor

__all__ = ["SGD"]


class SGD(Optimizer):
    """Stochastic gradient descent, PyTorch's algorithm (``torch.optim.SGD``).

    For each parameter ``p`` with gradient ``g``::

        g = g + weight_decay * p
        if momentum != 0:
            b = g                                         on the first step
            b = momentum * b + (1 - dampening) * g        afterwards
            g = g + momentum * b   if nesterov   else   b
        p = p - lr * g

    Args:
        params: Tensors to optimize, e.g. ``model.parameters()``, or a list of group dicts.
        lr: learning rate, >= 0.
        momentum: momentum factor, >= 0.
        dampening: in [0, 1]; scales the new gradient in the momentum buffer.
        weight_decay: L2 penalty factor, >= 0.
        nesterov: Nesterov momentum (needs momentum > 0 and dampening 0).

    Example:
        >>> optimizer = SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
        >>> optimizer.zero_grad(); loss.backward(); optimizer.step()
    """

    _checks: ClassVar[dict[str, Check]] = {
        "lr": non_negative,
        "momentum": non_negative,
        "dampening": unit_interval,
        "weight_decay": non_negative,
        "nesterov": boolean,
    }
    _state_keys = ("momentum_buffer",)

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": weight_decay,
            "nesterov": nesterov,
        }
        super().__init__(params, defaults)

    def _check_combination(self, group: dict[str, Any], owner: str) -> None:
        if group.get("nesterov") and (group.get("momentum", 0) <= 0 or group.get("dampening")):
            raise ValueError(
                f"{owner}: nesterov=True needs momentum > 0 and dampening = 0, got "
                f"momentum={group.get('momentum')}, dampening={group.get('dampening')}"
            )

    def _step_group(self, group: dict[str, Any]) -> None:
        # The hot loop of every training step: checks are inlined, and the common case
        # (no momentum, no decay) is one multiply and one in-place subtract per parameter.
        lr, momentum, weight_decay = group["lr"], group["momentum"], group["weight_decay"]
        dampening, nesterov = group["dampening"], group["nesterov"]
        state = self.state
        # The rate as a 0-d array of each float gradient's dtype: NumPy multiplies by it
        # faster than by a Python float (0.35 us a parameter at the article's sizes), with
        # the same rounding. Any other .grad (integers a user assigned) takes the float.
        rates: dict[np.dtype, Any] = {}
        for param in group["params"]:
            grad = param.grad
            if grad is None:
                continue
            data = param.data
            if grad.shape != data.shape:
                self._gradient(param)  # raises, naming the parameter
            if weight_decay:
                grad = grad + weight_decay * data
            if momentum:
                entry = state.get(param)
                buffer = None if entry is None else entry.get("momentum_buffer")
                if entry is None or buffer is None:
                    buffer = grad.astype(data.dtype, copy=True)
                    state.setdefault(param, {})["momentum_buffer"] = buffer
                else:
                    if buffer.shape != data.shape or buffer.dtype != data.dtype:
                        buffer = self._buffer(param, entry, "momentum_buffer")
                    buffer *= momentum
                    buffer += (1.0 - dampening) * grad if dampening else grad
                grad = grad + momentum * buffer if nesterov else buffer
            rate = rates.get(grad.dtype)
            if rate is None:
                floating = grad.dtype.kind == "f"
                rate = rates[grad.dtype] = np.asarray(lr, grad.dtype) if floating else lr
            param.data -= grad * rate

    def update_source(self, names: Mapping[int, tuple[str, str, str]]) -> list[str] | None:
        """``p -= lr * g`` per parameter, inlined into a compiled step (see
        `Optimizer.update_source`) while the optimizer has one group without momentum or
        weight decay; otherwise the step calls ``optimizer.step()``.

        The rate is read at every call (a scheduler may change it) and made a 0-d array of
        the parameters' dtype, which NumPy multiplies by faster than a Python float, with
        the same rounding; each parameter's version is stamped as assigning ``.data`` does.
        """
        params = [p for p in self.param_groups[0]["params"] if id(p) in names]
        if len(self.param_groups) != 1 or len(params) != len(names):
            return None
        first_of_dtype = {p.data.dtype.name: p for p in reversed(params)}
        count = len(self.param_groups[0]["params"])  # a change means a changed group
        lines = [
            "groups = optimizer.param_groups",
            f'if len(groups) != 1 or len(groups[0]["params"]) != {count} or '
            'groups[0]["momentum"] or groups[0]["weight_decay"]:',
            "    optimizer.step()",
            "else:  # SGD.step with one plain group: p -= lr * g",
            '    lr = groups[0]["lr"]',
        ]
        for dtype, param in sorted(first_of_dtype.items()):
            lines.append(f"    lr_{dtype} = asarray(lr, {names[id(param)][1]}.dtype)")
        for param in params:
            tensor, data, grad = names[id(param)]
            rate = f"lr_{param.data.dtype.name}"
            lines.append(f"    {data} -= {grad} * {rate}; {tensor}._version = version()")
        return lines
