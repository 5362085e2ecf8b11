"""The backward engine's rules: order, accumulation, memory, grad mode, errors and dtypes.

Per-op values and gradients are tested in test_ops.py; this file tests what the engine
does with any op: the order it visits nodes in, how gradients add up, what it frees, what
it refuses (and how it says so), and the small Tensor API around it.
"""

from __future__ import annotations

import gc
import re
import sys
import weakref
from typing import ClassVar

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_nn as tnn
from tinygrad_nn import Function, Tensor, autograd, ops
from tinygrad_nn.autograd import unbroadcast
from tinygrad_nn.functional import linear

small_shapes = hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=4)


def leaf(values, dtype=np.float64) -> Tensor:
    return Tensor(np.asarray(values, dtype=dtype), requires_grad=True)


# ------------------------------------------------------------------ custom ops used below


class Cube(Function):
    """f(x) = x**3;  f'(x) = 3 x**2"""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x**3

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved
        return (3 * x**2 * grad,)


class Scale(Function):
    """f(x; factor) = factor * x, with the factor passed as a keyword."""

    @staticmethod
    def forward(ctx, x, *, factor):
        ctx.factor = factor  # custom ops may keep any attribute on ctx
        return factor * x

    @staticmethod
    def backward(ctx, grad):
        return (ctx.factor * grad,)


class FirstOnly(Function):
    """f(x, y) = x + y, but backward declares no gradient for y."""

    @staticmethod
    def forward(ctx, x, y):
        return x + y

    @staticmethod
    def backward(ctx, grad):
        return (grad, None)


class CallCounter(Function):
    """Identity that counts its backward calls and records the gradient it received."""

    calls: ClassVar[list] = []

    @staticmethod
    def forward(ctx, x):
        return x.copy()

    @staticmethod
    def backward(ctx, grad):
        CallCounter.calls.append(grad.copy())
        return (grad,)


class Double(Function):
    """f(x) = 2x: the forward of the ops below, whose backward goes wrong on purpose."""

    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, grad):
        return (2 * grad,)


class TooManyGrads(Double):
    @staticmethod
    def backward(ctx, grad):
        return (grad, grad)


class BareArrayGrad(Double):
    @staticmethod
    def backward(ctx, grad):
        return 2 * grad  # not a tuple


class WrongShapeGrad(Double):
    @staticmethod
    def backward(ctx, grad):
        return (np.ones(grad.size + 1),)


class Boom(Double):
    @staticmethod
    def backward(ctx, grad):
        raise ArithmeticError("boom")


class BroadcastGrad(Function):
    """f(x) = x + zeros((4, 1, 3)): backward returns the broadcast output's shape."""

    @staticmethod
    def forward(ctx, x):
        return x + np.zeros((4, 1, 3))

    @staticmethod
    def backward(ctx, grad):
        return (grad,)


class SharedGrad(Function):
    """f(a, b) = 2 (a + b); backward hands the *same* fresh array to both inputs."""

    @staticmethod
    def forward(ctx, a, b):
        return 2 * (a + b)

    @staticmethod
    def backward(ctx, grad):
        shared = 2 * grad
        return (shared, shared)


