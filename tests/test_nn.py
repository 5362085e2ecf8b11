"""Tests of tinygrad_nn.nn: Module registration and traversal, state dicts, layers, MLP, init."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_nn as tnn
from tinygrad_nn import Tensor
from tinygrad_nn.nn import (
    MLP,
    Identity,
    Linear,
    Module,
    ReLU,
    Sequential,
    Sigmoid,
    StateDictError,
    Tanh,
    init,
)
from tinygrad_nn.testing import central_differences


def names(module: Module) -> list[str]:
    return [name for name, _ in module.named_parameters()]


def outside_any_module() -> bool:
    """A node made now records no module scope: every Module call has exited."""
    return (Tensor([1.0], requires_grad=True) * 2.0).grad_fn.scope == ()


class Block(Module):
    """A module with a parameter, a list, a dict and a nested Sequential."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = Tensor(np.ones(2), requires_grad=True)
        self.constant = Tensor(np.ones(2))  # requires_grad=False: not a parameter
        self.layers = [Linear(2, 3, rng=0), Linear(3, 2, rng=1)]
        self.heads = {"a": Linear(2, 1, rng=2), "b": Sequential(ReLU(), Linear(2, 1, rng=3))}
        self.tail = Sequential(Linear(2, 2, rng=4), Tanh())

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.layers:
            x = layer(x)
        return self.tail(x * self.scale)


# ---------------------------------------------------------------------- registration


def test_named_parameters_order_and_dotted_names() -> None:
    assert names(Block()) == [
        "scale",
        "layers.0.weight",
        "layers.0.bias",
        "layers.1.weight",
        "layers.1.bias",
        "heads.a.weight",
        "heads.a.bias",
        "heads.b.1.weight",
        "heads.b.1.bias",
        "tail.0.weight",
        "tail.0.bias",
    ]


def test_named_modules_root_first_then_dotted_depth_first() -> None:
    module_names = [name for name, _ in Block().named_modules()]
    assert module_names == [
        "",
        "layers.0",
        "layers.1",
        "heads.a",
        "heads.b",
        "heads.b.0",
        "heads.b.1",
        "tail",
        "tail.0",
        "tail.1",
    ]
    block = Block()
    assert next(iter(block.named_modules())) == ("", block)
    assert [name for name, _ in block.named_children()] == [
        "layers.0",
        "layers.1",
        "heads.a",
        "heads.b",
        "tail",
    ]
    assert list(block.children())[-1] is block.tail


def test_nested_sequential_names() -> None:
    model = Sequential(Linear(1, 4), ReLU(), Sequential(Linear(4, 4), Sigmoid(), Linear(4, 2)))
    assert names(model) == [
        "0.weight",
        "0.bias",
        "2.0.weight",
        "2.0.bias",
        "2.2.weight",
        "2.2.bias",
    ]
    assert len(model) == 3
    assert isinstance(model[1], ReLU)
    assert isinstance(model[-1], Sequential)
    assert [type(m).__name__ for m in model] == ["Linear", "ReLU", "Sequential"]
    assert names(model[2:]) == ["0.0.weight", "0.0.bias", "0.2.weight", "0.2.bias"]
    with pytest.raises(IndexError, match="out of range"):
        model[3]
    with pytest.raises(TypeError, match="argument 1"):
        Sequential(Linear(1, 1), "relu")  # type: ignore[arg-type]


