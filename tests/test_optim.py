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
    dampening: float = 0.0,
    nesterov: bool = False,
) -> list[np.ndarray]:
    """torch.optim.SGD's documented algorithm, step by step."""
    params = [p.copy() for p in params]
    buffers: list[np.ndarray | None] = [None] * len(params)
    for grads in grads_per_step:
        for i, g in enumerate(grads):
            g = g + weight_decay * params[i]
            if momentum != 0:
                if buffers[i] is None:
                    buffers[i] = g.copy()
                else:
                    buffers[i] = momentum * buffers[i] + (1 - dampening) * g
                g = g + momentum * buffers[i] if nesterov else buffers[i]
            params[i] = params[i] - lr * g
    return params


def reference_adam(
    params: list[np.ndarray],
    grads_per_step: Grads,
    lr: float,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    amsgrad: bool = False,
    decoupled: bool = False,
) -> list[np.ndarray]:
    """torch.optim.Adam's (decoupled: AdamW's) documented algorithm, step by step."""
    beta1, beta2 = betas
    params = [p.copy() for p in params]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    v_max = [np.zeros_like(p) for p in params]
    for t, grads in enumerate(grads_per_step, start=1):
        for i, g in enumerate(grads):
            if decoupled:
                params[i] = params[i] * (1 - lr * weight_decay)
            else:
                g = g + weight_decay * params[i]
            m[i] = beta1 * m[i] + (1 - beta1) * g
            v[i] = beta2 * v[i] + (1 - beta2) * g * g
            m_hat = m[i] / (1 - beta1**t)
            v_max[i] = np.maximum(v_max[i], v[i])
            v_hat = (v_max[i] if amsgrad else v[i]) / (1 - beta2**t)
            params[i] = params[i] - lr * m_hat / (np.sqrt(v_hat) + eps)
    return params


def reference_rmsprop(
    params: list[np.ndarray],
    grads_per_step: Grads,
    lr: float,
    alpha: float,
    eps: float,
    weight_decay: float,
    momentum: float,
    centered: bool,
) -> list[np.ndarray]:
    """torch.optim.RMSprop's documented algorithm, step by step."""
    params = [p.copy() for p in params]
    v = [np.zeros_like(p) for p in params]
    g_avg = [np.zeros_like(p) for p in params]
    b = [np.zeros_like(p) for p in params]
    for grads in grads_per_step:
        for i, g in enumerate(grads):
            g = g + weight_decay * params[i]
            v[i] = alpha * v[i] + (1 - alpha) * g**2
            v_tilde = v[i]
            if centered:
                g_avg[i] = alpha * g_avg[i] + (1 - alpha) * g
                v_tilde = v_tilde - g_avg[i] ** 2
            if momentum > 0:
                b[i] = momentum * b[i] + g / (np.sqrt(v_tilde) + eps)
                params[i] = params[i] - lr * b[i]
            else:
                params[i] = params[i] - lr * g / (np.sqrt(v_tilde) + eps)
    return params


def reference_adagrad(
    params: list[np.ndarray],
    grads_per_step: Grads,
    lr: float,
    lr_decay: float,
    weight_decay: float,
    initial_accumulator_value: float,
    eps: float,
) -> list[np.ndarray]:
    """torch.optim.Adagrad's documented algorithm, step by step."""
    params = [p.copy() for p in params]
    sums = [np.full_like(p, initial_accumulator_value) for p in params]
    for t, grads in enumerate(grads_per_step, start=1):
        rate = lr / (1 + (t - 1) * lr_decay)
        for i, g in enumerate(grads):
            g = g + weight_decay * params[i]
            sums[i] = sums[i] + g * g
            params[i] = params[i] - rate * g / (np.sqrt(sums[i]) + eps)
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


def tensors(arrays: list[np.ndarray]) -> list[Tensor]:
    return [Tensor(a, requires_grad=True) for a in arrays]


def assert_close(params: list[Tensor], expected: list[np.ndarray], rtol: float = 1e-12) -> None:
    for p, e in zip(params, expected, strict=True):
        np.testing.assert_allclose(p.data, e, rtol=rtol, atol=1e-14)


@pytest.mark.parametrize(
    "settings",
    [
        {"momentum": 0.0},
        {"momentum": 0.9},
        {"momentum": 0.9, "weight_decay": 0.1},
        {"momentum": 0.8, "dampening": 0.3, "weight_decay": 0.1},
        {"momentum": 0.9, "nesterov": True, "weight_decay": 0.05},
    ],
)
def test_sgd_matches_pytorch_rules(settings: dict) -> None:
    initial, grads = problem(0)
    params = tensors(initial)
    run(optim.SGD(params, lr=0.05, **settings), params, grads)
    assert_close(params, reference_sgd(initial, grads, 0.05, **settings), rtol=1e-13)