class ReturnsSaved(Function):
    """f(a, b) = a * b, whose backward hands back its saved arrays themselves (no copy)."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved
        return (b, a)  # the gradient for a unit upstream gradient


# ------------------------------------------------------------------ topological order


def test_long_chain_backward_is_iterative():
    # Twenty times Python's recursion limit: any recursive walk would fail long before.
    # Neg on a 0-d tensor is the cheapest op; an odd count makes the answer -1, not 1.
    length = 20 * sys.getrecursionlimit() + 1
    x = leaf(3.0)
    y = x
    for _ in range(length):
        y = -y
    y.backward()
    assert x.grad == -1.0


def test_each_node_runs_once_after_all_its_consumers():
    # h feeds a long path and a short one; its backward must wait for both contributions.
    CallCounter.calls = []
    x = leaf([1.0, 2.0])
    h = CallCounter.apply(x * 3.0)
    long_path = h
    for _ in range(50):
        long_path = long_path * 1.0
    (long_path + h).sum().backward()
    assert len(CallCounter.calls) == 1
    np.testing.assert_array_equal(CallCounter.calls[0], [2.0, 2.0])
    np.testing.assert_array_equal(x.grad, [6.0, 6.0])


def test_diamond_graph_sums_both_paths():
    x = leaf([0.5, -1.0, 2.0])
    a = x * 2.0
    b = a.exp()
    c = a.tanh()
    (b + c * a).sum().backward()
    ax = 2.0 * x.data
    expected = 2.0 * (np.exp(ax) + (1 - np.tanh(ax) ** 2) * ax + np.tanh(ax))
    np.testing.assert_allclose(x.grad, expected)


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (lambda x: x * x, lambda v: 2 * v),
        (lambda x: x + x, lambda v: 2 * np.ones_like(v)),
        (lambda x: x * x * x, lambda v: 3 * v**2),
        (lambda x: x - x, lambda v: np.zeros_like(v)),
        (lambda x: x / x, lambda v: np.zeros_like(v)),
        (lambda x: tnn.concatenate([x, x, x]), lambda v: 3 * np.ones_like(v)),
        (lambda x: tnn.stack([x, -x, x]), lambda v: np.ones_like(v)),
    ],
    ids=["x*x", "x+x", "x*x*x", "x-x", "x/x", "concat3", "stack"],
)
def test_input_used_twice_counts_twice(build, expected):
    values = np.array([0.5, -1.5, 2.0])
    x = leaf(values)
    build(x).sum().backward()
    np.testing.assert_allclose(x.grad, expected(values), atol=1e-12)


def test_parents_are_ordered():
    x = leaf([2.0])
    y = leaf([5.0])
    out = x - y
    assert out.grad_fn.parents[0] is x and out.grad_fn.parents[1] is y
    out.sum().backward()
    assert x.grad.tolist() == [1.0] and y.grad.tolist() == [-1.0]


# ------------------------------------------------------------------ accumulation


def test_leaves_accumulate_across_backward_calls():
    x = leaf([1.0, 2.0])
    (x * 3.0).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0 + 2.0, 3.0 + 4.0])
    x.grad = None
    (x * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 3.0])


def test_leaf_gradients_are_private_arrays():
    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    seed = np.array([1.0, 10.0])
    for _ in range(2):
        (a + b).backward(seed)  # Add hands one array to both inputs
    np.testing.assert_array_equal(seed, [1.0, 10.0])
    np.testing.assert_array_equal(a.grad, [2.0, 20.0])
    np.testing.assert_array_equal(b.grad, [2.0, 20.0])
    a.grad += 100.0
    np.testing.assert_array_equal(b.grad, [2.0, 20.0])


def test_leaf_gradients_stay_private_when_an_op_shares_one_array():
    a, b = leaf([1.0]), leaf([1.0])
    for _ in range(2):
        SharedGrad.apply(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad, [4.0])
    np.testing.assert_array_equal(b.grad, [4.0])


def test_backward_on_a_leaf_accumulates_the_seed():
    x = leaf([1.0, 2.0])
    seed = np.array([0.5, 0.25])
    x.backward(seed)
    x.backward(seed)
    np.testing.assert_array_equal(x.grad, [1.0, 0.5])
    assert x.grad is not seed


def test_retain_grad_on_a_non_leaf():
    x = leaf([1.0, -2.0])
    h = x * 2.0
    assert h.retain_grad() is h
    other = x * 5.0
    (h * h + other).sum().backward()
    np.testing.assert_array_equal(h.grad, 2 * h.data)
    assert other.grad is None  # non-leaves keep no .grad unless asked
    assert not h.is_leaf


def test_a_gradient_that_is_a_saved_array_never_aliases_data():
    a = Tensor(2.0, requires_grad=True)
    b = Tensor(3.0, requires_grad=True)
    for _ in range(2):
        ReturnsSaved.apply(a, b).backward()
    assert a.data == 2.0 and b.data == 3.0
    assert a.grad == 6.0 and b.grad == 4.0


def test_a_backward_that_raises_changes_no_gradient():
    v, w = leaf(np.ones(2)), leaf(np.ones(2))
    loss = (w * 3.0).sum() + Boom.apply(v).sum()
    with pytest.raises(ArithmeticError):
        loss.backward()
    assert w.grad is None and v.grad is None
    x = leaf(np.ones(2))
    h = Boom.apply(x) * 2.0
    h.retain_grad()
    with pytest.raises(ArithmeticError):
        h.sum().backward()
    assert h.grad is None and x.grad is None  # a retained gradient is not written either


def test_backward_inputs_follow_pytorch():
    a, b = leaf(2.0), leaf(3.0)
    (a * b).backward(inputs=[b])  # only the listed leaves receive gradients
    assert a.grad is None and b.grad == 2.0
    x = leaf([1.0, 2.0])
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


def test_retain_grad_requires_grad():
    with pytest.raises(RuntimeError, match="does not require grad"):
        Tensor([1.0]).retain_grad()


# ------------------------------------------------------------------ retain_graph and memory


def test_second_backward_through_a_freed_graph_raises():
    x = leaf([1.0, 2.0])
    loss = (x * x).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match=re.escape("retain_graph=True")):
        loss.backward()


def test_retain_graph_allows_repeated_backward_that_accumulates():
    x = leaf([1.0, 2.0])
    loss = (x * x).exp().sum()
    loss.backward(retain_graph=True)
    first = x.grad.copy()
    loss.backward(retain_graph=True)
    np.testing.assert_allclose(x.grad, 2 * first)
    loss.backward()  # the last one may free the graph
    np.testing.assert_allclose(x.grad, 3 * first)
    with pytest.raises(RuntimeError, match="retain_graph"):
        loss.backward()


def test_backward_releases_saved_arrays_and_intermediate_data_but_keeps_the_structure():
    x = Tensor(np.ones((3, 2)))
    w = leaf(np.ones((2, 4)))
    hidden = (x @ w).relu()
    loss = hidden.sum()
    nodes = [hidden.grad_fn, hidden.grad_fn.parents[0].grad_fn, loss.grad_fn]
    assert not any(autograd.is_released(node) for node in nodes)
    loss.backward()
    for node in nodes:
        assert autograd.is_released(node)
    (released_hidden,) = loss.grad_fn.parents
    assert isinstance(released_hidden, autograd.ReleasedTensor)
    assert released_hidden.data is None and released_hidden.shape == (3, 4)
    assert released_hidden.grad_fn is hidden.grad_fn  # the links stay, down to the leaves
    matmul = hidden.grad_fn.parents[0].grad_fn
    assert matmul.parents[1] is w and matmul.parents[0] is x


def test_retain_graph_keeps_saved_arrays():
    w = leaf([1.0, 2.0])
    product = w * w
    product.sum().backward(retain_graph=True)
    node = product.grad_fn
    assert not autograd.is_released(node)
    assert node.parents[0] is w and node.parents[1] is w
    product.sum().backward()  # the saved arrays are still there to use
    np.testing.assert_array_equal(w.grad, 2 * (2 * w.data))
    assert autograd.is_released(node)


def test_unused_branch_is_freed_too():
    x, y = leaf([1.0]), leaf([2.0])
    y_branch = y.exp()
    out = FirstOnly.apply(x, y_branch)  # y_branch's node receives no gradient
    out.sum().backward()
    assert autograd.is_released(y_branch.grad_fn)
    assert y_branch.grad_fn.parents == (y,)  # the structure stays: a link to the leaf
    assert y.grad is None
    np.testing.assert_array_equal(x.grad, [1.0])


def test_intermediates_are_freed_during_backward_while_the_loss_lives():
    gc.disable()
    try:
        x = leaf(np.ones(4))
        hidden = (x * 2.0).exp()
        hidden_ref = weakref.ref(hidden)
        loss = hidden.sum()
        del hidden
        assert hidden_ref() is not None  # the graph holds it
        loss.backward()
        assert hidden_ref() is None
        assert loss.item() > 0
    finally:
        gc.enable()


def test_an_intermediate_goes_at_its_turn_in_the_pass_not_when_the_pass_ends():
    alive_at_the_first_op: list[bool] = []

    class Probe(Function):  # the graph's first op: its backward runs last
        @staticmethod
        def forward(ctx: Function, x: np.ndarray) -> np.ndarray:
            return x.copy()

        @staticmethod
        def backward(ctx: Function, grad: np.ndarray) -> tuple[np.ndarray]:
            alive_at_the_first_op.append(hidden_ref() is not None)
            return (grad,)

    gc.disable()
    try:
        hidden = Probe.apply(leaf(np.ones(4))).exp()
        hidden_ref = weakref.ref(hidden)
        loss = (hidden * 3.0).sum()
        del hidden
        loss.backward()
        assert alive_at_the_first_op == [False]  # freed mid-pass, not when the pass ended
        # With retain_graph the graph keeps it, as it must for the second backward.
        hidden = Probe.apply(leaf(np.ones(4))).exp()
        hidden_ref = weakref.ref(hidden)
        loss = (hidden * 3.0).sum()
        del hidden
        loss.backward(retain_graph=True)
        assert alive_at_the_first_op == [False, True]
    finally:
        gc.enable()


def test_a_dropped_graph_is_freed_by_reference_counting_alone():
    gc.disable()
    try:
        x = leaf(np.ones((3, 2)))
        w = leaf(np.ones((2, 5)))
        hidden = (x @ w).sigmoid()
        saved_array = hidden.grad_fn.saved[0]
        refs = [weakref.ref(hidden), weakref.ref(saved_array)]
        loss = (hidden * hidden).mean()
        refs.append(weakref.ref(loss))
        del hidden, saved_array, loss
        assert all(ref() is None for ref in refs)
        # The same after a retained backward: the engine adds no cycles either.
        hidden = (x @ w).tanh()
        loss = hidden.sum()
        loss.backward(retain_graph=True)
        refs = [weakref.ref(hidden), weakref.ref(loss)]
        del hidden, loss
        assert all(ref() is None for ref in refs)
    finally:
        gc.enable()


def test_a_weight_used_many_times_keeps_one_gradient_sum_not_one_per_use():
    import tracemalloc

    weight = leaf(np.random.default_rng(0).normal(0, 0.05, (100, 100)))
    h = Tensor(np.ones((4, 100)))
    for _ in range(50):
        h = (h @ weight).tanh()
    loss = h.sum()
    tracemalloc.start()
    loss.backward()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 12 * weight.data.nbytes  # one per use would be 50 of them


# ------------------------------------------------------------------ grad mode


def test_no_grad_context_records_nothing():
    w = leaf([1.0, 2.0])
    with tnn.no_grad():
        assert not tnn.is_grad_enabled()
        y = (w * 2.0).exp()
    assert tnn.is_grad_enabled()
    assert y.grad_fn is None and not y.requires_grad and y.is_leaf
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.sum().backward()


def test_no_grad_decorator_and_restore_after_exception():
    @tnn.no_grad()
    def predict(t):
        assert not tnn.is_grad_enabled()
        return t * 3.0

    @tnn.no_grad()
    def explode():
        raise KeyError("boom")

    w = leaf([1.0])
    assert predict(w).grad_fn is None
    assert predict.__name__ == "predict"
    assert tnn.is_grad_enabled()
    with pytest.raises(KeyError):
        explode()
    assert tnn.is_grad_enabled()


def test_enable_grad_inside_no_grad():
    w = leaf([1.0, 2.0])

    @tnn.enable_grad()
    def recorded(t):
        return t * t

    with tnn.no_grad():
        with tnn.enable_grad():
            assert tnn.is_grad_enabled()
            y = w * 2.0
        assert not tnn.is_grad_enabled()
        z = recorded(w)
        with tnn.no_grad():  # nesting restores the outer mode, not "on"
            pass
        assert not tnn.is_grad_enabled()
    assert y.grad_fn is not None and z.grad_fn is not None
    (y + z).sum().backward()
    np.testing.assert_array_equal(w.grad, 2.0 + 2 * w.data)


def test_nothing_is_recorded_when_no_input_requires_grad():
    a, b = Tensor([1.0, 2.0]), Tensor([3.0, 4.0])
    for out in [a * b, (a @ b), a.exp().sum(), tnn.where(a > 1.5, a, b), Cube.apply(a)]:
        assert out.grad_fn is None
        assert not out.requires_grad


def test_first_layer_never_computes_the_data_gradient():
    seen = []

    class SpyLinear(ops.Linear):
        @staticmethod
        def backward(ctx, grad):
            grads = ops.Linear.backward(ctx, grad)
            seen.append((ctx.needs_input_grad, [g is not None for g in grads]))
            return grads

    rng = np.random.default_rng(0)
    x = Tensor(rng.normal(size=(8, 3)))
    w1, b1 = leaf(rng.normal(size=(5, 3))), leaf(np.zeros(5))
    w2, b2 = leaf(rng.normal(size=(2, 5))), leaf(np.zeros(2))
    hidden = SpyLinear.apply(x, w1, b1).relu()
    SpyLinear.apply(hidden, w2, b2).sum().backward()
    # Backward visits the second layer first.
    assert seen == [
        ((True, True, True), [True, True, True]),
        ((False, True, True), [False, True, True]),
    ]
    assert x.grad is None


def test_gradients_for_inputs_that_need_none_are_dropped():
    constant = Tensor([1.0, 2.0])
    w = leaf([3.0, 4.0])
    (w + constant).sum().backward()  # Add returns a gradient for both inputs anyway
    assert constant.grad is None
    np.testing.assert_array_equal(w.grad, [1.0, 1.0])


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("op_name", "run", "shapes"),
    [
        ("Add", lambda a, b: a + b, [(2, 3), (4,)]),
        ("Mul", lambda a, b: a * b, [(2, 3), (3, 2)]),
        ("MatMul", lambda a, b: a @ b, [(2, 3), (4, 5)]),
        ("Linear", lambda x, w: linear(x, w), [(4, 3), (2, 5)]),
        ("Concatenate", lambda a, b: tnn.concatenate([a, b], axis=0), [(2, 3), (2, 4)]),
    ],
)
def test_shape_errors_name_the_op_and_the_shapes(op_name, run, shapes):
    tensors = [Tensor(np.ones(shape), requires_grad=True) for shape in shapes]
    with pytest.raises(ValueError) as info:
        run(*tensors)
    message = str(info.value)
    assert message.startswith(op_name)
    for shape in shapes:
        assert str(shape) in message


def test_numpy_exception_subclasses_come_back_as_builtin_errors_naming_the_op():
    with pytest.raises(TypeError, match="Add"):
        Tensor(np.ones(2), requires_grad=True) + np.array(["a", "b"])
    with pytest.raises(ValueError, match="Sum"):
        Tensor(np.ones(2)).sum(axis=3)


def test_linear_bias_shape_error():
    with pytest.raises(ValueError, match=r"Linear.*\(2,\)"):
        linear(Tensor(np.ones((4, 3))), Tensor(np.ones((2, 3))), Tensor(np.ones(3)))


def test_backward_on_a_non_scalar_needs_grad():
    y = leaf(np.ones((2, 3))) * 2.0
    with pytest.raises(RuntimeError, match=re.escape("(2, 3)")):
        y.backward()


def test_backward_on_a_tensor_without_grad():
    with pytest.raises(RuntimeError, match="requires_grad=True"):
        Tensor([1.0]).sum().backward()


def test_backward_grad_of_the_wrong_shape():
    y = leaf(np.ones((2, 3))) * 2.0
    with pytest.raises(ValueError, match=r"\(3, 2\).*\(2, 3\)"):
        y.backward(np.ones((3, 2)))


def test_backward_accepts_a_grad_tensor():
    x = leaf([1.0, 2.0])
    (x * 2.0).backward(Tensor([1.0, 3.0]))
    np.testing.assert_array_equal(x.grad, [2.0, 6.0])


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.bool_, np.complex128])
def test_only_floating_point_tensors_can_require_grad(dtype):
    with pytest.raises(TypeError, match=str(np.dtype(dtype))):
        Tensor(np.array([1, 0], dtype=dtype), requires_grad=True)
    with pytest.raises(TypeError):
        Tensor(np.array([1, 0], dtype=dtype)).requires_grad_()


@pytest.mark.parametrize(
    ("op", "pattern"),
    [
        (TooManyGrads, r"TooManyGrads.*expected 1, got 2"),
        (BareArrayGrad, r"BareArrayGrad.*tuple"),
        (WrongShapeGrad, r"WrongShapeGrad.*\(4,\).*\(3,\)"),
    ],
)
def test_a_bad_custom_backward_is_named(op, pattern):
    x = leaf([1.0, 2.0, 3.0])
    with pytest.raises(RuntimeError, match=pattern):
        op.apply(x).sum().backward()


def test_a_custom_backward_may_return_the_broadcast_shape():
    x = leaf(np.ones((2, 1)))
    out = BroadcastGrad.apply(x)
    assert out.shape == (4, 2, 3)
    out.sum().backward()
    np.testing.assert_array_equal(x.grad, np.full((2, 1), 12.0))


# ------------------------------------------------------------------ detect_anomaly


def test_detect_anomaly_names_the_first_forward_op():
    x = leaf([1.0, 0.0])
    with np.errstate(all="ignore"), tnn.detect_anomaly():
        assert tnn.is_anomaly_enabled()
        y = x * 2.0  # finite: fine
        with pytest.raises(RuntimeError, match=r"detect_anomaly: Log\b"):
            (y.log() * 3.0).exp()
    assert not tnn.is_anomaly_enabled()


def test_detect_anomaly_does_not_blame_ops_that_only_pass_inf_on():
    x = Tensor([np.inf, 1.0])
    with np.errstate(all="ignore"), tnn.detect_anomaly():
        y = (x * 2.0).exp()
    assert np.isinf(y.data[0])


def test_detect_anomaly_names_the_backward_op():
    x = leaf([0.0, 4.0])
    with np.errstate(all="ignore"), tnn.detect_anomaly():
        loss = (x.sqrt() * 2.0).sum()  # sqrt(0) = 0 is fine forward
        with pytest.raises(RuntimeError, match=r"Sqrt\.backward"):
            loss.backward()


def test_without_detect_anomaly_nan_and_inf_pass_silently():
    x = leaf([0.0, 4.0])
    with np.errstate(all="ignore"):
        assert np.isneginf(x.log().data[0])
        x.sqrt().sum().backward()
    assert np.isinf(x.grad[0]) and x.grad[1] == 0.25


# ------------------------------------------------------------------ dtypes


def test_default_dtype_is_float64_and_can_be_float32():
    assert tnn.get_default_dtype() == np.float64
    tnn.set_default_dtype(np.float32)
    assert tnn.get_default_dtype() == np.float32
    assert Tensor(1.5).dtype == np.float32
    assert Tensor([1, 2]).dtype == np.float32
    assert Tensor([[0.5], [2.5]]).dtype == np.float32
    assert Tensor(np.ones(2)).dtype == np.float64  # a float ndarray keeps its dtype
    w = Tensor([1.0, 2.0], requires_grad=True)
    (w * 2.0 + 1).sum().backward()
    assert w.grad.dtype == np.float32


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.bool_, np.complex128, "int8"])
def test_set_default_dtype_rejects_non_float(dtype):
    with pytest.raises(TypeError, match="float"):
        tnn.set_default_dtype(dtype)
    assert tnn.get_default_dtype() == np.float64


def test_tensor_dtype_rules():
    assert Tensor(np.ones(2, dtype=np.float32)).dtype == np.float32
    assert Tensor(np.ones(2, dtype=np.float16)).dtype == np.float16
    assert Tensor(3).dtype == np.float64
    assert Tensor(2.5).dtype == np.float64
    assert Tensor(np.arange(3)).dtype == np.arange(3).dtype  # integer arrays stay integer
    assert Tensor(np.array([True])).dtype == np.bool_
    assert Tensor([1, 2], dtype=np.int32).dtype == np.int32
    assert Tensor(np.ones(2), dtype=np.float32).dtype == np.float32


def test_tensor_copies_its_data():
    array = np.array([1.0, 2.0])
    t = Tensor(array)
    array[0] = 99.0
    assert t.data[0] == 1.0
    u = Tensor(t)
    t.data[1] = -5.0
    assert u.data[1] == 2.0


# name -> (loss of x (3, 2) and w (2, 4), dtype of the loss). A float64 ndarray operand
# promotes the result like NumPy does, but the leaves' gradients keep the leaves' dtype.
FLOAT32_GRAPHS = {
    "mlp": (lambda x, w: ((x @ w).relu() - 0.5).square().sum(), np.float32),
    "scalars_both_sides": (lambda x, w: (2.0 - x @ w / 3.0 + 1 * (x @ w) ** 3).sum(), np.float32),
    "pow_exp_log": (
        lambda x, w: ((x @ w).sigmoid() ** 1.5 + (x @ w).exp().log()).mean(),
        np.float32,
    ),
    "softmax": (
        lambda x, w: (x @ w).log_softmax(axis=-1).sum() + (x @ w).softmax().max(),
        np.float32,
    ),
    "where_clip_abs": (
        lambda x, w: tnn.where(x @ w > 1, (x @ w).clip(-1, 1), (-w[0]).abs()).sum(),
        np.float32,
    ),
    "index_reshape": (lambda x, w: (x @ w)[[0, 2], 1:].reshape(-1).T.sum(), np.float32),
    "float64_ndarray": (lambda x, w: (x @ w * np.full((1, 4), 2.0)).tanh().sum(), np.float64),
}


@pytest.mark.parametrize(("build", "loss_dtype"), FLOAT32_GRAPHS.values(), ids=list(FLOAT32_GRAPHS))
def test_float32_graphs_give_float32_grads(build, loss_dtype):
    rng = np.random.default_rng(1)
    x = Tensor(rng.uniform(0.1, 1.0, size=(3, 2)).astype(np.float32), requires_grad=True)
    w = Tensor(rng.uniform(0.1, 1.0, size=(2, 4)).astype(np.float32), requires_grad=True)
    loss = build(x, w)
    assert loss.dtype == loss_dtype
    loss.backward()
    assert x.grad.dtype == np.float32
    assert w.grad.dtype == np.float32


def test_float32_stays_float32_through_every_intermediate():
    x = Tensor(np.linspace(0.1, 1.0, 6, dtype=np.float32).reshape(2, 3), requires_grad=True)
    steps = [x * 2, 2 / x, x - 1.0, 1.0 + x, x**2, x**0.5, -x, x.mean(axis=0), x.sqrt()]
    assert all(step.dtype == np.float32 for step in steps)


def test_a_float32_layer_fed_float64_data_computes_in_float32():
    weight = leaf(np.ones((2, 3)), dtype=np.float32)
    bias = leaf(np.zeros(2), dtype=np.float32)
    x = leaf(np.ones((4, 3)))  # float64, as NumPy makes it
    out = linear(x, weight, bias)
    assert out.dtype == np.float32
    out.sum().backward()
    assert weight.grad.dtype == np.float32 and x.grad.dtype == np.float64


def test_linear_with_an_integer_weight_keeps_float_inputs():
    out = linear(Tensor([[0.5, 1.5]]), np.eye(2, dtype=np.int64))
    np.testing.assert_array_equal(out.data, [[0.5, 1.5]])


# ------------------------------------------------------------------ grad and value_and_grad


def test_grad_of_a_function_of_an_ndarray():
    values = np.array([1.0, -2.0, 0.5])
    gradient = tnn.grad(lambda x: (x**3).sum())(values)
    assert isinstance(gradient, np.ndarray)
    np.testing.assert_allclose(gradient, 3 * values**2)


def test_grad_with_argnums():
    a, b = np.array([1.0, 2.0]), np.array([3.0, -1.0])

    def f(x, y, scale=1.0):
        return (x * y * scale).sum() + (y * y).sum()

    np.testing.assert_allclose(tnn.grad(f, argnums=1)(a, b, scale=2.0), 2 * a + 2 * b)
    grad_x, grad_y = tnn.grad(f, argnums=(0, 1))(a, b)
    np.testing.assert_allclose(grad_x, b)
    np.testing.assert_allclose(grad_y, a + 2 * b)
    (only_y,) = tnn.grad(f, argnums=(1,))(a, b)
    np.testing.assert_allclose(only_y, a + 2 * b)


def test_grad_and_value_and_grad_leave_tensor_inputs_alone():
    t = Tensor([2.0, 3.0], requires_grad=True)
    value, gradient = tnn.value_and_grad(lambda x: (x * x).sum())(t)
    assert value == 13.0 and isinstance(value, float)
    np.testing.assert_allclose(gradient, [4.0, 6.0])
    assert t.grad is None
    w = leaf(np.ones(3))  # an argument that is not differentiated keeps no .grad either
    gradient = tnn.grad(lambda x, w: (x * w).sum())(np.arange(3.0), w)
    np.testing.assert_array_equal(gradient, np.ones(3))
    assert w.grad is None


def test_grad_works_under_no_grad_and_for_unused_inputs():
    with tnn.no_grad():
        gradient = tnn.grad(lambda x, y: (x * 2.0).sum(), argnums=(0, 1))(np.ones(2), np.ones(3))
    np.testing.assert_array_equal(gradient[0], [2.0, 2.0])
    np.testing.assert_array_equal(gradient[1], np.zeros(3))


def test_grad_errors():
    with pytest.raises(TypeError, match=re.escape("(2,)")):
        tnn.grad(lambda x: x * 2.0)(np.ones(2))
    with pytest.raises(TypeError, match="float"):
        tnn.grad(lambda x: 3.0)(np.ones(2))
    with pytest.raises(ValueError, match="argnums"):
        tnn.grad(lambda x: x.sum(), argnums=2)(np.ones(2))


# ------------------------------------------------------------------ unbroadcast


def broadcast_sum_reference(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum grad into shape by broadcasting each input position's index: the definition."""
    size = int(np.prod(shape))
    positions = np.broadcast_to(np.arange(size).reshape(shape), grad.shape)
    return np.bincount(positions.ravel(), weights=grad.ravel(), minlength=size).reshape(shape)


