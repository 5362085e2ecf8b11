"""What the benchmark runs: the candidates of each case, built from the same weights.

A candidate is made by a factory (``make() -> step``) so that `peak_memory` can trace
everything it allocates, its copy of the weights included; timing makes it once.

Training steps (``step_factories``) of one network, one batch, one dtype:

    tight           `TightMLP.step`, the article's algorithm with preallocated buffers
    handwritten     `tinygrad_nn.reference.HandwrittenMLP.step`, the correctness oracle
    tinygrad_nn     eager: MLP, ``squared_error / (2 batch)``, backward, SGD; the input
                    ndarray goes in as it is (no copy, as PyTorch's ``from_numpy``)
    captured        the same step as one `tinygrad_nn.capture.capture_step(fn, optimizer=...)`
                    call: zero_grad, forward, backward, SGD update
    torch           PyTorch CPU eager, nn.Linear + ReLU, mse_loss(sum) / (2 batch), SGD

and `gemm_floor`, the step's matrix products alone. Inference (``inference_factories``)
is each one's forward pass without gradients.
"""

from __future__ import annotations

import copy
import gc
from collections.abc import Callable
from typing import Any

import numpy as np

import tinygrad_nn as tnn
from tinygrad_nn.bench.handwritten import TightMLP, gemm_floor
from tinygrad_nn.bench.timing import chain_seconds
from tinygrad_nn.capture import capture_step
from tinygrad_nn.losses import squared_error
from tinygrad_nn.optim import SGD
from tinygrad_nn.reference import HandwrittenMLP
from tinygrad_nn.tensor import Tensor

__all__ = [
    "HANDWRITTEN",
    "LEARNING_RATE",
    "OP_SHAPE",
    "Network",
    "agreement",
    "chain_times",
    "op_candidates",
]

LEARNING_RATE = 1e-3  # small, so thousands of steps on one batch stay well away from NaN
OP_SHAPE = (8, 8)
HANDWRITTEN = ("tight", "handwritten")  # the hand-written candidates: the fastest is the yardstick

Factory = Callable[[], Callable[[], Any]]