def test_shared_parameter_and_module_listed_once() -> None:
    shared = Linear(2, 2, rng=0)
    model = Sequential(shared, ReLU(), shared)
    assert names(model) == ["0.weight", "0.bias"]
    assert len(list(model.parameters())) == 2
    assert [name for name, _ in model.named_modules()] == ["", "0", "1"]
    assert list(model.state_dict()) == ["0.weight", "0.bias"]

    class Tied(Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = Linear(3, 2, rng=0)
            self.decoder_weight = self.encoder.weight

    assert names(Tied()) == ["decoder_weight", "encoder.bias"]


def test_assignment_time_registration_rules() -> None:
    module = Module()
    module.w = Tensor(np.ones(3), requires_grad=True)
    module.c = Tensor(np.ones(3))
    assert names(module) == ["w"]
    module.w.requires_grad = False  # frozen, still a parameter (kept in the state dict)
    assert names(module) == ["w"]
    module.c = Tensor(np.ones(3), requires_grad=True)  # reassignment registers
    assert names(module) == ["w", "c"]
    module.w = None  # replacing a parameter with a non-tensor removes it
    assert names(module) == ["c"]
    del module.c
    assert names(module) == []
    module.register_parameter("frozen", Tensor(np.zeros(1)))
    assert names(module) == ["frozen"]


def test_list_appended_after_assignment_is_seen() -> None:
    module = Module()
    module.layers = []
    module.layers.append(Linear(1, 1))
    assert names(module) == ["layers.0.weight", "layers.0.bias"]


def test_subclass_without_super_init_still_registers() -> None:
    class Forgetful(Module):
        def __init__(self) -> None:
            self.fc = Linear(1, 1)

    assert names(Forgetful()) == ["fc.weight", "fc.bias"]


def test_call_records_module_scope_and_forward_must_exist() -> None:
    model = MLP([1, 3, 2], rng=0)
    out = model(Tensor(np.ones((4, 1))))
    assert out.grad_fn.scope == (model,)  # the output relu is applied by the MLP itself
    linear_node = out.grad_fn.parents[0].grad_fn
    assert linear_node.op_name() == "Linear"
    assert linear_node.scope == (model, model.layers[1])
    assert outside_any_module()
    with pytest.raises(NotImplementedError, match="forward"):
        Module()(1)


def test_scope_is_restored_when_forward_raises() -> None:
    layer = Linear(3, 2)
    with pytest.raises(ValueError, match="Linear"):
        layer(Tensor(np.ones((4, 5))))
    assert outside_any_module()


# ---------------------------------------------------------------------- state


def test_zero_grad_train_eval() -> None:
    model = MLP([1, 4, 2], rng=0)
    model(Tensor(np.ones((3, 1)))).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    assert model.training and model.layers[0].training
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())


def test_state_dict_copies_and_round_trips() -> None:
    source = Block()
    state = source.state_dict()
    assert list(state) == names(source)
    state["scale"][...] = 5.0
    assert np.all(source.scale.data == 1.0), "state_dict must hold copies"

    target = Block()
    for p in target.parameters():
        p.data = np.zeros_like(p.data)
    loaded = source.state_dict()
    assert target.load_state_dict(loaded) == ([], [])
    for name, p in target.named_parameters():
        np.testing.assert_array_equal(p.data, source.state_dict()[name])
        assert not np.shares_memory(p.data, loaded[name]), "loading copies the values"


def test_load_state_dict_reports_everything_and_assigns_nothing() -> None:
    model = MLP([1, 4, 2], rng=0)
    original = model.state_dict()
    bad = model.state_dict()
    del bad["layers.1.bias"]  # missing
    bad["layers.2.weight"] = np.zeros((1, 1))  # unexpected
    bad["layers.0.weight"] = np.zeros((4, 2))  # wrong shape
    bad["layers.0.bias"] = np.zeros(4, dtype=np.int64)  # wrong dtype kind
    bad["layers.1.weight"] = np.full((2, 4), 9.0)  # fine, but must not be assigned
    with pytest.raises(StateDictError) as caught:
        model.load_state_dict(bad)
    error = caught.value
    assert isinstance(error, ValueError)
    assert error.missing == ["layers.1.bias"]
    assert error.unexpected == ["layers.2.weight"]
    assert [name for name, _ in error.mismatched] == ["layers.0.weight", "layers.0.bias"]
    message = str(error)
    for fragment in ("layers.1.bias", "layers.2.weight", "(4, 2)", "(4, 1)", "int64", "nothing"):
        assert fragment in message
    for name, array in model.state_dict().items():
        np.testing.assert_array_equal(array, original[name])


def test_load_state_dict_non_strict_and_casting() -> None:
    model = MLP([1, 4, 2], rng=0, dtype=np.float32)
    partial = {"layers.0.weight": np.ones((4, 1)), "extra": np.zeros(1)}  # float64 values
    result = model.load_state_dict(partial, strict=False)
    assert result.missing_keys == ["layers.0.bias", "layers.1.weight", "layers.1.bias"]
    assert result.unexpected_keys == ["extra"]
    assert model.layers[0].weight.dtype == np.float32
    np.testing.assert_array_equal(model.layers[0].weight.data, 1.0)
    with pytest.raises(StateDictError, match="shape"):
        model.load_state_dict({"layers.0.weight": np.ones(3)}, strict=False)
    with pytest.raises(StateDictError, match="missing"):
        model.load_state_dict(partial)
    with pytest.raises(TypeError, match="mapping"):
        model.load_state_dict([1, 2])  # type: ignore[arg-type]


# ---------------------------------------------------------------------- repr


