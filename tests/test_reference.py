"""The hand-written reference network: its hand-derived gradients, its fixes and its API."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tinygrad_nn import Tensor
from tinygrad_nn.data import sincos
from tinygrad_nn.nn import MLP
from tinygrad_nn.reference import (
    ACTIVATIONS,
    COSTS,
    HandwrittenMLP,
    relu_derivative,
    sigmoid,
    sigmoid_derivative,
)
from tinygrad_nn.testing import central_differences

FD_STEP = 1e-6
# Relu pre-activations, absolute-cost residuals and l1-penalised weights are kept at least
# this far from their kink at 0. A finite-difference step moves any of them by roughly
# FD_STEP times an O(1) activation, far less than this margin, so no step crosses a kink.
KINK_MARGIN = 1e-4


# ---------------------------------------------------------------------- helpers


def explicit_forward(
    weights: list[np.ndarray], x: np.ndarray, hidden: str | None, output: str | None
) -> tuple[list[np.ndarray], np.ndarray]:
    """The network written out independently of the module: pre-activations and output."""
    functions = {"relu": lambda z: np.maximum(z, 0), "sigmoid": sigmoid, None: lambda z: z}
    pre_activations = []
    activations = x
    for index, weight in enumerate(weights):
        z = weight[:, 0] + activations @ weight[:, 1:].T
        pre_activations.append(z)
        name = output if index == len(weights) - 1 else hidden
        activations = functions[name](z)
    return pre_activations, activations


def explicit_cost(net: HandwrittenMLP, x: np.ndarray, y: np.ndarray) -> float:
    """J as documented: data term scaled by 1/(2B) or 1/B, penalties on columns 1: only."""
    _, output = explicit_forward(net.weights, x, net.activation, net.output_activation)
    batch = len(x)
    if net.cost_name == "squared":
        data_term = np.sum((output - y) ** 2) / (2 * batch)
    else:
        data_term = np.sum(np.abs(output - y)) / batch
    l1 = sum(np.sum(np.abs(w[:, 1:])) for w in net.weights)
    l2 = sum(np.sum(w[:, 1:] ** 2) for w in net.weights)
    return data_term + net.l1 * l1 + net.l2 * l2


def numeric_gradients(net: HandwrittenMLP, x: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
    """Central differences of net.cost with respect to every weight."""
    return [central_differences(lambda: net.cost(x, y), w, FD_STEP) for w in net.weights]


def random_problem(
    shape: list[int], batch: int, seed: int
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Weights of scale 1/sqrt(fan_in) (activations stay O(1)), standard normal x and y."""
    generator = np.random.default_rng(seed)
    weights = [
        generator.normal(0.0, 1.0 / np.sqrt(n_in + 1), size=(n_out, n_in + 1))
        for n_in, n_out in itertools.pairwise(shape)
    ]
    x = generator.normal(size=(batch, shape[0]))
    y = generator.normal(size=(batch, shape[-1]))
    return weights, x, y


# ---------------------------------------------------------------------- gradients


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("cost", COSTS)
@pytest.mark.parametrize("output_activation", ["same", None])
@pytest.mark.parametrize(("l1", "l2"), [(0.0, 0.0), (0.3, 0.0), (0.0, 0.2), (0.3, 0.2)])
@settings(max_examples=8, deadline=None)
@given(
    shape=st.lists(st.integers(1, 6), min_size=2, max_size=5),
    batch=st.integers(1, 8),
    seed=st.integers(0, 2**32 - 1),
)
def test_gradients_match_finite_differences_of_cost(
    activation: str,
    cost: str,
    output_activation: str | None,
    l1: float,
    l2: float,
    shape: list[int],
    batch: int,
    seed: int,
) -> None:
    net = HandwrittenMLP(
        shape, activation=activation, cost=cost, l1=l1, l2=l2, output_activation=output_activation
    )
    net.weights, x, y = random_problem(shape, batch, seed)

    pre_activations, output = explicit_forward(
        net.weights, x, net.activation, net.output_activation
    )
    layer_names = [net.activation] * (len(shape) - 2) + [net.output_activation]
    for name, z in zip(layer_names, pre_activations, strict=True):
        if name == "relu":
            assume(np.all(np.abs(z) > KINK_MARGIN))
    if cost == "absolute":
        assume(np.all(np.abs(output - y) > KINK_MARGIN))
    if l1 > 0:
        assume(all(np.all(np.abs(w[:, 1:]) > KINK_MARGIN) for w in net.weights))

    assert net.cost(x, y) == pytest.approx(explicit_cost(net, x, y), rel=1e-12, abs=1e-12)
    analytic = net.gradients(x, y)
    numeric = numeric_gradients(net, x, y)
    for layer, (got, expected) in enumerate(zip(analytic, numeric, strict=True)):
        assert got.shape == net.weights[layer].shape
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6, err_msg=f"layer {layer}")