class Network:
    """One benchmark case: a network's weights (`HandwrittenMLP`, seed 0) and one batch.

    Args:
        shape: Layer widths, input first.
        batch: Rows of the batch.
        dtype: Floating dtype of weights and data.
        torch: The ``torch`` module to add PyTorch's candidates, or None.

    Example:
        >>> network = Network([1, 16, 2], 32, np.dtype("float64"))
        >>> step = network.step_factories()["tight"]()
        >>> step()
    """

    def __init__(self, shape: list[int], batch: int, dtype: np.dtype, torch: Any = None) -> None:
        self.shape, self.batch, self.dtype, self.torch = shape, batch, dtype, torch
        self.reference = HandwrittenMLP(shape, rng=0, dtype=dtype)
        rng = np.random.default_rng(1)
        self.x = rng.random((batch, shape[0])).astype(dtype)
        self.y = rng.random((batch, shape[-1])).astype(dtype)
        self.scale = 2 * batch  # the article's cost / (2 batch)

    # ------------------------------------------------------------------ training steps

    def step_factories(self) -> dict[str, Factory]:
        """name -> factory of a training step from these weights (each its own copy)."""
        x, y, reference = self.x, self.y, self.reference

        def tight() -> Callable[[], Any]:
            net = TightMLP(reference.weights, self.batch)
            return lambda: net.step(x, y, LEARNING_RATE)

        def handwritten() -> Callable[[], Any]:
            net = copy.deepcopy(reference)
            return lambda: net.step(x, y, LEARNING_RATE)

        factories = {
            "tight": tight,
            "handwritten": handwritten,
            "tinygrad_nn": self._eager_step,
            "captured": self._captured_step,
        }
        if self.torch is not None:
            factories["torch"] = lambda: self._torch_model()[0]
        return factories

    def floor(self) -> Callable[[], None]:
        """The step's matrix products alone (`gemm_floor`)."""
        return gemm_floor(self.reference.weights, self.x, self.y)

    def _eager_step(self) -> Callable[[], Any]:
        model = self.reference.to_module()
        optimizer = SGD(model.parameters(), lr=LEARNING_RATE)
        x, y, scale = self.x, self.y, self.scale

        def step() -> None:
            optimizer.zero_grad()
            loss = squared_error(model(x), y) / scale
            loss.backward()
            optimizer.step()

        return step

    def _captured_step(self) -> Callable[[], Any]:
        model = self.reference.to_module()
        optimizer = SGD(model.parameters(), lr=LEARNING_RATE)
        x, y, scale = self.x, self.y, self.scale

        @capture_step(optimizer=optimizer)
        def train_step(inputs: Tensor, targets: Tensor) -> Tensor:
            return squared_error(model(inputs), targets) / scale

        return lambda: train_step(x, y)

    # ------------------------------------------------------------------ inference

    def inference_factories(self) -> dict[str, Factory]:
        """name -> factory of a forward pass without gradients, from these weights."""
        x, reference = self.x, self.reference

        def tight() -> Callable[[], Any]:
            net = TightMLP(reference.weights, self.batch)
            return lambda: net.forward(x)

        def handwritten() -> Callable[[], Any]:
            net = copy.deepcopy(reference)
            return lambda: net.forward(x)

        def eager() -> Callable[[], Any]:
            model = reference.to_module()

            def forward() -> None:
                with tnn.no_grad():
                    model(x)

            return forward

        def captured() -> Callable[[], Any]:
            model = reference.to_module()
            predict = capture_step(lambda inputs: model(inputs), backward=False)
            return lambda: predict(x)

        factories = {
            "tight": tight,
            "handwritten": handwritten,
            "tinygrad_nn": eager,
            "captured": captured,
        }
        if self.torch is not None:
            factories["torch"] = lambda: self._torch_model()[1]
        return factories

    # ------------------------------------------------------------------ PyTorch

    def _torch_model(self) -> tuple[Callable[[], Any], Callable[[], Any]]:
        """PyTorch CPU eager: a step (nn.Linear + ReLU, mse_loss sum / (2 batch), SGD) and
        a ``no_grad`` forward, on copies of these weights."""
        torch = self.torch
        dtype = getattr(torch, str(self.dtype))
        layers = []
        for weight in self.reference.weights:
            linear = torch.nn.Linear(weight.shape[1] - 1, weight.shape[0], dtype=dtype)
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(weight[:, 1:].copy()))
                linear.bias.copy_(torch.from_numpy(weight[:, 0].copy()))
            layers += [linear, torch.nn.ReLU()]
        model = torch.nn.Sequential(*layers)
        optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE)
        mse_loss = torch.nn.functional.mse_loss
        x, y, scale = self.x, self.y, self.scale

        def step() -> None:
            optimizer.zero_grad()
            loss = mse_loss(model(torch.from_numpy(x)), torch.from_numpy(y), reduction="sum")
            (loss / scale).backward()
            optimizer.step()

        def inference() -> None:
            with torch.no_grad():
                model(torch.from_numpy(x))

        return step, inference


def agreement(network: Network) -> dict[str, float]:
    """Each candidate's largest relative weight difference from the oracle after one step.

    Every candidate but PyTorch starts from the same weights and takes one SGD step with a
    large learning rate; the weights are compared with `HandwrittenMLP.step`'s. The
    candidates do the same arithmetic, so the differences are rounding only.

    Example:
        >>> agreement(Network([1, 16, 2], 32, np.dtype("float64")))["tight"] < 1e-12
        True
    """
    lr = 0.1
    oracle = copy.deepcopy(network.reference)
    oracle.step(network.x, network.y, lr)
    tight = TightMLP(network.reference.weights, network.batch)
    tight.step(network.x, network.y, lr)
    results = {"tight": tight.weights}
    for name, captured in (("tinygrad_nn", False), ("captured", True)):
        model = network.reference.to_module()
        optimizer = SGD(model.parameters(), lr=lr)

        def loss_fn(inputs: Tensor, targets: Any, model: Any = model) -> Tensor:
            return squared_error(model(inputs), targets) / network.scale

        if captured:
            capture_step(loss_fn, optimizer=optimizer)(network.x, network.y)
        else:
            loss_fn(Tensor(network.x), network.y).backward()
            optimizer.step()
        results[name] = HandwrittenMLP.from_module(model).weights
    return {
        name: max(
            float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), 1e-30))
            for a, b in zip(weights, oracle.weights, strict=True)
        )
        for name, weights in results.items()
    }


