"""The one backward loop: nothing stale after failures, threads, interrupts; capture replays
that match eager mode; version counters; graphs that survive backward; small edge fixes.

Each test reproduces a problem found on the engine before wave 2 (issue "Engine 2").
"""

from __future__ import annotations

import gc
import sys
import threading
import tracemalloc

import numpy as np
import pytest

import tinygrad_nn as tnn
from tinygrad_nn import Tensor, autograd
from tinygrad_nn.nn import MLP


def leaf(values) -> Tensor:
    return Tensor(np.asarray(values, dtype=np.float64), requires_grad=True)


class _InterruptOnce(tnn.Function):
    """f(x) = x;  f'(x) = 1, but the first backward raises KeyboardInterrupt."""

    interrupted = False

    @staticmethod
    def forward(ctx, x):
        return x.copy()

    @staticmethod
    def backward(ctx, grad):
        if not _InterruptOnce.interrupted:
            _InterruptOnce.interrupted = True
            raise KeyboardInterrupt
        return (grad,)


# --------------------------------------------------------------------------- no stale state


def test_a_failed_backward_leaves_no_pending_gradient_behind():
    a, b = leaf(np.ones(3)), leaf(np.ones(3))
    a.grad = np.zeros(3)
    b.grad = np.zeros(1)  # the wrong shape: refused, before anything is written
    with pytest.raises(RuntimeError, match=r"\.grad of shape \(1,\).*zero_grad"):
        ((a * 2).sum() + (b * 3).sum()).backward()
    np.testing.assert_array_equal(a.grad, np.zeros(3))  # all or nothing
    a.grad = None
    (a * 5).sum().backward()
    np.testing.assert_array_equal(a.grad, [5.0, 5.0, 5.0])


def test_an_interrupted_backward_leaves_every_parameter_trainable():
    model = MLP([2, 4, 1], output_activation=None, rng=0)
    x = Tensor(np.ones((3, 2)))
    _InterruptOnce.interrupted = False
    loss = _InterruptOnce.apply(model(x)).sum()
    with pytest.raises(KeyboardInterrupt):
        loss.backward()
    assert all(p.grad is None for p in model.parameters())
    _InterruptOnce.apply(model(x)).sum().backward()
    assert all(p.grad is not None and np.any(p.grad != 0) for p in model.parameters())


