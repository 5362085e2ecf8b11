"""A bare tape for the article's step, timed against ours: a floor for eager engines in Python.

    python benchmarks/tape_floor.py [--dtype float64] [--rounds 41]

Issue 15 asks the eager S step (MLP [1, 16, 2], batch 32) for at most 2.0x the tight
hand-written step. This script writes about the least an eager reverse-mode engine does
for that step: one Python object per op output and per op node, a walk of the graph in reverse
creation order, gradients summed per tensor, the SGD update; and nothing else: no checks
of shapes, dtypes or versions, no broadcasting, no release of the graph, no lock, no
module scopes, no grad mode. It runs the same NumPy calls as tinygrad_nn's ops. It checks
that one step computes tinygrad_nn's eager gradients bit for bit, then times the tight
step, the bare tape and tinygrad_nn eager in interleaved rounds (one BLAS thread) and
prints each one's median per-round ratio to the tight step.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # works without installing

import numpy as np

from tinygrad_nn.bench.cases import LEARNING_RATE, Network
from tinygrad_nn.bench.machine import set_blas_threads
from tinygrad_nn.bench.timing import interleaved_medians
from tinygrad_nn.losses import squared_error as tnn_squared_error
from tinygrad_nn.tensor import Tensor


class Value:
    """An array on the tape: its data, its gradient, the node that made it (None for a
    leaf) and whether it needs a gradient (parameters and op outputs do, data does not)."""

    __slots__ = ("data", "grad", "node", "requires_grad")

    def __init__(self, data: np.ndarray, requires_grad: bool, node: Node | None = None) -> None:
        self.data, self.node, self.requires_grad = data, node, requires_grad
        self.grad: Any = None


class Node:
    """One recorded op: its inputs, what its backward needs, and the backward itself."""

    __slots__ = ("backward", "inputs", "number", "saved")
    count = 0

    def __init__(self, inputs: tuple[Value, ...], saved: tuple[Any, ...], backward: Any) -> None:
        Node.count += 1
        self.inputs, self.saved, self.backward, self.number = inputs, saved, backward, Node.count


def record(out: np.ndarray, inputs: tuple[Value, ...], saved: tuple[Any, ...], bw: Any) -> Value:
    return Value(out, True, Node(inputs, saved, bw))


_ONES: dict[tuple[int, np.dtype], np.ndarray] = {}  # the bias gradient's, as ops.Linear's


def linear(x: Value, w: Value, b: Value) -> Value:
    out = np.dot(x.data, w.data.T)
    out += b.data
    key = (len(x.data), w.data.dtype)
    ones = _ONES.get(key)
    if ones is None:
        ones = _ONES[key] = np.ones(key[0], key[1])
    return record(out, (x, w, b), (x.data, w.data, ones, x.requires_grad), _linear_backward)


def _linear_backward(saved: tuple[Any, ...], grad: np.ndarray) -> tuple[Any, ...]:
    x, w, ones, needs_x = saved
    return np.dot(grad, w) if needs_x else None, np.dot(grad.T, x), np.dot(ones, grad)


def relu(x: Value) -> Value:
    out = np.maximum(x.data, 0)
    return record(out, (x,), (out,), _relu_backward)


def _relu_backward(saved: tuple[Any, ...], grad: np.ndarray) -> tuple[Any, ...]:
    derivative = np.sign(saved[0])
    derivative *= grad
    return (derivative,)


def squared_error(pred: Value, target: np.ndarray) -> Value:
    diff = pred.data - target
    flat = diff.reshape(-1)
    total = np.asarray(np.dot(flat, flat), dtype=diff.dtype)
    return record(total, (pred,), (pred.data, target), _squared_error_backward)


def _squared_error_backward(saved: tuple[Any, ...], grad: np.ndarray) -> tuple[Any, ...]:
    pred, target = saved
    return ((pred - target) * (grad * 2.0),)  # recomputed, as ops.SquaredError does


def divide(x: Value, divisor: float) -> Value:
    return record(x.data / divisor, (x,), (divisor,), _divide_backward)


def _divide_backward(saved: tuple[Any, ...], grad: np.ndarray) -> tuple[Any, ...]:
    return (grad / saved[0],)


def backward(root: Value) -> None:
    """Reverse creation order is a topological order: number the reachable nodes, then
    visit them newest first, each value's gradient summed before its node runs; leaves
    add theirs into ``.grad``."""
    found: dict[int, Value] = {}
    stack = [root]
    while stack:
        value = stack.pop()
        node = value.node
        if node is not None and node.number not in found:
            found[node.number] = value
            stack.extend(node.inputs)
    pending: dict[int, Any] = {id(root): np.array(1, root.data.dtype)}
    for number in sorted(found, reverse=True):
        value = found[number]
        node = value.node
        grads = node.backward(node.saved, pending.pop(id(value)))  # type: ignore[union-attr]
        for parent, grad in zip(node.inputs, grads, strict=True):  # type: ignore[union-attr]
            if grad is None or not parent.requires_grad:
                continue
            if parent.node is None:
                parent.grad = grad if parent.grad is None else parent.grad + grad
            else:
                previous = pending.get(id(parent))
                pending[id(parent)] = grad if previous is None else previous + grad


def tape_step(network: Network) -> tuple[Callable[[], None], list[Value]]:
    """The bare tape's training step on a copy of the network's weights, and the weights."""
    params = [Value(p.data.copy(), True) for p in network.reference.to_module().parameters()]
    w1, b1, w2, b2 = params
    x, y = network.x, network.y
    scale = np.array(network.scale, network.dtype)  # as tinygrad_nn's constant for the number

    def step() -> None:
        for param in params:
            param.grad = None
        hidden = relu(linear(Value(x, False), w1, b1))
        loss = divide(squared_error(relu(linear(hidden, w2, b2)), y), scale)
        backward(loss)
        rate = np.asarray(LEARNING_RATE, network.dtype)  # as tinygrad_nn's SGD
        for param in params:
            param.data -= param.grad * rate

    return step, params


def eager_gradients(network: Network) -> list[np.ndarray]:
    """The parameters' gradients in one tinygrad_nn eager step from the network's start."""
    model = network.reference.to_module()
    (tnn_squared_error(model(Tensor(network.x)), network.y) / network.scale).backward()
    return [param.grad for param in model.parameters()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    parser.add_argument("--rounds", type=int, default=41)
    args = parser.parse_args()
    set_blas_threads(1)
    network = Network([1, 16, 2], 32, np.dtype(args.dtype))
    one_step, params = tape_step(network)
    one_step()
    for bare, ours in zip(params, eager_gradients(network), strict=True):
        assert bare.grad.dtype == ours.dtype, (bare.grad.dtype, ours.dtype)
        np.testing.assert_array_equal(bare.grad, ours)  # the same NumPy calls: the same bits

    factories = network.step_factories()
    candidates = {
        "tight hand-written": factories["tight"](),
        "bare tape": tape_step(network)[0],
        "tinygrad_nn eager": factories["tinygrad_nn"](),
    }
    samples = {
        name: timing["samples_s"]
        for name, timing in interleaved_medians(candidates, args.rounds, 0.05).items()
    }
    tight = samples["tight hand-written"]
    print(f"# S step ([1, 16, 2], batch 32, {args.dtype}), {args.rounds} interleaved rounds\n")
    print("| candidate | µs per step | × tight step |\n|---|---|---|")
    for name, values in samples.items():
        ratio = statistics.median(value / base for value, base in zip(values, tight, strict=True))
        print(f"| {name} | {statistics.median(values) * 1e6:.1f} | {ratio:.2f}× |")


if __name__ == "__main__":
    main()
