"""`tinygrad_nn.capture.capture_step`: a recorded step replays exactly what eager mode does.

Every test runs twice: compiled to straight-line NumPy (where every op has a kernel) and
replayed through the engine (``compiled=False``).
"""

from __future__ import annotations

import functools
import sys
from typing import Any

import numpy as np
import pytest

import tinygrad_nn as tnn
from tinygrad_nn import Tensor
from tinygrad_nn import capture as capture_module
from tinygrad_nn.capture import CapturedStep
from tinygrad_nn.losses import cross_entropy, squared_error
from tinygrad_nn.nn import MLP
from tinygrad_nn.optim import SGD, Adam

capture_step = capture_module.capture_step  # replaced per test by `_both_ways`
COMPILED = True  # likewise: which way this run of a test goes


@pytest.fixture(autouse=True, params=[True, False], ids=["compiled", "replayed"])
def _both_ways(request, monkeypatch):
    module = sys.modules[__name__]
    monkeypatch.setattr(
        module,
        "capture_step",
        functools.partial(capture_module.capture_step, compiled=request.param),
    )
    monkeypatch.setattr(module, "COMPILED", request.param)


def twin_models(shape, dtype=np.float64, **kwargs):
    """Two MLPs with identical weights: one for eager mode, one for the captured step."""
    eager = MLP(shape, rng=0, dtype=dtype, **kwargs)
    captured = MLP(shape, rng=0, dtype=dtype, **kwargs)
    return eager, captured