def test_bias_column_is_not_penalised() -> None:
    plain = HandwrittenMLP([2, 3, 1], rng=0)
    penalised = HandwrittenMLP([2, 3, 1], rng=0, l1=0.5, l2=0.25)
    x, y = np.full((4, 2), 0.5), np.zeros((4, 1))
    for w, g_plain, g_pen in zip(
        plain.weights, plain.gradients(x, y), penalised.gradients(x, y), strict=True
    ):
        np.testing.assert_array_equal(g_pen[:, 0], g_plain[:, 0])
        expected = g_plain[:, 1:] + 0.5 * np.sign(w[:, 1:]) + 2 * 0.25 * w[:, 1:]
        np.testing.assert_allclose(g_pen[:, 1:], expected, rtol=1e-12)


def test_gradients_keep_float32() -> None:
    net = HandwrittenMLP([1, 4, 2], rng=0, dtype=np.float32)
    x, y = sincos(n_batches=1, batch_size=5, rng=0, dtype=np.float32)
    assert all(w.dtype == np.float32 for w in net.weights)
    assert net.forward(x[0]).dtype == np.float32
    assert all(g.dtype == np.float32 for g in net.gradients(x[0], y[0]))


# ---------------------------------------------------------------------- activations


def test_relu_derivative_is_one_above_zero_else_zero() -> None:
    z = np.array([-2.0, -1e-300, 0.0, 1e-300, 3.0])
    np.testing.assert_array_equal(relu_derivative(z), [0.0, 0.0, 0.0, 1.0, 1.0])


def test_sigmoid_derivative_matches_finite_differences() -> None:
    z = np.linspace(-8.0, 8.0, 41)
    # Elementwise, so one vectorised central difference gives every point's derivative
    # (summing into one objective for `central_differences` would cost precision).
    numeric = (sigmoid(z + FD_STEP) - sigmoid(z - FD_STEP)) / (2 * FD_STEP)
    np.testing.assert_allclose(sigmoid_derivative(z), numeric, rtol=1e-6, atol=1e-12)


