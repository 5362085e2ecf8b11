"""The oracle tests: autodiff through `tnn.nn.MLP` against the hand-derived `HandwrittenMLP`.

This is what the project exists for. For every activation (relu, sigmoid), cost (squared,
absolute), penalty (none, l1, l2, both) and output activation (the hidden one, or linear),
the gradients the engine derives must equal the gradients derived by hand, to rounding
(float64, relative 1e-10), over drawn layer shapes, batch sizes, weights and data; and
both networks trained side by side for 300 steps must follow the same trajectory.

The autodiff loss is written from `tnn.losses` with exactly the scaling of the scalar J
that `HandwrittenMLP` documents, for a batch of B rows and penalties over weights only
(the reference's bias column 0 is not penalised)::

    squared:   squared_error(pred, y) / (2 B)  + l1 * l1_penalty(weights) + l2 * l2_penalty(weights)
    absolute:  absolute_error(pred, y) / B     + l1 * l1_penalty(weights) + l2 * l2_penalty(weights)

Kinks are kept away by explicit assumptions, never by luck: every relu pre-activation,
every residual of the absolute cost and every l1-penalised weight is at least
`KINK_MARGIN` from 0, so the two sides cannot pick different one-sided derivatives.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import tinygrad_nn as tnn
from tinygrad_nn import losses
from tinygrad_nn.data import sincos
from tinygrad_nn.nn import MLP
from tinygrad_nn.reference import HandwrittenMLP, relu, sigmoid
from tinygrad_nn.testing import check_model, scaled_squared_error
from tinygrad_nn.testing import strategies as tst

ACTIVATIONS = ("relu", "sigmoid")
COSTS = ("squared", "absolute")
OUTPUTS = ("same", None)
PENALTIES = {"none": (0.0, 0.0), "l1": (1.0, 0.0), "l2": (0.0, 1.0), "both": (1.0, 1.0)}

KINK_MARGIN = 1e-3
GRAD_RTOL = 1e-10
GRAD_ATOL = 1e-13  # for entries that cancel to ~0; gradients here are O(0.01 .. 10)
TRAJECTORY_RTOL = 1e-10
CHECKPOINTS = (1, 10, 100, 300)

ALL_COMBINATIONS = list(itertools.product(ACTIVATIONS, COSTS, PENALTIES, OUTPUTS))


# ---------------------------------------------------------------------- helpers


def combination_id(activation: str, cost: str, penalty: str, output: str | None) -> str:
    return f"{activation}-{cost}-{penalty}-out_{output or 'linear'}"


def autodiff_loss(
    mlp: MLP, x: np.ndarray, y: np.ndarray, cost: str, l1: float, l2: float
) -> tuple[tnn.Tensor, tnn.Tensor]:
    """(the article's reported cost, the J of HandwrittenMLP) computed with tnn.losses."""
    pred = mlp(tnn.Tensor(x))
    batch = x.shape[0]
    if cost == "squared":
        reported = losses.squared_error(pred, y)
        loss = reported / (2 * batch)
    else:
        reported = losses.absolute_error(pred, y)
        loss = reported / batch
    weights = [layer.weight for layer in mlp.layers]  # weights only: biases are not penalised
    if l1:
        loss = loss + l1 * losses.l1_penalty(weights)
    if l2:
        loss = loss + l2 * losses.l2_penalty(weights)
    return reported, loss


def autodiff_gradients(mlp: MLP) -> list[np.ndarray]:
    """Each layer's gradient in the reference's layout: bias in column 0, then the weight."""
    return [
        np.concatenate([layer.bias.grad[:, None], layer.weight.grad], axis=1)
        for layer in mlp.layers
    ]


def pre_activations(
    weights: list[np.ndarray], x: np.ndarray, activation: str, output: str | None
) -> tuple[list[np.ndarray], np.ndarray]:
    """Every layer's z = [1, a] @ W.T (recomputed here, independently of both networks)."""
    functions = {"relu": relu, "sigmoid": sigmoid, None: lambda z: z}
    last = len(weights) - 1
    zs, a = [], x
    for index, weight in enumerate(weights):
        z = a @ weight[:, 1:].T + weight[:, 0]
        zs.append(z)
        a = functions[output if index == last else activation](z)
    return zs, a


def assume_away_from_kinks(
    weights: list[np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
    activation: str,
    output: str | None,
    cost: str,
    l1: float,
) -> None:
    """Reject examples where a relu, abs or l1 term sits within KINK_MARGIN of its kink."""
    output = activation if output == "same" else output
    zs, out = pre_activations(weights, x, activation, output)
    last = len(weights) - 1
    for index, z in enumerate(zs):
        if (output if index == last else activation) == "relu":
            assume(np.all(np.abs(z) >= KINK_MARGIN))
    if cost == "absolute":
        assume(np.all(np.abs(out - y) >= KINK_MARGIN))
    if l1:
        assume(all(np.all(np.abs(w[:, 1:]) >= KINK_MARGIN) for w in weights))


@st.composite
def problems(draw: st.DrawFn, max_width: int = 6) -> dict:
    """A drawn problem: layer widths, batch size, a seed, a weight scale and the data.

    The weights are the reference's own seeded normal(0, 0.1) init times the drawn scale,
    so they range from the article's small ones to O(1) ones that leave relu units alive
    and dead within one batch. x and y come from the same seed.
    """
    shape = draw(tst.mlp_shapes(min_layers=1, max_layers=3, min_width=1, max_width=max_width))
    batch = draw(st.integers(1, 8), label="batch")
    seed = draw(st.integers(0, 2**32 - 1), label="seed")
    scale = draw(st.floats(1.0, 15.0), label="weight scale")
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2.0, 2.0, size=(batch, shape[0]))
    y = rng.uniform(-1.0, 1.0, size=(batch, shape[-1]))
    return {"shape": shape, "seed": seed, "scale": scale, "x": x, "y": y}


def build_pair(
    problem: dict, activation: str, cost: str, l1: float, l2: float, output: str | None
) -> tuple[HandwrittenMLP, MLP]:
    """The reference, built from the drawn seed and scaled, and the MLP it moves into."""
    reference = HandwrittenMLP(
        problem["shape"], activation=activation, cost=cost, l1=l1, l2=l2,
        rng=problem["seed"], output_activation=output,
    )  # fmt: skip
    reference.weights = [w * problem["scale"] for w in reference.weights]
    return reference, reference.to_module()


def relative_difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


GRADIENT_SETTINGS = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


# ---------------------------------------------------------------------- gradients


@pytest.mark.parametrize(
    ("activation", "cost", "penalty", "output"),
    ALL_COMBINATIONS,
    ids=[combination_id(*c) for c in ALL_COMBINATIONS],
)
@GRADIENT_SETTINGS
@given(problem=problems(), scales=st.tuples(st.floats(0.01, 2.0), st.floats(0.01, 2.0)))
def test_autodiff_gradients_equal_the_hand_derived_ones(
    activation: str,
    cost: str,
    penalty: str,
    output: str | None,
    problem: dict,
    scales: tuple[float, float],
) -> None:
    l1 = PENALTIES[penalty][0] * scales[0]
    l2 = PENALTIES[penalty][1] * scales[1]
    x, y = problem["x"], problem["y"]
    reference, mlp = build_pair(problem, activation, cost, l1, l2, output)
    assume_away_from_kinks(reference.weights, x, y, activation, output, cost, l1)

    # The weights moved across exactly, both ways.
    assert mlp.activation == activation
    assert mlp.output_activation == (activation if output == "same" else None)
    for moved, drawn in zip(HandwrittenMLP.from_module(mlp).weights, reference.weights,
                            strict=True):  # fmt: skip
        np.testing.assert_array_equal(moved, drawn)

    # Same forward, same scalar J.
    np.testing.assert_allclose(
        mlp(tnn.Tensor(x)).data, reference.forward(x), rtol=1e-12, atol=1e-14
    )
    _, loss = autodiff_loss(mlp, x, y, cost, l1, l2)
    assert loss.item() == pytest.approx(reference.cost(x, y), rel=1e-12, abs=1e-14)

    loss.backward()
    expected = reference.gradients(x, y)
    for index, (got, want) in enumerate(zip(autodiff_gradients(mlp), expected, strict=True)):
        np.testing.assert_allclose(
            got, want, rtol=GRAD_RTOL, atol=GRAD_ATOL,
            err_msg=f"layer {index} (column 0 = bias) of {reference!r}",
        )  # fmt: skip


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("output", OUTPUTS)
@GRADIENT_SETTINGS
@given(seed=st.integers(0, 2**32 - 1), shape=tst.mlp_shapes(max_layers=3, max_width=6),
       batch=st.integers(1, 8))  # fmt: skip
def test_an_mlp_initialised_by_tinygrad_nn_agrees_via_from_module(
    activation: str, output: str | None, seed: int, shape: list[int], batch: int
) -> None:
    """The other direction: tnn's own init, then `HandwrittenMLP.from_module`."""
    output_activation = activation if output == "same" else None
    rng = np.random.default_rng(seed)
    mlp = MLP(shape, activation=activation, output_activation=output_activation, rng=rng)
    x = rng.uniform(-2, 2, size=(batch, shape[0]))
    y = rng.uniform(-1, 1, size=(batch, shape[-1]))
    reference = HandwrittenMLP.from_module(mlp)
    assume_away_from_kinks(reference.weights, x, y, activation, output_activation, "squared", 0.0)

    _, loss = autodiff_loss(mlp, x, y, "squared", 0.0, 0.0)
    loss.backward()
    for got, want in zip(autodiff_gradients(mlp), reference.gradients(x, y), strict=True):
        np.testing.assert_allclose(got, want, rtol=GRAD_RTOL, atol=GRAD_ATOL)


def test_the_comparison_catches_a_wrongly_scaled_loss() -> None:
    """The test above can fail: the article's cost / B (not / 2B) is caught at once."""
    problem = {
        "shape": [1, 4, 2],
        "seed": 0,
        "scale": 5.0,
        "x": np.array([[0.3], [0.7]]),
        "y": np.array([[0.1, 0.9], [0.6, 0.8]]),
    }
    reference, mlp = build_pair(problem, "sigmoid", "squared", 0.0, 0.0, "same")
    x, y = problem["x"], problem["y"]
    (losses.squared_error(mlp(tnn.Tensor(x)), y) / x.shape[0]).backward()
    for got, want in zip(autodiff_gradients(mlp), reference.gradients(x, y), strict=True):
        with pytest.raises(AssertionError):
            np.testing.assert_allclose(got, want, rtol=GRAD_RTOL, atol=GRAD_ATOL)
        np.testing.assert_allclose(got, 2 * want, rtol=GRAD_RTOL, atol=GRAD_ATOL)


# ---------------------------------------------------------------------- trajectories

TRAJECTORIES = [
    *itertools.product(ACTIVATIONS, COSTS, PENALTIES, ["same"]),
    *itertools.product(ACTIVATIONS, COSTS, ["both"], [None]),
]
TRAJECTORY_PENALTY = 1e-3  # l1 and l2 weights when a penalty is on: small, as in practice


@pytest.mark.parametrize(
    ("activation", "cost", "penalty", "output"),
    TRAJECTORIES,
    ids=[combination_id(*c) for c in TRAJECTORIES],
)
def test_300_training_steps_follow_the_same_trajectory(
    activation: str, cost: str, penalty: str, output: str | None
) -> None:
    """The article's run (data, [1, 16, 2], lr 1.0): reference `step` against MLP + SGD."""
    l1, l2 = (TRAJECTORY_PENALTY * on for on in PENALTIES[penalty])
    seed = 1
    reference = HandwrittenMLP(
        [1, 16, 2], activation=activation, cost=cost, l1=l1, l2=l2, rng=seed,
        output_activation=output,
    )  # fmt: skip
    mlp = reference.to_module()
    optimizer = tnn.optim.SGD(mlp.parameters(), lr=1.0)
    x, y = sincos(n_batches=300, batch_size=32, rng=seed + 1)

    for step in range(1, 301):
        batch_x, batch_y = x[step - 1], y[step - 1]
        reported, loss = autodiff_loss(mlp, batch_x, batch_y, cost, l1, l2)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        expected_reported = reference.step(batch_x, batch_y, lr=1.0)
        assert reported.item() == pytest.approx(expected_reported, rel=1e-10, abs=1e-12), step
        if step in CHECKPOINTS:
            moved = HandwrittenMLP.from_module(mlp).weights
            for index, (got, want) in enumerate(zip(moved, reference.weights, strict=True)):
                difference = relative_difference(got, want)
                assert difference <= TRAJECTORY_RTOL, (
                    f"step {step}, layer {index}: weights differ by {difference:.3g} (relative)"
                )
    # The trajectory went somewhere: this is a comparison of training, not of a standstill.
    start = HandwrittenMLP([1, 16, 2], rng=seed).weights
    moved_by = [relative_difference(w, s) for w, s in zip(reference.weights, start, strict=True)]
    assert max(moved_by) > 0.1


# ---------------------------------------------------------------------- tnn.testing.check_model


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("output", OUTPUTS)
@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
@given(problem=problems(max_width=4), cost=st.sampled_from(COSTS),
       penalty=st.sampled_from(sorted(PENALTIES)))  # fmt: skip
def test_check_model_agrees(
    activation: str, output: str | None, problem: dict, cost: str, penalty: str
) -> None:
    """`tnn.testing.check_model` passes on the same networks: finite differences for every
    J, and its own HandwrittenMLP comparison for the article's J (squared, no penalty)."""
    l1, l2 = (0.5 * on for on in PENALTIES[penalty])
    x, y = problem["x"], problem["y"]
    reference, mlp = build_pair(problem, activation, cost, l1, l2, output)
    assume_away_from_kinks(reference.weights, x, y, activation, output, cost, l1)

    assert check_model(mlp, x, y) == ("finite differences", "HandwrittenMLP")
    assert check_model(mlp, x, y, loss_fn=scaled_squared_error, reference=True) == (
        "finite differences",
        "HandwrittenMLP",
    )

    def j(pred: tnn.Tensor, target: np.ndarray) -> tnn.Tensor:
        batch = pred.shape[0]
        data_term = (
            losses.squared_error(pred, target) / (2 * batch)
            if cost == "squared"
            else losses.absolute_error(pred, target) / batch
        )
        weights = [layer.weight for layer in mlp.layers]
        return data_term + l1 * losses.l1_penalty(weights) + l2 * losses.l2_penalty(weights)

    assert check_model(mlp, x, y, loss_fn=j, reference=False) == ("finite differences",)
