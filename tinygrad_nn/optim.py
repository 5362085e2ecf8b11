"""Optimizers: `SGD` (momentum, weight decay) and `Adam`, PyTorch's update rules, in place.

Each step updates ``param.data`` in place (the same ndarray object before and after)
through ``out=`` arguments and per-parameter scratch buffers, so a step allocates no new
arrays after the first. Buffers have the parameter's dtype and hyper-parameters are
Python floats, so float32 parameters stay float32. Parameters whose ``.grad`` is None
are skipped (their step count does not advance).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from tinygrad_nn.tensor import Tensor

__all__ = ["SGD", "Adam", "Optimizer"]


def _number(owner: str, name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{owner}: {name} must be a real number, got {value!r}")
    return float(value)


def _non_negative(owner: str, name: str, value: Any) -> float:
    number = _number(owner, name, value)
    if not (math.isfinite(number) and number >= 0):
        raise ValueError(f"{owner}: {name} must be finite and >= 0, got {value!r}")
    return number


def _below_one(owner: str, name: str, value: Any) -> float:
    number = _number(owner, name, value)
    if not 0 <= number < 1:
        raise ValueError(f"{owner}: {name} must lie in [0, 1), got {value!r}")
    return number


class Optimizer:
    """Base class: holds the parameters, per-parameter state and hyper-parameters.

    Subclasses set ``self.hyperparameters`` (a dict of Python floats/tuples) and write
    `_update(index, param, grad)`; `step` calls it for every parameter that has a grad.

    Args:
        params: Tensors to optimize (a generator such as ``model.parameters()`` is fine);
            at least one, each a leaf Tensor, none repeated.
    """

    hyperparameters: dict[str, Any]
    # Names of the per-parameter arrays that state_dict saves (e.g. "momentum_buffer").
    _buffer_names: tuple[str, ...] = ()

    def __init__(self, params: Iterable[Tensor]) -> None:
        owner = type(self).__name__
        if isinstance(params, Tensor):
            raise TypeError(
                f"{owner}: params must be an iterable of Tensors, got one Tensor; pass a list "
                "such as [w], or model.parameters()"
            )
        if callable(getattr(params, "parameters", None)):
            raise TypeError(
                f"{owner}: got a {type(params).__name__} (a Module) instead of its parameters; "
                "pass model.parameters()"
            )
        self.params: list[Tensor] = list(params)
        if not self.params:
            raise ValueError(f"{owner}: got an empty parameter list; pass model.parameters()")
        seen: set[int] = set()
        for index, param in enumerate(self.params):
            if not isinstance(param, Tensor):
                raise TypeError(
                    f"{owner}: params[{index}] is a {type(param).__name__}, not a Tensor"
                )
            if not param.is_leaf:
                raise ValueError(
                    f"{owner}: params[{index}] is the output of an op, not a leaf; optimize "
                    "the tensors you created (e.g. model.parameters())"
                )
            if param.dtype.kind != "f":
                raise TypeError(f"{owner}: params[{index}] has dtype {param.dtype}, not a float")
            if id(param) in seen:
                raise ValueError(f"{owner}: params[{index}] appears more than once")
            seen.add(id(param))
        # Per-parameter state: "step" (int) and named buffers; scratch buffers live apart
        # because they carry no information between steps.
        self.state: list[dict[str, Any]] = [{"step": 0} for _ in self.params]
        self._scratch: list[list[np.ndarray]] = [[] for _ in self.params]

    def _scratch_buffers(self, index: int, count: int) -> list[np.ndarray]:
        buffers = self._scratch[index]
        data = self.params[index].data
        if not buffers or buffers[0].shape != data.shape or buffers[0].dtype != data.dtype:
            buffers.clear()
        while len(buffers) < count:
            buffers.append(np.empty_like(data))
        return buffers

    def zero_grad(self) -> None:
        """Set every parameter's ``.grad`` to None."""
        for param in self.params:
            param.grad = None

    def step(self) -> None:
        """Update every parameter that has a gradient, in place."""
        for index, param in enumerate(self.params):
            grad = param.grad
            if grad is None:
                continue
            if grad.shape != param.data.shape:
                raise ValueError(
                    f"{type(self).__name__}.step: params[{index}] has shape {param.data.shape} "
                    f"but its grad has shape {grad.shape}"
                )
            state = self.state[index]
            state["step"] += 1
            self._update(index, param.data, grad, state)

    def _update(
        self, index: int, data: np.ndarray, grad: np.ndarray, state: dict[str, Any]
    ) -> None:
        raise NotImplementedError

    def _effective_grad(
        self, data: np.ndarray, grad: np.ndarray, weight_decay: float, out: np.ndarray
    ) -> np.ndarray:
        """grad + weight_decay * param (PyTorch's L2 weight decay), without touching .grad."""
        if weight_decay == 0:
            return grad
        np.multiply(data, weight_decay, out=out)
        np.add(out, grad, out=out)
        return out

    # ------------------------------------------------------------------ state dict

    def state_dict(self) -> dict[str, Any]:
        """Hyper-parameters and per-parameter state (step counts, buffer copies).

        Returns:
            ``{"hyperparameters": {...}, "state": [{"step": int, buffer: ndarray}, ...]}``,
            one state entry per parameter, in order.

        Example:
            >>> saved = optimizer.state_dict(); optimizer.load_state_dict(saved)
        """
        return {
            "hyperparameters": dict(self.hyperparameters),
            "state": [
                {
                    key: value.copy() if isinstance(value, np.ndarray) else value
                    for key, value in state.items()
                }
                for state in self.state
            ],
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore `state_dict` output; everything is checked before anything changes.

        Buffers are copied and cast to each parameter's dtype; hyper-parameters are
        validated as in the constructor. Raises ValueError when the number of parameters,
        a buffer's shape or a key does not match.
        """
        owner = f"{type(self).__name__}.load_state_dict"
        try:
            hyperparameters = dict(state_dict["hyperparameters"])
            states = list(state_dict["state"])
        except (KeyError, TypeError):
            raise ValueError(
                f"{owner}: expected a dict with 'hyperparameters' and 'state' (from state_dict())"
            ) from None
        if set(hyperparameters) != set(self.hyperparameters):
            raise ValueError(
                f"{owner}: hyper-parameters {sorted(hyperparameters)} do not match "
                f"{type(self).__name__}'s {sorted(self.hyperparameters)}"
            )
        if len(states) != len(self.params):
            raise ValueError(
                f"{owner}: the state holds {len(states)} parameters, this optimizer has "
                f"{len(self.params)}"
            )
        checked = self._check_hyperparameters(**hyperparameters)
        new_states: list[dict[str, Any]] = []
        for index, (param, state) in enumerate(zip(self.params, states, strict=True)):
            entry: dict[str, Any] = {}
            for key, value in dict(state).items():
                if key == "step":
                    if (
                        isinstance(value, bool)
                        or not isinstance(value, (int, np.integer))
                        or (value < 0)
                    ):
                        raise ValueError(f"{owner}: state[{index}]['step'] must be an int >= 0")
                    entry[key] = int(value)
                elif key in self._buffer_names:
                    array = np.asarray(value)
                    if array.shape != param.data.shape or array.dtype.kind != "f":
                        raise ValueError(
                            f"{owner}: state[{index}][{key!r}] has shape {array.shape} and "
                            f"dtype {array.dtype}; params[{index}] needs a float array of "
                            f"shape {param.data.shape}"
                        )
                    entry[key] = array.astype(param.data.dtype, copy=True)
                else:
                    raise ValueError(f"{owner}: state[{index}] has an unknown entry {key!r}")
            present = [name for name in self._buffer_names if name in entry]
            if present and len(present) != len(self._buffer_names):
                missing = [name for name in self._buffer_names if name not in entry]
                raise ValueError(
                    f"{owner}: state[{index}] has {present} but not {missing}; a parameter's "
                    f"state holds all of {list(self._buffer_names)} or none"
                )
            entry.setdefault("step", 0)
            new_states.append(entry)
        self.hyperparameters = checked
        self.state = new_states

    def _check_hyperparameters(self, **values: Any) -> dict[str, Any]:
        raise NotImplementedError

    def __repr__(self) -> str:
        settings = ", ".join(f"{key}={value}" for key, value in self.hyperparameters.items())
        return f"{type(self).__name__}({len(self.params)} parameters, {settings})"


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum and L2 weight decay (PyTorch's).

    For each parameter ``p`` with gradient ``g``, step ``t``::

        g = g + weight_decay * p
        b = g                      (t = 1)        if momentum != 0
        b = momentum * b + g       (t > 1);  g = b
        p = p - lr * g

    Args:
        params: Tensors to optimize, e.g. ``model.parameters()``.
        lr: learning rate, >= 0.
        momentum: momentum factor, >= 0.
        weight_decay: L2 penalty factor, >= 0.

    Example:
        >>> optimizer = SGD(model.parameters(), lr=0.1, momentum=0.9)
        >>> optimizer.zero_grad(); loss.backward(); optimizer.step()
    """

    _buffer_names = ("momentum_buffer",)

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
    ) -> None:
        self.hyperparameters = self._check_hyperparameters(
            lr=lr, momentum=momentum, weight_decay=weight_decay
        )
        super().__init__(params)

    def _check_hyperparameters(self, **values: Any) -> dict[str, Any]:
        return {
            name: _non_negative("SGD", name, values[name])
            for name in ("lr", "momentum", "weight_decay")
        }

    def _update(
        self, index: int, data: np.ndarray, grad: np.ndarray, state: dict[str, Any]
    ) -> None:
        settings = self.hyperparameters
        lr, momentum, weight_decay = settings["lr"], settings["momentum"], settings["weight_decay"]
        buffers = self._scratch[index]
        # Checked inline: this runs for every parameter of every step of every model.
        if buffers and buffers[0].shape == data.shape and buffers[0].dtype is data.dtype:
            scratch = buffers[0]
        else:
            (scratch,) = self._scratch_buffers(index, 1)
        if weight_decay != 0:
            grad = self._effective_grad(data, grad, weight_decay, scratch)
        if momentum != 0:
            buffer = state.get("momentum_buffer")
            if buffer is None:
                buffer = state["momentum_buffer"] = np.array(grad, dtype=data.dtype)
            else:
                np.multiply(buffer, momentum, out=buffer)
                np.add(buffer, grad, out=buffer)
            grad = buffer
        np.multiply(grad, lr, out=scratch)
        np.subtract(data, scratch, out=data)