def test_concurrent_backwards_on_shared_parameters_accumulate_exactly():
    model = MLP([8, 64, 64, 1], activation="tanh", output_activation=None, rng=0)
    data = np.random.default_rng(0).standard_normal((16, 8))
    model(Tensor(data)).sum().backward()
    single = [p.grad.copy() for p in model.parameters()]
    model.zero_grad()
    threads, passes = 4, 25

    def work() -> None:
        for _ in range(passes):
            model(Tensor(data)).sum().backward()

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        workers = [threading.Thread(target=work) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    finally:
        sys.setswitchinterval(interval)
    for param, grad in zip(model.parameters(), single, strict=True):
        np.testing.assert_allclose(param.grad, threads * passes * grad, rtol=1e-10)


# --------------------------------------------------------------------------- capture = eager


def _shared_weight_loss(w: Tensor):
    def loss(x):
        return ((x @ w) * (x @ w).tanh()).sum()

    return loss


def test_captured_steps_with_a_shared_weight_and_no_zero_grad_equal_eager_bitwise():
    rng = np.random.default_rng(3)
    inputs = [rng.standard_normal((4, 3)) for _ in range(20)]
    eager_w, captured_w = leaf(rng.standard_normal((3, 2))), None
    captured_w = leaf(eager_w.data.copy())
    step = tnn.capture_step(_shared_weight_loss(captured_w))
    eager = _shared_weight_loss(eager_w)
    for x in inputs:  # gradients accumulate: no zero_grad
        eager(Tensor(x)).backward()
        step(x)
        np.testing.assert_array_equal(captured_w.grad, eager_w.grad)


class _FailingBackward(tnn.Function):
    """f(x) = x;  backward raises when told to."""

    fail = False

    @staticmethod
    def forward(ctx, x):
        return x.copy()

    @staticmethod
    def backward(ctx, grad):
        if _FailingBackward.fail:
            raise ArithmeticError("boom")
        return (grad,)


def test_a_replay_whose_backward_raises_changes_no_gradient():
    w = leaf([1.0, 2.0])
    step = tnn.capture_step(lambda x: (_FailingBackward.apply(x * w) * w).sum())
    step(np.ones(2))
    before = w.grad.copy()
    _FailingBackward.fail = True
    try:
        with pytest.raises(ArithmeticError):
            step(np.ones(2))
    finally:
        _FailingBackward.fail = False
    np.testing.assert_array_equal(w.grad, before)


def test_a_replaced_parameter_is_noticed_by_the_replay():
    model = MLP([1, 3, 1], output_activation=None, rng=0)
    step = tnn.capture_step(lambda x: model(x).sum())
    step(np.ones((2, 1)))
    model.layers[0].weight = Tensor(np.ones((3, 1)), requires_grad=True)
    with pytest.raises(ValueError, match=r"weight.*another tensor"):
        step(np.ones((2, 1)))
    again = tnn.capture_step(lambda x: model(x).sum(), recapture=True)
    again(np.ones((2, 1)))
    new_weight = Tensor(np.full((3, 1), 2.0), requires_grad=True)
    model.layers[0].weight = new_weight
    again(np.ones((2, 1)))  # records anew, and trains the new tensor
    assert again.recordings == 2 and new_weight.grad is not None


# --------------------------------------------------------------------------- version counters


def test_backward_through_values_changed_in_place_by_an_optimizer_is_refused():
    w = Tensor(np.ones(3), requires_grad=True, name="w")
    x = Tensor(np.arange(3.0))
    y = (w * x).sum()
    w.grad = np.ones(3)
    tnn.optim.SGD([w], lr=0.1).step()
    with pytest.raises(RuntimeError, match=r"'w'.*Mul.*modified in place"):
        y.backward()


def test_assigning_data_bumps_the_version_and_is_refused_the_same_way():
    w = leaf(np.ones(3))
    y = (w * w).sum()
    w.data -= 1.0  # an in-place update through the attribute
    with pytest.raises(RuntimeError, match="modified in place"):
        y.backward()


def test_an_op_that_saved_nothing_of_the_changed_tensor_still_backpropagates():
    w = leaf(np.ones(3))
    y = (w + 1.0).sum()  # Add saves no input
    w.data -= 1.0
    y.backward()
    np.testing.assert_array_equal(w.grad, np.ones(3))


# --------------------------------------------------------------------------- memory


def _traced(fn):
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()


def test_backward_returns_the_graphs_memory_while_the_loss_lives():
    model = MLP([64, 256, 256, 10], output_activation=None, dtype=np.float32, rng=0)
    x = np.random.default_rng(0).standard_normal((256, 64)).astype(np.float32)
    y = np.zeros((256, 10), dtype=np.float32)
    held: dict[str, int] = {}
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        loss = tnn.losses.mse(model(Tensor(x)), Tensor(y))
        held["graph"] = tracemalloc.get_traced_memory()[0] - start
        loss.backward()
        grads = sum(p.grad.nbytes for p in model.parameters())
        held["after"] = tracemalloc.get_traced_memory()[0] - start - grads
    finally:
        tracemalloc.stop()
    assert loss.item() > 0  # the loss is still alive (and its graph's structure)
    assert held["after"] < 0.1 * held["graph"], held


# --------------------------------------------------------------------------- small fixes


def test_astype_to_an_integer_dtype_is_not_differentiable():
    t = leaf([1.5, 2.5])
    as_int = t.astype(int)
    assert not as_int.requires_grad and as_int.grad_fn is None


def test_zeroth_power_has_gradient_zero_at_zero():
    x = leaf([0.0, 2.0])
    (x**0).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0])


def test_reducing_a_0d_tensor_over_axis_0():
    x = Tensor(2.0, requires_grad=True)
    x.sum(axis=0).backward()
    assert x.grad == 1.0
    x.grad = None
    x.mean(axis=0).backward()
    assert x.grad == 1.0
    x.grad = None
    x.max(axis=0).backward()
    assert x.grad == 1.0