def test_sigmoid_derivative_is_finite_where_the_article_formula_is_nan() -> None:
    z = np.array([-800.0, 800.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ours = sigmoid_derivative(z)
    np.testing.assert_array_equal(ours, [0.0, 0.0])

    # The article's formula, exp(-z) / (1 + exp(-z))**2: inf / inf at z = -800.
    with np.errstate(over="ignore", invalid="ignore"):
        exp_minus_z = np.exp(-z)
        published = exp_minus_z / (1 + exp_minus_z) ** 2
    assert np.isnan(published[0])
    assert published[1] == 0.0


def test_sigmoid_network_gradients_are_finite_for_huge_pre_activations() -> None:
    net = HandwrittenMLP([1, 2, 1], activation="sigmoid", rng=0)
    net.weights[0] = np.array([[0.0, -800.0], [0.0, 800.0]])
    x, y = np.ones((3, 1)), np.zeros((3, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gradients = net.gradients(x, y)
    assert all(np.all(np.isfinite(g)) for g in gradients)


# ---------------------------------------------------------------------- published inference


def test_published_inference_skips_hidden_relu_unless_relu_writes_in_place() -> None:
    net = HandwrittenMLP([1, 2, 1], rng=0)
    net.weights = [
        np.array([[0.0, 1.0], [0.0, -1.0]]),  # hidden z = (x, -x): one is negative for x > 0
        np.array([[0.5, 1.0, 1.0]]),
    ]
    x = np.array([[1.0], [2.0]])
    np.testing.assert_allclose(net.forward(x), [[1.5], [2.5]])  # 0.5 + relu(x) + relu(-x)
    skipped = net.estimate_as_published(x, relu_in_place=False)
    np.testing.assert_allclose(skipped, [[0.5], [0.5]])  # 0.5 + x - x
    # As published, relu overwrites z with relu(z), which hides the bug.
    np.testing.assert_array_equal(net.estimate_as_published(x), net.forward(x))


def test_published_inference_equals_forward_when_hidden_pre_activations_are_positive() -> None:
    net = HandwrittenMLP([1, 2, 2, 1], rng=0)
    net.weights = [
        np.array([[0.1, 1.0], [0.2, 2.0]]),
        np.array([[0.1, 0.5, 0.5], [0.3, 1.0, -0.1]]),
        np.array([[-0.2, 1.0, 1.0]]),
    ]
    x = np.array([[0.5], [1.0], [3.0]])
    pre_activations, _ = explicit_forward(net.weights, x, "relu", "relu")
    assert all(np.all(z > 0) for z in pre_activations[:-1])
    np.testing.assert_allclose(net.estimate_as_published(x, relu_in_place=False), net.forward(x))


@pytest.mark.parametrize("output_activation", ["same", None])
def test_published_sigmoid_inference_skips_every_hidden_sigmoid(
    output_activation: str | None,
) -> None:
    net = HandwrittenMLP([2, 5, 4, 3], activation="sigmoid", output_activation=output_activation)
    net.weights, x, _ = random_problem(net.shape, 6, seed=1)
    _, linear_hidden = explicit_forward(net.weights, x, None, net.output_activation)
    published = net.estimate_as_published(x)
    np.testing.assert_allclose(published, linear_hidden, rtol=1e-12)
    assert not np.allclose(published, net.forward(x))


# ---------------------------------------------------------------------- step and training


@pytest.mark.parametrize("cost", COSTS)
def test_step_matches_a_hand_computed_update(cost: str) -> None:
    # One relu unit out = relu(b + w x), so with e = out - y and z > 0 everywhere:
    # squared: dJ/db = mean(e), dJ/dw = mean(e x); absolute: the same with sign(e).
    net = HandwrittenMLP([1, 1], cost=cost, rng=0)
    net.weights = [np.array([[0.5, 2.0]])]
    x = np.array([[1.0], [2.0], [3.0]])
    y = np.array([[2.0], [5.0], [6.0]])
    error = 0.5 + 2.0 * x - y  # [0.5, -0.5, 0.5]
    signal = error if cost == "squared" else np.sign(error)
    expected = np.array([[0.5 - 0.1 * signal.mean(), 2.0 - 0.1 * (signal * x).mean()]])
    reported = net.step(x, y, lr=0.1)
    np.testing.assert_allclose(net.weights[0], expected, rtol=1e-12)
    assert reported == pytest.approx(0.75 if cost == "squared" else 1.5)


def test_step_updates_in_place_and_reports_unscaled_cost_before_update() -> None:
    net = HandwrittenMLP([3, 4, 2], l2=0.1, rng=0)
    x, y = np.random.default_rng(1).random((2, 5, 3))
    y = y[:, :2]
    before = [w.copy() for w in net.weights]
    arrays = list(net.weights)
    gradients = net.gradients(x, y)
    error = net.forward(x) - y

    reported = net.step(x, y, lr=0.7)

    assert reported == pytest.approx(np.sum(error**2), rel=1e-12)  # no 1/(2B), no penalty
    assert all(a is b for a, b in zip(arrays, net.weights, strict=True))
    for old, new, gradient in zip(before, net.weights, gradients, strict=True):
        np.testing.assert_allclose(new, old - 0.7 * gradient, rtol=1e-12)


def cost_history(net: HandwrittenMLP, seed: int) -> np.ndarray:
    x, y = sincos(n_batches=300, batch_size=32, rng=seed)
    return np.array([net.step(xb, yb, lr=1.0) for xb, yb in zip(x, y, strict=True)])


def test_article_training_run_reduces_the_cost() -> None:
    # The article's setup, relu on the output too. With seed 0 the cost falls about 96-fold.
    history = cost_history(HandwrittenMLP([1, 16, 2], rng=0), seed=0)
    assert history[-10:].max() < history[:10].max() / 10


@pytest.mark.parametrize("seed", range(5))
def test_training_with_linear_output_reduces_the_cost_for_every_seed(seed: int) -> None:
    # Over seeds 0-99 the smallest reduction seen was about 76-fold.
    net = HandwrittenMLP([1, 16, 2], output_activation=None, rng=seed)
    history = cost_history(net, seed)
    assert history[-10:].max() < history[:10].max() / 10


def test_dead_output_relu_never_learns() -> None:
    # The article's relu output is a trap: if every output pre-activation starts below 0
    # (about a quarter of seeds), no gradient flows and the cost stays at
    # sum(sin^2 + cos^2) = batch size.
    net = HandwrittenMLP([1, 16, 2], rng=0)
    net.weights[-1][:, 0] = -1.0
    before = [w.copy() for w in net.weights]
    history = cost_history(net, seed=0)
    np.testing.assert_allclose(history, 32.0, rtol=1e-12)
    for old, new in zip(before, net.weights, strict=True):
        np.testing.assert_array_equal(new, old)


# ---------------------------------------------------------------------- construction


def test_init_is_seeded_normal_with_the_given_mean() -> None:
    first = HandwrittenMLP([1, 16, 2], rng=3)
    second = HandwrittenMLP([1, 16, 2], rng=np.random.default_rng(3))
    assert [w.shape for w in first.weights] == [(16, 2), (2, 17)]
    for a, b in zip(first.weights, second.weights, strict=True):
        np.testing.assert_array_equal(a, b)
    wide = HandwrittenMLP([200, 200], rng=0, init_mean=-0.1).weights[0]
    assert wide.mean() == pytest.approx(-0.1, abs=0.005)
    assert wide.std() == pytest.approx(0.1, rel=0.02)


def test_forward_accepts_any_batch_size() -> None:
    net = HandwrittenMLP([1, 16, 2], rng=0)
    for batch in (1, 7, 300):
        assert net.forward(np.zeros((batch, 1))).shape == (batch, 2)


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"shape": 3}, TypeError, r"shape.*3"),
        ({"shape": [3]}, ValueError, r"shape.*\[3\]"),
        ({"shape": [1, 0, 2]}, ValueError, r"shape.*\[1, 0, 2\]"),
        ({"shape": [1, 2.5]}, ValueError, r"shape.*2\.5"),
        ({"activation": "tanh"}, ValueError, r"activation.*\('relu', 'sigmoid'\).*'tanh'"),
        ({"output_activation": "softmax"}, ValueError, r"output_activation.*'softmax'"),
        ({"cost": "huber"}, ValueError, r"cost.*\('squared', 'absolute'\).*'huber'"),
        ({"l1": -0.5}, ValueError, r"l1.*-0\.5"),
        ({"l2": float("nan")}, ValueError, r"l2.*nan"),
        ({"l1": "0.1"}, TypeError, r"l1.*'0\.1'"),
        ({"dtype": np.int64}, TypeError, r"dtype"),
    ],
)
def test_constructor_rejects_bad_arguments(
    kwargs: dict[str, object], error: type[Exception], pattern: str
) -> None:
    arguments: dict[str, object] = {"shape": [1, 4, 2], **kwargs}
    with pytest.raises(error, match=pattern):
        HandwrittenMLP(**arguments)


