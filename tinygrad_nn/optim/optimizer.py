"""`Optimizer`: PyTorch's parameter groups, per-parameter state and state dicts.

An optimizer holds ``param_groups``, a list of dicts: ``"params"`` (a list of Tensors) plus
that group's hyper-parameters (``"lr"``, ``"momentum"``, ...), filled from the constructor's
arguments where a group does not set them. ``opt.lr`` reads and writes group 0's rate, and a
scheduler (`tinygrad_nn.optim.lr_scheduler`) writes ``group["lr"]`` of every group.

``state`` maps each parameter Tensor to its dict of buffers (``"momentum_buffer"``,
``"exp_avg"``, ...) and step count, created at its first step. Buffers have the parameter's
dtype, so float32 stays float32.

Parameters are written only by assigning their ``.data`` attribute (``p.data -= update``):
the engine observes attribute writes, never writes into the array through a view.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

import numpy as np

from tinygrad_nn.tensor import Tensor

__all__ = ["Optimizer"]

Check = Callable[[str, str, Any], Any]


def _number(owner: str, name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{owner}: {name} must be a real number, got {value!r}")
    return float(value)


def non_negative(owner: str, name: str, value: Any) -> float:
    """``value`` as a float, or an error unless it is finite and >= 0."""
    number = _number(owner, name, value)
    if not (math.isfinite(number) and number >= 0):
        raise ValueError(f"{owner}: {name} must be finite and >= 0, got {value!r}")
    return number


def unit_interval(owner: str, name: str, value: Any) -> float:
    """``value`` as a float in [0, 1]."""
    number = _number(owner, name, value)
    if not 0 <= number <= 1:
        raise ValueError(f"{owner}: {name} must lie in [0, 1], got {value!r}")
    return number


def below_one(owner: str, name: str, value: Any) -> float:
    """``value`` as a float in [0, 1)."""
    number = _number(owner, name, value)
    if not 0 <= number < 1:
        raise ValueError(f"{owner}: {name} must lie in [0, 1), got {value!r}")
    return number


def boolean(owner: str, name: str, value: Any) -> bool:
    """``value`` if it is a bool (numbers are refused: ``nesterov=0.9`` is a typo)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{owner}: {name} must be True or False, got {value!r}")
    return bool(value)