def batches(count, batch, n_in, n_out, seed=1, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return [
        (rng.normal(size=(batch, n_in)).astype(dtype), rng.random((batch, n_out)).astype(dtype))
        for _ in range(count)
    ]


def assert_same_gradients(eager, captured):
    for (name, a), (_, b) in zip(
        eager.named_parameters(), captured.named_parameters(), strict=True
    ):
        assert a.grad is not None and b.grad is not None, name
        np.testing.assert_array_equal(a.grad, b.grad, err_msg=name)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("whole_step", [False, True], ids=["loss only", "optimizer="])
@pytest.mark.parametrize("optimizer_type", [SGD, Adam])
def test_replayed_steps_equal_eager_steps_bitwise(optimizer_type, whole_step, dtype):
    eager, captured = twin_models([3, 8, 8, 2], dtype=dtype, output_activation=None)
    eager_opt = optimizer_type(eager.parameters(), lr=0.05)
    captured_opt = optimizer_type(captured.parameters(), lr=0.05)

    def loss_fn(x, y):
        return squared_error(captured(x), y) / (2 * len(x))

    # with optimizer=, one call is zero_grad, forward, backward and the update
    step = capture_step(loss_fn, optimizer=captured_opt if whole_step else None)
    for x, y in batches(6, 16, 3, 2, dtype=dtype):
        eager_opt.zero_grad()
        eager_loss = squared_error(eager(Tensor(x)), y) / (2 * len(x))
        eager_loss.backward()
        if not whole_step:
            captured_opt.zero_grad()
        captured_loss = step(x, y)
        assert captured_loss.item() == eager_loss.item()
        assert not captured_loss.requires_grad and captured_loss.is_leaf
        assert_same_gradients(eager, captured)
        eager_opt.step()
        if not whole_step:
            captured_opt.step()
        for a, b in zip(eager.parameters(), captured.parameters(), strict=True):
            np.testing.assert_array_equal(a.data, b.data)
    assert step.recordings == 1


def test_float32_stays_float32_and_matches_eager():
    eager, captured = twin_models([2, 5, 1], dtype=np.float32)
    loss_fn = capture_step(lambda x, y: squared_error(captured(x), y, reduction="mean"))
    for x, y in batches(3, 4, 2, 1, dtype=np.float32):
        for model in (eager, captured):
            model.zero_grad()
        squared_error(eager(Tensor(x)), y, reduction="mean").backward()
        loss = loss_fn(x, y)
        assert loss.dtype == np.float32
        assert_same_gradients(eager, captured)
        assert all(p.grad.dtype == np.float32 for p in captured.parameters())


def test_gradients_accumulate_across_calls_like_backward():
    _, model = twin_models([1, 4, 1])
    loss_fn = capture_step(lambda x, y: squared_error(model(x), y))
    x, y = batches(1, 8, 1, 1)[0]
    loss_fn(x, y)  # recorded
    first = [p.grad.copy() for p in model.parameters()]
    loss_fn(x, y)  # replayed, accumulates
    for p, g in zip(model.parameters(), first, strict=True):
        np.testing.assert_allclose(p.grad, 2 * g)


def test_shared_weights_and_broadcasting_replay_exactly():
    w = Tensor(np.random.default_rng(3).normal(size=(4, 4)), requires_grad=True)
    bias = Tensor(np.ones(4), requires_grad=True)

    def loss(x):
        hidden = (x @ w + bias).tanh()
        return ((hidden @ w) * 0.5).sum()

    captured = capture_step(loss)
    for x, _ in batches(3, 5, 4, 1):
        w.grad = bias.grad = None
        loss(Tensor(x)).backward()
        expected = w.grad.copy(), bias.grad.copy()
        w.grad = bias.grad = None
        captured(x)
        np.testing.assert_array_equal(w.grad, expected[0])
        np.testing.assert_array_equal(bias.grad, expected[1])


def test_a_shape_change_raises_or_recaptures():
    _, model = twin_models([1, 4, 1])
    loss_fn = capture_step(lambda x, y: squared_error(model(x), y))
    x, y = batches(1, 8, 1, 1)[0]
    loss_fn(x, y)
    with pytest.raises(ValueError, match=r"input 0 has shape \(5, 1\).*\(8, 1\) float64"):
        loss_fn(x[:5], y[:5])
    with pytest.raises(ValueError, match="dtype float32"):
        loss_fn(x.astype(np.float32), y)

    flexible = capture_step(lambda x, y: squared_error(model(x), y), recapture=True)
    flexible(x, y)
    model.zero_grad()
    flexible(x[:5], y[:5])
    assert flexible.recordings == 2
    expected = [p.grad.copy() for p in model.parameters()]
    model.zero_grad()
    squared_error(model(Tensor(x[:5])), y[:5]).backward()
    for p, g in zip(model.parameters(), expected, strict=True):
        np.testing.assert_array_equal(p.grad, g)


def test_freezing_a_parameter_after_recording_is_caught():
    _, model = twin_models([1, 4, 1])
    loss_fn = capture_step(lambda x, y: squared_error(model(x), y))
    x, y = batches(1, 8, 1, 1)[0]
    loss_fn(x, y)
    model.layers[0].bias.requires_grad = False
    with pytest.raises(ValueError, match="requires_grad"):
        loss_fn(x, y)


def test_values_read_outside_ops_are_refused_when_recording():
    model = MLP([2, 3], rng=0, output_activation=None)
    labels = np.array([0, 2, 1, 0])
    x = np.ones((4, 2))
    frozen_labels = capture_step(lambda x, labels: cross_entropy(model(x), labels))
    with pytest.raises(ValueError, match="index= argument"):
        frozen_labels(x, labels)
    detached = capture_step(lambda x: (model(x) * model(x).detach()).sum())
    with pytest.raises(ValueError, match="detach"):
        detached(x)


def test_bad_functions_and_inputs_give_clear_errors():
    model = MLP([1, 2], rng=0)
    with pytest.raises(TypeError, match="loss Tensor"):
        capture_step(lambda x: 1.0)(np.ones((2, 1)))
    with pytest.raises(ValueError, match="single-element loss"):
        capture_step(lambda x: model(x))(np.ones((2, 1)))
    with pytest.raises(ValueError, match="requires grad"):
        capture_step(lambda x: model(x).sum())(Tensor(np.ones((2, 1)), requires_grad=True))
    with pytest.raises(TypeError, match="function"):
        CapturedStep(42)


def test_extra_outputs_are_returned_without_graph():
    model = MLP([1, 3, 2], rng=0)

    @capture_step
    def step(x, y):
        prediction = model(x)
        return squared_error(prediction, y), prediction

    x, y = batches(1, 4, 1, 2)[0]
    for _ in range(2):
        loss, prediction = step(x, y)
        assert prediction.shape == (4, 2) and prediction.is_leaf
        np.testing.assert_allclose(loss.item(), ((prediction.data - y) ** 2).sum())


def test_forward_only_capture_matches_no_grad_inference():
    model = MLP([2, 6, 3], rng=0)
    predict = capture_step(lambda x: model(x), backward=False)
    for x, _ in batches(3, 5, 2, 1):
        with tnn.no_grad():
            expected = model(Tensor(x)).data
        out = predict(x)
        np.testing.assert_array_equal(out.data, expected)
        assert all(p.grad is None for p in model.parameters())
    assert predict.recordings == 1


def test_forward_only_capture_of_ops_that_use_class_attributes():
    step = capture_step(lambda x: x.max(axis=1) + x.min(axis=1), backward=False)
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

    step = capture_step(lambda x: Stash.apply(x), backward=False)
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


def test_no_grad_and_detect_anomaly_run_the_step_eagerly():
    _, model = twin_models([1, 4, 1])
    loss_fn = capture_step(lambda x, y: squared_error(model(x), y))
    x, y = batches(1, 8, 1, 1)[0]
    with tnn.detect_anomaly():
        loss_fn(x, y)
    assert loss_fn.recordings == 0 and model.layers[0].weight.grad is not None
    with tnn.no_grad(), pytest.raises(RuntimeError, match="requires_grad"):
        loss_fn(x, y)


def test_modes_set_after_recording_still_take_the_step_off_its_fast_path():
    # The fast path's guard checks the modes as well as the inputs: anomaly mode and
    # no_grad run a recorded training step eagerly, a call during another recording is
    # refused, and a forward-only step keeps its fast path under no_grad.
    _, model = twin_models([1, 4, 1])
    loss_fn = capture_step(lambda x, y: squared_error(model(x), y))
    x, y = batches(1, 8, 1, 1)[0]
    loss_fn(x, y)
    anomaly = tnn.detect_anomaly()
    with np.errstate(over="ignore"), anomaly, pytest.raises(RuntimeError, match="NaN or inf"):
        loss_fn(x, np.full_like(y, 1e308))  # eager mode's check: the square overflows
    with tnn.no_grad(), pytest.raises(RuntimeError, match="requires_grad"):
        loss_fn(x, y)
    outer = capture_step(lambda x, y: loss_fn(x, y))
    with pytest.raises(RuntimeError, match="another step is being recorded"):
        outer(x, y)
    assert loss_fn.recordings == 1
    predict = capture_step(lambda x: model(x), backward=False)
    expected = predict(x).data
    with tnn.no_grad():
        np.testing.assert_array_equal(predict(x).data, expected)
    assert predict.recordings == 1


def test_parameters_updated_in_place_or_reassigned_are_read_afresh():
    model = MLP([1, 3, 1], rng=0, output_activation=None)
    loss_fn = capture_step(lambda x, y: squared_error(model(x), y))
    x, y = batches(1, 4, 1, 1)[0]
    first = loss_fn(x, y).item()
    layer = model.layers[0]
    layer.weight.data = layer.weight.data * 3.0  # a new array, not an in-place update
    with tnn.no_grad():
        expected = squared_error(model(Tensor(x)), y).item()
    assert loss_fn(x, y).item() == expected != first


def test_the_recorded_forward_is_readable_source():
    model = MLP([1, 4, 2], rng=0)
    loss_fn = capture_step(lambda x, y: squared_error(model(x), y))
    predict = capture_step(lambda x: model(x), backward=False)
    assert loss_fn.source is None and predict.source is None
    x, y = batches(1, 3, 1, 2)[0]
    loss_fn(x, y)
    predict(x)
    for step, op_lines in ((loss_fn, 5), (predict, 4)):
        if COMPILED:
            assert step.source.startswith("def step(x0")
            calls = [line for line in step.source.splitlines() if line.startswith("    # v")]
        else:
            assert step.source.startswith("# replayed through the engine, not compiled: ")
            assert "\ndef replay(contexts, x0" in step.source
            calls = [line for line in step.source.splitlines() if " = f" in line]
        assert len(calls) == op_lines
    if COMPILED:
        assert "dot(x0, p1.T)" in predict.source and "= SquaredError(" in loss_fn.source
        assert "node(" not in predict.source + loss_fn.source
    else:
        assert "# Linear" in predict.source and "# SquaredError" in loss_fn.source
        assert predict.source.count("node(") == 0 < loss_fn.source.count("node(")


class _Halve(tnn.Function):
    """An op whose forward returns a NumPy scalar, not an array, and whose name is odd."""

    @classmethod
    def op_name(cls):
        return "halve\nraise SystemExit"  # must never reach the generated source as code

    @staticmethod
    def forward(ctx, x):
        return np.float64(x.sum() / 2)

    @staticmethod
    def backward(ctx, grad):
        return (None,)


def test_replays_convert_scalars_and_never_run_op_names_as_code():
    predict = capture_step(lambda x: _Halve.apply(x), backward=False)
    first = predict(np.arange(4.0))
    second = predict(np.arange(1.0, 5.0))
    assert "SystemExit" not in predict.source
    assert second.data.__class__ is np.ndarray and second.item() == 5.0 and first.item() == 3.0


def test_keyword_arguments_and_identity_functions_replay():
    sums = capture_step(lambda x: (x.sum(axis=0, keepdims=True), x), backward=False)
    out, same = sums(np.ones((3, 2)))
    out, same = sums(np.full((3, 2), 2.0))
    np.testing.assert_array_equal(out.data, [[6.0, 6.0]])
    np.testing.assert_array_equal(same.data, np.full((3, 2), 2.0))
    identity = capture_step(lambda x: x, backward=False)
    identity(np.zeros(2))
    np.testing.assert_array_equal(identity(np.ones(2)).data, np.ones(2))


def test_a_dropped_step_frees_its_parameters_without_the_garbage_collector():
    import gc
    import weakref

    def weighted_sum():
        weight = Tensor(np.ones(3), requires_grad=True)
        return weakref.ref(weight.data), capture_step(lambda x: (x * weight).sum())

    data, step = weighted_sum()
    enabled = gc.isenabled()
    gc.disable()
    try:
        step(np.ones(3))
        step(np.ones(3))
        del step
        assert data() is None
    finally:
        if enabled:
            gc.enable()


def test_errors_in_a_replayed_op_name_the_op_like_eager_errors():
    import traceback

    power = capture_step(lambda x, y: x**y, backward=False)
    power(np.array([2, 3]), np.array([1, 2]))
    with pytest.raises(ValueError, match=r"Pow: .*negative.*\(2,\) int64") as caught:
        power(np.array([2, 3]), np.array([1, -2]))
    text = "".join(traceback.format_exception(caught.value.__cause__))
    assert "= f0(c0, x0, x1)  # Pow" in text  # the replay's source line is shown


class _Unnamed(_Halve):
    @classmethod
    def op_name(cls):
        return None


def test_an_op_name_that_is_not_a_string_is_left_out_of_the_source():
    predict = capture_step(lambda x: _Unnamed.apply(x), backward=False)
    predict(np.arange(4.0))
    assert predict(np.arange(2.0, 6.0)).item() == 7.0
    header, body = predict.source.split("\n", 1)
    assert header.endswith(": _Unnamed has no kernel for these inputs") or not COMPILED
    assert "#" not in body


def test_recapture_keeps_one_recording_per_shape_and_replays_it_when_it_comes_back():
    eager, model = twin_models([1, 4, 2])
    loss_fn = capture_step(lambda x, y: squared_error(model(x), y), recapture=True)
    data = batches(6, 8, 1, 2)
    for index, (x, y) in enumerate(data):
        rows = 8 if index % 2 == 0 else 3  # a full batch, then a short last batch
        for m in (eager, model):
            m.zero_grad()
        loss = loss_fn(x[:rows], y[:rows])
        expected = squared_error(eager(Tensor(x[:rows])), y[:rows])
        expected.backward()
        assert loss.item() == expected.item()
        assert_same_gradients(eager, model)
    assert loss_fn.recordings == 2
    model.layers[0].bias.requires_grad = False  # the kept recordings no longer fit
    loss_fn(data[0][0], data[0][1])
    assert loss_fn.recordings == 3


def test_recapture_keeps_the_newest_recordings_only():
    predict = capture_step(lambda x: x * 2.0, recapture=True, backward=False)
    sizes = range(1, tnn.capture.KEPT_RECORDINGS + 3)
    for size in sizes:
        predict(np.ones(size))
    assert predict.recordings == len(sizes)
    predict(np.ones(sizes[-1] - 1))  # kept: replayed
    assert predict.recordings == len(sizes)
    with pytest.warns(tnn.capture.RecaptureWarning, match="more than 8 input shapes"):
        predict(np.ones(1))  # the oldest, dropped: recorded again
    assert predict.recordings == len(sizes) + 1
    np.testing.assert_array_equal(predict(np.ones(2)).data, np.full(2, 2.0))


def test_more_shapes_in_rotation_than_kept_warn_once(recwarn):
    predict = capture_step(lambda x: x * 2.0, recapture=True, backward=False)
    sizes = range(1, tnn.capture.KEPT_RECORDINGS + 3)  # ten shapes, eight kept
    for _ in range(3):
        for size in sizes:
            predict(np.ones(size))
    assert predict.recordings == 3 * len(sizes)  # every call records: the case it warns of
    warned = [w for w in recwarn if issubclass(w.category, tnn.capture.RecaptureWarning)]
    assert len(warned) == 1 and warned[0].filename == __file__
    assert "(1,) float64" in str(warned[0].message)
    steady = capture_step(lambda x: x * 2.0, recapture=True, backward=False)
    for _ in range(3):
        for size in range(1, tnn.capture.KEPT_RECORDINGS + 1):  # eight shapes: all kept
            steady(np.ones(size))
    assert steady.recordings == tnn.capture.KEPT_RECORDINGS
    assert len([w for w in recwarn if issubclass(w.category, tnn.capture.RecaptureWarning)]) == 1


# ------------------------------------------------------------------ capture_step(optimizer=)


def test_a_training_steps_source_shows_zero_grad_forward_backward_and_update():
    model = MLP([1, 4, 2], rng=0)
    optimizer = SGD(model.parameters(), lr=0.1)
    train_step = capture_step(lambda x, y: squared_error(model(x), y), optimizer=optimizer)
    train_step(*batches(1, 3, 1, 2)[0])
    source = train_step.source
    assert "for " not in source and "while " not in source  # straight-line code
    if COMPILED:
        assert source.startswith("def step(x0, x1):")
        order = ["    optimizer.zero_grad()", "dot(x0, p2.T)", "# backward", "= seed"]
        order += ["# Relu: f'(x) = 1 if x > 0 else 0", "t2.grad = g2"]
        order += ["# SGD.step, inlined", "p2 -= g2 * lr_float64"]
        positions = [source.index(text) for text in order]
        assert positions == sorted(positions)
        rules = [line.strip() for line in source.splitlines() if line.startswith("    # ")]
        ops = [rule[2:].split(":")[0] for rule in rules if ": " in rule and "=" in rule]
        assert ops[-5:] == ["SquaredError", "Relu", "Linear", "Relu", "Linear"]  # newest first
        assert "g0 =" not in source and "g1 =" not in source  # the data need no gradient
        assert "backpropagate" not in source
    else:
        assert "\ndef replay(contexts, x0, x1):" in source and "\ndef step(x0, x1" in source
        step = source[source.index("def step") :]
        order = ["optimizer.zero_grad()", "replay(None, x0, x1)", "backpropagate("]
        order.append("optimizer.step()")
        positions = [step.index(text) for text in order]
        assert positions == sorted(positions)
        listing = [line.strip() for line in step.splitlines() if ".backward(g" in line]
        ops = [line.split(" = ")[1].split(".backward")[0] for line in listing]
        assert ops == ["SquaredError", "Relu", "Linear", "Relu", "Linear"]  # newest first
        assert "f'(x) = 1 if x > 0 else 0" in listing[1]  # each node's rule, from its docstring
        assert listing[-1].startswith("#   g2, g3 = Linear.backward(g4)")  # no gradient for x0
        assert "p2.grad += g2" in step
    plain = capture_step(lambda x, y: squared_error(model(x), y))
    plain(*batches(1, 3, 1, 2)[0])
    assert "optimizer" not in plain.source
    assert ("write([" if COMPILED else "backpropagate(") in plain.source


def test_the_backward_shows_where_gradients_add_up():
    w = Tensor(np.ones((2, 2)), requires_grad=True)
    step = capture_step(lambda x: ((x @ w) @ w).sum())
    step(np.ones((3, 2)))
    assert ("g1 = g1 + " if COMPILED else "(adds to g") in step.source


def test_optimizer_errors_and_misuse_are_clear():
    model = MLP([1, 2], rng=0)
    optimizer = SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="an optimizer needs gradients"):
        capture_step(lambda x: model(x), optimizer=optimizer, backward=False)
    with pytest.raises(TypeError, match=r"optimizer= must have zero_grad.*lacks step"):
        capture_step(lambda x: model(x).sum(), optimizer=type("Half", (), {"zero_grad": 1})())

    class Failing:
        def zero_grad(self):
            pass

        def step(self):
            raise ValueError("the optimizer's own error")

    step = capture_step(lambda x: model(x).sum(), optimizer=Failing())
    with pytest.raises(ValueError, match="the optimizer's own error"):
        step(np.ones((2, 1)))  # recording
    with pytest.raises(ValueError, match=r"^the optimizer's own error$"):
        step(np.ones((2, 1)))  # replay: passed on as it is, not renamed after an op