def test_methods_reject_bad_shapes_and_rates() -> None:
    net = HandwrittenMLP([3, 4, 2], rng=0)
    x, y = np.zeros((5, 3)), np.zeros((5, 2))
    with pytest.raises(ValueError, match=r"forward: x must have shape \(batch, 3\), got \(5,\)"):
        net.forward(np.zeros(5))
    with pytest.raises(ValueError, match=r"gradients: y must have shape \(5, 2\).*\(4, 2\)"):
        net.gradients(x, np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"cost: x must have shape"):
        net.cost(np.zeros((5, 2)), y)
    for lr in (0.0, -1.0, float("inf")):
        with pytest.raises(ValueError, match="lr"):
            net.step(x, y, lr)


# ---------------------------------------------------------------------- tinygrad_nn.nn.MLP


def test_to_module_copies_weights_and_activations() -> None:
    net = HandwrittenMLP([2, 5, 3], activation="sigmoid", output_activation=None, rng=0)
    module = net.to_module()
    assert module.activation == "sigmoid"
    assert module.output_activation is None
    for layer, weight in zip(module.layers, net.weights, strict=True):
        np.testing.assert_array_equal(layer.bias.data, weight[:, 0])
        np.testing.assert_array_equal(layer.weight.data, weight[:, 1:])
    net.weights[0][...] = 7.0
    assert not np.any(module.layers[0].weight.data == 7.0)


