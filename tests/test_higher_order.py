"""Higher-order autodiff: `tnn.gradients`, the function transforms, NumPy dispatch.

Second and third derivatives are checked against finite differences of lower-order
gradients, in float64; closed forms where the function is simple enough to know them.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_nn as tnn
from tinygrad_nn import Tensor
from tinygrad_nn import functional as F
from tinygrad_nn.nn import MLP
from tinygrad_nn.testing import central_differences, gradgradcheck


def leaf(values) -> Tensor:
    return Tensor(np.asarray(values, dtype=np.float64), requires_grad=True)


# --------------------------------------------------------------------------- gradients()


def test_gradients_to_third_order_follow_the_closed_form():
    x = leaf(1.5)
    (first,) = tnn.gradients(x**4, x, create_graph=True)
    (second,) = tnn.gradients(first, x, create_graph=True)
    (third,) = tnn.gradients(second, x)
    assert first.item() == pytest.approx(4 * 1.5**3)
    assert second.item() == pytest.approx(12 * 1.5**2)
    assert third.item() == pytest.approx(24 * 1.5)
    assert x.grad is None  # gradients() writes no .grad
    assert not third.requires_grad and first.requires_grad


def test_gradients_of_several_outputs_with_grad_outputs_and_a_non_leaf_input():
    x = leaf([1.0, 2.0])
    h = x * x
    y, z = h.sum(), (h * 3.0).sum()
    gx, gh = tnn.gradients([y, z], [x, h], grad_outputs=[Tensor(2.0), None])
    np.testing.assert_allclose(gh.data, [2.0 + 3.0, 2.0 + 3.0])
    np.testing.assert_allclose(gx.data, 2 * x.data * 5.0)


def test_unused_inputs_raise_unless_allowed():
    x, unused = leaf([1.0]), leaf([2.0])
    y = (x * 2.0).sum()
    with pytest.raises(RuntimeError, match="allow_unused=True"):
        tnn.gradients(y, [x, unused], retain_graph=True)
    gx, gu = tnn.gradients(y, [x, unused], allow_unused=True)
    assert gu is None and gx.item() == 2.0


def test_retain_graph_defaults_to_create_graph():
    x = leaf([1.0, 2.0])
    y = (x.exp()).sum()
    tnn.gradients(y, x)
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        tnn.gradients(y, x)
    z = (x.exp()).sum()
    tnn.gradients(z, x, create_graph=True)
    (again,) = tnn.gradients(z, x)  # still there
    np.testing.assert_allclose(again.data, np.exp(x.data))


def test_an_input_that_does_not_require_grad_is_refused():
    with pytest.raises(RuntimeError, match="does not require grad"):
        tnn.gradients(leaf([1.0]).sum(), Tensor([1.0]))


def test_a_gradient_graph_reaches_the_leaves_of_the_first_graph():
    w = leaf([0.5, -0.3])
    x = leaf([1.0, 2.0])
    (gx,) = tnn.gradients(((w * x).tanh()).sum(), x, create_graph=True)
    penalty = (gx * gx).sum()  # a gradient penalty: differentiate it by the weights
    penalty.backward()
    assert w.grad is not None

    def objective() -> float:
        with tnn.enable_grad():
            xx = leaf(x.data)
            (g,) = tnn.gradients(((Tensor(w_work) * xx).tanh()).sum(), xx)
        return float((g.data**2).sum())

    w_work = w.data.copy()
    numeric = central_differences(objective, w_work, 1e-6)
    np.testing.assert_allclose(w.grad, numeric, rtol=1e-6, atol=1e-8)


# --------------------------------------------------------------------------- transforms


def test_grad_composes_to_any_order():
    def f(x):
        return (x**3).sum()

    assert tnn.grad(f)(2.0) == pytest.approx(12.0)
    assert tnn.grad(tnn.grad(f))(2.0) == pytest.approx(12.0)
    assert tnn.grad(tnn.grad(tnn.grad(f)))(2.0) == pytest.approx(6.0)


def test_nested_grad_stays_connected_to_closed_over_tensors():
    w = leaf(3.0)

    def inner(x):
        return (w * x * x).sum()

    # d/dw of (d/dx w x^2) = d/dw (2 w x) = 2 x, evaluated inside an outer transform
    outer = tnn.grad(lambda v: tnn.grad(inner)(v) * 1.0)
    assert outer(2.0) == pytest.approx(2 * 3.0)  # d/dx (2 w x) = 2 w

    def through_w(x):
        (gx,) = tnn.gradients(inner(x), x, create_graph=True)
        return gx.sum()

    x = leaf(2.0)
    (gw,) = tnn.gradients(through_w(x), w)
    assert gw.item() == pytest.approx(2 * 2.0)


def test_jacobian_and_hessian_have_numpy_shapes_and_values():
    x = np.array([[0.3, -0.2], [0.1, 0.5]])
    jac = tnn.jacobian(lambda t: t.tanh() * 2.0)(x)
    assert jac.shape == (2, 2, 2, 2)
    expected = np.zeros((2, 2, 2, 2))
    for i, j in np.ndindex(2, 2):
        expected[i, j, i, j] = 2 * (1 - np.tanh(x[i, j]) ** 2)
    np.testing.assert_allclose(jac, expected)
    hess = tnn.hessian(lambda t: (t**3).sum())(x)
    assert hess.shape == (2, 2, 2, 2)
    np.testing.assert_allclose(hess.reshape(4, 4), np.diag(6 * x.reshape(-1)))


def test_hessian_of_an_mlp_is_symmetric_and_matches_finite_differences():
    model = MLP([2, 5, 1], activation="tanh", output_activation=None, rng=0)
    weight = model.layers[0].weight

    def loss(w):
        model.layers[0].weight = w
        return (model(Tensor(np.array([[0.5, -1.0], [1.0, 0.2]]))) ** 2).sum()

    start = weight.data.copy()
    hess = tnn.hessian(loss)(start).reshape(start.size, start.size)
    np.testing.assert_allclose(hess, hess.T, atol=1e-12)
    work = start.copy()
    for k in range(start.size):
        direction = np.zeros(start.size)
        direction[k] = 1

        def directional(k: int = k) -> float:
            return float(tnn.grad(loss)(work).reshape(-1)[k])

        row = central_differences(directional, work, 1e-6).reshape(-1)
        np.testing.assert_allclose(hess[k], row, rtol=1e-5, atol=1e-7)
    model.layers[0].weight = weight


def test_hvp_matches_the_hessian_and_finite_differences():
    rng = np.random.default_rng(0)
    x, v = rng.standard_normal(4), rng.standard_normal(4)

    def f(t):
        return (t.tanh() * t).sum() + (t * t).sum() ** 2

    hv = tnn.hvp(f, x, v)
    np.testing.assert_allclose(hv, tnn.hessian(f)(x) @ v, rtol=1e-10)
    eps = 1e-6
    numeric = (tnn.grad(f)(x + eps * v) - tnn.grad(f)(x - eps * v)) / (2 * eps)
    np.testing.assert_allclose(hv, numeric, rtol=1e-6)


def test_vjp_and_jvp_agree_with_the_jacobian():
    rng = np.random.default_rng(1)
    x, tangent, cotangent = rng.standard_normal(3), rng.standard_normal(3), rng.standard_normal(2)

    def f(t):
        return tnn.stack([(t * t).sum(), t.sin().sum() if hasattr(t, "sin") else t.tanh().sum()])

    jac = tnn.jacobian(f)(x)
    out, vjp_fn = tnn.vjp(f, x)
    (pulled,) = vjp_fn(cotangent)
    np.testing.assert_allclose(pulled, cotangent @ jac)
    value, pushed = tnn.jvp(f, (x,), (tangent,))
    np.testing.assert_allclose(value, out)
    np.testing.assert_allclose(pushed, jac @ tangent)


def test_transforms_explain_misuse():
    with pytest.raises(ValueError, match="same shape"):
        tnn.hvp(lambda t: (t * t).sum(), np.ones(2), np.ones(3))
    with pytest.raises(TypeError, match="single-element"):
        tnn.hessian(lambda t: t * t)(np.ones(2))


# --------------------------------------------------------------------------- custom ops


class Cube(tnn.Function):
    """f(x) = x**3;  f'(x) = 3 x**2"""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x**3

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved
        return (3 * x**2 * grad,)


