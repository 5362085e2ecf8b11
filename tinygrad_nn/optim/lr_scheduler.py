"""Learning-rate schedules, PyTorch's (``torch.optim.lr_scheduler``).

A scheduler wraps an optimizer and writes ``group["lr"]`` of every parameter group. Making
one stores each group's starting rate as ``group["initial_lr"]`` (PyTorch's key) and sets
epoch 0's rate; each `step()` (once per epoch, or per batch for `OneCycleLR`, after
``optimizer.step()``) advances ``last_epoch`` by one and sets that epoch's rate.

Rates are computed from the closed forms of PyTorch's documentation (``base_lr`` is the
group's ``initial_lr``, ``e`` is ``last_epoch``)::

    StepLR             base_lr * gamma ** (e // step_size)
    MultiStepLR        base_lr * gamma ** (number of milestones <= e)
    ExponentialLR      base_lr * gamma ** e
    CosineAnnealingLR  eta_min + (base_lr - eta_min) * (1 + cos(pi * e / T_max)) / 2
    LinearLR           base_lr * (start + (end - start) * min(e, total_iters) / total_iters)
    LambdaLR           base_lr * lr_lambda(e)

so they give PyTorch's sequences of `get_last_lr()`. (PyTorch computes most of them
recursively from the current rate, which also follows a rate changed by hand between steps;
here a scheduler owns the rate, and a hand-set ``opt.lr`` is overwritten at the next step.)
`ReduceLROnPlateau` cuts the rate when a metric stops improving; `OneCycleLR` warms up and
anneals per batch, cycling momentum the other way.

``state_dict()`` returns plain data (numbers, lists, strings) for `tnn.save`;
``load_state_dict()`` restores it into a scheduler built with the same arguments.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from tinygrad_nn.optim.optimizer import Optimizer, _number, non_negative

__all__ = [
    "CosineAnnealingLR",
    "ExponentialLR",
    "LRScheduler",
    "LambdaLR",
    "LinearLR",
    "MultiStepLR",
    "OneCycleLR",
    "ReduceLROnPlateau",
    "StepLR",
]


def _positive_int(owner: str, name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{owner}: {name} must be a positive int, got {value!r}")
    return int(value)


def _positive(owner: str, name: str, value: Any) -> float:
    number = non_negative(owner, name, value)
    if number == 0:
        raise ValueError(f"{owner}: {name} must be > 0, got {value!r}")
    return number


def _check_optimizer(owner: str, optimizer: Any) -> Optimizer:
    if not isinstance(optimizer, Optimizer):
        raise TypeError(
            f"{owner}: expected a tinygrad_nn.optim optimizer, got {type(optimizer).__name__}"
        )
    return optimizer


def _plain(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return [_plain(item) for item in value]
    return value


class _StateDict:
    """`state_dict` / `load_state_dict` for schedulers: every attribute but the optimizer."""

    optimizer: Optimizer
    _not_saved: tuple[str, ...] = ("optimizer",)

    def state_dict(self) -> dict[str, Any]:
        """The scheduler's progress as plain data (the optimizer is not included).

        Example:
            >>> tnn.save({"sched": scheduler.state_dict(), "optim": opt.state_dict()}, p)
        """
        return {
            key: _plain(value) for key, value in self.__dict__.items() if key not in self._not_saved
        }

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore `state_dict` output; it must come from the same kind of scheduler.

        Example:
            >>> scheduler.load_state_dict(tnn.load(path)["sched"])
        """
        owner = f"{type(self).__name__}.load_state_dict"
        expected = set(self.state_dict())
        if not isinstance(state_dict, Mapping) or set(state_dict) != expected:
            got = sorted(state_dict) if isinstance(state_dict, Mapping) else type(state_dict)
            raise ValueError(
                f"{owner}: expected the entries {sorted(expected)} (from "
                f"{type(self).__name__}.state_dict()), got {got}"
            )
        for key, value in state_dict.items():
            current = self.__dict__[key]
            if isinstance(current, tuple):
                value = tuple(value)
            self.__dict__[key] = list(value) if isinstance(current, list) else value


