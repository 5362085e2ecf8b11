"""Tests of tinygrad_nn.optim against a NumPy transcription of PyTorch's documented updates."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from tinygrad_nn import Tensor, losses, optim
from tinygrad_nn.nn import MLP

Grads = list[list[np.ndarray]]
MakeOptimizer = Callable[[list[Tensor]], optim.Optimizer]


def reference_sgd(
    params: list[np.ndarray],
    grads_per_step: Grads,
    lr: float,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
) -> list[np.ndarray]:
    """torch.optim.SGD's algorithm (dampening=0, nesterov=False), step by step."""
    params = [p.copy() for p in params]
    buffers: list[np.ndarray | None] = [None] * len(params)
    for grads in grads_per_step:
        for i, g in enumerate(grads):
            g = g + weight_decay * params[i]
            if momentum != 0:
                buffers[i] = g.copy() if buffers[i] is None else momentum * buffers[i] + g
                g = buffers[i]
            params[i] = params[i] - lr * g
    return params


def reference_adam(
    params: list[np.ndarray],
    grads_per_step: Grads,
    lr: float,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
) -> list[np.ndarray]:
    """torch.optim.Adam's algorithm (amsgrad=False, maximize=False), step by step."""
    beta1, beta2 = betas
    params = [p.copy() for p in params]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    for t, grads in enumerate(grads_per_step, start=1):
        for i, g in enumerate(grads):
            g = g + weight_decay * params[i]
            m[i] = beta1 * m[i] + (1 - beta1) * g
            v[i] = beta2 * v[i] + (1 - beta2) * g * g
            m_hat = m[i] / (1 - beta1**t)
            v_hat = v[i] / (1 - beta2**t)
            params[i] = params[i] - lr * m_hat / (np.sqrt(v_hat) + eps)
    return params


def run(optimizer: optim.Optimizer, params: list[Tensor], grads_per_step: Grads) -> None:
    for grads in grads_per_step:
        for p, g in zip(params, grads, strict=True):
            p.grad = g.copy()
        optimizer.step()


def problem(seed: int, steps: int = 6, dtype: type = np.float64) -> tuple[list[np.ndarray], Grads]:
    rng = np.random.default_rng(seed)
    shapes = [(3, 2), (3,), (1, 3)]
    initial = [rng.normal(size=s).astype(dtype) for s in shapes]
    grads = [[rng.normal(size=s).astype(dtype) for s in shapes] for _ in range(steps)]
    return initial, grads


@pytest.mark.parametrize("momentum", [0.0, 0.9])
@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_sgd_matches_pytorch_rules(momentum: float, weight_decay: float) -> None:
    initial, grads = problem(0)
    params = [Tensor(p, requires_grad=True) for p in initial]
    arrays = [p.data for p in params]
    run(optim.SGD(params, lr=0.05, momentum=momentum, weight_decay=weight_decay), params, grads)
    expected = reference_sgd(initial, grads, 0.05, momentum, weight_decay)
    for p, array, e in zip(params, arrays, expected, strict=True):
        assert p.data is array, "the update must be in place"
        np.testing.assert_allclose(p.data, e, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
@pytest.mark.parametrize("betas", [(0.9, 0.999), (0.5, 0.9)])
def test_adam_matches_pytorch_rules(weight_decay: float, betas: tuple[float, float]) -> None:
    initial, grads = problem(1)
    params = [Tensor(p, requires_grad=True) for p in initial]
    arrays = [p.data for p in params]
    adam = optim.Adam(params, lr=0.01, betas=betas, eps=1e-6, weight_decay=weight_decay)
    run(adam, params, grads)
    expected = reference_adam(initial, grads, 0.01, betas, 1e-6, weight_decay)
    for p, array, e in zip(params, arrays, expected, strict=True):
        assert p.data is array, "the update must be in place"
        np.testing.assert_allclose(p.data, e, rtol=1e-12, atol=1e-14)


def test_first_adam_step_moves_each_weight_by_lr() -> None:
    p = Tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)
    p.grad = np.array([0.5, -100.0, 1e-3])
    optim.Adam([p], lr=0.1, eps=0.0).step()
    np.testing.assert_allclose(p.data, [0.9, -1.9, 2.9])