class SavesAnIntermediate(tnn.Function):
    """f(x) = exp(x) * 2, saving exp(x) (fine for first order only)."""

    @staticmethod
    def forward(ctx, x):
        e = np.exp(x)
        ctx.save_for_backward(e)
        return e * 2

    @staticmethod
    def backward(ctx, grad):
        (e,) = ctx.saved
        return (grad * e * 2,)


def test_a_custom_function_gets_higher_order_gradients_for_free():
    assert gradgradcheck(lambda t: Cube.apply(t), np.array([0.5, -1.2, 2.0]))
    assert tnn.grad(tnn.grad(lambda t: Cube.apply(t)))(2.0) == pytest.approx(12.0)


def test_a_saved_intermediate_is_refused_in_higher_order_but_fine_in_first_order():
    x = leaf([0.5])
    SavesAnIntermediate.apply(x).sum().backward()
    np.testing.assert_allclose(x.grad, 2 * np.exp(0.5))
    with pytest.raises(RuntimeError, match=r"SavesAnIntermediate.*Save the op's inputs"):
        tnn.gradients(SavesAnIntermediate.apply(x).sum(), x, create_graph=True)


@given(st.sampled_from(["linear", "mlp_tanh", "log_softmax", "squared_error", "max", "index"]))
def test_core_building_blocks_are_twice_differentiable(case):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 4))
    functions = {
        "linear": (
            lambda a, w, b: F.linear(a, w, b).tanh(),
            x,
            rng.standard_normal((2, 4)),
            rng.standard_normal(2),
        ),
        "mlp_tanh": (
            lambda a: MLP([4, 3, 2], activation="tanh", output_activation=None, rng=0)(a),
            x,
        ),
        "log_softmax": (lambda a: a.log_softmax(axis=1), x),
        "squared_error": (
            lambda a, b: tnn.losses.squared_error(a, b),
            x,
            rng.standard_normal((3, 4)),
        ),
        "max": (lambda a: a.max(axis=1), x),
        "index": (lambda a: a[[0, 2, 2]] * a[1], x),
    }
    fn, *inputs = functions[case]
    assert gradgradcheck(fn, *inputs)