@pytest.mark.parametrize(
    "param_dtype, grad",
    [
        (np.float32, np.array([0.3, -1.7, 2.9])),  # a float64 .grad set by hand
        (np.float64, np.array([0.3, -1.7, 2.9], dtype=np.float32)),
        (np.float32, np.array([0.3, -1.7, 2.9], dtype=np.float32)),
        (np.float64, np.array([1, 2, -3])),  # integers: the rate stays a Python float
    ],
)
def test_sgd_updates_by_lr_times_grad_whatever_the_grads_dtype(param_dtype, grad) -> None:
    start = np.array([1.0, 2.0, 3.0], dtype=param_dtype)
    param = Tensor(start.copy(), requires_grad=True)
    param.grad = grad
    optim.SGD([param], lr=0.1).step()
    expected = start.copy()
    expected -= 0.1 * grad  # what NumPy makes of the rule itself
    assert param.dtype == param_dtype
    assert param.data.tobytes() == expected.tobytes()


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
@pytest.mark.parametrize("betas", [(0.9, 0.999), (0.5, 0.9)])
@pytest.mark.parametrize("amsgrad", [False, True])
def test_adam_matches_pytorch_rules(
    weight_decay: float, betas: tuple[float, float], amsgrad: bool
) -> None:
    initial, grads = problem(1)
    params = tensors(initial)
    adam = optim.Adam(
        params, lr=0.01, betas=betas, eps=1e-6, weight_decay=weight_decay, amsgrad=amsgrad
    )
    run(adam, params, grads)
    assert_close(params, reference_adam(initial, grads, 0.01, betas, 1e-6, weight_decay, amsgrad))


@pytest.mark.parametrize("amsgrad", [False, True])
def test_adamw_decouples_weight_decay(amsgrad: bool) -> None:
    initial, grads = problem(4)
    params = tensors(initial)
    run(optim.AdamW(params, lr=0.01, weight_decay=0.3, amsgrad=amsgrad), params, grads)
    expected = reference_adam(initial, grads, 0.01, (0.9, 0.999), 1e-8, 0.3, amsgrad, True)
    assert_close(params, expected)
    assert optim.AdamW(tensors(initial)).defaults["weight_decay"] == 0.01  # PyTorch's default
    coupled = tensors(initial)
    run(optim.Adam(coupled, lr=0.01, weight_decay=0.3), coupled, grads)
    assert not np.allclose(coupled[0].data, params[0].data)


@pytest.mark.parametrize(
    "settings",
    [
        {"momentum": 0.0, "centered": False, "weight_decay": 0.0},
        {"momentum": 0.9, "centered": False, "weight_decay": 0.1},
        {"momentum": 0.0, "centered": True, "weight_decay": 0.0},
        {"momentum": 0.5, "centered": True, "weight_decay": 0.1},
    ],
)
def test_rmsprop_matches_pytorch_rules(settings: dict) -> None:
    initial, grads = problem(5)
    params = tensors(initial)
    run(optim.RMSprop(params, lr=0.01, alpha=0.9, eps=1e-6, **settings), params, grads)
    assert_close(params, reference_rmsprop(initial, grads, 0.01, 0.9, 1e-6, **settings))
    assert optim.RMSprop(tensors(initial)).defaults == {
        "lr": 1e-2, "alpha": 0.99, "eps": 1e-8, "weight_decay": 0.0, "momentum": 0.0,
        "centered": False,
    }  # fmt: skip


@pytest.mark.parametrize(
    "settings",
    [
        {"lr_decay": 0.0, "weight_decay": 0.0, "initial_accumulator_value": 0.0},
        {"lr_decay": 0.1, "weight_decay": 0.1, "initial_accumulator_value": 0.5},
    ],
)
def test_adagrad_matches_pytorch_rules(settings: dict) -> None:
    initial, grads = problem(6)
    params = tensors(initial)
    run(optim.Adagrad(params, lr=0.1, eps=1e-10, **settings), params, grads)
    assert_close(params, reference_adagrad(initial, grads, 0.1, eps=1e-10, **settings))


def test_first_adam_step_moves_each_weight_by_lr() -> None:
    p = Tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)
    p.grad = np.array([0.5, -100.0, 1e-3])
    optim.Adam([p], lr=0.1, eps=0.0).step()
    np.testing.assert_allclose(p.data, [0.9, -1.9, 2.9])