def test_a_training_step_under_detect_anomaly_runs_eagerly_and_still_updates():
    eager, model = twin_models([1, 3, 1])
    eager_optimizer, optimizer = SGD(eager.parameters(), lr=0.1), SGD(model.parameters(), lr=0.1)
    train_step = capture_step(lambda x, y: squared_error(model(x), y), optimizer=optimizer)
    (x, y), (x2, y2) = batches(2, 4, 1, 1)
    train_step(x, y)
    eager_optimizer.zero_grad()
    squared_error(eager(Tensor(x)), y).backward()
    eager_optimizer.step()
    with tnn.detect_anomaly():
        train_step(x2, y2)
    eager_optimizer.zero_grad()
    squared_error(eager(Tensor(x2)), y2).backward()
    eager_optimizer.step()
    for a, b in zip(eager.parameters(), model.parameters(), strict=True):
        np.testing.assert_array_equal(a.data, b.data)


@pytest.mark.parametrize("shift", [False, True], ids=["all in the optimizer", "one outside"])
def test_an_sgd_step_follows_rate_changes_momentum_and_extra_parameters_like_eager(shift):
    eager, model = twin_models([2, 5, 3])
    extras = [Tensor(np.ones(2), requires_grad=True) for _ in range(2)]  # in no step's graph
    optimizers = [
        SGD([*m.parameters(), extra], lr=0.1)
        for m, extra in zip((eager, model), extras, strict=True)
    ]
    outside = [Tensor(np.full(3, 0.5), requires_grad=True) for _ in range(2)]  # in no optimizer

    def loss_of(m, offset, x, y):
        return squared_error(m(x) + offset if shift else m(x), y)

    train_step = capture_step(
        lambda x, y: loss_of(model, outside[1], x, y), optimizer=optimizers[1]
    )
    for index, (x, y) in enumerate(batches(8, 4, 2, 3)):
        if index == 3:
            for optimizer in optimizers:
                optimizer.lr = 0.05
        if index == 5:
            for optimizer in optimizers:
                optimizer.param_groups[0]["momentum"] = 0.9
        for extra in extras:
            extra.grad = np.ones(2)  # zero_grad clears it in both
        optimizers[0].zero_grad()
        expected = loss_of(eager, outside[0], Tensor(x), y)
        expected.backward()
        optimizers[0].step()
        loss = train_step(x, y)
        assert loss.item() == expected.item(), index
        for (name, a), (_, b) in zip(
            eager.named_parameters(), model.named_parameters(), strict=True
        ):
            np.testing.assert_array_equal(a.data, b.data, err_msg=f"{name} at step {index}")
        assert extras[0].grad is None and extras[1].grad is None
        if shift:
            np.testing.assert_array_equal(outside[0].grad, outside[1].grad)  # accumulated
    if COMPILED:
        assigned = "# into .grad (None since zero_grad)" in train_step.source
        assert assigned != shift  # a parameter outside the optimizer: the engine's write