@st.composite
def shape_and_broadcast_shape(draw):
    shape = draw(small_shapes)
    other = draw(hnp.broadcastable_shapes(shape, min_dims=0, max_dims=5, max_side=4))
    return shape, np.broadcast_shapes(shape, other)


@given(shapes=shape_and_broadcast_shape(), seed=st.integers(0, 2**16))
def test_unbroadcast_sums_the_broadcast_copies(shapes, seed):
    shape, out_shape = shapes
    grad = np.random.default_rng(seed).normal(size=out_shape)
    reduced = unbroadcast(grad, shape)
    assert reduced.shape == shape
    np.testing.assert_allclose(reduced, broadcast_sum_reference(grad, shape), atol=1e-12)


@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=4, max_side=3))
def test_broadcast_inputs_get_gradients_of_their_own_shape(shapes):
    (shape_a, shape_b), out_shape = shapes.input_shapes, shapes.result_shape
    rng = np.random.default_rng(0)
    a, b = leaf(rng.normal(size=shape_a)), leaf(rng.normal(size=shape_b))
    upstream = rng.normal(size=out_shape)
    (a * b).backward(upstream)
    expected_a = broadcast_sum_reference(upstream * np.broadcast_to(b.data, out_shape), shape_a)
    np.testing.assert_allclose(a.grad, expected_a, atol=1e-12)
    assert b.grad.shape == shape_b