def test_param_groups_have_their_own_hyperparameters() -> None:
    initial, grads = problem(7)
    first, second = tensors(initial[:2]), tensors(initial[2:])
    sgd = optim.SGD(
        [{"params": first}, {"params": second, "lr": 0.01, "momentum": 0.5}],
        lr=0.1,
        momentum=0.9,
    )
    assert [g["lr"] for g in sgd.param_groups] == [0.1, 0.01]
    assert [g["momentum"] for g in sgd.param_groups] == [0.9, 0.5]
    assert sgd.param_groups[1]["weight_decay"] == 0.0  # filled from the defaults
    run(sgd, first + second, grads)
    assert_close(first, reference_sgd(initial[:2], [g[:2] for g in grads], 0.1, 0.9))
    assert_close(second, reference_sgd(initial[2:], [g[2:] for g in grads], 0.01, 0.5))


def test_add_param_group_and_its_errors() -> None:
    a, b, c = (Tensor(np.ones(2), requires_grad=True) for _ in range(3))
    adam = optim.Adam([a], lr=0.1)
    adam.add_param_group({"params": b, "lr": 0.5})  # one Tensor is a group of one
    assert adam.param_groups[1]["params"] == [b] or adam.param_groups[1]["params"][0] is b
    assert adam.param_groups[1]["betas"] == (0.9, 0.999)
    with pytest.raises(ValueError, match="more than once"):
        adam.add_param_group({"params": [a]})
    with pytest.raises(TypeError, match="'params'"):
        adam.add_param_group({"lr": 0.1})
    with pytest.raises(ValueError, match="lr"):
        adam.add_param_group({"params": [c], "lr": -1.0})
    assert len(adam.param_groups) == 2
    with pytest.raises(TypeError, match="mixes dicts and Tensors"):
        optim.SGD([a, {"params": [b]}], lr=0.1)
    with pytest.raises(TypeError, match="wrap it in a list"):
        optim.SGD({"params": [a]}, lr=0.1)


def test_setting_lr_changes_the_step() -> None:
    """Regression: `opt.lr = 0.01` used to set an unused attribute and change nothing."""
    p = Tensor(np.array([1.0]), requires_grad=True)
    q = Tensor(np.array([1.0]), requires_grad=True)
    sgd = optim.SGD([{"params": [p]}, {"params": [q], "lr": 1.0}], lr=0.5)
    sgd.lr = 0.01
    assert sgd.lr == 0.01 and sgd.param_groups[0]["lr"] == 0.01
    assert sgd.param_groups[1]["lr"] == 1.0
    p.grad = np.array([1.0])
    sgd.step()
    np.testing.assert_allclose(p.data, [0.99])
    with pytest.raises(ValueError, match="lr"):
        sgd.lr = -5
    assert sgd.lr == 0.01


def test_writes_go_through_the_data_attribute() -> None:
    """Optimizers assign ``p.data`` (the engine observes it); they never write through views."""

    class Watched(Tensor):
        __slots__ = ("writes",)

        def __setattr__(self, name: str, value: object) -> None:
            if name == "data" and hasattr(self, "writes"):
                self.writes += 1
            super().__setattr__(name, value)

    makers = [
        lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.1),
        lambda ps: optim.Adam(ps, weight_decay=0.1),
        lambda ps: optim.AdamW(ps),
        lambda ps: optim.RMSprop(ps, momentum=0.9, centered=True),
        lambda ps: optim.Adagrad(ps),
    ]
    for make in makers:
        param = Watched(np.ones(3), requires_grad=True)
        param.writes = 0
        optimizer = make([param])
        for _ in range(2):
            param.grad = np.full(3, 0.5)
            optimizer.step()
        assert param.writes >= 2, type(optimizer).__name__


@pytest.mark.parametrize(
    "make",
    [
        lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.01),
        lambda ps: optim.Adam(ps, lr=0.1, weight_decay=0.01, amsgrad=True),
        lambda ps: optim.AdamW(ps, lr=0.1),
        lambda ps: optim.RMSprop(ps, momentum=0.9, centered=True),
        lambda ps: optim.Adagrad(ps),
    ],
)
def test_float32_is_preserved(make: MakeOptimizer) -> None:
    initial, grads = problem(2, steps=3, dtype=np.float32)
    params = tensors(initial)
    optimizer = make(params)
    run(optimizer, params, grads)
    assert all(p.dtype == np.float32 for p in params)
    for state in optimizer.state.values():
        for value in state.values():
            if isinstance(value, np.ndarray):
                assert value.dtype == np.float32


