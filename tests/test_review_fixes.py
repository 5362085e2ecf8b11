"""Regression tests for bugs found in review: each failed before its fix."""

import numpy as np
import pytest

import tinygrad_nn as tnn
from tinygrad_nn import Tensor
from tinygrad_nn.functional import linear


def test_transpose_with_negative_axes_routes_the_gradient_back():
    x = Tensor(np.arange(24.0).reshape(2, 3, 4), requires_grad=True)
    upstream = np.random.default_rng(0).normal(size=(4, 2, 3))
    x.transpose(-1, 0, -2).backward(upstream)
    np.testing.assert_array_equal(x.grad, np.transpose(upstream, (1, 2, 0)))


class _ReturnsSaved(tnn.Function):
    """f(a, b) = a * b with a backward that hands back its saved arrays themselves."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved
        return (b, a)  # the gradient for a unit upstream gradient, without a copy


def test_a_gradient_that_is_a_saved_array_never_aliases_data():
    a = Tensor(2.0, requires_grad=True)
    b = Tensor(3.0, requires_grad=True)
    for _ in range(2):
        _ReturnsSaved.apply(a, b).backward()
    assert a.data == 2.0 and b.data == 3.0
    assert a.grad == 6.0 and b.grad == 4.0


def test_complex_tensors_cannot_require_grad():
    with pytest.raises(TypeError, match="floating-point"):
        Tensor([1 + 1j], requires_grad=True)


@pytest.mark.parametrize("reduce", ["sum", "max", "min", "mean"])
def test_numpy_integer_axes_work_in_backward(reduce):
    x = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    getattr(x, reduce)(axis=np.int64(1)).sum().backward()
    expected = {"sum": np.ones((2, 3)), "mean": np.full((2, 3), 1 / 3)}
    if reduce in expected:
        np.testing.assert_allclose(x.grad, expected[reduce])
    else:
        assert x.grad.sum() == 2.0


def test_grad_leaves_other_tensors_gradients_alone():
    w = Tensor(np.ones(3), requires_grad=True)
    gradient = tnn.grad(lambda x, w: (x * w).sum())(np.arange(3.0), w)
    np.testing.assert_array_equal(gradient, np.ones(3))
    assert w.grad is None


def test_backward_inputs_limits_which_leaves_receive_gradients():
    a = Tensor(2.0, requires_grad=True)
    b = Tensor(3.0, requires_grad=True)
    (a * b).backward(inputs=[b])
    assert a.grad is None and b.grad == 2.0


class _Boom(tnn.Function):
    @staticmethod
    def forward(ctx, x):
        return x * 1.0

    @staticmethod
    def backward(ctx, grad):
        raise ArithmeticError("boom")


def test_a_backward_that_raises_changes_no_gradient():
    v = Tensor(np.ones(2), requires_grad=True)
    w = Tensor(np.ones(2), requires_grad=True)
    loss = (w * 3.0).sum() + _Boom.apply(v).sum()
    with pytest.raises(ArithmeticError):
        loss.backward()
    assert w.grad is None and v.grad is None


def test_numpy_exception_subclasses_come_back_as_builtin_errors_naming_the_op():
    with pytest.raises(TypeError, match="Add"):
        Tensor(np.ones(2), requires_grad=True) + np.array(["a", "b"])
    with pytest.raises(ValueError, match="Sum"):
        Tensor(np.ones(2)).sum(axis=3)


def test_numpy_sees_a_tensor_as_its_array():
    t = Tensor([1.0, 2.0])
    assert np.asarray(t).dtype == np.float64
    np.testing.assert_array_equal(np.asarray(t, dtype=np.float32), [1.0, 2.0])


def test_mean_of_an_empty_batch_has_an_empty_result():
    assert Tensor(np.ones((0, 3))).mean(axis=1).shape == (0,)
    with pytest.raises(ValueError, match="empty axis"):
        Tensor(np.ones((0, 3))).mean(axis=0)


def test_softmax_with_a_bad_axis_names_the_function_and_shape():
    with pytest.raises(ValueError, match=r"log_softmax: axis 2 .*\(2, 3\)"):
        Tensor(np.ones((2, 3))).softmax(axis=2)


def test_tensor_rejects_strings_and_ragged_lists():
    with pytest.raises(TypeError, match="expected numbers"):
        Tensor("abc")
    with pytest.raises(ValueError, match="same length"):
        Tensor([[1.0, 2.0], [3.0]])


def test_where_needs_a_boolean_condition():
    with pytest.raises(TypeError, match="boolean"):
        tnn.where(np.array([0.0, 1.0]), Tensor([1.0, 2.0]), 0.0)


def test_a_float32_layer_fed_float64_data_computes_in_float32():
    weight = Tensor(np.ones((2, 3), dtype=np.float32), requires_grad=True)
    bias = Tensor(np.zeros(2, dtype=np.float32), requires_grad=True)
    x = Tensor(np.ones((4, 3)), requires_grad=True)  # float64, as NumPy makes it
    out = linear(x, weight, bias)
    assert out.dtype == np.float32
    out.sum().backward()
    assert weight.grad.dtype == np.float32 and x.grad.dtype == np.float64


def test_a_weight_used_many_times_keeps_one_gradient_sum_not_one_per_use():
    import tracemalloc

    weight = Tensor(np.random.default_rng(0).normal(0, 0.05, (100, 100)), requires_grad=True)
    h = Tensor(np.ones((4, 100)))
    for _ in range(50):
        h = (h @ weight).tanh()
    loss = h.sum()
    tracemalloc.start()
    loss.backward()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 12 * weight.data.nbytes  # one per use would be 50 of them


def test_forward_only_capture_of_ops_that_use_class_attributes():
    step = tnn.capture_step(lambda x: x.max(axis=1) + x.min(axis=1), backward=False)
    data = np.arange(6.0).reshape(2, 3)
    for _ in range(2):
        np.testing.assert_array_equal(step(data).data, [2.0, 8.0])


def test_forward_only_replays_give_each_thread_its_own_context():
    import threading

    barrier = threading.Barrier(2)

    class Stash(tnn.Function):
        """f(x) = 2x, parking the result on ctx while another call runs."""

        replaying = False

        @staticmethod
        def forward(ctx, x):
            ctx.result = x * 2
            if Stash.replaying:
                barrier.wait(timeout=10)
            return ctx.result

        @staticmethod
        def backward(ctx, grad):
            return (2 * grad,)

    step = tnn.capture_step(lambda x: Stash.apply(x), backward=False)
    step(np.zeros(3))
    Stash.replaying = True
    results = {}

    def call(value):
        results[value] = step(np.full(3, value)).data

    threads = [threading.Thread(target=call, args=(v,)) for v in (1.0, 5.0)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    np.testing.assert_array_equal(results[1.0], [2.0] * 3)
    np.testing.assert_array_equal(results[5.0], [10.0] * 3)


def test_linear_with_an_integer_weight_keeps_float_inputs():
    out = linear(Tensor([[0.5, 1.5]]), np.eye(2, dtype=np.int64))
    np.testing.assert_array_equal(out.data, [[0.5, 1.5]])


def test_softmax_of_a_0d_tensor_is_one():
    x = Tensor(3.0, requires_grad=True)
    out = x.softmax()
    out.backward()
    assert out.item() == 1.0 and x.grad == 0.0


def test_backward_inputs_follow_pytorch():
    x = Tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward(inputs=x)  # a single Tensor
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])
    x.grad = None
    h = x * 3.0
    kept = h * 1.0
    kept.retain_grad()
    (kept * kept).sum().backward(inputs=[h])  # a non-leaf input gets its .grad
    np.testing.assert_array_equal(h.grad, [6.0, 12.0])
    assert x.grad is None and kept.grad is None
    with pytest.raises(ValueError, match="non-empty"):
        (x * x).sum().backward(inputs=[])


def test_a_backward_that_raises_leaves_retained_gradients_alone():
    x = Tensor(np.ones(2), requires_grad=True)
    h = _Boom.apply(x) * 2.0
    h.retain_grad()
    with pytest.raises(ArithmeticError):
        h.sum().backward()
    assert h.grad is None and x.grad is None


def test_asarray_without_copy_refuses_a_dtype_change():
    t = Tensor([1.0, 2.0])
    assert np.asarray(t, copy=False) is t.data
    with pytest.raises(ValueError, match="copy"):
        np.asarray(t, dtype=np.float32, copy=False)
