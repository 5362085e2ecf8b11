"""A training run saved to disk mid-way and resumed in fresh objects continues bitwise.

The checkpoint is one `tnn.save` of a nested dict: the model's state dict (with
BatchNorm's buffers), the optimizer's and the scheduler's (int parameter indices, lists,
numbers) and the epoch.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import tinygrad_nn as tnn
from tinygrad_nn import Tensor, nn, optim
from tinygrad_nn.optim import lr_scheduler

EPOCHS, HALF = 6, 3


def batches() -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(48, 4))
    y = (x[:, 0] * x[:, 1] > 0).astype(np.int64)
    return [(x[i : i + 16], y[i : i + 16]) for i in range(0, 48, 16)]


def make(kind: str) -> tuple[nn.Module, optim.Optimizer, object]:
    model = nn.Sequential(
        nn.Linear(4, 16, rng=1), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 2, rng=2)
    )
    if kind == "sgd":
        optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
        scheduler = lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    else:
        optimizer = optim.Adam(model.parameters(), lr=0.01, weight_decay=1e-3)
        scheduler = lr_scheduler.CosineAnnealingLR(optimizer, T_max=EPOCHS)
    return model, optimizer, scheduler


def run_epochs(model, optimizer, scheduler, epochs: range) -> None:
    for _ in epochs:
        for x, y in batches():
            optimizer.zero_grad()
            tnn.losses.cross_entropy(model(Tensor(x)), y).backward()
            optimizer.step()
        scheduler.step()


KINDS: list[str] = ["sgd", "adam"]


@pytest.mark.parametrize("kind", KINDS)
def test_resuming_from_a_checkpoint_is_bitwise_identical(kind: str, tmp_path) -> None:
    straight = make(kind)
    run_epochs(*straight, range(EPOCHS))

    first = make(kind)
    run_epochs(*first, range(HALF))
    model, optimizer, scheduler = first
    path = tmp_path / "checkpoint.npz"
    tnn.save(
        {
            "model": model.state_dict(),
            "optim": optimizer.state_dict(),
            "sched": scheduler.state_dict(),
            "epoch": HALF,
        },
        path,
    )

    model, optimizer, scheduler = resumed = make(kind)
    checkpoint = tnn.load(path)
    model.load_state_dict(checkpoint["model"])
    optimizer.load_state_dict(checkpoint["optim"])
    scheduler.load_state_dict(checkpoint["sched"])
    run_epochs(*resumed, range(checkpoint["epoch"], EPOCHS))

    expected: Callable[[], dict] = straight[0].state_dict
    for name, array in expected().items():
        np.testing.assert_array_equal(model.state_dict()[name], array, err_msg=name)
    assert scheduler.get_last_lr() == straight[2].get_last_lr()
