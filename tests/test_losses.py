"""Tests of tinygrad_nn.losses: values vs NumPy, gradients vs finite differences, errors."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tinygrad_nn import Tensor, losses
from tinygrad_nn.nn import MLP
from tinygrad_nn.testing import central_differences, gradcheck
from tinygrad_nn.viz import trace_backward

REDUCE = {"sum": np.sum, "mean": np.mean, "none": lambda values: values}

# name -> (loss function, elementwise NumPy reference of (pred, target))
ELEMENTWISE: dict[str, tuple[Callable[..., Tensor], Callable[..., np.ndarray], str]] = {
    "squared_error": (losses.squared_error, lambda p, t: (p - t) ** 2, "sum"),
    "absolute_error": (losses.absolute_error, lambda p, t: np.abs(p - t), "sum"),
    "mse": (losses.mse, lambda p, t: (p - t) ** 2, "mean"),
    "mae": (losses.mae, lambda p, t: np.abs(p - t), "mean"),
}

shapes = st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple)
FD_STEP = 1e-6


@pytest.mark.parametrize("name", ELEMENTWISE)
@pytest.mark.parametrize("reduction", ["sum", "mean", "none"])
@settings(max_examples=15, deadline=None)
@given(shape=shapes, seed=st.integers(0, 2**32 - 1))
def test_values_and_gradients(name: str, reduction: str, shape: tuple, seed: int) -> None:
    loss_fn, reference, _ = ELEMENTWISE[name]
    rng = np.random.default_rng(seed)
    pred_data, target_data = rng.normal(size=shape), rng.normal(size=shape)
    assume(np.abs(pred_data - target_data).min() > 1e-3)  # away from the kink of |d|
    pred = Tensor(pred_data, requires_grad=True)
    target = Tensor(target_data, requires_grad=True)
    out = loss_fn(pred, target, reduction=reduction)
    expected = REDUCE[reduction](reference(pred_data, target_data))
    np.testing.assert_allclose(out.data, expected, rtol=1e-12, atol=1e-14)
    upstream = rng.normal(size=out.shape)
    out.backward(upstream)

    def objective() -> float:
        return float(np.sum(REDUCE[reduction](reference(pred_data, target_data)) * upstream))

    for tensor, array in ((pred, pred_data), (target, target_data)):
        numeric = central_differences(objective, array, FD_STEP)
        np.testing.assert_allclose(tensor.grad, numeric, rtol=1e-5)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_default_reduction_and_ndarray_target(name: str) -> None:
    loss_fn, reference, default = ELEMENTWISE[name]
    pred = np.array([[1.0, -2.0], [0.5, 3.0]])
    target = np.array([[0.0, 1.0], [0.5, -1.0]])
    expected = REDUCE[default](reference(pred, target))
    assert loss_fn(Tensor(pred), target).item() == pytest.approx(expected)
    assert loss_fn(Tensor(pred), target.tolist()).item() == pytest.approx(expected)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_shape_mismatch_and_bad_reduction(name: str) -> None:
    loss_fn = ELEMENTWISE[name][0]
    with pytest.raises(ValueError, match=rf"{name}: prediction shape \(4, 1\).*\(4,\)"):
        loss_fn(Tensor(np.zeros((4, 1))), np.zeros(4))
    with pytest.raises(ValueError, match=rf"{name}: reduction"):
        loss_fn(Tensor(np.zeros(3)), np.zeros(3), reduction="avg")


def test_squared_error_is_one_fused_node_and_keeps_float32() -> None:
    pred = Tensor(np.ones((8, 2), np.float32), requires_grad=True)
    loss = losses.squared_error(pred, np.zeros((8, 2)))  # a float64 target is cast
    assert loss.grad_fn.op_name() == "SquaredError"
    assert all(parent.grad_fn is None for parent in loss.grad_fn.parents)
    assert loss.dtype == np.float32 and loss.item() == 16.0
    loss.backward()
    assert pred.grad.dtype == np.float32
    np.testing.assert_array_equal(pred.grad, 2.0)


def test_squared_error_of_complex_values_squares_without_conjugating() -> None:
    # sum((p - t)**2) as NumPy computes it, not sum(|p - t|**2) (np.vdot would conjugate)
    pred = np.array([0.0, 1 + 1j, 2 + 2j])
    total = losses.squared_error(Tensor(pred), np.zeros(3)).item()
    assert total == pytest.approx(10j)


def test_squared_error_skips_the_gradient_of_a_constant_target() -> None:
    pred = Tensor(np.ones(3), requires_grad=True)
    target = Tensor(np.zeros(3))
    losses.mse(pred, target).backward()
    assert target.grad is None
    np.testing.assert_allclose(pred.grad, 2 / 3)


# ---------------------------------------------------------------------- cross entropy


def log_softmax_reference(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@settings(max_examples=15, deadline=None)
@given(batch=st.integers(1, 5), classes=st.integers(2, 5), seed=st.integers(0, 2**32 - 1))
def test_cross_entropy_values_and_gradients(
    reduction: str, batch: int, classes: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    logits_data = rng.normal(size=(batch, classes)) * 3
    labels = rng.integers(0, classes, size=batch)
    logits = Tensor(logits_data, requires_grad=True)
    out = losses.cross_entropy(logits, labels, reduction=reduction)

    def reference() -> np.ndarray:
        return -log_softmax_reference(logits_data)[np.arange(batch), labels]

    np.testing.assert_allclose(out.data, REDUCE[reduction](reference()), rtol=1e-12)
    upstream = rng.normal(size=out.shape)
    out.backward(upstream)
    numeric = central_differences(
        lambda: float(np.sum(REDUCE[reduction](reference()) * upstream)), logits_data, FD_STEP
    )
    np.testing.assert_allclose(logits.grad, numeric, rtol=1e-5, atol=1e-8)


def test_cross_entropy_is_stable_and_mean_by_default() -> None:
    logits = Tensor(np.array([[1000.0, 0.0, -1000.0], [1000.0, 1000.0, 0.0]]), requires_grad=True)
    labels = Tensor(np.array([0, 1]))
    loss = losses.cross_entropy(logits, labels)
    np.testing.assert_allclose(loss.item(), (0.0 + np.log(2)) / 2)
    loss.backward()
    assert np.all(np.isfinite(logits.grad))
    expected = np.array([[0.0, 0.0, 0.0], [0.5, -0.5, 0.0]]) / 2
    np.testing.assert_allclose(logits.grad, expected, atol=1e-12)


def test_cross_entropy_errors() -> None:
    logits = Tensor(np.zeros((2, 3)))
    with pytest.raises(TypeError, match="integers"):
        losses.cross_entropy(logits, np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        losses.cross_entropy(logits, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        losses.cross_entropy(logits, np.array([0, 3]))
    with pytest.raises(ValueError, match="batch, classes"):
        losses.cross_entropy(Tensor(np.zeros(3)), np.array([0]))
    with pytest.raises(ValueError, match="reduction"):
        losses.cross_entropy(logits, np.array([0, 1]), reduction="max")


# ---------------------------------------------------------------------- penalties


@pytest.mark.parametrize(
    ("penalty", "reference", "derivative"),
    [
        (losses.l1_penalty, np.abs, np.sign),
        (losses.l2_penalty, np.square, lambda w: 2 * w),
    ],
)
def test_penalties(penalty: Callable, reference: Callable, derivative: Callable) -> None:
    model = MLP([2, 3, 1], rng=0)
    params = list(model.parameters())
    out = penalty(model.parameters())  # a generator is fine
    assert out.name == penalty.__name__
    expected = sum(float(reference(p.data).sum()) for p in params)
    assert out.item() == pytest.approx(expected, rel=1e-12)
    out.backward()
    for p in params:
        np.testing.assert_allclose(p.grad, derivative(p.data))
    weights_only = penalty([layer.weight for layer in model.layers])
    assert weights_only.item() == pytest.approx(
        sum(float(reference(layer.weight.data).sum()) for layer in model.layers)
    )
    with pytest.raises(ValueError, match="no tensors"):
        penalty([])
    with pytest.raises(TypeError, match="not a Tensor"):
        penalty([np.ones(2)])


@pytest.mark.parametrize(
    ("penalty", "reference"), [(losses.l1_penalty, np.abs), (losses.l2_penalty, np.square)]
)
@pytest.mark.parametrize("shape", [(), (3,), (500, 4)])
def test_a_single_tensor_is_one_parameter(penalty: Callable, reference: Callable, shape) -> None:
    w = Tensor(np.random.default_rng(0).normal(size=shape), requires_grad=True)
    out = penalty(w)
    assert out.item() == pytest.approx(float(reference(w.data).sum()), rel=1e-12)
    assert len(trace_backward(out).steps) == 2, "one |w| or w**2 and one sum, not one per row"
    out.backward()
    assert w.grad is not None and w.grad.shape == shape
    with pytest.raises(TypeError, match=r"got a MLP \(a Module\); pass model.parameters\(\)"):
        penalty(MLP([1, 2]))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size", [8192, 8193, 200_000])  # both reduction paths of the op
def test_squared_error_large_inputs(dtype: type, size: int) -> None:
    rng = np.random.default_rng(size)
    pred, target = rng.normal(size=(2, size)).astype(dtype)
    expected = np.sum((pred.astype(np.float64) - target) ** 2)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    total = losses.squared_error(Tensor(pred), target)
    assert total.dtype == dtype
    np.testing.assert_allclose(total.item(), expected, rtol=rtol)
    np.testing.assert_allclose(losses.mse(Tensor(pred), target).item(), expected / size, rtol=rtol)


# ---------------------------------------------------------------------- PyTorch's losses


def log_softmax_np(x: np.ndarray) -> np.ndarray:
    shifted = x - x.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def test_nll_loss_weights_and_ignore_index() -> None:
    rng = np.random.default_rng(1)
    log_probs = log_softmax_np(rng.normal(size=(5, 3)))
    labels = np.array([0, 2, -100, 1, 2])
    weight = np.array([0.5, 1.0, 2.0])
    counted = [0, 1, 3, 4]
    terms = [-weight[labels[i]] * log_probs[i, labels[i]] for i in counted]
    mean = sum(terms) / sum(weight[labels[i]] for i in counted)
    out = losses.nll_loss(Tensor(log_probs), labels, weight=weight)
    np.testing.assert_allclose(out.item(), mean, rtol=1e-13)
    none = losses.nll_loss(Tensor(log_probs), labels, weight=weight, reduction="none")
    np.testing.assert_allclose(none.data[[0, 1, 3, 4]], terms, rtol=1e-13)
    assert none.data[2] == 0
    gradcheck(
        lambda x: losses.nll_loss(x, labels, weight=weight), Tensor(log_probs, requires_grad=True)
    )
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        losses.nll_loss(Tensor(log_probs), np.array([0, 1, 2, 3, 0]))
    with pytest.raises(ValueError, match=r"weight must have shape \(3,\)"):
        losses.nll_loss(Tensor(log_probs), labels, weight=np.ones(2))


def test_cross_entropy_label_smoothing_weights_and_soft_targets() -> None:
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(4, 3)) * 2
    labels = np.array([1, 0, 2, 1])
    eps, classes = 0.1, 3
    lp = log_softmax_np(logits)
    expected = np.mean(
        [-(1 - eps) * lp[i, labels[i]] - eps / classes * lp[i].sum() for i in range(4)]
    )
    out = losses.cross_entropy(Tensor(logits), labels, label_smoothing=eps)
    np.testing.assert_allclose(out.item(), expected, rtol=1e-13)
    weight = np.array([1.0, 2.0, 3.0])
    total = sum(weight[labels])
    weighted = (
        sum(
            -(1 - eps) * weight[labels[i]] * lp[i, labels[i]]
            - eps / classes * (weight * lp[i]).sum()
            for i in range(4)
        )
        / total
    )
    out = losses.cross_entropy(Tensor(logits), labels, weight=weight, label_smoothing=eps)
    np.testing.assert_allclose(out.item(), weighted, rtol=1e-13)
    probs = np.eye(3)[labels]  # one-hot probabilities give the same loss as the labels
    np.testing.assert_allclose(
        losses.cross_entropy(Tensor(logits), probs, label_smoothing=eps).item(), expected
    )
    gradcheck(
        lambda x: losses.cross_entropy(x, labels, weight=weight, label_smoothing=eps),
        Tensor(logits, requires_grad=True),
    )
    with pytest.raises(ValueError, match="label_smoothing"):
        losses.cross_entropy(Tensor(logits), labels, label_smoothing=1.5)


def test_binary_cross_entropy_clamps_its_logs() -> None:
    p = np.array([0.2, 0.9, 0.0, 1.0])
    y = np.array([1.0, 0.0, 1.0, 1.0])
    values = losses.binary_cross_entropy(Tensor(p), y, reduction="none").data
    np.testing.assert_allclose(values[:2], [-np.log(0.2), -np.log(0.1)], rtol=1e-13)
    np.testing.assert_allclose(values[2:], [100.0, 0.0])  # log(0) is clamped at -100
    inputs = Tensor(np.array([0.3, 0.6, 0.8]), requires_grad=True)
    gradcheck(
        lambda q: losses.binary_cross_entropy(q, np.array([1.0, 0.0, 0.5]), weight=2.0), inputs
    )
    edge = Tensor(p, requires_grad=True)
    losses.binary_cross_entropy(edge, y).backward()
    assert np.all(np.isfinite(edge.grad))
    with pytest.raises(ValueError, match=r"probabilities in \[0, 1\].*with_logits"):
        losses.binary_cross_entropy(Tensor([1.5]), np.array([1.0]))


def test_binary_cross_entropy_with_logits_is_stable_and_weights_positives() -> None:
    x = np.array([[1e4, -1e4, 0.0, 2.0], [-1e4, 1e4, -3.0, 0.5]])
    y = np.array([[1.0, 1.0, 0.0, 1.0], [0.0, 0.0, 1.0, 0.25]])
    pos_weight = np.array([1.0, 2.0, 3.0, 0.5])
    logits = Tensor(x, requires_grad=True)
    out = losses.binary_cross_entropy_with_logits(
        logits, y, pos_weight=pos_weight, reduction="none"
    )
    # -(pw y log s(x) + (1 - y) log(1 - s(x))) with log s(x) = -log1p(exp(-x)), by hand:
    log_s = -np.logaddexp(0, -x)
    log_not_s = -np.logaddexp(0, x)
    expected = -(pos_weight * y * log_s + (1 - y) * log_not_s)
    np.testing.assert_allclose(out.data, expected, rtol=1e-13)
    assert out.data[0, 1] == 2.0 * 1e4  # exact at the extremes
    out.sum().backward()
    s = 1 / (1 + np.exp(-np.clip(x, -700, 700)))
    np.testing.assert_allclose(logits.grad, (1 - y) * s - pos_weight * y * (1 - s), atol=1e-15)
    moderate = Tensor(x.clip(-4, 4), requires_grad=True)
    gradcheck(
        lambda z: losses.binary_cross_entropy_with_logits(z, y, pos_weight=pos_weight), moderate
    )
    mean = losses.binary_cross_entropy_with_logits(Tensor(x), y).item()
    np.testing.assert_allclose(mean, np.mean(-(y * log_s + (1 - y) * log_not_s)))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_huber_and_smooth_l1(reduction: str) -> None:
    d = np.array([-3.0, -0.4, 0.2, 0.9, 2.5])
    huber = np.where(np.abs(d) < 0.8, 0.5 * d**2, 0.8 * (np.abs(d) - 0.4))
    smooth = np.where(np.abs(d) < 0.8, 0.5 * d**2 / 0.8, np.abs(d) - 0.4)
    out = losses.huber_loss(Tensor(d), np.zeros(5), reduction=reduction, delta=0.8)
    np.testing.assert_allclose(out.data, REDUCE[reduction](huber), rtol=1e-13)
    out = losses.smooth_l1_loss(Tensor(d), np.zeros(5), reduction=reduction, beta=0.8)
    np.testing.assert_allclose(out.data, REDUCE[reduction](smooth), rtol=1e-13)
    np.testing.assert_allclose(
        losses.smooth_l1_loss(Tensor(d), np.zeros(5), reduction=reduction, beta=0.0).data,
        REDUCE[reduction](np.abs(d)),
    )
    target = np.full(5, 0.1)
    gradcheck(lambda p: losses.huber_loss(p, target, delta=0.8), Tensor(d, requires_grad=True))
    gradcheck(lambda p: losses.smooth_l1_loss(p, target, beta=0.8), Tensor(d, requires_grad=True))
    with pytest.raises(ValueError, match="delta"):
        losses.huber_loss(Tensor(d), np.zeros(5), delta=-1.0)


def test_kl_div_reductions_and_log_target() -> None:
    rng = np.random.default_rng(3)
    log_q = log_softmax_np(rng.normal(size=(4, 3)))
    p = np.exp(log_softmax_np(rng.normal(size=(4, 3))))
    p[0] = [0.0, 0.5, 0.5]  # a zero probability contributes nothing
    pointwise = np.where(p > 0, p * np.log(np.where(p > 0, p, 1)), 0) - p * log_q
    for reduction, expected in [
        ("none", pointwise),
        ("sum", pointwise.sum()),
        ("mean", pointwise.mean()),
        ("batchmean", pointwise.sum() / 4),
    ]:
        out = losses.kl_div(Tensor(log_q), p, reduction=reduction)
        np.testing.assert_allclose(out.data, expected, rtol=1e-12, atol=1e-15)
    log_p = np.log(p[1:])
    out = losses.kl_div(Tensor(log_q[1:]), log_p, reduction="batchmean", log_target=True)
    np.testing.assert_allclose(out.item(), (p[1:] * (log_p - log_q[1:])).sum() / 3, rtol=1e-12)
    gradcheck(
        lambda q: losses.kl_div(q, p, reduction="batchmean"), Tensor(log_q, requires_grad=True)
    )
    with pytest.raises(ValueError, match="batchmean"):
        losses.kl_div(Tensor(log_q), p, reduction="avg")


@pytest.mark.parametrize(
    "loss",
    [
        lambda x: losses.cross_entropy(x, np.array([0, 1])),
        lambda x: losses.cross_entropy(x, np.array([0, 1]), label_smoothing=0.1),
        lambda x: losses.binary_cross_entropy_with_logits(x, np.ones((2, 3))),
        lambda x: losses.nll_loss(x, np.array([2, 1])),
        lambda x: losses.huber_loss(x, np.zeros((2, 3))),
    ],
)
def test_losses_keep_float32_and_stay_finite_at_extremes(loss: Callable) -> None:
    x = Tensor(np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 5.0]], np.float32), requires_grad=True)
    out = loss(x)
    out.backward()
    assert out.dtype == np.float32 and np.isfinite(out.item())
    assert x.grad.dtype == np.float32 and np.all(np.isfinite(x.grad))