def test_a_parameter_whose_dtype_changes_is_noticed():
    eager, model = twin_models([1, 3, 2])
    loss_fn = capture_step(lambda x, y: squared_error(model(x), y), recapture=False)
    (x, y), _ = batches(2, 4, 1, 2)
    loss_fn(x, y)
    loss_fn(x, y)
    for m in (eager, model):
        for p in m.parameters():
            p.data = p.data.astype(np.float32)
            p.grad = None
    expected = squared_error(eager(Tensor(x)), Tensor(y))  # a step's inputs are Tensors
    expected.backward()
    if COMPILED:  # its lines were written for float64 parameters
        with pytest.raises(ValueError, match=r"now has shape .* and dtype float32"):
            loss_fn(x, y)
        loss_fn = capture_step(lambda x, y: squared_error(model(x), y), recapture=True)
        loss_fn(x, y)
        for p in model.parameters():
            p.grad = None
    loss = loss_fn(x, y)
    assert loss.dtype == expected.dtype and loss.item() == expected.item()
    assert_same_gradients(eager, model)


def test_a_parameter_group_added_after_recording_is_stepped_as_eager_steps_it():
    eager, model = twin_models([2, 3, 1])
    optimizers = [SGD(m.parameters(), lr=0.1) for m in (eager, model)]
    extras = [Tensor(np.ones(2), requires_grad=True) for _ in range(2)]
    train_step = capture_step(lambda x, y: squared_error(model(x), y), optimizer=optimizers[1])
    data = batches(4, 5, 2, 1)
    for index, (x, y) in enumerate(data):
        if index == 2:
            for optimizer, extra in zip(optimizers, extras, strict=True):
                optimizer.add_param_group({"params": [extra], "lr": 0.5})
                extra.grad = np.ones(2)  # stale: zero_grad must clear it before the step
        optimizers[0].zero_grad()
        squared_error(eager(Tensor(x)), y).backward()
        optimizers[0].step()
        train_step(x, y)
        for a, b in zip(eager.parameters(), model.parameters(), strict=True):
            np.testing.assert_array_equal(a.data, b.data)
        np.testing.assert_array_equal(extras[0].data, extras[1].data)
        assert extras[1].grad is None