def betas_pair(owner: str, name: str, value: Any) -> tuple[float, float]:
    """A pair of decay rates, each in [0, 1), as a tuple (a list from a state dict is fine)."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(f"{owner}: {name} must be a pair (beta1, beta2), got {value!r}")
    return (below_one(owner, f"{name}[0]", value[0]), below_one(owner, f"{name}[1]", value[1]))


def _plain(value: Any) -> Any:
    """A state-dict value: tuples become lists, arrays are copied (checkpoints hold no tuples)."""
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    if isinstance(value, np.ndarray):
        return value.copy()
    return value


class Optimizer:
    """Base class: parameter groups, per-parameter state, `step`, `zero_grad`, state dicts.

    A subclass sets ``_checks`` (hyper-parameter name -> validator), ``_state_keys`` (the
    buffers its state may hold) and writes ``_step_group(group)``.

    Args:
        params: Tensors to optimize (a generator such as ``model.parameters()`` is fine), or
            PyTorch's list of dicts, each with ``"params"`` and optional hyper-parameters
            that override the defaults for that group.
        defaults: the constructor's hyper-parameters, used where a group sets none.

    Example:
        >>> opt = tnn.optim.SGD(
        ...     [{"params": model.layers[0].parameters()}, {"params": [w], "lr": 0.01}],
        ...     lr=0.1,
        ... )
        >>> opt.lr = 0.05            # group 0's rate
    """

    _checks: ClassVar[dict[str, Check]] = {}
    _state_keys: tuple[str, ...] = ()
    # Buffers that only make sense together: a state holds all of them or none.
    _state_together: tuple[str, ...] = ()

    def __init__(self, params: Iterable[Tensor] | Iterable[dict[str, Any]], defaults: dict) -> None:
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
        if isinstance(params, Mapping):
            raise TypeError(
                f"{owner}: params must be an iterable of Tensors or a list of dicts, got one "
                "dict; wrap it in a list: [{'params': ..., 'lr': ...}]"
            )
        self.defaults: dict[str, Any] = self._check_group(defaults, owner)
        self.param_groups: list[dict[str, Any]] = []
        self.state: dict[Tensor, dict[str, Any]] = {}
        entries = list(params)
        if not entries:
            raise ValueError(f"{owner}: got an empty parameter list; pass model.parameters()")
        groups = [entry for entry in entries if isinstance(entry, Mapping)]
        if len(groups) == len(entries):
            for group in groups:
                self.add_param_group(group)
        elif groups:
            raise TypeError(
                f"{owner}: params mixes dicts and Tensors; pass either Tensors or a list of "
                "dicts, each with 'params'"
            )
        else:
            self.add_param_group({"params": entries})

    # ------------------------------------------------------------------ groups

    def _check_group(self, group: Mapping[str, Any], owner: str) -> dict[str, Any]:
        """The group with every known hyper-parameter validated; other keys kept as given."""
        checked = dict(group)
        for name, check in self._checks.items():
            if name in checked:
                checked[name] = check(owner, name, checked[name])
        self._check_combination(checked, owner)
        return checked

    def _check_combination(self, group: dict[str, Any], owner: str) -> None:
        """Checks across hyper-parameters of one group (e.g. nesterov needs momentum)."""

    def add_param_group(self, param_group: Mapping[str, Any]) -> None:
        """Add a group of parameters with its own hyper-parameters (defaults fill the rest).

        Args:
            param_group: a dict with ``"params"`` (a Tensor or an iterable of Tensors, none
                already in another group) and optional hyper-parameters.

        Example:
            >>> opt.add_param_group({"params": head.parameters(), "lr": 1e-3})
        """
        owner = f"{type(self).__name__}.add_param_group"
        if not isinstance(param_group, Mapping) or "params" not in param_group:
            raise TypeError(f"{owner}: expected a dict with a 'params' entry, got {param_group!r}")
        params = param_group["params"]
        tensors = [params] if isinstance(params, Tensor) else list(params)
        if not tensors:
            raise ValueError(f"{owner}: the group's 'params' is empty")
        group_index = len(self.param_groups)
        seen = {id(p) for group in self.param_groups for p in group["params"]}
        for index, param in enumerate(tensors):
            where = f"param_groups[{group_index}]['params'][{index}]"
            if not isinstance(param, Tensor):
                raise TypeError(f"{owner}: {where} is a {type(param).__name__}, not a Tensor")
            if not param.is_leaf:
                raise ValueError(
                    f"{owner}: {where} is the output of an op, not a leaf; optimize the "
                    "tensors you created (e.g. model.parameters())"
                )
            if param.dtype.kind != "f":
                raise TypeError(f"{owner}: {where} has dtype {param.dtype}, not a float")
            if id(param) in seen:
                raise ValueError(
                    f"{owner}: {where} appears more than once (in this or another group)"
                )
            seen.add(id(param))
        hyper = {key: value for key, value in param_group.items() if key != "params"}
        group = self._check_group({**self.defaults, **hyper}, owner)
        self.param_groups.append({**group, "params": tensors})

    @property
    def lr(self) -> float:
        """Group 0's learning rate; assigning sets it (other groups keep theirs)."""
        return self.param_groups[0]["lr"]

    @lr.setter
    def lr(self, value: float) -> None:
        self.param_groups[0]["lr"] = non_negative(f"{type(self).__name__}.lr", "lr", value)

    # ------------------------------------------------------------------ stepping

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear every parameter's ``.grad``: None (the default), or zeros if not set_to_none."""
        for group in self.param_groups:
            for param in group["params"]:
                if set_to_none:
                    param.grad = None
                elif param.grad is not None:
                    param.grad = np.zeros_like(param.grad)

    def step(self) -> None:
        """Update every parameter that has a gradient (those whose ``.grad`` is None wait)."""
        for group in self.param_groups:
            self._step_group(group)

    def _step_group(self, group: dict[str, Any]) -> None:
        raise NotImplementedError

    def update_source(self, names: Mapping[int, tuple[str, str, str]]) -> list[str] | None:
        """Lines a compiled step (`tinygrad_nn.capture_step`) may run instead of `step`.

        Args:
            names: by ``id(param)``, the variable names a compiled step holds for the
                parameter (the Tensor), its data array and its gradient, for every
                parameter the step computed a gradient of.

        Returns:
            Source lines computing exactly what `step` computes, reading the
            hyper-parameters from ``optimizer.param_groups`` at each call, or None
            (the step then calls ``optimizer.step()``). Only the globals ``optimizer``,
            ``asarray``, ``version`` (`tinygrad_nn.autograd.next_version`) and the given
            names may be used. The base class inlines nothing.
        """
        return None

    def _gradient(self, param: Tensor) -> np.ndarray | None:
        grad = param.grad
        if grad is not None and grad.shape != param.data.shape:
            raise ValueError(
                f"{type(self).__name__}.step: {self._describe(param)} has shape "
                f"{param.data.shape} but its grad has shape {grad.shape}"
            )
        return grad

    def _buffer(self, param: Tensor, state: dict[str, Any], key: str) -> np.ndarray:
        """``state[key]`` fitted to the parameter: cast to a new dtype, a new shape refused."""
        buffer = state[key]
        data = param.data
        if buffer.shape != data.shape:
            raise RuntimeError(
                f"{type(self).__name__}.step: {self._describe(param)} now has shape "
                f"{data.shape} but its {key!r} has shape {buffer.shape} from earlier steps; "
                f"reset its state with `del optimizer.state[param]` or make a new optimizer"
            )
        if buffer.dtype != data.dtype:  # e.g. a model turned float32 after some steps
            buffer = state[key] = buffer.astype(data.dtype)
        return buffer

    def _state_with(
        self, param: Tensor, keys: tuple[str, ...], fill: float = 0.0
    ) -> dict[str, Any]:
        """The parameter's state with its step count advanced and each of ``keys`` a buffer
        fitted to it (created filled with ``fill`` where missing)."""
        entry = self.state.get(param)
        if entry is None:
            entry = self.state[param] = {"step": 0}
        data = param.data
        for key in keys:
            buffer = entry.get(key)
            if buffer is None:
                entry[key] = np.full_like(data, fill)
            elif buffer.shape != data.shape or buffer.dtype != data.dtype:
                self._buffer(param, entry, key)
        entry["step"] += 1
        return entry

    def _describe(self, param: Tensor) -> str:
        for group_index, group in enumerate(self.param_groups):
            for index, member in enumerate(group["params"]):
                if member is param:
                    name = f" ({param.name!r})" if param.name else ""
                    return f"param_groups[{group_index}]['params'][{index}]{name}"
        return "a parameter"

    # ------------------------------------------------------------------ state dict

    def state_dict(self) -> dict[str, Any]:
        """PyTorch's layout: ``{"state": {index: {...}}, "param_groups": [{..., "params": [0]}]}``.

        Parameters are numbered 0, 1, ... across the groups in order; ``state`` holds copies of
        the buffers of parameters that have taken a step; tuples (Adam's betas) become lists,
        so the result is plain data that `tnn.save` writes.

        Example:
            >>> tnn.save({"model": model.state_dict(), "optim": opt.state_dict()}, "ckpt.npz")
        """
        index_of: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            numbers = []
            for param in group["params"]:
                index_of[id(param)] = len(index_of)
                numbers.append(index_of[id(param)])
            saved = {key: _plain(value) for key, value in group.items() if key != "params"}
            groups.append({**saved, "params": numbers})
        state = {
            index_of[id(param)]: {key: _plain(value) for key, value in entry.items()}
            for param, entry in self.state.items()
            if id(param) in index_of
        }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore `state_dict` output into this optimizer; all is checked before anything changes.

        The groups must match in number and size (the parameters themselves stay this
        optimizer's); hyper-parameters are validated as in the constructor; buffers must have
        their parameter's shape and are cast to its dtype. A ValueError says what does not fit.

        Example:
            >>> opt.load_state_dict(tnn.load("ckpt.npz")["optim"])
        """
        owner = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, Mapping) or not {"state", "param_groups"} <= set(state_dict):
            raise ValueError(f"{owner}: expected a dict with 'state' and 'param_groups'")
        saved_groups = list(state_dict["param_groups"])
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"{owner}: the state dict has {len(saved_groups)} parameter groups, this "
                f"optimizer {len(self.param_groups)}"
            )
        params: list[Tensor] = []
        new_groups = []
        for index, (saved, group) in enumerate(zip(saved_groups, self.param_groups, strict=True)):
            if not isinstance(saved, Mapping) or "params" not in saved:
                raise ValueError(f"{owner}: param_groups[{index}] is not a dict with 'params'")
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(
                    f"{owner}: param_groups[{index}] holds {len(saved['params'])} parameters "
                    f"in the state dict, {len(group['params'])} here"
                )
            missing = [name for name in self._checks if name not in saved]
            if missing:
                raise ValueError(
                    f"{owner}: param_groups[{index}] lacks {missing}; is it from another "
                    f"optimizer than {type(self).__name__}?"
                )
            hyper = {key: value for key, value in saved.items() if key != "params"}
            new_groups.append({**self._check_group(hyper, owner), "params": group["params"]})
            params.extend(group["params"])
        saved_state = state_dict["state"]
        if not isinstance(saved_state, Mapping):
            raise ValueError(f"{owner}: 'state' must be a dict of parameter index -> state")
        new_state: dict[Tensor, dict[str, Any]] = {}
        for key, entry in saved_state.items():
            index = _parameter_index(owner, key, len(params))
            new_state[params[index]] = self._checked_state(owner, index, params[index], entry)
        for group, new in zip(self.param_groups, new_groups, strict=True):
            group.clear()
            group.update(new)
        self.state = new_state

    def _checked_state(self, owner: str, index: int, param: Tensor, entry: Any) -> dict[str, Any]:
        if not isinstance(entry, Mapping):
            raise ValueError(f"{owner}: state[{index}] must be a dict, got {type(entry).__name__}")
        checked: dict[str, Any] = {}
        for key, value in entry.items():
            if key == "step":
                if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                    raise ValueError(f"{owner}: state[{index}]['step'] must be an int >= 0")
                checked[key] = int(value)
            elif key in self._state_keys:
                array = np.asarray(value)
                if array.shape != param.data.shape or array.dtype.kind != "f":
                    raise ValueError(
                        f"{owner}: state[{index}][{key!r}] has shape {array.shape} and dtype "
                        f"{array.dtype}; parameter {index} needs a float array of shape "
                        f"{param.data.shape}"
                    )
                checked[key] = array.astype(param.data.dtype, copy=True)
            else:
                raise ValueError(
                    f"{owner}: state[{index}] has an unknown entry {key!r}; "
                    f"{type(self).__name__} keeps {['step', *self._state_keys]}"
                )
        present = [key for key in self._state_together if key in checked]
        if present and len(present) != len(self._state_together):
            missing = [key for key in self._state_together if key not in checked]
            raise ValueError(
                f"{owner}: state[{index}] has {present} but not {missing}; a parameter's "
                f"state holds all of {list(self._state_together)} or none"
            )
        return checked

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for index, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {index}")
            lines.extend(
                f"    {key}: {value}" for key, value in sorted(group.items()) if key != "params"
            )
        return "\n".join([*lines, ")"])


def _parameter_index(owner: str, key: Any, count: int) -> int:
    """A state key as an int index (a digit string, as JSON gives, is accepted too)."""
    if isinstance(key, str) and key.isdigit():
        key = int(key)
    if isinstance(key, bool) or not isinstance(key, (int, np.integer)) or not 0 <= key < count:
        raise ValueError(f"{owner}: state key {key!r} is not a parameter index in [0, {count})")
    return int(key)