@pytest.mark.parametrize(
    ("grad_shape", "shape"), [((4,), (3,)), ((2, 3), (3, 1)), ((3,), (1, 3)), ((2, 3), (2, 2))]
)
def test_unbroadcast_rejects_shapes_that_do_not_broadcast(grad_shape, shape):
    with pytest.raises(ValueError, match=re.escape(str(shape))):
        unbroadcast(np.ones(grad_shape), shape)


# ------------------------------------------------------------------ custom Function


def test_custom_function_as_documented():
    x = leaf([1.0, -2.0])
    y = Cube.apply(x)
    assert isinstance(y.grad_fn, Cube) and isinstance(y.grad_fn, Function)
    assert y.grad_fn.op_name() == "Cube"
    np.testing.assert_array_equal(y.grad_fn.saved[0], x.data)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 12.0])


def test_custom_function_keywords_constants_and_none_gradients():
    x, y = leaf([1.0, 2.0]), leaf([5.0, 5.0])
    out = Scale.apply(x, factor=3.0)
    np.testing.assert_array_equal(out.data, [3.0, 6.0])
    (FirstOnly.apply(out, y) + FirstOnly.apply(np.ones(2), 1.0)).sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 3.0])
    assert y.grad is None  # the op returned None: no gradient, not zeros