def test_from_module_copies_weights_and_round_trips() -> None:
    mlp = MLP([1, 6, 2], activation="relu", output_activation="relu", rng=np.random.default_rng(0))
    net = HandwrittenMLP.from_module(mlp)
    assert net.shape == [1, 6, 2]
    assert net.output_activation == "relu"
    for layer, weight in zip(mlp.layers, net.weights, strict=True):
        np.testing.assert_array_equal(weight[:, 0], layer.bias.data)
        np.testing.assert_array_equal(weight[:, 1:], layer.weight.data)
    mlp.layers[0].weight.data[...] = 7.0
    assert not np.any(net.weights[0] == 7.0)

    again = HandwrittenMLP.from_module(net.to_module())
    for a, b in zip(net.weights, again.weights, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("linear", ["identity", None])
def test_from_module_accepts_an_identity_output(linear: str | None) -> None:
    mlp = MLP([1, 4, 2], output_activation=linear, rng=0)
    net = HandwrittenMLP.from_module(mlp)
    assert net.output_activation is None
    assert HandwrittenMLP([1, 4, 2], output_activation="identity").output_activation is None
    x = np.linspace(-1, 1, 5)[:, None]
    np.testing.assert_allclose(net.forward(x), mlp(Tensor(x)).data, rtol=1e-12)
    with pytest.raises(ValueError, match="activation must be one of"):
        HandwrittenMLP.from_module(MLP([1, 4, 2], activation="identity"))
    with pytest.raises(ValueError, match=r"from_module.*activation=None"):
        HandwrittenMLP.from_module(MLP([1, 4, 2], activation=None))


def test_float32_survives_the_module_round_trip() -> None:
    net = HandwrittenMLP([1, 3, 2], rng=0, dtype=np.float32)
    again = HandwrittenMLP.from_module(net.to_module())
    assert again.dtype == np.float32
    assert all(w.dtype == np.float32 for w in again.weights)


def test_autodiff_module_agrees_with_the_oracle() -> None:
    net = HandwrittenMLP([1, 16, 2], output_activation=None, rng=0)
    x, y = sincos(n_batches=1, batch_size=8, rng=1)
    module = net.to_module()
    output = module(Tensor(x[0]))
    np.testing.assert_allclose(output.data, net.forward(x[0]), rtol=1e-12)
    cost = ((output - Tensor(y[0])).square()).sum() / (2 * len(x[0]))
    cost.backward()
    for layer, gradient in zip(module.layers, net.gradients(x[0], y[0]), strict=True):
        np.testing.assert_allclose(layer.bias.grad, gradient[:, 0], rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(layer.weight.grad, gradient[:, 1:], rtol=1e-10, atol=1e-14)
