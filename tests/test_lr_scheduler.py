"""tinygrad_nn.optim.lr_scheduler against the closed forms in PyTorch's documentation."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

import tinygrad_nn.optim.lr_scheduler as lr_scheduler
from tinygrad_nn import Tensor, optim


def sgd(lr: float = 0.1, **settings: float) -> optim.SGD:
    return optim.SGD([Tensor(np.ones(2), requires_grad=True)], lr=lr, **settings)


def rates(scheduler: lr_scheduler.LRScheduler, epochs: int) -> list[float]:
    """get_last_lr()[0] at epochs 0 .. epochs - 1 (epoch 0 is set by the constructor)."""
    seen = [scheduler.get_last_lr()[0]]
    for _ in range(epochs - 1):
        scheduler.optimizer.step()
        scheduler.step()
        seen.append(scheduler.get_last_lr()[0])
    return seen


CLOSED_FORMS: list[tuple[str, Callable[[optim.Optimizer], object], Callable[[int], float]]] = [
    ("StepLR", lambda o: lr_scheduler.StepLR(o, step_size=3, gamma=0.5), lambda e: 0.5 ** (e // 3)),
    (
        "MultiStepLR",
        lambda o: lr_scheduler.MultiStepLR(o, milestones=[2, 5, 5, 9], gamma=0.5),
        lambda e: 0.5 ** ((e >= 2) + 2 * (e >= 5) + (e >= 9)),
    ),
    ("ExponentialLR", lambda o: lr_scheduler.ExponentialLR(o, gamma=0.9), lambda e: 0.9**e),
    (
        "CosineAnnealingLR",
        lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=7, eta_min=0.01),
        lambda e: (0.01 + (0.1 - 0.01) * (1 + math.cos(math.pi * e / 7)) / 2) / 0.1,
    ),
    (
        "LinearLR",
        lambda o: lr_scheduler.LinearLR(o, start_factor=0.25, end_factor=0.9, total_iters=6),
        lambda e: 0.25 + (0.9 - 0.25) * min(e, 6) / 6,
    ),
    (
        "LambdaLR",
        lambda o: lr_scheduler.LambdaLR(o, lr_lambda=lambda e: 1 / (e + 1)),
        lambda e: 1 / (e + 1),
    ),
]


@pytest.mark.parametrize(("name", "make", "factor"), CLOSED_FORMS, ids=[c[0] for c in CLOSED_FORMS])
def test_sequences_follow_the_closed_forms(name: str, make, factor) -> None:
    optimizer = sgd(0.1)
    seen = rates(make(optimizer), 20)
    np.testing.assert_allclose(seen, [0.1 * factor(e) for e in range(20)], rtol=1e-12)
    assert optimizer.lr == seen[-1]
    assert optimizer.param_groups[0]["initial_lr"] == 0.1


def test_hand_counted_sequences() -> None:
    assert rates(lr_scheduler.StepLR(sgd(1.0), step_size=2, gamma=0.1), 5) == pytest.approx(
        [1.0, 1.0, 0.1, 0.1, 0.01]
    )
    linear = lr_scheduler.LinearLR(sgd(1.0), start_factor=0.5, total_iters=2)
    assert rates(linear, 4) == pytest.approx([0.5, 0.75, 1.0, 1.0])
    cosine = lr_scheduler.CosineAnnealingLR(sgd(1.0), T_max=2)
    assert rates(cosine, 5) == pytest.approx([1.0, 0.5, 0.0, 0.5, 1.0], abs=1e-15)


def test_every_group_is_scheduled_from_its_own_rate() -> None:
    a, b = (Tensor(np.ones(2), requires_grad=True) for _ in range(2))
    optimizer = optim.Adam([{"params": [a]}, {"params": [b], "lr": 1.0}], lr=0.1)
    scheduler = lr_scheduler.LambdaLR(optimizer, [lambda e: 0.5**e, lambda e: e + 1])
    scheduler.step()
    scheduler.step()
    assert scheduler.get_last_lr() == pytest.approx([0.025, 3.0])
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([0.025, 3.0])


def test_reduce_on_plateau() -> None:
    optimizer = sgd(1.0)
    scheduler = lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=2, cooldown=1)
    seen = []
    for loss in [5, 4, 4, 4, 4, 4, 4, 4, 3.0, 3.0, 3.0, 3.0]:
        scheduler.step(loss)
        seen.append(scheduler.get_last_lr()[0])
    # 4 is the best at epoch 2; epochs 3-5 are bad: 3 > patience cuts at epoch 5, then one
    # cooldown epoch (6) does not count, epochs 7, 8(3.0 improves), ... .
    assert seen == [1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.25]
    maximum = lr_scheduler.ReduceLROnPlateau(sgd(1.0), mode="max", patience=0, min_lr=0.3)
    for accuracy in [0.5, 0.4, 0.4, 0.4]:
        maximum.step(Tensor(accuracy))  # a 0-d Tensor is a metric too
    assert maximum.get_last_lr() == [0.3]  # 1.0 -> 0.1, floored at min_lr


def test_one_cycle_rates_and_momentum() -> None:
    optimizer = sgd(1.0, momentum=0.9)
    scheduler = lr_scheduler.OneCycleLR(optimizer, max_lr=1.0, total_steps=11, pct_start=0.3)
    lrs, momenta = [scheduler.get_last_lr()[0]], [optimizer.param_groups[0]["momentum"]]
    for _ in range(10):
        scheduler.step()
        lrs.append(scheduler.get_last_lr()[0])
        momenta.append(optimizer.param_groups[0]["momentum"])
    initial, low = 1.0 / 25, 1.0 / 25 / 1e4
    rise = 0.3 * 11 - 1  # the documented phase ends: pct_start * total_steps - 1, total - 1

    def cos(start: float, end: float, pct: float) -> float:
        return end + (start - end) / 2 * (math.cos(math.pi * pct) + 1)

    expected = [
        cos(initial, 1.0, e / rise) if e <= rise else cos(1.0, low, (e - rise) / (10 - rise))
        for e in range(11)
    ]
    expected_momenta = [
        cos(0.95, 0.85, e / rise) if e <= rise else cos(0.85, 0.95, (e - rise) / (10 - rise))
        for e in range(11)
    ]
    np.testing.assert_allclose(lrs, expected, rtol=1e-12)
    np.testing.assert_allclose(momenta, expected_momenta, rtol=1e-12)
    assert lrs[0] == pytest.approx(0.04) and lrs[-1] == pytest.approx(4e-6)
    with pytest.raises(ValueError, match="total_steps is 11"):
        scheduler.step()
        scheduler.step()

    adam = optim.Adam([Tensor(np.ones(1), requires_grad=True)])
    linear = lr_scheduler.OneCycleLR(adam, 0.1, epochs=2, steps_per_epoch=5, three_phase=True,
                                     anneal_strategy="linear")  # fmt: skip
    assert adam.param_groups[0]["betas"] == (0.95, 0.999)  # beta1 is Adam's momentum
    seen = rates(linear, 10)
    assert seen[2] == pytest.approx(0.1)  # the peak at pct_start * 10 - 1 = 2
    assert seen[4] == pytest.approx(0.004)  # back at initial_lr at 2 * 3 - 2 = 4
    with pytest.raises(ValueError, match="no momentum"):
        lr_scheduler.OneCycleLR(optim.Adagrad([Tensor(np.ones(1), requires_grad=True)]), 0.1, 5)


@pytest.mark.parametrize(
    "make",
    [
        lambda o: lr_scheduler.StepLR(o, step_size=2),
        lambda o: lr_scheduler.MultiStepLR(o, milestones=[1, 3]),
        lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=4),
        lambda o: lr_scheduler.LambdaLR(o, lambda e: 0.9**e),
        lambda o: lr_scheduler.ReduceLROnPlateau(o, patience=0),
        lambda o: lr_scheduler.OneCycleLR(o, max_lr=1.0, total_steps=12),
    ],
)
def test_state_dict_resumes_the_sequence(make) -> None:
    def advance(scheduler: object, count: int) -> list[float]:
        out = []
        for epoch in range(count):
            if isinstance(scheduler, lr_scheduler.ReduceLROnPlateau):
                scheduler.step(1.0 + (epoch % 3 == 0))
            else:
                scheduler.step()
            out.append(scheduler.get_last_lr()[0])
        return out

    straight_optimizer = sgd(0.1, momentum=0.9)
    straight = advance(make(straight_optimizer), 8)
    first_optimizer = sgd(0.1, momentum=0.9)
    first = make(first_optimizer)
    head = advance(first, 3)
    saved, saved_optimizer = first.state_dict(), first_optimizer.state_dict()
    assert "optimizer" not in saved and "lr_lambdas" not in saved
    resumed_optimizer = sgd(0.1, momentum=0.9)
    resumed = make(resumed_optimizer)
    resumed_optimizer.load_state_dict(saved_optimizer)
    resumed.load_state_dict(saved)
    assert head + advance(resumed, 5) == straight
    with pytest.raises(ValueError, match="expected the entries"):
        resumed.load_state_dict({"last_epoch": 3})


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda o: lr_scheduler.StepLR(o, step_size=0), "step_size"),
        (lambda o: lr_scheduler.StepLR(o, step_size=2, gamma=-1), "gamma"),
        (lambda o: lr_scheduler.MultiStepLR(o, milestones=3), "milestones"),
        (lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=0), "T_max"),
        (lambda o: lr_scheduler.LinearLR(o, start_factor=0), "start_factor"),
        (lambda o: lr_scheduler.LambdaLR(o, [lambda e: 1, lambda e: 1]), "one per param group"),
        (lambda o: lr_scheduler.ReduceLROnPlateau(o, factor=1.0), "factor"),
        (lambda o: lr_scheduler.ReduceLROnPlateau(o, mode="up"), "mode"),
        (lambda o: lr_scheduler.OneCycleLR(o, 1.0), "total_steps"),
        (lambda o: lr_scheduler.OneCycleLR(o, 1.0, 10, pct_start=1.5), "pct_start"),
        (lambda o: lr_scheduler.StepLR(o, 2, last_epoch=4), "initial_lr"),
        (lambda o: lr_scheduler.StepLR(object(), 2), "optimizer"),
    ],
)
def test_bad_arguments(make, match: str) -> None:
    with pytest.raises((ValueError, TypeError, KeyError), match=match):
        make(sgd())


def test_import_spellings() -> None:
    import tinygrad_nn as tnn

    assert tnn.optim.lr_scheduler.StepLR is lr_scheduler.StepLR
