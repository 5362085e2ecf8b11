"""Kernels (`tinygrad_nn.kernels`): a compiled step computes bitwise what eager mode does.

Each row applies one op with a kernel to drawn arrays (broadcasting, 0-d and size-1 axes
where the op allows them), then weights the result by a drawn constant and sums it, so
every output element gets its own gradient. The step is recorded (eagerly) on the first
call and compiled from then on; its loss and every ``.grad`` must equal eager mode's bit
for bit, in float64 and float32.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_nn as tnn
import tinygrad_nn.functional as F
from tinygrad_nn import Tensor, ops
from tinygrad_nn.capture import capture_step
from tinygrad_nn.kernels import KERNELS
from tinygrad_nn.losses import squared_error
from tinygrad_nn.testing import strategies as tst


def _shapes_for(kind: str) -> st.SearchStrategy[tuple[tuple[int, ...], ...]]:
    if kind == "unary":
        return tst.broadcastable_shapes(1)
    if kind == "broadcast":
        return tst.broadcastable_shapes(2)
    if kind == "same":
        return tst.shapes().map(lambda shape: (shape, shape))
    if kind == "linear":
        return st.tuples(*(st.integers(1, 4),) * 3).map(
            lambda sizes: ((sizes[0], sizes[1]), (sizes[2], sizes[1]), (sizes[2],))
        )
    assert kind == "matmul"
    return st.tuples(*(st.integers(1, 4),) * 3).map(
        lambda sizes: ((sizes[0], sizes[1]), (sizes[1], sizes[2]))
    )


# op -> (how its input shapes are drawn, the smallest value drawn, the function of Tensors)
ROWS: dict[type[tnn.Function], tuple[str, float, Callable[..., Any]]] = {
    ops.Neg: ("unary", -2.0, lambda a: -a),
    ops.Exp: ("unary", -2.0, tnn.exp),
    ops.Log: ("unary", 0.5, tnn.log),
    ops.Square: ("unary", -2.0, tnn.square),
    ops.Abs: ("unary", -2.0, tnn.abs),
    ops.Tanh: ("unary", -2.0, tnn.tanh),
    ops.Sigmoid: ("unary", -2.0, F.sigmoid),
    ops.Relu: ("unary", -2.0, F.relu),
    ops.Add: ("broadcast", -2.0, lambda a, b: a + b),
    ops.Sub: ("broadcast", -2.0, lambda a, b: a - b),
    ops.Mul: ("broadcast", -2.0, lambda a, b: a * b),
    ops.Div: ("broadcast", 0.5, lambda a, b: a / b),
    ops.Sum: ("unary", -2.0, lambda a: a.sum() * a + a.sum(axis=-1, keepdims=True)),
    ops.SquaredError: ("same", -2.0, lambda a, b: squared_error(a, b, "mean") * a),
    ops.Reshape: ("unary", -2.0, lambda a: a.reshape(-1) * 2),
    ops.Transpose: (
        "unary",
        -2.0,
        lambda a: (
            (a.T * 2).reshape(-1) + tnn.transpose(a, (*range(1, a.ndim), 0)[: a.ndim]).reshape(-1)
        ),
    ),
    ops.Linear: ("linear", -2.0, F.linear),
    ops.MatMul: ("matmul", -2.0, lambda a, b: a @ b),
}


def test_every_kernel_has_a_row():
    own = {op for op in KERNELS if op.__module__.startswith("tinygrad_nn.")}  # docs add one
    assert own == set(ROWS)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("op", list(ROWS), ids=lambda op: op.__name__)
@given(data=st.data())
def test_a_compiled_step_equals_eager_bitwise(op, dtype, data):
    kind, low, fn = ROWS[op]
    shapes = data.draw(_shapes_for(kind))
    values = [
        data.draw(tst.arrays(shape, dtype=dtype, min_value=low, max_value=2.0)) for shape in shapes
    ]
    needs = data.draw(st.lists(st.booleans(), min_size=len(values), max_size=len(values)))
    needs[0] = True  # something must need a gradient
    out_shape = fn(*(Tensor(v) for v in values)).shape
    weights = Tensor(data.draw(tst.arrays(out_shape, dtype=dtype, min_value=-2.0, max_value=2.0)))

    def parameters() -> list[Tensor]:
        return [Tensor(v.copy(), requires_grad=need) for v, need in zip(values, needs, strict=True)]

    eager, captured = parameters(), parameters()
    eager_loss = (fn(*eager) * weights).sum()
    eager_loss.backward()
    step = capture_step(lambda: (fn(*captured) * weights).sum())
    step()  # recorded
    for tensor in captured:
        tensor.grad = None
    loss = step()  # compiled
    assert step.source.startswith("def step():"), step.source
    assert loss.dtype == eager_loss.dtype and loss.data.tobytes() == eager_loss.data.tobytes()
    for index, (a, b) in enumerate(zip(eager, captured, strict=True)):
        if not a.requires_grad:
            assert b.grad is None
            continue
        assert b.grad.dtype == a.grad.dtype and b.grad.shape == a.grad.shape, index
        np.testing.assert_array_equal(b.grad, a.grad, err_msg=f"input {index}")


@pytest.mark.parametrize(
    "axis, keepdims", [(0, False), (1, True), ((0, 2), False), ((-1, 0), True), (None, True)]
)
def test_sums_over_axes_compile_and_equal_eager(axis, keepdims):
    values = np.random.default_rng(3).normal(size=(2, 3, 4))
    eager, captured = Tensor(values, requires_grad=True), Tensor(values, requires_grad=True)
    weights = Tensor(np.random.default_rng(4).normal(size=eager.sum(axis, keepdims).shape))
    (eager.sum(axis, keepdims) * weights).sum().backward()
    step = capture_step(lambda: (captured.sum(axis, keepdims) * weights).sum())
    step()
    captured.grad = None
    step()
    assert step.source.startswith("def step():")
    assert captured.grad.tobytes() == eager.grad.tobytes()


def _compiled_and_eager(fn: Callable[[Tensor], Tensor], values: np.ndarray) -> tuple[Any, ...]:
    """(step source, eager loss, compiled loss, eager gradient, compiled gradient) of fn."""
    eager, captured = Tensor(values, requires_grad=True), Tensor(values, requires_grad=True)
    eager_loss = fn(eager)
    eager_loss.backward()
    step = capture_step(lambda: fn(captured))
    step()
    captured.grad = None
    loss = step()
    assert step.source.startswith("def step():")
    return step.source, eager_loss, loss, eager.grad, captured.grad


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("size", [ops.core.RELU_SIGN_SIZE - 1, ops.core.RELU_SIGN_SIZE])
def test_relus_derivative_switches_at_the_same_size_compiled(size, dtype):
    # Below RELU_SIGN_SIZE the derivative is sign(out), from it on a cast mask; they differ
    # only at a NaN output with a finite gradient arriving (NaN, and 0): the element pins
    # where each side switches.
    values = np.random.default_rng(size).normal(size=size).astype(dtype)
    values[0] = np.nan
    weights = np.random.default_rng(1).normal(size=size).astype(dtype)
    source, _, _, eager_grad, compiled_grad = _compiled_and_eager(
        lambda x: (F.relu(x) * weights).sum(), values
    )
    assert (" = sign(" in source) == (size < ops.core.RELU_SIGN_SIZE)
    assert np.isnan(eager_grad[0]) == (size < ops.core.RELU_SIGN_SIZE)
    assert compiled_grad.tobytes() == eager_grad.tobytes()
    np.testing.assert_array_equal(eager_grad[1:], (weights * (values > 0))[1:])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("reduction", ["sum", "mean"])
@pytest.mark.parametrize(
    "size", [ops.core.SQUARED_ERROR_DOT_SIZE, ops.core.SQUARED_ERROR_DOT_SIZE + 1]
)
def test_squared_errors_sum_switches_at_the_same_size_compiled(size, reduction, dtype):
    # dot up to SQUARED_ERROR_DOT_SIZE elements, einsum above: they round differently, so a
    # kernel switching at another size would not be bitwise eager.
    rng = np.random.default_rng(size)
    values = rng.normal(size=size).astype(dtype)
    targets = rng.normal(size=size).astype(dtype)
    source, eager_loss, loss, eager_grad, compiled_grad = _compiled_and_eager(
        lambda x: squared_error(x, targets, reduction), values
    )
    assert ("einsum" in source) == (size > ops.core.SQUARED_ERROR_DOT_SIZE)
    assert loss.data.tobytes() == eager_loss.data.tobytes()
    assert compiled_grad.tobytes() == eager_grad.tobytes()


def test_a_broadcasting_squared_error_is_left_to_the_engine():
    # ops.SquaredError.apply broadcasts (the losses refuse to); the kernel declines it
    pred = Tensor(np.array([0.5]), requires_grad=True)
    targets = Tensor(np.linspace(0.0, 1.0, 9000))
    eager = Tensor(np.array([0.5]), requires_grad=True)
    ops.SquaredError.apply(eager, targets, reduction="mean").backward()
    step = capture_step(lambda: ops.SquaredError.apply(pred, targets, reduction="mean"))
    step()
    pred.grad = None
    loss = step()
    assert step.source.startswith("# replayed through the engine, not compiled")
    assert pred.grad.shape == (1,) and pred.grad.tobytes() == eager.grad.tobytes()
    np.testing.assert_allclose(loss.item(), np.mean((0.5 - targets.data) ** 2), rtol=1e-12)


def test_a_kernel_declines_what_it_does_not_cover_and_the_step_is_replayed():
    x = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    step = capture_step(lambda: squared_error(x, np.ones((2, 3)), reduction="none").sum())
    step()
    step()
    assert step.source.startswith(
        "# replayed through the engine, not compiled: SquaredError has no kernel"
    )
    np.testing.assert_array_equal(x.grad, 2 * (2 * (x.data - 1)))  # two calls accumulate


def test_a_gradient_two_parameters_share_is_copied_into_each_grad():
    a = Tensor(np.ones(3), requires_grad=True)
    b = Tensor(np.ones(3), requires_grad=True)
    weights = Tensor(np.array([1.0, 2.0, 3.0]))
    step = capture_step(lambda: ((a + b) * weights).sum())
    step()
    a.grad = b.grad = None
    step()  # compiled: Add hands the same gradient to both inputs
    step()
    assert a.grad is not b.grad
    np.testing.assert_array_equal(a.grad, 2 * weights.data)
    np.testing.assert_array_equal(b.grad, 2 * weights.data)


def test_the_listing_in_docs_performance_is_the_compiled_source():
    from pathlib import Path

    page = (Path(__file__).parents[1] / "docs" / "performance.md").read_text(encoding="utf-8")
    marker = "```python\nprint(train_step.source)\n```\n\n```text\n"
    listing = page[page.index(marker) + len(marker) :].split("```", 1)[0]
    model = tnn.nn.MLP([1, 16, 2], rng=0)
    optimizer = tnn.optim.SGD(model.parameters(), lr=0.5)
    train_step = capture_step(
        lambda x, y: squared_error(model(x), y) / (2 * len(x)), optimizer=optimizer
    )
    x = np.linspace(0, 1, 32)[:, None]
    train_step(x, np.concatenate([np.sin(x), np.cos(x)], axis=1))
    assert train_step.source == listing


LOSSES = {
    "squared": lambda p, t: squared_error(p, t),
    "mse": lambda p, t: tnn.losses.mse(p, t),
    "absolute": lambda p, t: tnn.losses.absolute_error(p, t),
    "mae + l2": lambda p, t, params=(): tnn.losses.mae(p, t) + 1e-3 * tnn.losses.l2_penalty(params),
}


@given(
    widths=st.lists(st.integers(1, 5), min_size=2, max_size=4),
    activation=st.sampled_from(["relu", "sigmoid", "tanh"]),
    output_relu=st.booleans(),
    loss=st.sampled_from(sorted(LOSSES)),
    dtype=st.sampled_from([np.float64, np.float32]),
    batch=st.integers(1, 6),
    momentum=st.sampled_from([0.0, 0.9]),
    seed=st.integers(0, 2**16),
)
def test_compiled_training_steps_equal_eager_ones_bitwise(
    widths, activation, output_relu, loss, dtype, batch, momentum, seed
):
    """Whole training steps of drawn MLPs, losses and SGD settings: compiled equals eager."""
    rng = np.random.default_rng(seed)
    models = [
        tnn.nn.MLP(
            widths,
            activation=activation,
            output_activation="relu" if output_relu else None,
            rng=seed,
            dtype=dtype,
        )
        for _ in range(2)
    ]
    optimizers = [tnn.optim.SGD(m.parameters(), lr=0.1, momentum=momentum) for m in models]

    def loss_of(model, x, y):
        cost = LOSSES[loss]
        if loss == "mae + l2":
            return cost(
                model(x), y, params=[p for n, p in model.named_parameters() if "weight" in n]
            )
        return cost(model(x), y)

    train_step = capture_step(lambda x, y: loss_of(models[1], x, y), optimizer=optimizers[1])
    for _ in range(3):
        x = rng.normal(size=(batch, widths[0])).astype(dtype)
        y = rng.normal(size=(batch, widths[-1])).astype(dtype)
        optimizers[0].zero_grad()
        expected = loss_of(models[0], Tensor(x), Tensor(y))
        expected.backward()
        optimizers[0].step()
        got = train_step(x, y)
        assert got.data.tobytes() == expected.data.tobytes()
        for a, b in zip(models[0].parameters(), models[1].parameters(), strict=True):
            assert a.data.tobytes() == b.data.tobytes()
            assert a.grad.tobytes() == b.grad.tobytes()
    assert train_step.source.startswith("def step(x0, x1):"), train_step.source.split("\n")[0]


def test_a_gradient_is_named_where_its_kernel_makes_it_unless_the_value_is_used_again():
    # The step assigns g<n> where a backward kernel makes it (no "g<n> = temporary" copy),
    # except where the temporary goes on to a second input too (the squared error's
    # -gradient for a target that needs one): it is read after the copy, so it stays.
    values = np.random.default_rng(5).normal(size=(4, 3))
    source, eager_loss, loss, eager_grad, compiled_grad = _compiled_and_eager(
        lambda x: squared_error(F.relu(x), x * 0.5), values
    )
    copies = re.findall(r"^    g\d+ = ([A-Za-z_]\w*)$", source, flags=re.M)
    assert copies == ["seed", "v4_gp"], source
    assert re.search(r"^    g3 = -v4_gp$", source, flags=re.M), source
    # x's second gradient (through the relu) is added to its first, so it keeps its name.
    assert re.search(r"^    g0 = g0 \+ v1_d$", source, flags=re.M), source
    assert loss.item() == eager_loss.item()
    assert compiled_grad.tobytes() == eager_grad.tobytes()
    # With a constant target every kernel result is handed on once: no copy is left.
    source, eager_loss, loss, eager_grad, compiled_grad = _compiled_and_eager(
        lambda x: squared_error(F.relu(x), np.ones((4, 3))), values
    )
    assert re.findall(r"^    g\d+ = ([A-Za-z_]\w*)$", source, flags=re.M) == ["seed"], source
    assert re.search(r"^    g0 = sign\(v1\)$", source, flags=re.M), source
    assert compiled_grad.tobytes() == eager_grad.tobytes()


def _aliases_removed(body: list[str], temporaries: set[str]) -> list[str]:
    """`compiled._without_aliases` over a step whose backward is ``body`` (unindented)."""
    from tinygrad_nn.compiled import _without_aliases

    head = ["def step(x0):", "    v1_t = x0 * 2.0", "    # backward: g<n> is ..."]
    lines = _without_aliases([*head, *(f"    {line}" for line in body)], temporaries)
    return [line.strip() for line in lines[len(head) :]]


@pytest.mark.parametrize(
    "body, expected",
    [
        # the plain case: the temporary becomes the gradient; comments are not uses
        (
            ["v2_d = sign(v1)  # v2_d: the derivative", "v2_d *= g2", "g1 = v2_d", "# v2_d done"],
            ["g1 = sign(v1)  # g1: the derivative", "g1 *= g2", "# v2_d done"],
        ),
        # a name that only starts with the temporary's is another name
        (
            ["v2_d = sign(v1)", "v2_d2 = v2_d * 2.0", "g1 = v2_d", "g0 = v2_d2"],
            ["g1 = sign(v1)", "g0 = g1 * 2.0"],
        ),
        # read after the copy (a second input's gradient): kept
        (
            ["v2_gp = v1 * g2", "g1 = v2_gp", "g0 = -v2_gp"],
            ["v2_gp = v1 * g2", "g1 = v2_gp", "g0 = -v2_gp"],
        ),
        # the gradient's name is read between the temporary's first line and the copy
        (
            ["v2_gp = v1 * g2", "h = g1 + 1.0", "g1 = v2_gp"],
            ["v2_gp = v1 * g2", "h = g1 + 1.0", "g1 = v2_gp"],
        ),
        # a value the forward made is not the backward's to rename
        (["g1 = v1_t"], ["g1 = v1_t"]),
    ],
)
def test_copies_of_temporaries_into_gradients_are_folded_only_where_safe(body, expected):
    temporaries = {"v1_t", "v2_d", "v2_d2", "v2_gp"}
    assert _aliases_removed(body, temporaries) == expected