# --------------------------------------------------------------------------- per-op cost


def op_candidates(torch: Any = None) -> dict[str, dict[str, Callable[[], Any]]]:
    """Forward + backward of one op on tiny float64 arrays: tinygrad_nn, by hand, torch."""
    rng = np.random.default_rng(2)
    a_data, b_data = rng.normal(size=OP_SHAPE), rng.normal(size=OP_SHAPE)
    upstream = np.ones(OP_SHAPE)
    a = Tensor(a_data, requires_grad=True)
    b = Tensor(b_data, requires_grad=True)

    def framework(op: Callable[[Tensor, Tensor], Tensor], scalar: bool = False) -> Callable:
        def call() -> None:
            out = op(a, b)
            out.backward(None if scalar else upstream)
            a.grad = b.grad = None

        return call

    def relu_by_hand() -> None:
        out = np.maximum(a_data, 0)
        upstream * (out > 0)

    def sum_by_hand() -> None:
        a_data.sum()
        grad = np.empty_like(a_data)
        grad[...] = 1.0

    ops: dict[str, Callable[[Any, Any], Any]] = {
        "add": lambda p, q: p + q,
        "mul": lambda p, q: p * q,
        "matmul": lambda p, q: p @ q,
        "relu": lambda p, q: p.relu(),
        "sum": lambda p, q: p.sum(),
    }
    by_hand: dict[str, Callable[[], Any]] = {
        "add": lambda: (a_data + b_data, upstream.copy(), upstream.copy()),
        "mul": lambda: (a_data * b_data, upstream * b_data, upstream * a_data),
        "matmul": lambda: (a_data @ b_data, upstream @ b_data.T, a_data.T @ upstream),
        "relu": relu_by_hand,
        "sum": sum_by_hand,
    }
    cases = {
        name: {"numpy": by_hand[name], "tinygrad_nn": framework(op, name == "sum")}
        for name, op in ops.items()
    }
    if torch is not None:
        ta = torch.from_numpy(a_data.copy()).requires_grad_()
        tb = torch.from_numpy(b_data.copy()).requires_grad_()
        t_upstream = torch.from_numpy(upstream)

        def torch_call(op: Callable[[Any, Any], Any], scalar: bool = False) -> Callable:
            def call() -> None:
                out = op(ta, tb)
                out.backward(None if scalar else t_upstream)
                ta.grad = tb.grad = None

            return call

        for name, op in ops.items():
            cases[name]["torch"] = torch_call(op, name == "sum")
    return cases


# --------------------------------------------------------------------------- graph building


def chain_times(length: int, torch: Any = None) -> dict[str, dict[str, float]]:
    """Seconds to build a chain of ``length`` negations of a 0-d float64 leaf, and to
    run backward through it: tinygrad_nn, and PyTorch when ``torch`` is given.

    The cheapest op repeated, so the figure is the engine's cost per node: recording
    (Tensor, node, links) and one backward step. The garbage collector stays on, as in a
    user's program; tinygrad_nn's chain is built a second time with it off
    (``forward_no_gc_s``), which shows how much of the build is the cyclic collector
    walking the growing graph. Each run checks its gradient, ``(-1) ** length``.

    Example:
        >>> chain_times(1000)["tinygrad_nn"]["forward_s"] > 0
        True
    """
    if length < 1:
        raise ValueError(f"chain_times: length must be at least 1, got {length}")
    leaves: dict[str, Callable[[], Any]] = {
        "tinygrad_nn": lambda: Tensor(np.array(3.0), requires_grad=True)
    }
    if torch is not None:
        leaves["torch"] = lambda: torch.tensor(3.0, dtype=torch.float64, requires_grad=True)
    results = {}
    for name, make_leaf in leaves.items():
        forward, backward = chain_seconds(name, make_leaf, length)
        results[name] = {"forward_s": forward, "backward_s": backward}
    collecting = gc.isenabled()
    gc.disable()
    try:
        results["tinygrad_nn"]["forward_no_gc_s"] = chain_seconds(
            "tinygrad_nn", leaves["tinygrad_nn"], length
        )[0]
    finally:
        if collecting:
            gc.enable()
    return results