def test_builtin_ops_are_functions_too():
    x = leaf([1.0])
    assert isinstance((x * 2.0).grad_fn, ops.Mul)
    assert (x + 1.0).grad_fn.op_name() == "Add"
    assert issubclass(ops.Linear, Function)


# ------------------------------------------------------------------ Tensor API


def test_tensor_attributes():
    t = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True, name="t")
    assert t.shape == (2, 3) and t.ndim == 2 and t.size == 6 and len(t) == 2
    assert t.dtype == np.float64 and t.name == "t" and t.is_leaf and t.requires_grad
    assert t.T.shape == (3, 2) and not t.T.is_leaf
    np.testing.assert_array_equal(t.T.data, t.data.T)
    assert t.numpy() is t.data
    assert t[1, 2].item() == 5.0 and isinstance(t[1, 2].item(), float)
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        t.item()
    with pytest.raises(TypeError):
        len(Tensor(1.0))


@given(shape=small_shapes)
def test_transpose_reverses_any_shape(shape):
    t = leaf(np.arange(float(np.prod(shape))).reshape(shape))
    np.testing.assert_array_equal(t.T.data, t.data.T)
    t.T.backward(np.ones(shape[::-1]))
    np.testing.assert_array_equal(t.grad, np.ones(shape))


def test_tensor_rejects_strings_and_ragged_lists():
    with pytest.raises(TypeError, match="expected numbers"):
        Tensor("abc")
    with pytest.raises(ValueError, match="same length"):
        Tensor([[1.0, 2.0], [3.0]])