class Adam(Optimizer):
    """Adam (PyTorch's, amsgrad=False) with optional L2 weight decay added to the gradient.

    For each parameter ``p`` with gradient ``g``, step ``t`` (counted per parameter)::

        g = g + weight_decay * p
        m = beta1 * m + (1 - beta1) * g            (m, v start at 0)
        v = beta2 * v + (1 - beta2) * g * g
        denom = sqrt(v) / sqrt(1 - beta2**t) + eps
        p = p - lr / (1 - beta1**t) * m / denom

    Args:
        params: Tensors to optimize, e.g. ``model.parameters()``.
        lr: learning rate, >= 0.
        betas: decay rates (beta1, beta2) of the moment estimates, each in [0, 1).
        eps: added to the denominator, >= 0.
        weight_decay: L2 penalty factor, >= 0 (not AdamW's decoupled decay).

    Example:
        >>> optimizer = Adam(model.parameters(), lr=1e-3)
    """

    _buffer_names = ("exp_avg", "exp_avg_sq")

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        self.hyperparameters = self._check_hyperparameters(
            lr=lr, betas=betas, eps=eps, weight_decay=weight_decay
        )
        super().__init__(params)

    def _check_hyperparameters(self, **values: Any) -> dict[str, Any]:
        betas = values["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"Adam: betas must be a pair (beta1, beta2), got {betas!r}")
        return {
            "lr": _non_negative("Adam", "lr", values["lr"]),
            "betas": (
                _below_one("Adam", "betas[0]", betas[0]),
                _below_one("Adam", "betas[1]", betas[1]),
            ),
            "eps": _non_negative("Adam", "eps", values["eps"]),
            "weight_decay": _non_negative("Adam", "weight_decay", values["weight_decay"]),
        }

    def _update(
        self, index: int, data: np.ndarray, grad: np.ndarray, state: dict[str, Any]
    ) -> None:
        settings = self.hyperparameters
        lr, eps, weight_decay = settings["lr"], settings["eps"], settings["weight_decay"]
        beta1, beta2 = settings["betas"]
        buffers = self._scratch_buffers(index, 2 if weight_decay else 1)
        scratch = buffers[0]
        grad = self._effective_grad(data, grad, weight_decay, buffers[-1])
        if "exp_avg" not in state:
            state["exp_avg"] = np.zeros_like(data)
            state["exp_avg_sq"] = np.zeros_like(data)
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        step = state["step"]

        np.multiply(exp_avg, beta1, out=exp_avg)  # m = beta1 m + (1 - beta1) g
        np.multiply(grad, 1.0 - beta1, out=scratch)
        np.add(exp_avg, scratch, out=exp_avg)
        np.multiply(exp_avg_sq, beta2, out=exp_avg_sq)  # v = beta2 v + (1 - beta2) g g
        np.multiply(grad, grad, out=scratch)
        np.multiply(scratch, 1.0 - beta2, out=scratch)
        np.add(exp_avg_sq, scratch, out=exp_avg_sq)

        step_size = lr / (1.0 - beta1**step)
        bias_correction2_sqrt = math.sqrt(1.0 - beta2**step)
        np.sqrt(exp_avg_sq, out=scratch)  # denom = sqrt(v) / sqrt(1 - beta2**t) + eps
        np.divide(scratch, bias_correction2_sqrt, out=scratch)
        np.add(scratch, eps, out=scratch)
        np.divide(exp_avg, scratch, out=scratch)
        np.multiply(scratch, step_size, out=scratch)
        np.subtract(data, scratch, out=data)