@pytest.mark.parametrize(
    "make",
    [
        lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.01),
        lambda ps: optim.Adam(ps, lr=0.1, weight_decay=0.01),
    ],
)
def test_float32_is_preserved(make: MakeOptimizer) -> None:
    initial, grads = problem(2, steps=3, dtype=np.float32)
    params = [Tensor(p, requires_grad=True) for p in initial]
    optimizer = make(params)
    run(optimizer, params, grads)
    assert all(p.dtype == np.float32 for p in params)
    for state in optimizer.state:
        for value in state.values():
            if isinstance(value, np.ndarray):
                assert value.dtype == np.float32


def test_params_without_grad_are_skipped() -> None:
    a = Tensor(np.ones(2), requires_grad=True)
    b = Tensor(np.ones(2), requires_grad=True)
    adam = optim.Adam([a, b], lr=0.1)
    a.grad = np.ones(2)
    adam.step()
    np.testing.assert_array_equal(b.data, 1.0)
    assert adam.state[0]["step"] == 1 and adam.state[1]["step"] == 0
    adam.zero_grad()
    assert a.grad is None and b.grad is None
    adam.step()  # nothing has a grad: nothing changes
    assert adam.state[0]["step"] == 1


def test_training_reduces_the_loss() -> None:
    model = MLP([1, 16, 1], activation="tanh", output_activation=None, rng=0)
    x = np.linspace(-1, 1, 32)[:, None]
    y = np.sin(3 * x)
    adam = optim.Adam(model.parameters(), lr=0.02)
    first = None
    for _ in range(200):
        adam.zero_grad()
        loss = losses.mse(model(Tensor(x)), y)
        loss.backward()
        adam.step()
        first = first if first is not None else loss.item()
    assert loss.item() < first / 5


@pytest.mark.parametrize(
    ("make", "argument"),
    [
        (lambda ps: optim.SGD(ps, lr=-0.1), "lr"),
        (lambda ps: optim.SGD(ps, lr=math.nan), "lr"),
        (lambda ps: optim.SGD(ps, lr=0.1, momentum=-1), "momentum"),
        (lambda ps: optim.SGD(ps, lr=0.1, weight_decay=-1), "weight_decay"),
        (lambda ps: optim.Adam(ps, lr=-1), "lr"),
        (lambda ps: optim.Adam(ps, betas=(1.0, 0.9)), r"betas\[0\]"),
        (lambda ps: optim.Adam(ps, betas=(0.9, -0.1)), r"betas\[1\]"),
        (lambda ps: optim.Adam(ps, betas=(0.9,)), "betas"),
        (lambda ps: optim.Adam(ps, eps=-1e-8), "eps"),
        (lambda ps: optim.Adam(ps, weight_decay=-1), "weight_decay"),
    ],
)
def test_bad_hyperparameters(make: MakeOptimizer, argument: str) -> None:
    with pytest.raises(ValueError, match=argument):
        make([Tensor(np.ones(1), requires_grad=True)])


def test_bad_params() -> None:
    p = Tensor(np.ones(2), requires_grad=True)
    with pytest.raises(ValueError, match="empty"):
        optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="empty"):
        optim.SGD(iter([]), lr=0.1)
    with pytest.raises(ValueError, match="more than once"):
        optim.SGD([p, p], lr=0.1)
    with pytest.raises(TypeError, match="not a Tensor"):
        optim.SGD([np.ones(2)], lr=0.1)
    with pytest.raises(TypeError, match="one Tensor"):
        optim.SGD(p, lr=0.1)
    with pytest.raises(ValueError, match="leaf"):
        optim.SGD([p * 2], lr=0.1)
    with pytest.raises(TypeError, match="lr"):
        optim.SGD([p], lr="0.1")  # type: ignore[arg-type]
    optimizer = optim.SGD(MLP([1, 2]).parameters(), lr=0.1)  # a generator is materialised
    assert len(optimizer.params) == 2


