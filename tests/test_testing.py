"""The gradient-testing toolkit itself: it passes correct ops and reports broken ones.

Every deliberately broken backward below (wrong scale, missing broadcast reduction,
transposed matmul gradient, swapped input gradients, a sign error at one element) must be
reported both by `gradcheck` on a fixed input and by `check_function`'s property test.
"""

from __future__ import annotations

import re
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
from hypothesis import find, given
from hypothesis import strategies as st

import tinygrad_nn as tnn
from tinygrad_nn import Function, Tensor
from tinygrad_nn.nn import MLP
from tinygrad_nn.testing import (
    central_differences,
    check_function,
    check_model,
    gradcheck,
    scaled_squared_error,
)
from tinygrad_nn.testing import strategies as tst

FEW = 15  # examples for check_function runs that should pass: enough to reach odd shapes

# ---------------------------------------------------------------------- correct ops


class Square(Function):
    """f(x) = x**2;  f'(x) = 2x"""

    @staticmethod
    def forward(ctx: Any, x: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx: Any, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        (x,) = ctx.saved
        return (2 * x * grad,)


class Mul(Function):
    """f(a, b) = a * b;  df/da = b, df/db = a"""

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx: Any, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        a, b = ctx.saved
        return (grad * b, grad * a)


class ScaleRows(Function):
    """f(x, s) = x * s[:, None] for x (m, n), s (m,);  df/dx = s[:, None], df/ds = sum_j x"""

    @staticmethod
    def forward(ctx: Any, x: np.ndarray, s: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x, s)
        return x * s[:, None]

    @staticmethod
    def backward(ctx: Any, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        x, s = ctx.saved
        return (grad * s[:, None], (grad * x).sum(axis=1))


class MatMul2D(Function):
    """f(a, b) = a @ b;  df/da = grad @ b.T, df/db = a.T @ grad"""

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(a, b)
        return a @ b

    @staticmethod
    def backward(ctx: Any, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        a, b = ctx.saved
        return (grad @ b.T, a.T @ grad)


# ---------------------------------------------------------------------- broken backwards


class WrongScale(Square):
    """Forgets that d/dx x**2 is 2x, not 3x."""

    @staticmethod
    def backward(ctx: Any, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        (x,) = ctx.saved
        return (3 * x * grad,)


class MissingReduction(ScaleRows):
    """Returns the (m, n) gradient for s (m,) without summing over the broadcast axis 1.

    The engine's generic unbroadcast cannot repair it: it sums leading axes, so for a
    square x it silently sums over axis 0 instead, and otherwise it reports bad shapes.
    """

    @staticmethod
    def backward(ctx: Any, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        x, s = ctx.saved
        return (grad * s[:, None], grad * x)


class TransposedMatMul(MatMul2D):
    """Uses grad @ b instead of grad @ b.T (only fits when b is square)."""

    @staticmethod
    def backward(ctx: Any, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        a, b = ctx.saved
        return (grad @ b, a.T @ grad)


class SwappedMul(Mul):
    """Hands each input the other input's gradient."""

    @staticmethod
    def backward(ctx: Any, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        a, b = ctx.saved
        return (grad * a, grad * b)


class SignErrorAtOneElement(Square):
    """Right everywhere except the first element, whose gradient has the wrong sign."""

    @staticmethod
    def backward(ctx: Any, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        (x,) = ctx.saved
        gx = np.array(2 * x * grad)
        gx.flat[0] *= -1
        return (gx,)


class MutatesInput(Square):
    @staticmethod
    def forward(ctx: Any, x: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x.copy())
        x *= 1.0 + 1e-3
        return x * x


class Upcasts(Square):
    @staticmethod
    def forward(ctx: Any, x: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x)
        return x.astype(np.float64) ** 2


class LogOp(Function):
    """f(x) = log(x);  f'(x) = 1 / x"""

    @staticmethod
    def forward(ctx: Any, x: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.log(x)

    @staticmethod
    def backward(ctx: Any, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        (x,) = ctx.saved
        return (grad / x,)


class StackAll(Function):
    """Takes any number of inputs: arity cannot be inferred."""

    @staticmethod
    def forward(ctx: Any, *arrays: np.ndarray) -> np.ndarray:
        return np.stack(arrays)

    @staticmethod
    def backward(ctx: Any, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        return tuple(grad)


ROWS = st.tuples(st.integers(1, 3), st.integers(1, 3)).map(lambda mn: (mn, mn[:1]))
SQUARE_ROWS = st.integers(1, 3).map(lambda n: ((n, n), (n,)))
MATRICES = st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3)).map(
    lambda mkn: ((mkn[0], mkn[1]), (mkn[1], mkn[2]))
)
SQUARE_RIGHT = st.tuples(st.integers(1, 3), st.integers(1, 3)).map(
    lambda mk: ((mk[0], mk[1]), (mk[1], mk[1]))
)

X = np.array([[0.5, -1.5, 2.0], [1.25, -0.75, 0.3]])
S = np.array([0.7, -1.2])
A = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.5]])
B_SQUARE = np.array([[1.0, 2.0, -0.5], [0.3, -1.2, 0.8], [2.0, 0.1, 0.4]])

BROKEN_GRADCHECK = {
    "wrong_scale": (lambda x: WrongScale.apply(x), (X,)),
    "missing_broadcast_reduction": (lambda x, s: MissingReduction.apply(x, s), (X[:, :2], S)),
    "transposed_matmul": (lambda a, b: TransposedMatMul.apply(a, b), (A, B_SQUARE)),
    "swapped_inputs": (lambda a, b: SwappedMul.apply(a, b), (X, X[::-1] + 1.0)),
    "sign_error_at_one_element": (lambda x: SignErrorAtOneElement.apply(x), (X,)),
}

BROKEN_PROPERTIES = {
    "wrong_scale": {"function": WrongScale},
    "missing_broadcast_reduction": {"function": MissingReduction, "shapes": ROWS},
    "transposed_matmul": {"function": TransposedMatMul, "shapes": MATRICES},
    "swapped_inputs": {"function": SwappedMul},
    "sign_error_at_one_element": {"function": SignErrorAtOneElement, "avoid": (0.0,)},
}


# ---------------------------------------------------------------------- gradcheck


def test_gradcheck_passes_correct_gradients_and_returns_true() -> None:
    x, w = np.linspace(-1.0, 1.0, 6).reshape(2, 3), np.full((3, 2), 0.3)
    assert gradcheck(lambda x, w: (x @ w).tanh().sum(axis=0), x, w) is True
    assert gradcheck(lambda x: Square.apply(x), X) is True
    assert gradcheck(lambda a, b: MatMul2D.apply(a, b), A, B_SQUARE) is True


@pytest.mark.parametrize("case", sorted(BROKEN_GRADCHECK))
def test_gradcheck_reports_every_broken_backward(case: str) -> None:
    fn, inputs = BROKEN_GRADCHECK[case]
    with pytest.raises(AssertionError) as info:
        gradcheck(fn, *inputs)
    message = str(info.value)
    for part in ("gradcheck", "input", "at index", "analytic", "numeric", "Worst absolute error"):
        assert part in message
    assert "worst relative error" in message


def test_gradcheck_message_names_input_index_and_values() -> None:
    x = Tensor(X, requires_grad=True, name="w")
    with pytest.raises(AssertionError) as info:
        gradcheck(lambda x: SignErrorAtOneElement.apply(x), x)
    message = str(info.value)
    assert "input 0 ('w', shape (2, 3))" in message
    assert "at index (0, 0)" in message
    found = re.search(r"analytic (\S+), numeric (\S+)\.", message)
    assert found is not None
    analytic, numeric = float(found[1]), float(found[2])
    upstream = np.random.default_rng(0).standard_normal(X.shape)  # gradcheck's seed 0
    assert numeric == pytest.approx(2 * X[0, 0] * upstream[0, 0], rel=1e-6)
    assert analytic == pytest.approx(-numeric, rel=1e-6)
    assert "1 of 6 elements" in message


def test_gradcheck_finds_the_input_with_the_wrong_gradient() -> None:
    class WrongSecond(Mul):
        @staticmethod
        def backward(ctx: Any, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
            a, b = ctx.saved
            return (grad * b, 0.5 * grad * a)

    with pytest.raises(AssertionError, match="input 1 "):
        gradcheck(lambda a, b: WrongSecond.apply(a, b), X, X + 1.0)


def test_gradcheck_only_checks_inputs_that_require_grad() -> None:
    constant = Tensor(X + 1.0)
    assert gradcheck(lambda a, c: SwappedMul.apply(a, c) * 0 + a * c, X, constant)
    assert constant.grad is None
    index = np.array([0, 0, 1])  # integer arrays pass through unchanged
    assert gradcheck(lambda x, i: x[i], X, index)


def test_gradcheck_works_on_float32_inputs_in_float64_and_leaves_them_alone() -> None:
    x = Tensor(X.astype(np.float32), requires_grad=True)
    assert gradcheck(lambda t: (t * t).sigmoid(), x)
    assert x.grad is None and x.dtype == np.float32


def test_a_kink_within_eps_fails_which_is_why_strategies_avoid_kinks() -> None:
    with pytest.raises(AssertionError, match="kink"):
        gradcheck(lambda x: x.relu(), np.array([0.0, 1.0]))
    assert gradcheck(lambda x: x.relu(), np.array([1e-3, 1.0]))


def test_gradcheck_reports_a_non_finite_output_and_a_mutating_fn() -> None:
    with pytest.raises(AssertionError, match="not finite at index"):
        gradcheck(lambda x: LogOp.apply(x), np.array([1.0, -1.0]))
    with pytest.raises(AssertionError, match="modified input 0"):
        gradcheck(lambda x: MutatesInput.apply(x), X)


def test_gradcheck_rejects_bad_arguments() -> None:
    with pytest.raises(TypeError, match="must return a Tensor"):
        gradcheck(lambda x: x.data * 2, X)
    with pytest.raises(ValueError, match="no input to check"):
        gradcheck(lambda x: x * 2, Tensor(X))
    with pytest.raises(ValueError, match="eps"):
        gradcheck(lambda x: x * 2, X, eps=0.0)
    with pytest.raises(TypeError, match="callable"):
        gradcheck("not a function", X)


def test_central_differences_restores_the_array_exactly() -> None:
    x = np.array([0.1, 0.2, 0.3])
    before = x.copy()
    numeric = central_differences(lambda: float(np.sum(np.sin(x))), x, 1e-6)
    np.testing.assert_array_equal(x, before)
    np.testing.assert_allclose(numeric, np.cos(x), rtol=1e-8)


# ---------------------------------------------------------------------- check_function


def test_check_function_passes_correct_ops() -> None:
    check_function(Square, reference=lambda x: x * x, max_examples=FEW)
    check_function(Mul, reference=np.multiply, max_examples=FEW)
    check_function(ScaleRows, shapes=ROWS, max_examples=FEW)
    check_function(MatMul2D, shapes=MATRICES, reference=np.matmul, max_examples=FEW)
    check_function(LogOp, elements=(0.1, 3.0), max_examples=FEW)


@pytest.mark.parametrize("case", sorted(BROKEN_PROPERTIES))
def test_check_function_reports_every_broken_backward(case: str) -> None:
    options = BROKEN_PROPERTIES[case]
    # Reported by the value check (AssertionError), or, on shapes where the broken backward
    # cannot even produce a gradient of a fitting shape, by the engine (RuntimeError naming
    # the op) or by NumPy inside the backward (ValueError); each with the shrunk example.
    with pytest.raises((AssertionError, RuntimeError, ValueError)) as info:
        check_function(**options, max_examples=100)
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert f"check_{options['function'].__name__}" in notes


def test_check_function_finds_broken_ops_even_on_square_shapes() -> None:
    with pytest.raises(AssertionError, match="does not match finite differences"):
        check_function(MissingReduction, shapes=SQUARE_ROWS, max_examples=100)
    with pytest.raises(AssertionError, match="does not match finite differences"):
        check_function(TransposedMatMul, shapes=SQUARE_RIGHT, max_examples=100)


def test_check_function_shrinks_to_a_minimal_counterexample() -> None:
    with pytest.raises(AssertionError) as info:
        check_function(WrongScale, max_examples=100)
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert "check_WrongScale" in notes
    assert "Draw 1 (shapes): ((),)" in notes  # shrunk to a single 0-d input


def test_check_function_reports_mutation_upcast_domain_and_reference_errors() -> None:
    with pytest.raises(AssertionError, match="modified input 0 in place"):
        check_function(MutatesInput, max_examples=FEW)
    with pytest.raises(AssertionError, match="float32 must stay float32"):
        check_function(Upcasts, max_examples=FEW)
    with pytest.raises(AssertionError, match="not finite"):
        check_function(LogOp, max_examples=50)
    with pytest.raises(AssertionError, match="differ from the reference"):
        check_function(Square, reference=lambda x: x**3, max_examples=50)


def test_check_function_takes_kwargs_elements_per_input_and_fixed_shapes() -> None:
    class Power(Function):
        @staticmethod
        def forward(ctx: Any, x: np.ndarray, *, p: float) -> np.ndarray:
            ctx.save_for_backward(x, p)
            return x**p

        @staticmethod
        def backward(ctx: Any, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
            x, p = ctx.saved
            return (p * x ** (p - 1) * grad,)

    check_function(
        Power, kwargs={"p": 2.5}, elements=(0.1, 2.0), reference=lambda x, p: x**p, max_examples=FEW
    )
    check_function(
        Mul, elements=[(0.5, 1.0), st.floats(-1.0, 1.0)], shapes=[(2, 3), (3,)], max_examples=FEW
    )
    check_function(Square, shapes=(2, 3), max_examples=3)  # one shape for a one-input op


def test_check_function_rejects_bad_arguments() -> None:
    with pytest.raises(TypeError, match="Function subclass"):
        check_function(Square.apply)
    with pytest.raises(ValueError, match="arity"):
        check_function(StackAll)
    with pytest.raises(TypeError, match="elements"):
        check_function(Mul, elements=["wide", "narrow"])
    with pytest.raises(ValueError, match="drew 1 shapes"):
        check_function(Mul, shapes=[(2,)], max_examples=1)


# ---------------------------------------------------------------------- strategies


def test_shapes_include_0d_and_size_1_axes() -> None:
    assert find(tst.shapes(), lambda shape: shape == ()) == ()
    assert 1 in find(tst.shapes(), lambda shape: len(shape) >= 2 and 1 in shape)


@given(st.integers(1, 4).flatmap(lambda n: st.tuples(st.just(n), tst.broadcastable_shapes(n))))
def test_broadcastable_shapes_broadcast_together(drawn: tuple[int, tuple[Any, ...]]) -> None:
    n, shapes = drawn
    assert len(shapes) == n
    np.broadcast_shapes(*shapes)


def test_broadcastable_shapes_mix_ranks_and_stretch_size_1_axes() -> None:
    a, b = find(
        tst.broadcastable_shapes(2),
        lambda s: len(s[0]) != len(s[1]) and np.broadcast_shapes(*s) not in s,
    )
    assert np.broadcast_shapes(a, b) not in (a, b)


@given(tst.arrays(avoid=(0.0, 1.0), margin=0.1))
def test_arrays_stay_away_from_avoided_points(x: np.ndarray) -> None:
    assert x.dtype == np.float64
    assert ((x >= -3.0) & (x <= 3.0)).all()
    assert (np.abs(x) >= 0.1).all() and (np.abs(x - 1.0) >= 0.1).all()


@given(tst.arrays(tst.shapes(min_dims=1), distinct=True, margin=0.01, avoid=(0.0,)))
def test_distinct_arrays_have_no_near_ties(x: np.ndarray) -> None:
    gaps = np.diff(np.sort(x.ravel()))
    assert (gaps >= 0.01 * (1 - 1e-9)).all()
    assert (np.abs(x) >= 0.01).all()


@given(tst.arrays((2, 3), dtype=np.float32, elements=st.floats(-1, 1), avoid=(0.5,)))
def test_arrays_cast_to_float32_and_filter_given_elements(x: np.ndarray) -> None:
    assert x.dtype == np.float32 and x.shape == (2, 3)
    assert (np.abs(x - 0.5) >= 1e-3 * 0.99).all()


@given(tst.tensors((3,), dtype=np.float32), tst.tensors(requires_grad=False))
def test_tensors_wrap_arrays(t: Tensor, constant: Tensor) -> None:
    assert t.requires_grad and t.dtype == np.float32 and t.shape == (3,)
    assert not constant.requires_grad and constant.dtype == np.float64


@given(tst.mlp_shapes(min_layers=2, max_layers=3, max_width=5))
def test_mlp_shapes_list_layer_widths(widths: list[int]) -> None:
    assert 3 <= len(widths) <= 4
    assert all(1 <= w <= 5 for w in widths)


def test_strategies_reject_impossible_requests() -> None:
    with pytest.raises(ValueError, match="lies within"):
        tst.elements(-0.5, 0.5, avoid=(0.0,), margin=1.0)
    with pytest.raises(TypeError, match="floating"):
        tst.arrays((2,), dtype=np.int64)
    with pytest.raises(ValueError, match="min_value"):
        tst.arrays((2,), min_value=1.0, max_value=0.0)
    with pytest.raises(ValueError, match="positive int"):
        tst.broadcastable_shapes(0)


# ---------------------------------------------------------------------- check_model


class TwoLayer:
    """A duck-typed model (named_parameters, zero_grad, call): needs no tnn.nn."""

    def __init__(self, activation: type[Function] = Square) -> None:
        rng = np.random.default_rng(3)
        self.w = Tensor(rng.normal(size=(3, 2)), requires_grad=True)
        self.v = Tensor(rng.normal(size=(1, 3)), requires_grad=True)
        self.activation = activation

    def named_parameters(self) -> Any:
        return iter([("w", self.w), ("v", self.v)])

    def zero_grad(self) -> None:
        self.w.grad = self.v.grad = None

    def __call__(self, x: Tensor) -> Tensor:
        return self.activation.apply(x @ self.w.T) @ self.v.T


def test_check_model_passes_a_correct_model_and_restores_it() -> None:
    model = TwoLayer()
    model.w.grad = np.ones((3, 2))
    before = model.w.data.copy()
    x, y = np.linspace(-1, 1, 8).reshape(4, 2), np.zeros((4, 1))
    assert check_model(model, x, y) == ("finite differences",)
    np.testing.assert_array_equal(model.w.data, before)
    np.testing.assert_array_equal(model.w.grad, np.ones((3, 2)))
    assert model.v.grad is None


def test_check_model_reports_a_broken_op_by_parameter_name() -> None:
    x, y = np.linspace(-1, 1, 8).reshape(4, 2), np.zeros((4, 1))
    with pytest.raises(AssertionError, match="check_model: the gradient of parameter 'w'"):
        check_model(TwoLayer(WrongScale), x, y)


def test_scaled_squared_error_is_the_articles_cost() -> None:
    pred, target = np.array([[1.0, 2.0], [3.0, -1.0], [0.0, 0.5]]), np.zeros((3, 2))
    expected = np.sum((pred - target) ** 2) / (2 * 3)
    assert scaled_squared_error(Tensor(pred), target).item() == pytest.approx(expected)


def _mlp(shape: list[int], activation: str, output_activation: str | None, dtype: Any) -> Any:
    return MLP(
        shape,
        activation=activation,
        output_activation=output_activation,
        rng=np.random.default_rng(7),
        dtype=dtype,
    )


@pytest.mark.parametrize("output_activation", ["sigmoid", None, "identity"])
def test_check_model_three_way_on_a_sigmoid_mlp(output_activation: str | None) -> None:
    mlp = _mlp([2, 4, 3, 2], "sigmoid", output_activation, np.float64)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(5, 2)), rng.normal(size=(5, 2))
    assert check_model(mlp, x, y) == ("finite differences", "HandwrittenMLP")


def _pre_activations(mlp: Any, x: np.ndarray) -> list[np.ndarray]:
    values, a = [], x
    for layer in mlp.layers:
        z = a @ layer.weight.data.T + layer.bias.data
        values.append(z)
        a = np.maximum(z, 0)
    return values


def test_check_model_three_way_on_the_articles_relu_mlp_kept_off_kinks() -> None:
    mlp = _mlp([1, 16, 2], "relu", "relu", np.float64)
    x = np.linspace(-1.0, 1.0, 7)[:, None] + 0.013
    y = np.column_stack([np.sin(x[:, 0]), np.cos(x[:, 0])])
    # The check is only valid away from relu's kink: make that explicit, not luck.
    assert min(np.abs(z).min() for z in _pre_activations(mlp, x)) > 1e-4
    assert check_model(mlp, x, y) == ("finite differences", "HandwrittenMLP")


def test_check_model_keeps_float32_parameters_float32() -> None:
    mlp = _mlp([2, 3, 1], "sigmoid", None, np.float32)
    before = [p.data.copy() for p in mlp.parameters()]
    x = np.linspace(-1, 1, 6, dtype=np.float32).reshape(3, 2)
    assert check_model(mlp, x, np.zeros((3, 1), np.float32))[-1] == "HandwrittenMLP"
    for param, copy in zip(mlp.parameters(), before, strict=True):
        assert param.dtype == np.float32 and param.grad is None
        np.testing.assert_array_equal(param.data, copy)


def test_check_model_reference_modes() -> None:
    mlp = _mlp([2, 3, 1], "sigmoid", None, np.float64)
    x, y = np.linspace(-1, 1, 6).reshape(3, 2), np.ones((3, 1))

    def unscaled(pred: Tensor, target: Tensor) -> Tensor:
        return ((pred - target) ** 2).sum()

    # A custom loss is not the reference's J: auto mode skips the reference comparison ...
    assert check_model(mlp, x, y, unscaled) == ("finite differences",)
    assert check_model(mlp, x, y, reference=False) == ("finite differences",)
    # ... and demanding it shows the mismatch (finite differences still agree).
    with pytest.raises(AssertionError, match=r"does not match HandwrittenMLP\.gradients"):
        check_model(mlp, x, y, unscaled, reference=True)
    with pytest.raises(TypeError, match=r"needs a tnn\.nn\.MLP"):
        check_model(TwoLayer(), x, y, reference=True)


# ---------------------------------------------------------------------- packaging


def test_import_tinygrad_nn_does_not_import_hypothesis() -> None:
    code = "import sys, tinygrad_nn; sys.exit('hypothesis' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
    assert "hypothesis" in sys.modules  # but tinygrad_nn.testing does
    assert tnn.testing.gradcheck is gradcheck