def test_the_repr_says_how_a_step_runs():
    w = Tensor(np.ones(2), requires_grad=True)
    step = capture_step(lambda x: (w * x).sum())
    assert repr(step).endswith(": not recorded yet>")
    step(np.ones(2))
    assert repr(step).endswith(f": 2 ops, {'compiled' if COMPILED else 'replayed'}>")


@pytest.mark.parametrize("width, releases", [(8, False), (256, True)])
def test_a_replay_releases_its_graph_as_backward_goes_where_values_are_large(width, releases):
    # Releasing costs a record per node, worth it only where it returns real memory: a
    # replay with values of RELEASE_SIZE elements or more holds no more than eager mode.
    from tinygrad_nn.bench.timing import peak_memory

    x = np.random.default_rng(0).normal(size=(128, 64))
    y = np.zeros((128, 10))

    def training(replayed: bool) -> tuple[Any, Any]:
        model = MLP([64, width, width, 10], rng=0)
        optimizer = SGD(model.parameters(), lr=0.01)

        def loss_fn(inputs: Any, targets: Any) -> Tensor:
            return squared_error(model(inputs), targets)

        if replayed:
            step = capture_step(loss_fn, optimizer=optimizer, compiled=False)
            return step, lambda: step(x, y)

        def eager() -> None:
            optimizer.zero_grad()
            loss_fn(x, y).backward()
            optimizer.step()

        return None, eager

    step, run = training(replayed=True)
    run()
    assert f"retain_graph={not releases})" in step.source
    if releases:
        replayed = peak_memory(lambda: training(replayed=True)[1])
        assert replayed <= 1.02 * peak_memory(lambda: training(replayed=False)[1])
