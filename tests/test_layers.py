"""Module buffers and traversal, the wave-2 layers, activations and gradient clipping.

Values are checked against NumPy transcriptions of PyTorch's documented formulas,
gradients against float64 finite differences (tnn.testing.gradcheck).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import erf

import tinygrad_nn as tnn
from tinygrad_nn import Tensor, nn
from tinygrad_nn.testing import gradcheck

RNG = np.random.default_rng(0)


def params_of(module: nn.Module) -> list[str]:
    return [name for name, _ in module.named_parameters()]


# --------------------------------------------------------------------------- Module


class WithBuffers(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = Tensor(np.ones(2), requires_grad=True)
        self.register_buffer("count", Tensor(np.array(0)))
        self.register_buffer("scratch", np.zeros(2), persistent=False)
        self.child = nn.BatchNorm1d(2)


def test_buffers_are_saved_but_are_not_parameters() -> None:
    module = WithBuffers()
    assert params_of(module) == ["weight", "child.weight", "child.bias"]
    assert [name for name, _ in module.named_buffers()] == [
        "count",
        "scratch",
        "child.running_mean",
        "child.running_var",
        "child.num_batches_tracked",
    ]
    assert list(module.state_dict()) == [
        "weight",
        "count",
        "child.weight",
        "child.bias",
        "child.running_mean",
        "child.running_var",
        "child.num_batches_tracked",
    ]  # PyTorch's order; the non-persistent buffer is not saved
    module.count = Tensor(np.array(5))  # replacing a buffer keeps it a buffer
    assert module.state_dict()["count"] == 5
    fresh = WithBuffers()
    fresh.load_state_dict(module.state_dict())
    assert fresh.count.data == 5 and fresh.count.dtype == module.count.dtype
    with pytest.raises(ValueError, match="requires grad"):
        module.register_buffer("bad", Tensor(np.ones(1), requires_grad=True))
    with pytest.raises(TypeError, match="got list"):
        module.register_buffer("bad", [1.0])


def test_apply_requires_grad_and_traversal() -> None:
    model = nn.Sequential(nn.Linear(2, 3, rng=0), nn.ReLU(), nn.Sequential(nn.Linear(3, 1)))
    visited: list[str] = []
    assert model.apply(lambda m: visited.append(type(m).__name__)) is model
    assert visited == ["Linear", "ReLU", "Linear", "Sequential", "Sequential"]
    assert visited[-1] == "Sequential"  # children first, the module itself last (PyTorch)
    assert [name for name, _ in model.named_children()] == ["0", "1", "2"]
    assert [name for name, _ in model.named_modules()] == ["", "0", "1", "2", "2.0"]
    assert len(list(model.children())) == 3 and len(list(model.modules())) == 5
    model[0].requires_grad_(False)
    x = Tensor(np.ones((4, 2)))
    model(x).sum().backward()
    assert model[0].weight.grad is None and model[2][0].weight.grad is not None
    assert params_of(model) == ["0.weight", "0.bias", "2.0.weight", "2.0.bias"]  # still listed


def test_linear_defaults_to_pytorchs_init_and_mlp_keeps_the_articles() -> None:
    layer = nn.Linear(400, 300, rng=0)
    bound = 1 / math.sqrt(400)
    for tensor in (layer.weight.data, layer.bias.data):
        assert np.abs(tensor).max() <= bound and np.abs(tensor).max() > 0.95 * bound
        assert abs(tensor.std() - bound / math.sqrt(3)) < 0.05 * bound  # uniform's std
    np.testing.assert_array_equal(nn.Linear(400, 300, rng=0).weight.data, layer.weight.data)
    assert nn.Linear(4, 3, dtype=np.float32, rng=0).weight.dtype == np.float32
    article = nn.MLP([1, 16, 2], rng=0)
    expected = np.random.default_rng(0).normal(0.0, 0.1, size=(16, 1))
    np.testing.assert_allclose(article.layers[0].weight.data, expected)


# --------------------------------------------------------------------------- layers


def test_dropout_train_and_eval() -> None:
    drop = nn.Dropout(0.25, rng=0)
    x = Tensor(np.ones((200, 50)), requires_grad=True)
    y = drop(x)
    kept = y.data != 0
    assert abs(kept.mean() - 0.75) < 0.02
    np.testing.assert_allclose(y.data[kept], 1 / 0.75)
    y.sum().backward()
    np.testing.assert_allclose(x.grad, kept / 0.75)
    assert not np.array_equal(drop(x).data, y.data)  # a new mask each call
    drop.eval()
    assert drop(x) is x
    assert nn.Dropout(1.0)(x).data.max() == 0
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        nn.Dropout(1.5)
    assert nn.Dropout(0.5, rng=0)(Tensor(np.ones(5, np.float32))).dtype == np.float32


def test_layer_norm_values_and_gradients() -> None:
    x = RNG.normal(size=(2, 3, 4))
    norm = nn.LayerNorm((3, 4))
    assert params_of(norm) == ["weight", "bias"] and norm.weight.shape == (3, 4)
    mean = x.mean(axis=(1, 2), keepdims=True)
    var = x.var(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(norm(Tensor(x)).data, (x - mean) / np.sqrt(var + 1e-5))
    w, b = RNG.normal(size=4), RNG.normal(size=4)
    last = nn.LayerNorm(4)
    last.weight.data, last.bias.data = w, b

    def f(x_: Tensor, w_: Tensor, b_: Tensor) -> Tensor:
        last.weight, last.bias = w_, b_
        return last(x_)

    gradcheck(f, Tensor(x, requires_grad=True), Tensor(w, requires_grad=True),
              Tensor(b, requires_grad=True))  # fmt: skip
    assert params_of(nn.LayerNorm(4, elementwise_affine=False)) == []
    with pytest.raises(ValueError, match="does not end in normalized_shape"):
        nn.LayerNorm(5)(Tensor(x))


@pytest.mark.parametrize(("layer", "shape"), [(nn.BatchNorm1d, (6, 3)), (nn.BatchNorm1d, (4, 3, 5)),
                                              (nn.BatchNorm2d, (4, 3, 2, 5))])  # fmt: skip
def test_batch_norm_normalises_and_tracks_unbiased_running_statistics(layer, shape) -> None:
    bn = layer(3, momentum=0.1)
    axes = (0, *range(2, len(shape)))
    x = RNG.normal(2.0, 3.0, size=shape)
    y = bn(Tensor(x)).data
    mean, var = x.mean(axis=axes), x.var(axis=axes)
    count = x.size // 3
    expand = (1, 3) + (1,) * (len(shape) - 2)
    np.testing.assert_allclose(y, (x - mean.reshape(expand)) / np.sqrt(var.reshape(expand) + 1e-5))
    np.testing.assert_allclose(bn.running_mean.data, 0.1 * mean)
    np.testing.assert_allclose(bn.running_var.data, 0.9 + 0.1 * var * count / (count - 1))
    assert bn.num_batches_tracked.data == 1 and bn.num_batches_tracked.dtype == np.int64
    bn.eval()
    expected = (x - bn.running_mean.data.reshape(expand)) / np.sqrt(
        bn.running_var.data.reshape(expand) + 1e-5
    )
    np.testing.assert_allclose(bn(Tensor(x)).data, expected)
    assert bn.num_batches_tracked.data == 1  # eval does not track


def test_batch_norm_gradients_options_and_errors() -> None:
    bn = nn.BatchNorm2d(2)
    bn.weight.data = RNG.normal(size=2)
    gradcheck(lambda x: bn(x), Tensor(RNG.normal(size=(3, 2, 2, 2)), requires_grad=True))
    cumulative = nn.BatchNorm1d(2, momentum=None)
    batches = [RNG.normal(size=(5, 2)) for _ in range(3)]
    for batch in batches:
        cumulative(Tensor(batch))
    np.testing.assert_allclose(
        cumulative.running_mean.data, np.mean([b.mean(0) for b in batches], 0)
    )
    plain = nn.BatchNorm1d(2, affine=False, track_running_stats=False)
    assert params_of(plain) == [] and list(plain.state_dict()) == []
    plain.eval()  # no running statistics: eval normalises by the batch too
    np.testing.assert_allclose(plain(Tensor(batches[0])).data.mean(0), 0, atol=1e-12)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.BatchNorm1d(2)(Tensor(np.ones((1, 2))))
    with pytest.raises(ValueError, match="2 channels on axis 1"):
        nn.BatchNorm1d(2)(Tensor(np.ones((4, 3))))
    small = nn.BatchNorm2d(2, dtype=np.float32)
    out = small(Tensor(np.ones((2, 2, 2, 2), np.float32)))
    assert out.dtype == np.float32 and small.running_var.dtype == np.float32


def test_embedding_flatten_and_containers() -> None:
    table = nn.Embedding(5, 3, padding_idx=0, rng=0)
    assert params_of(table) == ["weight"] and np.all(table.weight.data[0] == 0)
    indices = np.array([[0, 2], [2, 4]])
    out = table(indices)
    np.testing.assert_array_equal(out.data, table.weight.data[indices])
    out.sum().backward()
    np.testing.assert_array_equal(table.weight.grad[:, 0], [0, 0, 2, 0, 1])  # padding: none
    with pytest.raises(IndexError, match=r"\[0, 5\)"):
        table(np.array([5]))
    with pytest.raises(TypeError, match="integers"):
        table(np.array([1.0]))

    x = Tensor(np.arange(24.0).reshape(2, 3, 4))
    assert nn.Flatten()(x).shape == (2, 12)
    assert nn.Flatten(0, 1)(x).shape == (6, 4)
    with pytest.raises(ValueError, match="do not fit"):
        nn.Flatten(2, 1)(x)

    blocks = nn.ModuleList([nn.Linear(2, 2, rng=i) for i in range(2)])
    blocks.insert(0, nn.Linear(2, 2, rng=9))
    blocks.append(nn.ReLU())
    assert params_of(blocks) == [f"{i}.{p}" for i in range(3) for p in ("weight", "bias")]
    assert len(blocks) == 4 and isinstance(blocks[-1], nn.ReLU)
    del blocks[0]
    assert params_of(blocks)[0] == "0.weight" and len(blocks) == 3

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.heads = nn.ModuleDict({"a": nn.Linear(2, 1), "b": nn.Linear(2, 3)})

    net = Net()
    assert params_of(net) == ["heads.a.weight", "heads.a.bias", "heads.b.weight", "heads.b.bias"]
    assert list(net.heads) == ["a", "b"] and "a" in net.heads
    net.heads.pop("a")
    assert params_of(net) == ["heads.b.weight", "heads.b.bias"]
    with pytest.raises(KeyError, match="attribute"):
        net.heads["keys"] = nn.ReLU()
    with pytest.raises(KeyError, match=r"keys are \['b'\]"):
        net.heads["zzz"]


# --------------------------------------------------------------------------- activations


def _numpy_gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1 + erf(x / math.sqrt(2)))


ACTIVATIONS = [
    (nn.LeakyReLU(0.2), lambda x: np.where(x > 0, x, 0.2 * x)),
    (nn.ELU(0.5), lambda x: np.where(x > 0, x, 0.5 * np.expm1(np.minimum(x, 0)))),
    (nn.GELU(), _numpy_gelu),
    (
        nn.GELU("tanh"),
        lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))),
    ),
    (nn.SiLU(), lambda x: x / (1 + np.exp(-x))),
    (nn.Softplus(2.0, 5.0), lambda x: np.where(2 * x > 5, x, np.log1p(np.exp(2 * x)) / 2)),
    (nn.Softmax(dim=1), lambda x: np.exp(x) / np.exp(x).sum(1, keepdims=True)),
    (nn.LogSoftmax(dim=1), lambda x: x - np.log(np.exp(x).sum(1, keepdims=True))),
]


@pytest.mark.parametrize(("module", "reference"), ACTIVATIONS, ids=lambda a: repr(a)[:20])
def test_activation_values_gradients_and_dtype(module: nn.Module, reference) -> None:
    x = RNG.normal(scale=2.0, size=(4, 5))
    x = np.where(np.abs(x) < 1e-3, 0.5, x)  # away from the kinks at 0
    x = np.where(np.abs(2 * x - 5) < 1e-3, 1.0, x)  # and from Softplus's threshold
    np.testing.assert_allclose(module(Tensor(x)).data, reference(x), rtol=1e-12, atol=1e-14)
    gradcheck(module, Tensor(x, requires_grad=True))
    assert module(Tensor(x.astype(np.float32))).dtype == np.float32
    extreme = module(Tensor(np.array([[-1e4, 1e4, 0.0, 3.0, -3.0]]))).data
    assert np.all(np.isfinite(extreme))


def test_softmax_without_dim_warns_like_pytorch() -> None:
    with pytest.warns(UserWarning, match="pass dim="):
        out = nn.Softmax()(Tensor(np.zeros((2, 4))))
    np.testing.assert_allclose(out.data, 0.25)


def test_softplus_gradient_at_zero_is_a_half() -> None:
    x = Tensor(np.zeros(3), requires_grad=True)
    nn.Softplus()(x).sum().backward()
    np.testing.assert_allclose(x.grad, 0.5)


# --------------------------------------------------------------------------- clipping


def test_clip_grad_norm() -> None:
    a = Tensor(np.zeros(2), requires_grad=True)
    b = Tensor(np.zeros((1, 1)), requires_grad=True)
    c = Tensor(np.zeros(3), requires_grad=True)  # no grad: skipped
    a.grad, b.grad = np.array([3.0, 0.0]), np.array([[4.0]])
    total = nn.utils.clip_grad_norm_([a, b, c], max_norm=1.0)
    assert total.item() == 5.0
    np.testing.assert_allclose(a.grad, [3 / (5 + 1e-6), 0])
    np.testing.assert_allclose(b.grad, [[4 / (5 + 1e-6)]])
    assert c.grad is None
    a.grad = np.array([0.1, 0.2])
    assert nn.utils.clip_grad_norm_(a, max_norm=1.0).item() == pytest.approx(math.sqrt(0.05))
    np.testing.assert_array_equal(a.grad, [0.1, 0.2])  # under the limit: unchanged
    a.grad, b.grad = np.array([-3.0, 1.0]), np.array([[2.0]])
    assert nn.utils.clip_grad_norm_([a, b], 1.0, norm_type=math.inf).item() == 3.0
    np.testing.assert_allclose(b.grad, [[2 / (3 + 1e-6)]])
    a.grad, b.grad = np.array([-3.0, 1.0]), np.array([[2.0]])
    assert nn.utils.clip_grad_norm_([a, b], 10.0, norm_type=1).item() == pytest.approx(6.0)
    a.grad = np.array([np.inf, 1.0])
    with pytest.raises(RuntimeError, match="error_if_nonfinite"):
        nn.utils.clip_grad_norm_([a], 1.0, error_if_nonfinite=True)
    with pytest.raises(TypeError, match=r"model\.parameters"):
        nn.utils.clip_grad_norm_(nn.Linear(1, 1), 1.0)
    f32 = Tensor(np.zeros(2, np.float32), requires_grad=True)
    f32.grad = np.array([30.0, 40.0], np.float32)
    nn.utils.clip_grad_norm_([f32], 1.0)
    assert f32.grad.dtype == np.float32


def test_clip_grad_value() -> None:
    a = Tensor(np.zeros(3, np.float32), requires_grad=True)
    a.grad = np.array([-2.0, 0.5, 3.0], np.float32)
    nn.utils.clip_grad_value_([a], 1.0)
    np.testing.assert_array_equal(a.grad, [-1.0, 0.5, 1.0])
    assert a.grad.dtype == np.float32
    with pytest.raises(ValueError, match="clip_value"):
        nn.utils.clip_grad_value_([a], -1.0)


def test_names_are_exported() -> None:
    assert tnn.nn.utils.clip_grad_norm_ is nn.utils.clip_grad_norm_


def test_layers_with_hidden_state_refuse_to_be_captured_in_training_mode() -> None:
    x, y = np.ones((4, 3)), np.zeros((4, 2))
    for layer in (nn.Dropout(0.5, rng=0), nn.BatchNorm1d(3)):
        model = nn.Sequential(nn.Linear(3, 3, rng=0), layer, nn.Linear(3, 2, rng=1))
        step = tnn.capture_step(lambda a, b, m=model: tnn.losses.mse(m(a), b))
        with pytest.raises(ValueError, match=r"capture_step: .*model\.eval\(\)"):
            step(x, y)
        model.eval()
        eval_step = tnn.capture_step(lambda a, b, m=model: tnn.losses.mse(m(a), b))
        assert np.isfinite(eval_step(x, y).item()) and np.isfinite(eval_step(x, y).item())