def test_huge_axes_and_indices_are_clear_errors():
    t = leaf(np.ones(3))
    with pytest.raises(ValueError, match="Sum"):
        t.sum(axis=2**70)
    with pytest.raises(IndexError, match="Index"):
        t[2**63]


def test_an_empty_list_index_gives_an_empty_result_like_numpy():
    t = leaf(np.ones(3))
    assert t[[]].shape == np.ones(3)[[]].shape == (0,)


def test_requires_grad_must_be_a_bool():
    with pytest.raises(TypeError, match="requires_grad must be True or False"):
        Tensor([1.0], requires_grad="no")


def test_complex_seeds_are_refused():
    t = leaf([1.0, 2.0])
    with pytest.raises(TypeError, match="complex"):
        (t * 2).backward(np.array([1j, 1j]))


def test_create_graph_in_backward_points_to_gradients():
    t = leaf([1.0])
    with pytest.raises(TypeError, match=r"tnn\.gradients"):
        (t * t).sum().backward(create_graph=True)


def test_a_forgotten_staticmethod_is_named_at_class_definition():
    with pytest.raises(TypeError, match=r"Bad\.backward must be a @staticmethod"):

        class Bad(tnn.Function):
            @staticmethod
            def forward(ctx, x):
                return x

            def backward(ctx, grad):  # no @staticmethod
                return (grad,)