def test_a_buffer_follows_a_dtype_change_and_a_shape_change_is_refused() -> None:
    w = Tensor(np.ones((2, 3)), requires_grad=True, name="w")
    sgd = optim.SGD([w], lr=0.1, momentum=0.9)
    w.grad = np.ones((2, 3))
    sgd.step()
    w.data = w.data.astype(np.float32)
    w.grad = np.ones((2, 3), np.float32)
    sgd.step()
    assert sgd.state[w]["momentum_buffer"].dtype == np.float32
    assert w.dtype == np.float32
    w.data = w.data.reshape(3, 2)
    w.grad = np.ones((3, 2), np.float32)
    with pytest.raises(RuntimeError, match=r"params'\]\[0\] \('w'\) now has shape \(3, 2\)"):
        sgd.step()
    del sgd.state[w]  # the fix the message names
    sgd.step()
    adam = optim.Adam([w])
    adam.step()
    w.data = np.ones(6, np.float32)
    w.grad = np.ones(6, np.float32)
    with pytest.raises(RuntimeError, match="exp_avg"):
        adam.step()


def test_params_without_grad_are_skipped() -> None:
    a = Tensor(np.ones(2), requires_grad=True)
    b = Tensor(np.ones(2), requires_grad=True)
    adam = optim.Adam([a, b], lr=0.1)
    a.grad = np.ones(2)
    adam.step()
    np.testing.assert_array_equal(b.data, 1.0)
    assert adam.state[a]["step"] == 1 and b not in adam.state
    adam.zero_grad()
    assert a.grad is None and b.grad is None
    adam.step()  # nothing has a grad: nothing changes
    assert adam.state[a]["step"] == 1
    a.grad = np.ones(2)
    adam.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(a.grad, 0.0)
    assert b.grad is None


def test_training_reduces_the_loss() -> None:
    for make in (
        lambda ps: optim.Adam(ps, lr=0.02),
        lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True),
        lambda ps: optim.RMSprop(ps, lr=0.01),
    ):
        model = MLP([1, 16, 1], activation="tanh", output_activation=None, rng=0)
        x = np.linspace(-1, 1, 32)[:, None]
        y = np.sin(3 * x)
        optimizer = make(model.parameters())
        first = None
        for _ in range(200):
            optimizer.zero_grad()
            loss = losses.mse(model(Tensor(x)), y)
            loss.backward()
            optimizer.step()
            first = first if first is not None else loss.item()
        assert loss.item() < first / 5, type(optimizer).__name__