@pytest.mark.parametrize(
    "make",
    [
        lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, weight_decay=0.1),
        lambda ps: optim.Adam(ps, lr=0.01, weight_decay=0.1),
    ],
)
def test_state_dict_round_trip_resumes_exactly(make: MakeOptimizer) -> None:
    initial, grads = problem(3, steps=6)
    straight = [Tensor(p, requires_grad=True) for p in initial]
    run(make(straight), straight, grads)

    resumed = [Tensor(p, requires_grad=True) for p in initial]
    first = make(resumed)
    run(first, resumed, grads[:3])
    saved = first.state_dict()
    for state in first.state:  # the state dict holds copies
        for value in state.values():
            if isinstance(value, np.ndarray):
                value[...] = 1e9
    second = make(resumed)
    second.load_state_dict(saved)
    run(second, resumed, grads[3:])
    for a, b in zip(straight, resumed, strict=True):
        np.testing.assert_allclose(a.data, b.data, rtol=1e-13)
    assert second.hyperparameters == first.hyperparameters


def test_load_state_dict_validates_before_changing_anything() -> None:
    params = [Tensor(np.ones((2, 2)), requires_grad=True)]
    sgd = optim.SGD(params, lr=0.1, momentum=0.9)
    params[0].grad = np.ones((2, 2))
    sgd.step()
    good = sgd.state_dict()
    wrong_shape = sgd.state_dict()
    wrong_shape["state"][0]["momentum_buffer"] = np.zeros(3)
    wrong_count = {**good, "state": good["state"] * 2}
    wrong_lr = {**good, "hyperparameters": {**good["hyperparameters"], "lr": -1.0}}
    for bad, match in [
        (wrong_shape, "shape"),
        (wrong_count, "2 parameters"),
        (wrong_lr, "lr"),
        ({"state": []}, "hyperparameters"),
    ]:
        with pytest.raises(ValueError, match=match):
            sgd.load_state_dict(bad)
        assert sgd.hyperparameters["lr"] == 0.1
        np.testing.assert_array_equal(sgd.state[0]["momentum_buffer"], 1.0)
    with pytest.raises(ValueError, match="hyper-parameters"):
        optim.Adam(params).load_state_dict(good)


def test_adam_state_holds_all_buffers_or_none_per_parameter() -> None:
    params = [Tensor(np.ones(2), requires_grad=True), Tensor(np.ones(3), requires_grad=True)]
    adam = optim.Adam(params, lr=0.1)
    for param in params:
        param.grad = np.ones_like(param.data)
    adam.step()
    before = adam.state_dict()
    partial = adam.state_dict()
    del partial["state"][1]["exp_avg_sq"]
    with pytest.raises(ValueError, match=r"state\[1\].*'exp_avg'.*not \['exp_avg_sq'\]"):
        adam.load_state_dict(partial)
    for now, then in zip(adam.state, before["state"], strict=True):  # nothing was assigned
        np.testing.assert_array_equal(now["exp_avg_sq"], then["exp_avg_sq"])

    fresh = adam.state_dict()
    fresh["state"][1] = {"step": 0}  # no buffers at all: that parameter starts afresh
    adam.load_state_dict(fresh)
    adam.step()
    assert adam.state[1]["step"] == 1


def test_a_module_or_a_tensor_instead_of_parameters_says_what_to_pass() -> None:
    model = MLP([1, 2])
    for make in (lambda p: optim.SGD(p, lr=0.1), lambda p: optim.Adam(p)):
        with pytest.raises(TypeError, match=r"got a MLP \(a Module\).*pass model\.parameters\(\)"):
            make(model)
        with pytest.raises(TypeError, match=r"one Tensor; pass a list such as \[w\]"):
            make(model.layers[0].weight)