class LRScheduler(_StateDict):
    """Base class of the epoch schedulers: subclasses give the closed form `_rate`.

    Args:
        optimizer: the optimizer whose groups' ``"lr"`` it sets.
        last_epoch: -1 to start afresh; otherwise the epoch to resume from (every group
            must then hold ``"initial_lr"``, as a scheduler made earlier left it).
    """

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        owner = type(self).__name__
        self.optimizer = _check_optimizer(owner, optimizer)
        if isinstance(last_epoch, bool) or not isinstance(last_epoch, (int, np.integer)):
            raise TypeError(f"{owner}: last_epoch must be an int, got {last_epoch!r}")
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        elif last_epoch < -1:
            raise ValueError(f"{owner}: last_epoch must be >= -1, got {last_epoch}")
        else:
            missing = [i for i, g in enumerate(optimizer.param_groups) if "initial_lr" not in g]
            if missing:
                raise KeyError(
                    f"{owner}: resuming with last_epoch={last_epoch} needs 'initial_lr' in "
                    f"every param group, missing in groups {missing}; start with last_epoch=-1"
                )
        self.base_lrs: list[float] = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = int(last_epoch)
        self._last_lr: list[float] = []
        self.step()

    def _rate(self, base_lr: float, index: int) -> float:
        """The rate of group ``index`` at epoch ``self.last_epoch``."""
        raise NotImplementedError

    def get_lr(self) -> list[float]:
        """Every group's rate at the current epoch (what `step` writes)."""
        return [self._rate(base, index) for index, base in enumerate(self.base_lrs)]

    def step(self) -> None:
        """Advance one epoch and set every group's rate (call it after ``optimizer.step()``)."""
        self.last_epoch += 1
        for group, rate in zip(self.optimizer.param_groups, self.get_lr(), strict=True):
            group["lr"] = rate
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        """The rates the last `step` set, one per group.

        Example:
            >>> scheduler.get_last_lr()
            [0.1]
        """
        return list(self._last_lr)