def test_repr_is_nested_one_line_per_child() -> None:
    assert repr(Linear(1, 16)) == "Linear(in_features=1, out_features=16, bias=True)"
    assert repr(Linear(2, 3, bias=False)) == "Linear(in_features=2, out_features=3, bias=False)"
    assert repr(ReLU()) == "ReLU()"
    assert repr(MLP([1, 16, 2])) == (
        "MLP(\n"
        "  shape=[1, 16, 2], activation='relu', output_activation='relu'\n"
        "  (layers.0): Linear(in_features=1, out_features=16, bias=True)\n"
        "  (layers.1): Linear(in_features=16, out_features=2, bias=True)\n"
        ")"
    )
    assert repr(Sequential(Linear(1, 2), Sequential(Tanh()))) == (
        "Sequential(\n"
        "  (0): Linear(in_features=1, out_features=2, bias=True)\n"
        "  (1): Sequential(\n"
        "    (0): Tanh()\n"
        "  )\n"
        ")"
    )


# ---------------------------------------------------------------------- layers


def test_linear_shapes_order_and_value() -> None:
    layer = Linear(3, 4, rng=0)
    assert layer.weight.shape == (4, 3) and layer.bias.shape == (4,)
    assert names(layer) == ["weight", "bias"]
    x = np.random.default_rng(1).normal(size=(5, 3))
    out = layer(Tensor(x))
    np.testing.assert_allclose(out.data, x @ layer.weight.data.T + layer.bias.data)
    no_bias = Linear(3, 4, bias=False)
    assert no_bias.bias is None and names(no_bias) == ["weight"]
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="in_features"):
            Linear(bad, 2)
    with pytest.raises(TypeError, match="dtype"):
        Linear(1, 1, dtype=np.int64)


def test_linear_is_one_fused_node() -> None:
    layer = Linear(3, 2, rng=0)
    out = layer(Tensor(np.ones((4, 3))))
    node = out.grad_fn
    assert node.op_name() == "Linear"
    assert node.parents[1] is layer.weight and node.parents[2] is layer.bias
    assert all(parent.grad_fn is None for parent in node.parents), "a single node: leaves only"