def test_pytorch_spelling_of_saved_values_works():
    class Cube(tnn.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x**3

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return (3 * x**2 * grad,)

    x = leaf([2.0])
    Cube.apply(x).sum().backward()
    np.testing.assert_array_equal(x.grad, [12.0])


def test_pytorch_argument_order_for_grad_points_to_gradients():
    w = leaf([1.0])
    with pytest.raises(TypeError, match=r"tnn\.gradients"):
        tnn.grad((w * w).sum(), [w])


def test_repeated_argnums_are_refused():
    with pytest.raises(ValueError, match="twice"):
        tnn.grad(lambda x: (x * x).sum(), argnums=(0, 0))


def test_softmax_edge_cases_are_clear():
    empty = leaf(np.ones((0, 3)))
    assert empty.softmax(axis=0).shape == (0, 3)
    with pytest.raises(TypeError, match="axis must be an int"):
        leaf(np.ones(3)).softmax(axis=None)


def test_concatenate_with_axis_none_flattens_like_numpy():
    a, b = leaf(np.ones((2, 2))), leaf(np.ones(3))
    joined = tnn.concatenate([a, b], axis=None)
    assert joined.shape == (7,)
    joined.sum().backward()
    np.testing.assert_array_equal(a.grad, np.ones((2, 2)))


def test_comparing_mismatched_shapes_names_the_comparison():
    with pytest.raises(ValueError, match=r"greater.*\(2,\).*\(3,\)"):
        _ = leaf(np.ones(2)) > np.ones(3)


def test_released_graph_is_walked_by_the_engine_without_data():
    x = leaf(np.ones(2))
    loss = (x.exp() * 2.0).sum()
    loss.backward()
    order = autograd.backward_order((loss,), allow_released=True)
    assert [t.grad_fn.op_name() for t in order] == ["Sum", "Mul", "Exp"]
    assert order[1].data is None  # a ReleasedTensor
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        autograd.backward_order((loss,))


def test_an_order_a_releasing_pass_went_through_cannot_be_used_again():
    x = leaf(np.ones(2))
    loss = (x.exp() * 2.0).sum()
    order = autograd.backward_order((loss,))
    seeds = {id(loss): np.array(1.0)}
    first = autograd.backpropagate(order, seeds)
    np.testing.assert_allclose(first.leaves[id(x)][1], 2 * np.exp(np.ones(2)))
    assert order == [None, None, None]  # let go of at each turn, not emptied
    with pytest.raises(RuntimeError, match=r"already gone through.*retain_graph=True"):
        autograd.backpropagate(order, seeds)


def test_any_sequence_is_an_order_and_a_retaining_pass_leaves_it_as_it_was():
    x = leaf(np.ones(2))
    loss = (x.exp() * 2.0).sum()
    order = autograd.backward_order((loss,))
    seeds = {id(loss): np.array(1.0)}
    kept = autograd.backpropagate(order, seeds, retain_graph=True)
    assert [t.grad_fn.op_name() for t in order] == ["Sum", "Mul", "Exp"]
    as_tuple = autograd.backpropagate(tuple(order), seeds)  # copied, then released
    assert [t.grad_fn.op_name() for t in order] == ["Sum", "Mul", "Exp"]
    np.testing.assert_array_equal(as_tuple.leaves[id(x)][1], kept.leaves[id(x)][1])


def _chain(length: int) -> tuple[Tensor, Tensor]:
    x = leaf(np.array(1.5))
    y = x
    for _ in range(length):
        y = -y
    return x, y


@pytest.mark.parametrize("enabled", [True, False])
def test_a_long_release_pauses_the_collector_and_restores_it(enabled, monkeypatch):
    calls = []
    monkeypatch.setattr(gc, "disable", lambda: calls.append("disable"))
    monkeypatch.setattr(gc, "enable", lambda: calls.append("enable"))
    monkeypatch.setattr(gc, "isenabled", lambda: enabled)
    original = autograd.ReleasedTensor.__init__

    def recording_init(self, tensor):
        calls.append("record")
        original(self, tensor)

    monkeypatch.setattr(autograd.ReleasedTensor, "__init__", recording_init)
    x, y = _chain(autograd.GC_PAUSE_NODES)
    y.backward()
    records = ["record"] * (autograd.GC_PAUSE_NODES - 1)  # every output but the loss's
    assert calls == ["disable", *records, *(["enable"] if enabled else [])]
    assert x.grad == 1.0  # an even number of negations
    assert isinstance(y.grad_fn.parents[0], autograd.ReleasedTensor)


def test_overlapping_pauses_turn_the_collector_on_when_the_last_ends():
    assert gc.isenabled()
    first, second = autograd._CollectorPause(), autograd._CollectorPause()
    try:
        first.__enter__()
        second.__enter__()
        first.__exit__(None, None, None)
        assert not gc.isenabled()  # the second release still runs
    finally:
        second.__exit__(None, None, None)
    assert gc.isenabled()


def test_pauses_in_threads_at_once_leave_the_collector_on():
    barrier = threading.Barrier(4)

    def release() -> None:
        barrier.wait()
        for _ in range(50):
            with autograd._CollectorPause():
                pass

    threads = [threading.Thread(target=release) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert gc.isenabled() and autograd._CollectorPause._holders == 0


def test_an_interrupted_pause_undoes_itself(monkeypatch):
    def interrupted() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(gc, "disable", interrupted)
    with pytest.raises(KeyboardInterrupt):
        autograd._CollectorPause().__enter__()
    assert gc.isenabled() and autograd._CollectorPause._holders == 0


def test_a_short_release_leaves_the_collector_alone(monkeypatch):
    calls = []
    monkeypatch.setattr(gc, "disable", lambda: calls.append("disable"))
    x, y = _chain(autograd.GC_PAUSE_NODES - 1)
    y.backward()
    assert calls == [] and x.grad == -1.0


def test_the_collector_is_on_again_when_a_long_release_fails(monkeypatch):
    # a failure while the records are made (here: making the 500th) must not leave it off
    assert gc.isenabled()
    made = []
    original = autograd.ReleasedTensor.__init__

    def failing_init(self, tensor):
        made.append(1)
        if len(made) == 500:
            raise KeyboardInterrupt
        original(self, tensor)

    monkeypatch.setattr(autograd.ReleasedTensor, "__init__", failing_init)
    _, y = _chain(autograd.GC_PAUSE_NODES + 10)
    with pytest.raises(KeyboardInterrupt):
        y.backward()
    assert gc.isenabled()


def test_an_integer_to_a_negative_power_says_to_use_floats():
    with pytest.raises(ValueError, match=r"Pow: Integers to negative.*astype\(float\)"):
        Tensor(np.array([2, 3])) ** -1