class StepLR(LRScheduler):
    """Multiply the rate by ``gamma`` every ``step_size`` epochs.

    ``lr = base_lr * gamma ** (last_epoch // step_size)``

    Args:
        optimizer: the optimizer to schedule.
        step_size: epochs between decays, a positive int.
        gamma: the factor, >= 0.
        last_epoch: -1 to start afresh.

    Example:
        >>> scheduler = StepLR(opt, step_size=30, gamma=0.1)   # 0.1 for 30 epochs, then 0.01
    """

    def __init__(
        self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1
    ) -> None:
        self.step_size = _positive_int("StepLR", "step_size", step_size)
        self.gamma = non_negative("StepLR", "gamma", gamma)
        super().__init__(optimizer, last_epoch)

    def _rate(self, base_lr: float, index: int) -> float:
        return base_lr * self.gamma ** (self.last_epoch // self.step_size)


class MultiStepLR(LRScheduler):
    """Multiply the rate by ``gamma`` at each milestone epoch.

    ``lr = base_lr * gamma ** bisect_right(milestones, last_epoch)``

    Args:
        optimizer: the optimizer to schedule.
        milestones: increasing epoch numbers (a repeated milestone decays twice, as in
            PyTorch).
        gamma: the factor, >= 0.
        last_epoch: -1 to start afresh.

    Example:
        >>> scheduler = MultiStepLR(opt, milestones=[30, 80], gamma=0.1)
    """

    def __init__(
        self,
        optimizer: Optimizer,
        milestones: Sequence[int],
        gamma: float = 0.1,
        last_epoch: int = -1,
    ) -> None:
        if isinstance(milestones, (str, bytes)) or not isinstance(milestones, Sequence):
            raise TypeError(f"MultiStepLR: milestones must be a list of ints, got {milestones!r}")
        self.milestones = sorted(_positive_int("MultiStepLR", "a milestone", m) for m in milestones)
        self.gamma = non_negative("MultiStepLR", "gamma", gamma)
        super().__init__(optimizer, last_epoch)

    def _rate(self, base_lr: float, index: int) -> float:
        return base_lr * self.gamma ** bisect.bisect_right(self.milestones, self.last_epoch)


class ExponentialLR(LRScheduler):
    """Multiply the rate by ``gamma`` every epoch: ``lr = base_lr * gamma ** last_epoch``.

    Example:
        >>> scheduler = ExponentialLR(opt, gamma=0.95)
    """

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = non_negative("ExponentialLR", "gamma", gamma)
        super().__init__(optimizer, last_epoch)

    def _rate(self, base_lr: float, index: int) -> float:
        return base_lr * self.gamma**self.last_epoch


class CosineAnnealingLR(LRScheduler):
    """Cosine from ``base_lr`` down to ``eta_min`` over ``T_max`` epochs (then back up).

    ``lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * last_epoch / T_max)) / 2``

    Args:
        optimizer: the optimizer to schedule.
        T_max: epochs of the descent, a positive int (PyTorch's name).
        eta_min: the lowest rate, >= 0.
        last_epoch: -1 to start afresh.

    Example:
        >>> scheduler = CosineAnnealingLR(opt, T_max=50)
    """

    def __init__(
        self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1
    ) -> None:
        self.T_max = _positive_int("CosineAnnealingLR", "T_max", T_max)
        self.eta_min = non_negative("CosineAnnealingLR", "eta_min", eta_min)
        super().__init__(optimizer, last_epoch)

    def _rate(self, base_lr: float, index: int) -> float:
        cosine = 1.0 + math.cos(math.pi * self.last_epoch / self.T_max)
        return self.eta_min + (base_lr - self.eta_min) * cosine / 2.0


class LinearLR(LRScheduler):
    """Scale the rate linearly from ``start_factor`` to ``end_factor`` over ``total_iters``.

    ``lr = base_lr * (start + (end - start) * min(last_epoch, total_iters) / total_iters)``

    Args:
        optimizer: the optimizer to schedule.
        start_factor: factor at epoch 0, in (0, 1].
        end_factor: factor from epoch ``total_iters`` on, in [0, 1].
        total_iters: epochs of the ramp, a positive int.
        last_epoch: -1 to start afresh.

    Example:
        >>> scheduler = LinearLR(opt, start_factor=0.1, total_iters=10)   # a warm-up
    """

    def __init__(
        self,
        optimizer: Optimizer,
        start_factor: float = 1.0 / 3,
        end_factor: float = 1.0,
        total_iters: int = 5,
        last_epoch: int = -1,
    ) -> None:
        self.start_factor = _number("LinearLR", "start_factor", start_factor)
        self.end_factor = _number("LinearLR", "end_factor", end_factor)
        if not 0 < self.start_factor <= 1 or not 0 <= self.end_factor <= 1:
            raise ValueError(
                f"LinearLR: need 0 < start_factor <= 1 and 0 <= end_factor <= 1, got "
                f"start_factor={start_factor}, end_factor={end_factor}"
            )
        self.total_iters = _positive_int("LinearLR", "total_iters", total_iters)
        super().__init__(optimizer, last_epoch)

    def _rate(self, base_lr: float, index: int) -> float:
        done = min(self.last_epoch, self.total_iters) / self.total_iters
        return base_lr * (self.start_factor + (self.end_factor - self.start_factor) * done)


class LambdaLR(LRScheduler):
    """``lr = base_lr * lr_lambda(last_epoch)``, with one function or one per group.

    The functions are not part of `state_dict` (a function is code, and checkpoints hold
    only data; PyTorch also leaves plain functions and lambdas out): pass the same
    ``lr_lambda`` to the new scheduler, then `load_state_dict`.

    Args:
        optimizer: the optimizer to schedule.
        lr_lambda: ``fn(epoch) -> factor``, or a list of them, one per parameter group.
        last_epoch: -1 to start afresh.

    Example:
        >>> scheduler = LambdaLR(opt, lr_lambda=lambda epoch: 0.95**epoch)
    """

    _not_saved = ("optimizer", "lr_lambdas")

    def __init__(
        self,
        optimizer: Optimizer,
        lr_lambda: Callable[[int], float] | Sequence[Callable[[int], float]],
        last_epoch: int = -1,
    ) -> None:
        groups = _check_optimizer("LambdaLR", optimizer).param_groups
        functions = list(lr_lambda) if isinstance(lr_lambda, Sequence) else [lr_lambda]
        if len(functions) == 1:
            functions *= len(groups)
        if len(functions) != len(groups) or not all(callable(fn) for fn in functions):
            raise TypeError(
                f"LambdaLR: lr_lambda must be a function or a list of {len(groups)} functions "
                f"(one per param group), got {lr_lambda!r}"
            )
        self.lr_lambdas = functions
        super().__init__(optimizer, last_epoch)

    def _rate(self, base_lr: float, index: int) -> float:
        return base_lr * float(self.lr_lambdas[index](self.last_epoch))


class ReduceLROnPlateau(_StateDict):
    """Cut the rate by ``factor`` when a metric has not improved for ``patience`` epochs.

    Call ``step(metric)`` once per epoch with, e.g., the validation loss. The metric improves
    on the best so far ``best`` when (mode "min") it is below ``best * (1 - threshold)``
    (threshold_mode "rel") or ``best - threshold`` ("abs"); mode "max" mirrors it. After
    more than ``patience`` epochs without improvement every group's rate becomes
    ``max(lr * factor, min_lr)`` (unless that changes it by less than ``eps``) and
    ``cooldown`` epochs pass before bad epochs count again.

    Args:
        optimizer: the optimizer to schedule.
        mode: "min" or "max".
        factor: the cut, in [0, 1).
        patience: epochs without improvement tolerated, an int >= 0.
        threshold: the least improvement that counts, >= 0.
        threshold_mode: "rel" or "abs".
        cooldown: epochs after a cut during which bad epochs are not counted.
        min_lr: lowest rate, a number or one per group.
        eps: smallest change of rate applied.

    Example:
        >>> scheduler = ReduceLROnPlateau(opt, patience=5)
        >>> scheduler.step(validation_loss)
    """

    def __init__(
        self,
        optimizer: Optimizer,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr: float | Sequence[float] = 0.0,
        eps: float = 1e-8,
    ) -> None:
        owner = "ReduceLROnPlateau"
        self.optimizer = _check_optimizer(owner, optimizer)
        if mode not in ("min", "max") or threshold_mode not in ("rel", "abs"):
            raise ValueError(
                f"{owner}: mode must be 'min' or 'max' and threshold_mode 'rel' or 'abs', got "
                f"mode={mode!r}, threshold_mode={threshold_mode!r}"
            )
        self.factor = non_negative(owner, "factor", factor)
        if self.factor >= 1:
            raise ValueError(f"{owner}: factor must be < 1 (it multiplies the rate), got {factor}")
        groups = optimizer.param_groups
        minimums = list(min_lr) if isinstance(min_lr, (list, tuple)) else [min_lr] * len(groups)
        if len(minimums) != len(groups):
            raise ValueError(
                f"{owner}: min_lr lists {len(minimums)} rates for {len(groups)} param groups"
            )
        self.min_lrs = [non_negative(owner, "min_lr", value) for value in minimums]
        self.mode = mode
        self.threshold_mode = threshold_mode
        self.threshold = non_negative(owner, "threshold", threshold)
        self.patience = _count(owner, "patience", patience)
        self.cooldown = _count(owner, "cooldown", cooldown)
        self.eps = non_negative(owner, "eps", eps)
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.last_epoch = 0
        self._last_lr = [group["lr"] for group in groups]

    def _is_better(self, value: float) -> bool:
        relative = self.threshold_mode == "rel"
        if self.mode == "min":
            bound = self.best * (1 - self.threshold) if relative else self.best - self.threshold
            return value < bound
        bound = self.best * (1 + self.threshold) if relative else self.best + self.threshold
        return value > bound

    def step(self, metrics: float) -> None:
        """Record one epoch's metric and cut the rates if it has stopped improving."""
        value = _number("ReduceLROnPlateau.step", "metrics", _scalar(metrics))
        self.last_epoch += 1
        if self._is_better(value):
            self.best = value
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            for group, minimum in zip(self.optimizer.param_groups, self.min_lrs, strict=True):
                new = max(group["lr"] * self.factor, minimum)
                if group["lr"] - new > self.eps:
                    group["lr"] = new
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        """The current rates, one per group."""
        return list(self._last_lr)


def _count(owner: str, name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{owner}: {name} must be an int >= 0, got {value!r}")
    return int(value)


def _scalar(value: Any) -> Any:
    """A metric given as a 0-d Tensor or array, as a number."""
    item = getattr(value, "item", None)
    return item() if callable(item) and np.size(getattr(value, "data", value)) == 1 else value


class OneCycleLR(LRScheduler):
    """The 1cycle policy (Smith and Topin), stepped once per batch.

    The rate rises from ``max_lr / div_factor`` to ``max_lr`` over the first ``pct_start``
    of ``total_steps``, then falls to ``max_lr / div_factor / final_div_factor`` (with
    ``three_phase``: back to the start first, then down); each segment is a half cosine
    (``anneal_strategy="cos"``) or a line. With ``cycle_momentum`` the momentum (SGD's
    ``momentum``, Adam's ``beta1``) moves the opposite way between ``max_momentum`` and
    ``base_momentum``. Stepping past ``total_steps`` is a ValueError.

    Args:
        optimizer: the optimizer to schedule.
        max_lr: the peak rate, a number or one per group.
        total_steps: number of steps; or give ``epochs`` and ``steps_per_epoch``.
        epochs: number of epochs (with ``steps_per_epoch``).
        steps_per_epoch: batches per epoch.
        pct_start: fraction of the steps spent rising, in (0, 1).
        anneal_strategy: "cos" or "linear".
        cycle_momentum: cycle the momentum too (the optimizer must have one).
        base_momentum: momentum at the peak rate.
        max_momentum: momentum at the start and the end.
        div_factor: ``initial_lr = max_lr / div_factor``.
        final_div_factor: ``min_lr = initial_lr / final_div_factor``.
        three_phase: use the three-phase variant.
        last_epoch: -1 to start afresh.

    Example:
        >>> scheduler = OneCycleLR(opt, max_lr=0.1, epochs=10, steps_per_epoch=len(loader))
    """

    def __init__(
        self,
        optimizer: Optimizer,
        max_lr: float | Sequence[float],
        total_steps: int | None = None,
        epochs: int | None = None,
        steps_per_epoch: int | None = None,
        pct_start: float = 0.3,
        anneal_strategy: str = "cos",
        cycle_momentum: bool = True,
        base_momentum: float = 0.85,
        max_momentum: float = 0.95,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
        last_epoch: int = -1,
    ) -> None:
        owner = "OneCycleLR"
        groups = _check_optimizer(owner, optimizer).param_groups
        if total_steps is not None:
            self.total_steps = _positive_int(owner, "total_steps", total_steps)
        elif epochs is not None and steps_per_epoch is not None:
            self.total_steps = _positive_int(owner, "epochs", epochs) * _positive_int(
                owner, "steps_per_epoch", steps_per_epoch
            )
        else:
            raise ValueError(f"{owner}: give total_steps, or both epochs and steps_per_epoch")
        pct = _number(owner, "pct_start", pct_start)
        if not 0 < pct < 1:
            raise ValueError(f"{owner}: pct_start must lie in (0, 1), got {pct_start}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(
                f"{owner}: anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}"
            )
        self.anneal_strategy = anneal_strategy
        peaks = list(max_lr) if isinstance(max_lr, (list, tuple)) else [max_lr] * len(groups)
        if len(peaks) != len(groups):
            raise ValueError(f"{owner}: max_lr lists {len(peaks)} rates for {len(groups)} groups")
        div = _positive(owner, "div_factor", div_factor)
        final_div = _positive(owner, "final_div_factor", final_div_factor)
        end = float(self.total_steps - 1)
        rise = float(pct * self.total_steps) - 1
        # Each phase: the step it ends at and the (rate, momentum) keys it moves between.
        self.phases: list[list[Any]]
        if three_phase:
            self.phases = [
                [rise, "initial_lr", "max_lr", "max_momentum", "base_momentum"],
                [2 * rise, "max_lr", "initial_lr", "base_momentum", "max_momentum"],
                [end, "initial_lr", "min_lr", "max_momentum", "max_momentum"],
            ]
        else:
            self.phases = [
                [rise, "initial_lr", "max_lr", "max_momentum", "base_momentum"],
                [end, "max_lr", "min_lr", "base_momentum", "max_momentum"],
            ]
        self.cycle_momentum = bool(cycle_momentum)
        self.use_beta1 = "betas" in optimizer.defaults
        if self.cycle_momentum and not self.use_beta1 and "momentum" not in optimizer.defaults:
            raise ValueError(
                f"{owner}: {type(optimizer).__name__} has no momentum to cycle; pass "
                "cycle_momentum=False"
            )
        if last_epoch == -1:
            for group, peak in zip(groups, peaks, strict=True):
                peak = _positive(owner, "max_lr", peak)
                group["initial_lr"] = peak / div
                group["max_lr"] = peak
                group["min_lr"] = group["initial_lr"] / final_div
                if self.cycle_momentum:
                    group["max_momentum"] = non_negative(owner, "max_momentum", max_momentum)
                    group["base_momentum"] = non_negative(owner, "base_momentum", base_momentum)
                    self._set_momentum(group, group["max_momentum"])
        super().__init__(optimizer, last_epoch)

    def _set_momentum(self, group: dict[str, Any], momentum: float) -> None:
        if self.use_beta1:
            group["betas"] = (momentum, *group["betas"][1:])
        else:
            group["momentum"] = momentum

    def _anneal(self, start: float, end: float, pct: float) -> float:
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def get_lr(self) -> list[float]:
        step = self.last_epoch
        if step > self.total_steps:
            raise ValueError(
                f"OneCycleLR.step: stepped {step} times but total_steps is {self.total_steps}; "
                "make the scheduler with the number of batches you train for"
            )
        rates = []
        for group in self.optimizer.param_groups:
            start_step = 0.0
            for index, (end_step, lr_from, lr_to, m_from, m_to) in enumerate(self.phases):
                if step <= end_step or index == len(self.phases) - 1:
                    pct = (step - start_step) / (end_step - start_step)
                    rates.append(self._anneal(group[lr_from], group[lr_to], pct))
                    if self.cycle_momentum:
                        self._set_momentum(group, self._anneal(group[m_from], group[m_to], pct))
                    break
                start_step = end_step
        return rates