@settings(max_examples=20, deadline=None)
@given(
    batch=st.integers(1, 5),
    n_in=st.integers(1, 4),
    n_out=st.integers(1, 4),
    bias=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_linear_gradients_match_finite_differences(
    batch: int, n_in: int, n_out: int, bias: bool, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    layer = Linear(n_in, n_out, bias=bias, rng=rng, dtype=np.float64)
    x = Tensor(rng.normal(size=(batch, n_in)), requires_grad=True)
    upstream = rng.normal(size=(batch, n_out))

    def objective() -> float:
        return float(np.sum(layer(x).data * upstream))

    layer(x).backward(upstream)
    for tensor in [x, *layer.parameters()]:
        numeric = central_differences(objective, tensor.data, 1e-6)
        np.testing.assert_allclose(tensor.grad, numeric, rtol=1e-6, atol=1e-8)


def test_activation_modules() -> None:
    x = np.linspace(-3, 3, 7)
    np.testing.assert_allclose(ReLU()(Tensor(x)).data, np.maximum(x, 0))
    np.testing.assert_allclose(Sigmoid()(Tensor(x)).data, 1 / (1 + np.exp(-x)))
    np.testing.assert_allclose(Tanh()(Tensor(x)).data, np.tanh(x))
    t = Tensor(x)
    assert Identity(5, key="ignored")(t) is t


# ---------------------------------------------------------------------- MLP


def test_mlp_article_network_structure() -> None:
    model = MLP([1, 16, 2], rng=0)
    assert model.shape == [1, 16, 2]
    assert model.activation == "relu" and model.output_activation == "relu"
    assert isinstance(model.layers, list) and len(model.layers) == 2
    assert [p.shape for p in model.parameters()] == [(16, 1), (16,), (2, 16), (2,)]
    assert names(model) == ["layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias"]
    out = model(Tensor(np.linspace(-1, 1, 8)[:, None]))
    assert out.shape == (8, 2) and np.all(out.data >= 0)


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh", "identity", None])
@pytest.mark.parametrize("output_activation", ["relu", "sigmoid", None])
def test_mlp_matches_numpy(activation: str | None, output_activation: str | None) -> None:
    functions = {
        "relu": lambda z: np.maximum(z, 0),
        "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
        "tanh": np.tanh,
        "identity": lambda z: z,
        None: lambda z: z,
    }
    model = MLP([2, 5, 4, 3], activation, output_activation, rng=0)
    x = np.random.default_rng(1).normal(size=(6, 2))
    expected = x
    for index, layer in enumerate(model.layers):
        expected = expected @ layer.weight.data.T + layer.bias.data
        expected = functions[activation if index < 2 else output_activation](expected)
    np.testing.assert_allclose(model(Tensor(x)).data, expected, rtol=1e-12)


def test_mlp_validation_dtype_and_seeding() -> None:
    for shape in ([3], [1, 0], [1, 2.0], "12"):
        with pytest.raises(ValueError, match="shape"):
            MLP(shape)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="activation"):
        MLP([1, 2], activation="gelu")
    with pytest.raises(ValueError, match="output_activation"):
        MLP([1, 2], output_activation="softmax")
    model = MLP([1, 8, 2], dtype=np.float32, rng=0)
    assert all(p.dtype == np.float32 for p in model.parameters())
    assert model(Tensor(np.ones((2, 1), np.float32))).dtype == np.float32
    first, second = MLP([1, 8, 2], rng=3), MLP([1, 8, 2], rng=np.random.default_rng(3))
    for a, b in zip(first.parameters(), second.parameters(), strict=True):
        np.testing.assert_array_equal(a.data, b.data)
    assert not np.array_equal(first.layers[0].weight.data, first.layers[1].weight.data[:, :1])
    tnn.set_default_dtype(np.float32)
    assert MLP([1, 2]).layers[0].weight.dtype == np.float32


# ---------------------------------------------------------------------- init


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_init_statistics(dtype: type) -> None:
    shape = (400, 300)
    fan_in, fan_out = 300, 400
    tensor = Tensor(np.empty(shape, dtype))
    assert init.normal(tensor, rng=0) is tensor
    assert tensor.dtype == dtype
    assert abs(tensor.data.mean()) < 0.002 and abs(tensor.data.std() - 0.1) < 0.002
    init.normal(tensor, mean=-0.1, std=0.5, rng=0)
    assert abs(tensor.data.mean() + 0.1) < 0.01 and abs(tensor.data.std() - 0.5) < 0.01

    init.xavier_uniform(tensor, rng=0)
    bound = np.sqrt(6 / (fan_in + fan_out))
    assert np.abs(tensor.data).max() <= bound
    assert abs(tensor.data.std() - bound / np.sqrt(3)) < 0.01 * bound

    init.kaiming_uniform(tensor, rng=0)
    bound = np.sqrt(2) * np.sqrt(3 / fan_in)
    assert np.abs(tensor.data).max() <= bound
    assert abs(tensor.data.std() - bound / np.sqrt(3)) < 0.01 * bound
    assert tensor.dtype == dtype

    init.zeros(tensor)
    assert not tensor.data.any() and tensor.dtype == dtype


def test_init_seeding_and_errors() -> None:
    a, b = np.empty((5, 4)), np.empty((5, 4))
    init.normal(a, rng=7)
    init.normal(b, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)
    single = np.empty((5, 4), np.float32)
    init.normal(single, rng=7)
    np.testing.assert_allclose(single, a, rtol=1e-6)  # the same draws, rounded
    with pytest.raises(ValueError, match="2 axes"):
        init.xavier_uniform(np.empty(3))
    with pytest.raises(TypeError, match="floating"):
        init.normal(np.empty(3, dtype=np.int64))
    with pytest.raises(TypeError, match="rng"):
        init.normal(np.empty(3), rng="seed")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="nonlinearity"):
        init.kaiming_uniform(np.empty((2, 2)), nonlinearity="swish")


def test_linear_init_schemes() -> None:
    normal = Linear(200, 100, init="normal", rng=0)
    assert abs(normal.bias.data.std() - 0.1) < 0.03, "the article's init covers the bias too"
    xavier = Linear(200, 100, init="xavier_uniform", rng=0)
    assert not xavier.bias.data.any()
    assert np.abs(xavier.weight.data).max() <= np.sqrt(6 / 300)
    zeros = Linear(3, 2, init="zeros")
    assert not zeros.weight.data.any() and not zeros.bias.data.any()
    ones = Linear(3, 2, init=lambda t, rng: t.data.fill(1.0))
    assert np.all(ones.weight.data == 1) and np.all(ones.bias.data == 1)
    pair = Linear(3, 2, init=(init.kaiming_uniform, "zeros"), rng=0)
    assert pair.weight.data.any() and not pair.bias.data.any()
    with pytest.raises(ValueError, match="unknown scheme"):
        Linear(1, 1, init="orthogonal")
    with pytest.raises(ValueError, match="unknown initialiser"):
        Linear(1, 1, init=("normal", "bogus"))
    assert Linear(2, 2, init="xavier_uniform", dtype=np.float32).weight.dtype == np.float32