def test_numpy_sees_a_tensor_as_its_array():
    t = Tensor([1.0, 2.0])
    assert np.asarray(t).dtype == np.float64
    np.testing.assert_array_equal(np.asarray(t, dtype=np.float32), [1.0, 2.0])
    assert np.asarray(t, copy=False) is t.data
    with pytest.raises(ValueError, match="copy"):
        np.asarray(t, dtype=np.float32, copy=False)


def test_detach_cuts_the_graph_but_shares_data():
    x = leaf([1.0, 2.0])
    y = x * 2.0
    d = y.detach()
    assert d.is_leaf and not d.requires_grad and d.data is y.data
    (d * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])  # no path through d


def test_repr_is_readable():
    w = Tensor([1.0, 2.0], requires_grad=True, name="w")
    assert repr(w) == "Tensor([1., 2.], requires_grad=True, name='w')"
    assert "grad_fn=Mul" in repr(w * 2.0)
    assert repr(Tensor([1.5])) == "Tensor([1.5])"
    assert "dtype=float32" in repr(Tensor(np.ones(2, dtype=np.float32)))
    assert "..." in repr(Tensor(np.zeros(1000)))


def test_comparisons_return_boolean_tensors():
    a = leaf([1.0, 2.0, 3.0])
    b = Tensor([3.0, 2.0, 1.0])
    cases = {
        (a < b): [True, False, False],
        (a <= b): [True, True, False],
        (a > 2.0): [False, False, True],
        (a >= b): [False, True, True],
        (a == b): [False, True, False],
        (a != 2.0): [True, False, True],
        (np.full(3, 2.0) < a): [False, False, True],
    }
    for result, expected in cases.items():
        assert isinstance(result, Tensor)
        assert result.dtype == np.bool_ and not result.requires_grad
        assert result.tolist() == expected
    assert len({a, b}) == 2  # still hashable


@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3))
def test_ndarray_on_the_left_gives_a_tensor(shapes):
    shape_a, shape_t = shapes.input_shapes
    array = np.full(shape_a, 2.0)
    t = leaf(np.full(shape_t, 3.0))
    results = [array + t, array - t, array * t, array / t, array**t]
    for result in results:
        assert isinstance(result, Tensor)
        assert result.shape == shapes.result_shape
    np.testing.assert_allclose((array - t).data, -1.0)
    sum(result.sum() for result in results).backward()
    assert t.grad.shape == shape_t


def test_ndarray_matmul_on_the_left():
    w = leaf(np.ones((3, 2)))
    out = np.ones((4, 3)) @ w
    assert isinstance(out, Tensor) and out.shape == (4, 2)
    out.sum().backward()
    np.testing.assert_array_equal(w.grad, np.full((3, 2), 4.0))