# --------------------------------------------------------------------------- NumPy dispatch


def test_numpy_functions_on_tensors_record():
    t = leaf([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    w = leaf(np.ones(6))
    results = [
        np.exp(t),
        np.sum(t, axis=0),
        np.reshape(t, (6,)),
        np.concatenate([t, t]),
        np.where(t.data > 2, t, 0.0),
        np.matmul(t, t.T),
        np.dot(t, t.T),
        np.ravel(t),
        np.stack([t, t]),
        np.array([1.0, 1.0, 1.0]) * t,
    ]
    for result in results:
        assert isinstance(result, Tensor) and result.requires_grad
    (np.reshape(t, (6,)) * w).sum().backward()
    np.testing.assert_array_equal(t.grad, np.ones((2, 3)))


def test_a_numpy_function_without_a_differentiable_version_is_a_type_error():
    t = leaf([1.0, 2.0])
    with pytest.raises(TypeError, match=r"np\.fft.*|np\.unwrap"):
        np.unwrap(t)
    with pytest.raises(TypeError, match="out="):
        np.exp(t, out=np.empty(2))
    assert np.asarray(t) is t.data  # the documented way to get the data


def test_comparisons_through_numpy_give_masks():
    t = leaf([1.0, -2.0])
    mask = np.greater(t, 0)
    assert isinstance(mask, Tensor) and not mask.requires_grad
    assert mask.data.tolist() == [True, False]


class CubeWithAFrozenDerivative(tnn.Function):
    """f(x) = x**3 with a first derivative right and no second: 3 x**2 from the data."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x**3

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved
        frozen = 3 * np.asarray(x) ** 2  # np.asarray drops the graph: a constant
        return (grad * frozen,)


def test_gradgradcheck_catches_a_backward_that_is_right_only_to_first_order():
    from tinygrad_nn.testing import gradcheck

    x = np.array([0.5, -1.5, 2.0])
    assert gradcheck(lambda t: CubeWithAFrozenDerivative.apply(t), x)
    with pytest.raises(AssertionError, match="second order"):
        gradgradcheck(lambda t: CubeWithAFrozenDerivative.apply(t), x)
