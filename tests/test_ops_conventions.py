"""The edge conventions of the ops (ties, zeros, kinks, undefined derivatives), the routines
without gradients (argmax, argmin), factories and `tnn.manual_seed`, PyTorch's spellings,
NumPy dispatch of the new functions, and their error messages.

Values and gradients of every op away from its edges are in the table of tests/test_ops.py.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import tinygrad_nn as tnn
from tinygrad_nn import Tensor
from tinygrad_nn import functional as F
from tinygrad_nn.nn import init
from tinygrad_nn.testing import gradcheck, gradgradcheck


def grad_of(fn: Any, *values: Any) -> list[np.ndarray]:
    leaves = [Tensor(np.asarray(v, dtype=np.float64), requires_grad=True) for v in values]
    fn(*leaves).sum().backward()
    return [leaf.grad for leaf in leaves]


# ---------------------------------------------------------------------- ties and kinks


@pytest.mark.parametrize("size", [7, tnn.ops.core.RELU_SIGN_SIZE - 1, tnn.ops.core.RELU_SIGN_SIZE])
def test_relu_derivative_on_both_sides_of_its_size_switch(size: int) -> None:
    # Relu.backward computes its 0/1 derivative with sign() below RELU_SIGN_SIZE elements
    # and a cast mask from there on: the same at the kink and to a second order; at a NaN
    # output with a finite gradient arriving, NaN below the switch and 0 from it on.
    values = np.random.default_rng(size).normal(size=size)
    values[:4] = [0.0, -0.0, 1e-300, np.nan]
    x = Tensor(values, requires_grad=True)
    weights = np.arange(1, size + 1, dtype=np.float64)
    (first,) = tnn.gradients((F.relu(x) * weights).sum(), x)
    assert first.data[:3].tolist() == [0.0, 0.0, 3.0]
    assert np.isnan(first.data[3]) == (size < tnn.ops.core.RELU_SIGN_SIZE)
    np.testing.assert_array_equal(first.data[4:], (weights * (values > 0))[4:])
    finite = Tensor(np.nan_to_num(values), requires_grad=True)
    (first,) = tnn.gradients((F.relu(finite) ** 2).sum(), finite, create_graph=True)
    (second,) = tnn.gradients(first.sum(), finite)
    np.testing.assert_array_equal(first.data, 2 * np.maximum(finite.data, 0))
    np.testing.assert_array_equal(second.data, 2.0 * (finite.data > 0))


@pytest.mark.parametrize("name", ["maximum", "minimum"])
def test_maximum_and_minimum_split_ties_evenly(name: str) -> None:
    a, b = [1.0, 2.0, 3.0], [1.0, 5.0, 0.0]
    grad_a, grad_b = grad_of(getattr(tnn, name), a, b)
    if name == "maximum":
        np.testing.assert_array_equal(grad_a, [0.5, 0.0, 1.0])
        np.testing.assert_array_equal(grad_b, [0.5, 1.0, 0.0])
    else:
        np.testing.assert_array_equal(grad_a, [0.5, 1.0, 0.0])
        np.testing.assert_array_equal(grad_b, [0.5, 0.0, 1.0])


def test_maximum_tie_with_a_broadcast_scalar_sums_the_halves() -> None:
    (grad_a,) = grad_of(lambda t: tnn.maximum(t, Tensor(np.ones(3))), 1.0)
    assert grad_a == 1.5


@pytest.mark.parametrize("name", ["floor", "ceil", "round", "sign"])
def test_rounding_and_sign_have_zero_gradient_also_at_the_jumps(name: str) -> None:
    x = np.array([-1.0, -0.5, 0.0, 0.5, 2.0])
    (grad,) = grad_of(getattr(tnn, name), x)
    np.testing.assert_array_equal(grad, np.zeros(5))
    assert gradgradcheck(lambda t: getattr(tnn, name)(t) * t, x + 0.25)


def test_round_halves_to_even_and_keeps_float32() -> None:
    out = tnn.round(Tensor(np.array([0.5, 1.5, 2.5, -0.5], dtype=np.float32)))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out.data, [0.0, 2.0, 2.0, -0.0])


def test_mod_gradients() -> None:
    grad_a, grad_b = grad_of(tnn.mod, [5.5, -1.0, 7.0], [2.0, 2.0, -3.0])
    np.testing.assert_array_equal(grad_a, [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(grad_b, -np.floor(np.array([5.5, -1.0, 7.0]) / [2, 2, -3]))
    t = Tensor([5.5], requires_grad=True)
    assert (t % 2.0).data[0] == 1.5 and (7.0 % Tensor([4.0])).data[0] == 3.0


@pytest.mark.parametrize("name", ["hypot", "arctan2"])
def test_hypot_and_arctan2_are_zero_not_nan_at_the_origin(name: str) -> None:
    grads = grad_of(getattr(tnn, name), [0.0, 3.0], [0.0, 4.0])
    assert all(np.isfinite(g).all() and g[0] == 0.0 for g in grads)


# ---------------------------------------------------------------------- reductions at their edges


def test_prod_gradient_at_zeros() -> None:
    (one_zero,) = grad_of(tnn.prod, [2.0, 0.0, 3.0])
    np.testing.assert_array_equal(one_zero, [0.0, 6.0, 0.0])
    (two_zeros,) = grad_of(tnn.prod, [0.0, 0.0, 3.0])
    np.testing.assert_array_equal(two_zeros, [0.0, 0.0, 0.0])
    # Second order at two zeros: d2/dx0 dx1 of x0 x1 x2 is x2 = 3, exactly.
    x = Tensor([0.0, 0.0, 3.0], requires_grad=True)
    (first,) = tnn.gradients(tnn.prod(x), x, create_graph=True)
    (second,) = tnn.gradients(first[0], x)
    np.testing.assert_array_equal(second.data, [0.0, 3.0, 0.0])


def test_prod_is_accurate_for_tiny_factors() -> None:
    x = np.array([1e-200, 1e-200, 2.0])
    (grad,) = grad_of(tnn.prod, x)
    np.testing.assert_allclose(grad, [2e-200, 2e-200, 0.0], rtol=1e-12)


def test_cumprod_gradient_at_zeros() -> None:
    x = np.array([2.0, 0.0, 3.0, 0.0])
    assert gradcheck(tnn.cumprod, x) and gradgradcheck(tnn.cumprod, x)
    (grad,) = grad_of(tnn.cumprod, x)  # d/dx1 of (2, 2 x1, 6 x1, 6 x1 x3) summed = 2 + 6
    np.testing.assert_array_equal(grad, [1.0, 8.0, 0.0, 0.0])


def test_std_gradient_is_zero_at_zero_variance() -> None:
    x = Tensor(np.full((2, 3), 1.5), requires_grad=True)
    x.std(axis=1).sum().backward()
    np.testing.assert_array_equal(x.grad, np.zeros((2, 3)))
    (first,) = tnn.gradients(x.std(), x, create_graph=True)
    (second,) = tnn.gradients(first.sum(), x)
    assert np.isfinite(second.data).all()


def test_var_and_std_follow_numpy_ddof() -> None:
    x = np.array([[1.0, 2.0, 4.0], [0.0, -1.0, 3.0]])
    for ddof in (0, 1):
        np.testing.assert_allclose(
            tnn.var(Tensor(x), axis=1, ddof=ddof).data, np.var(x, 1, ddof=ddof)
        )
        np.testing.assert_allclose(Tensor(x).std(ddof=ddof).data, np.std(x, ddof=ddof))
    with pytest.raises(ValueError, match=r"^std: ddof=3 leaves no degrees of freedom"):
        tnn.std(Tensor(x), axis=1, ddof=3)


@pytest.mark.parametrize("ord", [None, 2, 1, np.inf])
def test_norm_gradient_is_zero_at_the_zero_vector(ord: Any) -> None:
    (grad,) = grad_of(lambda t: tnn.norm(t, ord), np.zeros(3))
    np.testing.assert_array_equal(grad, np.zeros(3))


@pytest.mark.parametrize("ord", [None, "fro", 1, -1, np.inf, -np.inf])
def test_matrix_norms_match_numpy(ord: Any) -> None:
    x = np.random.default_rng(0).normal(size=(3, 4))
    np.testing.assert_allclose(tnn.norm(Tensor(x), ord).data, np.linalg.norm(x, ord))
    np.testing.assert_allclose(
        tnn.norm(Tensor(x), ord, axis=(1, 0), keepdims=True).data,
        np.linalg.norm(x, ord, axis=(1, 0), keepdims=True),
    )
    assert gradcheck(lambda t: tnn.norm(t, ord), x)


def test_norm_refuses_what_it_cannot_differentiate() -> None:
    with pytest.raises(ValueError, match=r"^norm: unsupported matrix ord 'nuc'"):
        tnn.norm(Tensor(np.eye(2)), "nuc")
    with pytest.raises(ValueError, match=r"^norm: ord=1 needs a 1-D or 2-D tensor"):
        tnn.norm(Tensor(np.ones((2, 2, 2))), 1)


@pytest.mark.parametrize("name", ["argmax", "argmin"])
def test_argmax_and_argmin_give_integer_tensors_without_gradient(name: str) -> None:
    x = np.array([[1.0, 5.0, 2.0], [7.0, -1.0, 0.0]])
    t = Tensor(x, requires_grad=True)
    for axis in (None, 0, 1, -1):
        out = getattr(t, name)(axis=axis)
        assert out.dtype.kind == "i" and not out.requires_grad
        np.testing.assert_array_equal(out.data, getattr(np, name)(x, axis=axis))
    assert getattr(np, name)(t, axis=1).tolist() == getattr(np, name)(x, axis=1).tolist()


def test_logsumexp_is_stable_and_handles_minus_infinity() -> None:
    out = tnn.logsumexp(Tensor([1000.0, 1000.0]))
    assert np.isclose(out.item(), 1000.0 + np.log(2.0))
    assert tnn.logsumexp(Tensor([-np.inf, -np.inf])).item() == -np.inf


# ---------------------------------------------------------------------- axes, empty and 0-d inputs


def test_transpose_with_negative_axes_routes_the_gradient_back() -> None:
    x = Tensor(np.arange(24.0).reshape(2, 3, 4), requires_grad=True)
    upstream = np.random.default_rng(0).normal(size=(4, 2, 3))
    x.transpose(-1, 0, -2).backward(upstream)
    np.testing.assert_array_equal(x.grad, np.transpose(upstream, (1, 2, 0)))


@pytest.mark.parametrize("reduce", ["sum", "max", "min", "mean"])
def test_numpy_integer_axes_work_in_backward(reduce: str) -> None:
    x = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    getattr(x, reduce)(axis=np.int64(1)).sum().backward()
    expected = {
        "sum": np.ones((2, 3)),
        "mean": np.full((2, 3), 1 / 3),
        "max": np.array([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]]),
        "min": np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]]),
    }
    np.testing.assert_allclose(x.grad, expected[reduce])


def test_mean_of_an_empty_batch_has_an_empty_result() -> None:
    assert Tensor(np.ones((0, 3))).mean(axis=1).shape == (0,)
    with pytest.raises(ValueError, match="empty axis"):
        Tensor(np.ones((0, 3))).mean(axis=0)


def test_softmax_with_a_bad_axis_names_the_function_and_shape() -> None:
    with pytest.raises(ValueError, match=r"log_softmax: axis 2 .*\(2, 3\)"):
        Tensor(np.ones((2, 3))).softmax(axis=2)


def test_softmax_of_a_0d_tensor_is_one() -> None:
    x = Tensor(3.0, requires_grad=True)
    out = x.softmax()
    out.backward()
    assert out.item() == 1.0 and x.grad == 0.0


def test_where_needs_a_boolean_condition() -> None:
    with pytest.raises(TypeError, match="boolean"):
        tnn.where(np.array([0.0, 1.0]), Tensor([1.0, 2.0]), 0.0)


# ---------------------------------------------------------------------- gradients routed by index


def test_sort_and_take_along_axis_route_gradients_by_index() -> None:
    x = Tensor([3.0, 1.0, 2.0], requires_grad=True)
    (tnn.sort(x) * Tensor([1.0, 10.0, 100.0])).sum().backward()
    np.testing.assert_array_equal(x.grad, [100.0, 1.0, 10.0])
    y = Tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    tnn.take_along_axis(y, np.array([[1, 1], [0, 1]]), axis=1).sum().backward()
    np.testing.assert_array_equal(y.grad, [[0.0, 2.0], [1.0, 1.0]])


def test_pad_modes_add_up_copies() -> None:
    x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    tnn.pad(x, (2, 1), mode="edge").sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 1.0, 2.0])
    np.testing.assert_array_equal(tnn.pad(x, 1, constant_values=9.0).data, [9, 1, 2, 3, 9])


def test_einsum_gradients_are_einsums() -> None:
    a = Tensor(np.ones((2, 3)), requires_grad=True)
    b = Tensor(np.ones((3, 4)), requires_grad=True)
    grad_a, _ = tnn.gradients(
        tnn.einsum("ij,jk->ik", a, b), [a, b], np.ones((2, 4)), create_graph=True
    )
    assert grad_a.grad_fn.op_name() == "Einsum"
    x = np.random.default_rng(1).normal(size=(3, 3))
    assert gradgradcheck(lambda t: tnn.einsum("ii,ij->j", t, t), x)


# ---------------------------------------------------------------------- activations


def test_activations_stay_finite_at_large_inputs() -> None:
    x = Tensor([-1000.0, -30.0, 0.0, 30.0, 1000.0], requires_grad=True)
    for fn in (F.elu, F.softplus, F.logsigmoid, F.mish, F.silu, F.gelu):
        x.grad = None
        out = fn(x)
        out.sum().backward()
        assert np.isfinite(out.data).all() and np.isfinite(x.grad).all(), fn.__name__
    np.testing.assert_array_equal(F.softplus(Tensor([25.0, 30.0])).data, [25.0, 30.0])


def test_leaky_relu_gradient_at_zero_is_the_slope() -> None:
    (grad,) = grad_of(lambda t: F.leaky_relu(t, 0.2), [0.0])
    assert grad[0] == pytest.approx(0.2)
    with pytest.raises(ValueError, match=r"^gelu: approximate must be 'none' or 'tanh'"):
        F.gelu(Tensor([1.0]), approximate="fast")


def test_activation_methods_equal_the_functions() -> None:
    x = Tensor(np.linspace(-4.0, 4.0, 9) + 0.1)
    for name in (
        "leaky_relu",
        "elu",
        "gelu",
        "silu",
        "softplus",
        "mish",
        "hardswish",
        "relu6",
        "hardtanh",
        "logsigmoid",
    ):
        np.testing.assert_array_equal(getattr(x, name)().data, getattr(F, name)(x).data)


# ---------------------------------------------------------------------- factories and seeds


def test_factories_take_the_default_dtype_and_requires_grad() -> None:
    for make in (
        lambda **k: tnn.zeros((2, 3), **k),
        lambda **k: tnn.ones(3, **k),
        lambda **k: tnn.full((2,), 1.5, **k),
        lambda **k: tnn.eye(3, **k),
        lambda **k: tnn.arange(4, **k),
        lambda **k: tnn.linspace(0, 1, 5, **k),
        lambda **k: tnn.rand(2, 2, **k),
        lambda **k: tnn.randn((3,), **k),
    ):
        assert make().dtype == np.float64 and not make().requires_grad
        assert make(requires_grad=True).requires_grad and make(requires_grad=True).is_leaf
        tnn.set_default_dtype(np.float32)
        assert make().dtype == np.float32
        tnn.set_default_dtype(np.float64)
        assert make(dtype=np.float32).dtype == np.float32
    np.testing.assert_array_equal(tnn.eye(2, 3, k=1).data, np.eye(2, 3, k=1))
    np.testing.assert_array_equal(tnn.arange(1, 2, 0.25).data, np.arange(1, 2, 0.25))
    with pytest.raises(TypeError, match=r"^zeros: only floating-point tensors can require grad"):
        tnn.zeros(2, dtype=np.int64, requires_grad=True)


def test_like_factories_keep_the_dtype() -> None:
    t = Tensor(np.ones((2, 2), dtype=np.float32), requires_grad=True)
    for out in (
        tnn.zeros_like(t),
        tnn.ones_like(t),
        tnn.full_like(t, 3.0),
        np.zeros_like(t),
        np.ones_like(t),
    ):
        assert isinstance(out, Tensor) and out.dtype == np.float32 and out.shape == (2, 2)
        assert not out.requires_grad
    assert tnn.full_like(t, 3.0).data[0, 0] == 3.0


def test_linspace_is_differentiable_in_tensor_endpoints() -> None:
    start = Tensor(0.5, requires_grad=True)
    out = tnn.linspace(start, 2.0, 4)
    np.testing.assert_allclose(out.data, np.linspace(0.5, 2.0, 4))
    assert gradcheck(lambda a, b: tnn.linspace(a, b, 5), np.array([0.0, 1.0]), np.array(3.0))
    assert gradcheck(lambda a: tnn.linspace(a, 1.0, 4, endpoint=False), np.array(-1.0))


def test_manual_seed_drives_factories_and_initializers() -> None:
    tnn.manual_seed(7)
    first = (tnn.rand(3).data, tnn.randn(2, 2).data, init.normal(np.empty(4)).copy())
    tnn.manual_seed(7)
    second = (tnn.rand(3).data, tnn.randn(2, 2).data, init.normal(np.empty(4)).copy())
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(tnn.rand(3).data, first[0])
    with pytest.raises(TypeError, match=r"^manual_seed: a seed must be an int"):
        tnn.manual_seed(1.5)


# ---------------------------------------------------------------------- PyTorch spellings


def test_dim_is_an_alias_of_axis() -> None:
    x = Tensor(np.arange(6.0).reshape(2, 3))
    for name in ("sum", "mean", "prod", "var", "std", "logsumexp", "cumsum", "argmax"):
        np.testing.assert_array_equal(getattr(x, name)(dim=1).data, getattr(x, name)(axis=1).data)
    with pytest.raises(TypeError, match=r"^sum: give axis= or its PyTorch spelling dim=, not both"):
        x.sum(axis=0, dim=1)
    with pytest.raises(TypeError, match=r"^max: dim= is not accepted"):
        x.max(dim=1)


def test_pytorch_shape_methods() -> None:
    x = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    assert x.unsqueeze(0).shape == (1, 2, 3) and x.view(3, 2).shape == (3, 2)
    assert x.permute(1, 0).shape == (3, 2) and x.t().shape == (3, 2)
    assert x.squeeze().shape == (2, 3) and isinstance(x.size, int) and x.size == 6
    with pytest.raises(ValueError, match=r"^t: expects a tensor of at most 2 axes"):
        Tensor(np.ones((1, 2, 3))).t()
    copy = x.clone()
    assert copy.data is not x.data and copy.grad_fn is not None
    assert x.float().dtype == np.float32 and x.float().double().dtype == np.float64
    (copy.float() * 2.0).sum().backward()
    assert x.grad.dtype == np.float64 and (x.grad == 2.0).all()


# ---------------------------------------------------------------------- NumPy dispatch and errors


def test_numpy_functions_record_on_tensors() -> None:
    t = Tensor(np.array([[1.0, 2.0], [3.0, 4.0]]), requires_grad=True)
    results = [
        np.sin(t),
        np.prod(t, axis=0),
        np.linalg.norm(t),
        np.einsum("ij->j", t),
        np.pad(t, 1),
        np.sort(t, axis=0),
        np.cumsum(t),
        np.flip(t),
        np.kron(t, t),
        np.tensordot(t, t),
        np.var(t),
        np.maximum(t, 2.5),
        np.hypot(t, t),
        np.trace(t),
        np.tril(t),
        np.squeeze(t[None]),
    ]
    for out in results:
        assert isinstance(out, Tensor) and out.requires_grad


def test_errors_name_the_function_and_the_fix() -> None:
    x = Tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"^squeeze: axis 1 of shape \(2, 3\) has size 3"):
        x.squeeze(1)
    with pytest.raises(ValueError, match=r"^einsum: the subscripts 'ij,jk' name 2 operands, but 1"):
        tnn.einsum("ij,jk", x)
    with pytest.raises(ValueError, match=r"^tensordot: the summed axes"):
        tnn.tensordot(x, x, axes=([1], [1, 0]))
    with pytest.raises(ValueError, match=r"^pad: pad_width must hold non-negative ints"):
        tnn.pad(x, -1)
    with pytest.raises(ValueError, match=r"^pad: unsupported mode 'median'"):
        tnn.pad(x, 1, mode="median")
    with pytest.raises(ValueError, match=r"^split: an axis of size 3 does not divide into 2"):
        tnn.split(x, 2, axis=1)
    with pytest.raises(ValueError, match=r"^moveaxis: axis 5 is out of range"):
        tnn.moveaxis(x, 5, 0)
    with pytest.raises(TypeError, match=r"^take_along_axis: indices must be integers"):
        tnn.take_along_axis(x, np.ones((2, 3)), 1)


def test_inspecting_numpy_functions_see_the_data() -> None:
    t = Tensor([3.0, 0.0, 2.0], requires_grad=True)
    assert np.allclose(t, [3.0, 0.0, 2.0]) and np.array_equal(t, t) and np.isclose(t, 3.0)[0]
    assert np.count_nonzero(t) == 2 and np.any(t) and not np.all(t)
    np.testing.assert_array_equal(np.argsort(t), [1, 2, 0])
    np.testing.assert_array_equal(np.nonzero(t)[0], [0, 2])


def test_prod_over_an_empty_axis() -> None:
    x = Tensor(np.ones((2, 0)), requires_grad=True)
    out = x.prod(axis=1)
    np.testing.assert_array_equal(out.data, [1.0, 1.0])
    out.sum().backward()
    assert x.grad.shape == (2, 0)


@pytest.mark.parametrize(
    ("fn", "x", "expected"),
    [
        # Reference gradients hand-copied from PyTorch 2.13.0 (CPU, float64), computed
        # locally with torch.autograd.grad on torch.nn.functional's functions.
        (F.hardswish, [-3.0, 3.0, -1.0], [0.0, 1.0, 1.0 / 6.0]),
        (F.relu6, [0.0, 6.0, 3.0], [0.0, 0.0, 1.0]),
        (F.hardtanh, [-1.0, 1.0, 0.5], [0.0, 0.0, 1.0]),
        (lambda t: F.leaky_relu(t, 0.1), [0.0], [0.1]),
        (lambda t: F.elu(t, 2.0), [0.0], [2.0]),
    ],
)
def test_activation_gradients_at_the_kinks_are_pytorchs(fn: Any, x: list, expected: list) -> None:
    (grad,) = grad_of(fn, x)
    np.testing.assert_allclose(grad, expected, rtol=1e-12)


# ------------------------------------------------- NumPy semantics the peer suites use


def test_np_linspace_records_with_tensor_endpoints() -> None:
    start = Tensor(1.2, requires_grad=True)
    out = np.linspace(start, 3.4, 5)
    assert isinstance(out, Tensor) and out.requires_grad
    np.testing.assert_allclose(out.data, np.linspace(1.2, 3.4, 5))
    gradcheck(lambda a, b: np.linspace(a, b, 5), start, Tensor(3.4, requires_grad=True))


@pytest.mark.parametrize("name", ["vstack", "hstack", "column_stack", "dstack"])
def test_stacking_a_single_tensor_joins_its_rows(name: str) -> None:
    # NumPy takes an array as the sequence of its rows: np.vstack(np.ones(2)) is (2, 1).
    rng = np.random.default_rng(0)
    for shape in [(2,), (2, 3), (2, 3, 4)]:
        data = rng.standard_normal(shape)
        out = getattr(np, name)(Tensor(data))
        assert isinstance(out, Tensor)
        np.testing.assert_array_equal(out.data, getattr(np, name)(data))
        gradcheck(getattr(tnn, name), Tensor(data, requires_grad=True))
    with pytest.raises(TypeError, match=rf"^{name}: expected a sequence of tensors, got a 0-d"):
        getattr(tnn, name)(Tensor(1.0))


def test_np_row_stack_reaches_vstack() -> None:
    # np.row_stack (a deprecated alias) passes vstack's default casting="same_kind" on.
    parts = (Tensor(np.ones((2, 4)), requires_grad=True), Tensor(np.zeros((1, 4))))
    with pytest.warns(DeprecationWarning):
        out = np.row_stack(parts)
    assert isinstance(out, Tensor) and out.shape == (3, 4) and out.requires_grad
    with pytest.raises(TypeError, match=r"^vstack: the NumPy arguments \['casting'\]"):
        np.vstack(parts, casting="unsafe")


def test_einsum_takes_numpys_interleaved_sublists() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((2, 2, 3)), rng.standard_normal((2, 3, 4))
    cases = [
        ((a, [0, 1, 2], b, [0, 2, 3], [0, 1, 3]), "abc,acd->abd"),
        ((a, [Ellipsis, 1, 2], b, [Ellipsis, 2, 3], [Ellipsis, 1, 3]), "...bc,...cd->...bd"),
        ((a, [0, 1, 1 + 26]), "abB->abB"),  # 26 and up: capitals; implicit output by number
    ]
    for args, subscripts in cases:
        tensors = [Tensor(x, requires_grad=True) if isinstance(x, np.ndarray) else x for x in args]
        out = np.einsum(*tensors)
        assert isinstance(out, Tensor)
        np.testing.assert_allclose(out.data, np.einsum(*args))
        operands = [x for x in args if isinstance(x, np.ndarray)]
        np.testing.assert_allclose(out.data, tnn.einsum(subscripts, *operands).data)
    leaves = [Tensor(a, requires_grad=True), Tensor(b, requires_grad=True)]
    gradgradcheck(lambda x, y: tnn.einsum(x, [0, 1, 2], y, [0, 2, 3]), *leaves)
    with pytest.raises(TypeError, match=r"^einsum: give the subscripts as a string first"):
        tnn.einsum(Tensor(a), [0, 60, 1])


def test_a_list_holding_tensors_is_stacked_so_gradients_reach_them():
    """Found by the ported HIPS autograd suite (test_mean_list_of_boxes): the list used
    to become a constant, cutting the graph."""
    x = tnn.Tensor(0.0, requires_grad=True)
    assert tnn.grad(lambda x: tnn.mean([x, x + 2]))(0.0) == 1.0
    tnn.add(x, [x, x]).sum().backward()
    assert x.grad == 4.0  # twice through the broadcast x, twice through the list
    nested = tnn.mean([[x, 1.0], [2.0, x * 3]])
    assert nested.requires_grad and nested.item() == 0.75