@pytest.mark.parametrize(
    ("make", "argument"),
    [
        (lambda ps: optim.SGD(ps, lr=-0.1), "lr"),
        (lambda ps: optim.SGD(ps, lr=math.nan), "lr"),
        (lambda ps: optim.SGD(ps, lr=0.1, momentum=-1), "momentum"),
        (lambda ps: optim.SGD(ps, lr=0.1, weight_decay=-1), "weight_decay"),
        (lambda ps: optim.SGD(ps, lr=0.1, dampening=2.0), "dampening"),
        (lambda ps: optim.SGD(ps, lr=0.1, nesterov=True), "nesterov=True needs momentum > 0"),
        (lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "nesterov"),
        (lambda ps: optim.Adam(ps, lr=-1), "lr"),
        (lambda ps: optim.Adam(ps, betas=(1.0, 0.9)), r"betas\[0\]"),
        (lambda ps: optim.Adam(ps, betas=(0.9, -0.1)), r"betas\[1\]"),
        (lambda ps: optim.Adam(ps, betas=(0.9,)), "betas"),
        (lambda ps: optim.Adam(ps, eps=-1e-8), "eps"),
        (lambda ps: optim.Adam(ps, weight_decay=-1), "weight_decay"),
        (lambda ps: optim.AdamW(ps, weight_decay=-1), "weight_decay"),
        (lambda ps: optim.RMSprop(ps, alpha=1.5), "alpha"),
        (lambda ps: optim.Adagrad(ps, lr_decay=-1), "lr_decay"),
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
    with pytest.raises(TypeError, match="nesterov must be True or False"):
        optim.SGD([p], lr=0.1, momentum=0.9, nesterov=1)  # type: ignore[arg-type]
    optimizer = optim.SGD(MLP([1, 2]).parameters(), lr=0.1)  # a generator is materialised
    assert len(optimizer.param_groups[0]["params"]) == 2


MAKERS = [
    lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, weight_decay=0.1, nesterov=True),
    lambda ps: optim.Adam(ps, lr=0.01, weight_decay=0.1, amsgrad=True),
    lambda ps: optim.AdamW(ps, lr=0.01),
    lambda ps: optim.RMSprop(ps, momentum=0.9, centered=True),
    lambda ps: optim.Adagrad(ps, lr_decay=0.01),
]


@pytest.mark.parametrize("make", MAKERS)
def test_state_dict_round_trip_resumes_exactly(make: MakeOptimizer) -> None:
    initial, grads = problem(3, steps=6)
    straight = tensors(initial)
    run(make(straight), straight, grads)

    resumed = tensors(initial)
    first = make(resumed)
    run(first, resumed, grads[:3])
    saved = first.state_dict()
    for state in first.state.values():  # the state dict holds copies
        for value in state.values():
            if isinstance(value, np.ndarray):
                value[...] = 1e9
    second = make(resumed)
    second.load_state_dict(saved)
    run(second, resumed, grads[3:])
    for a, b in zip(straight, resumed, strict=True):
        np.testing.assert_array_equal(a.data, b.data)


@pytest.mark.parametrize("make", MAKERS)
def test_state_dict_is_plain_data_in_pytorchs_layout(make: MakeOptimizer) -> None:
    initial, grads = problem(8, steps=2)
    params = tensors(initial)
    optimizer = make(params[:2])
    optimizer.add_param_group({"params": params[2:], "lr": 0.5})
    run(optimizer, params[:2], [g[:2] for g in grads])
    saved = optimizer.state_dict()
    assert set(saved) == {"state", "param_groups"}
    assert [g["params"] for g in saved["param_groups"]] == [[0, 1], [2]]
    assert saved["param_groups"][1]["lr"] == 0.5
    assert sorted(saved["state"]) == [0, 1]  # parameter 2 never stepped

    def plain(value: object) -> bool:
        if isinstance(value, dict):
            return all(isinstance(k, (str, int)) and plain(v) for k, v in value.items())
        if isinstance(value, list):
            return all(plain(v) for v in value)
        return value is None or isinstance(value, (bool, int, float, str, np.ndarray))

    assert plain(saved), saved


def test_load_state_dict_validates_before_changing_anything() -> None:
    params = [Tensor(np.ones((2, 2)), requires_grad=True)]
    sgd = optim.SGD(params, lr=0.1, momentum=0.9)
    params[0].grad = np.ones((2, 2))
    sgd.step()
    good = sgd.state_dict()
    wrong_shape = sgd.state_dict()
    wrong_shape["state"][0]["momentum_buffer"] = np.zeros(3)
    wrong_count = {**good, "param_groups": good["param_groups"] * 2}
    wrong_size = sgd.state_dict()
    wrong_size["param_groups"][0]["params"] = [0, 1]
    wrong_lr = sgd.state_dict()
    wrong_lr["param_groups"][0]["lr"] = -1.0
    wrong_key = sgd.state_dict()
    wrong_key["state"][5] = wrong_key["state"].pop(0)
    for bad, match in [
        (wrong_shape, "shape"),
        (wrong_count, "2 parameter groups"),
        (wrong_size, "holds 2 parameters"),
        (wrong_lr, "lr"),
        (wrong_key, r"state key 5 is not a parameter index in \[0, 1\)"),
        ({"state": {}}, "param_groups"),
    ]:
        with pytest.raises(ValueError, match=match):
            sgd.load_state_dict(bad)
        assert sgd.lr == 0.1
        np.testing.assert_array_equal(sgd.state[params[0]]["momentum_buffer"], 1.0)
    with pytest.raises(ValueError, match=r"lacks \['betas'"):
        optim.Adam(params).load_state_dict(good)


def test_adam_state_holds_both_moments_or_none() -> None:
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
    for param, then in zip(params, before["state"].values(), strict=True):
        np.testing.assert_array_equal(adam.state[param]["exp_avg_sq"], then["exp_avg_sq"])

    fresh = adam.state_dict()
    fresh["state"][1] = {"step": 0}  # no buffers at all: that parameter starts afresh
    adam.load_state_dict(fresh)
    adam.step()
    assert adam.state[params[1]]["step"] == 1


def test_a_module_or_a_tensor_instead_of_parameters_says_what_to_pass() -> None:
    model = MLP([1, 2])
    for make in (lambda p: optim.SGD(p, lr=0.1), lambda p: optim.Adam(p)):
        with pytest.raises(TypeError, match=r"got a MLP \(a Module\).*pass model\.parameters\(\)"):
            make(model)
        with pytest.raises(TypeError, match=r"one Tensor; pass a list such as \[w\]"):
            make(model.layers[0].weight)
