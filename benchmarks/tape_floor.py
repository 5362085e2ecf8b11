"""Floors for the targets eager and compiled steps miss: the least any engine of this design does.

    python benchmarks/tape_floor.py [--dtype float64] [--rounds 41] [--chain-length 1000000]

Issue 15 sets targets as ratios to the tight hand-written step. Where tinygrad_nn misses
one, this script times the least an engine with tinygrad_nn's design could do for it,
beside tinygrad_nn itself, in interleaved rounds on one BLAS thread:

* **straight line**: the NumPy calls of tinygrad_nn's eager step (a separate bias per
  `Linear`, PyTorch's layout) one after another, with nothing around them: no objects, no
  guard, no ``.grad`` writes, no version stamps. A compiled step that is bitwise equal to
  eager mode makes these calls, so it cannot be faster; the captured targets compare it
  with the tight step, whose bias rides in its weights.
* **bare tape**: about the least an eager reverse-mode engine does: one Python object per
  op output and per op node, a walk of the graph in reverse creation order, gradients
  summed per tensor, the SGD update; no checks of shapes, dtypes or versions, no
  broadcasting, no release of the graph, no lock, no module scopes. With recording off it
  is the bare forward: one object per op output and a grad-mode flag.
* **chain**: the bare tape's nodes for the million-negation chain, with the cyclic
  garbage collector on (as in a user's program) and off, beside tinygrad_nn's and
  PyTorch's (if installed).

Every floor makes tinygrad_nn's NumPy calls, so it computes tinygrad_nn's gradients bit for
bit; the script checks this before timing (the tests check it too). Each table prints the
median time and the median of the per-round ratios to the tight step (the chain: seconds,
and the ratio to PyTorch's build).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # works without installing

import numpy as np

from tinygrad_nn.bench.cases import LEARNING_RATE, Network, chain_times
from tinygrad_nn.bench.machine import set_blas_threads
from tinygrad_nn.bench.suite import SIZES
from tinygrad_nn.bench.timing import interleaved_medians
from tinygrad_nn.losses import squared_error as tnn_squared_error
from tinygrad_nn.ops.core import RELU_SIGN_SIZE
from tinygrad_nn.tensor import Tensor


class Value:
    """An array on the tape: its data, its gradient, the node that made it (None for a
    leaf or with recording off) and whether it needs a gradient."""

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


_recording = [True]  # the bare tape's grad mode


@contextmanager
def no_record() -> Iterator[None]:
    """The bare tape's ``no_grad``: ops make plain Values, no nodes."""
    _recording[0] = False
    try:
        yield
    finally:
        _recording[0] = True


def record(out: np.ndarray, inputs: tuple[Value, ...], saved: tuple[Any, ...], bw: Any) -> Value:
    if _recording[0]:
        return Value(out, True, Node(inputs, saved, bw))
    return Value(out, False)


def relu_derivative(activation: np.ndarray) -> np.ndarray:
    """relu'(z) from relu(z), in the form `tinygrad_nn.ops.core.Relu` picks for its size."""
    if activation.size < RELU_SIGN_SIZE:
        return np.sign(activation)
    return (activation > 0).astype(activation.dtype)


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
    derivative = relu_derivative(saved[0])
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


def divide(x: Value, divisor: np.ndarray) -> Value:
    return record(x.data / divisor, (x,), (divisor,), _divide_backward)


def _divide_backward(saved: tuple[Any, ...], grad: np.ndarray) -> tuple[Any, ...]:
    return (grad / saved[0],)


def negate(x: Value) -> Value:
    return record(np.negative(x.data), (x,), (), _negate_backward)


def _negate_backward(saved: tuple[Any, ...], grad: np.ndarray) -> tuple[Any, ...]:
    return (np.negative(grad),)


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


def _start(network: Network) -> list[np.ndarray]:
    """Copies of the network's starting parameters, as tinygrad_nn's MLP orders them
    (weight, bias per layer)."""
    return [p.data.copy() for p in network.reference.to_module().parameters()]


def _scale(network: Network) -> np.ndarray:
    return np.array(network.scale, network.dtype)  # as tinygrad_nn's constant for the number


def tape_step(network: Network) -> tuple[Callable[[], None], list[Value]]:
    """The bare tape's training step on a copy of the network's weights, and the weights."""
    params = [Value(data, True) for data in _start(network)]
    x, y, scale = network.x, network.y, _scale(network)

    def step() -> None:
        for param in params:
            param.grad = None
        out = Value(x, False)
        for index in range(0, len(params), 2):
            out = relu(linear(out, params[index], params[index + 1]))
        backward(divide(squared_error(out, y), scale))
        rate = np.asarray(LEARNING_RATE, network.dtype)  # as tinygrad_nn's SGD
        for param in params:
            param.data -= param.grad * rate

    return step, params


def tape_forward(network: Network) -> tuple[Callable[[], np.ndarray], list[Value]]:
    """The bare tape's forward with recording off (inference), and its weights."""
    params = [Value(data, True) for data in _start(network)]
    x = network.x

    def forward() -> np.ndarray:
        with no_record():
            out = Value(x, False)
            for index in range(0, len(params), 2):
                out = relu(linear(out, params[index], params[index + 1]))
        return out.data

    return forward, params


def _two_layers(network: Network) -> list[np.ndarray]:
    params = _start(network)
    if len(params) != 4:
        raise ValueError(f"the straight line is written for two layers, got {network.shape}")
    return params


def straight_step(
    network: Network,
) -> tuple[Callable[[], tuple[np.ndarray, list[np.ndarray]]], list[np.ndarray]]:
    """A two-layer network's training step as the NumPy calls of tinygrad_nn's compiled
    step, unrolled, with nothing around them (no guard, no zero_grad, no ``.grad`` writes,
    no version stamps); returns the step (which returns the loss and the gradients) and
    the weights it updates."""
    params = _two_layers(network)
    x, y, scale = network.x, network.y, _scale(network)
    seed, zero = np.array(1, network.dtype), np.array(0, network.dtype)
    ones = np.ones(len(x), network.dtype)
    dot, maximum = np.dot, np.maximum

    def step() -> tuple[np.ndarray, list[np.ndarray]]:
        w1, b1, w2, b2 = params  # as the compiled step reads each parameter's array
        z1 = dot(x, w1.T)
        z1 += b1
        a1 = maximum(z1, zero)
        z2 = dot(a1, w2.T)
        z2 += b2
        a2 = maximum(z2, zero)
        diff = a2 - y
        flat = diff.reshape(-1)
        loss = np.asarray(dot(flat, flat), dtype=diff.dtype) / scale
        delta2 = relu_derivative(a2)
        delta2 *= diff * ((seed / scale) * 2.0)
        grad_a1 = dot(delta2, w2)
        grad_w2, grad_b2 = dot(delta2.T, a1), dot(ones, delta2)
        delta1 = relu_derivative(a1)
        delta1 *= grad_a1
        grads = [dot(delta1.T, x), dot(ones, delta1), grad_w2, grad_b2]
        rate = np.asarray(LEARNING_RATE, network.dtype)
        w1 -= grads[0] * rate
        b1 -= grads[1] * rate
        w2 -= grads[2] * rate
        b2 -= grads[3] * rate
        return loss, grads

    return step, params


def straight_forward(network: Network) -> tuple[Callable[[], np.ndarray], list[np.ndarray]]:
    """A two-layer network's inference as the NumPy calls of tinygrad_nn's compiled
    forward, unrolled, with nothing around them; and the weights."""
    params = _two_layers(network)
    w1, b1, w2, b2 = params
    x, zero = network.x, np.array(0, network.dtype)
    dot, maximum = np.dot, np.maximum

    def forward() -> np.ndarray:
        z1 = dot(x, w1.T)
        z1 += b1
        z2 = dot(maximum(z1, zero), w2.T)
        z2 += b2
        return maximum(z2, zero)

    return forward, params


def eager_gradients(network: Network) -> list[np.ndarray]:
    """The parameters' gradients in one tinygrad_nn eager step from the network's start."""
    model = network.reference.to_module()
    (tnn_squared_error(model(Tensor(network.x)), network.y) / network.scale).backward()
    return [param.grad for param in model.parameters()]


def eager_output(network: Network) -> np.ndarray:
    """tinygrad_nn's eager forward from the network's start."""
    return network.reference.to_module()(network.x).data


def check_floors(network: Network) -> None:
    """Raise AssertionError unless every floor for this network (the straight line for
    two layers only) computes tinygrad_nn's gradients and output, bit for bit."""
    tape, values = tape_step(network)
    tape()
    found = [[value.grad for value in values]]
    forwards = [tape_forward(network)[0]]
    if len(network.shape) == 3:
        found.append(straight_step(network)[0]()[1])
        forwards.append(straight_forward(network)[0])
    expected, output = eager_gradients(network), eager_output(network)
    for gradients in found:
        for ours, theirs in zip(gradients, expected, strict=True):
            assert ours.dtype == theirs.dtype, (ours.dtype, theirs.dtype)
            np.testing.assert_array_equal(ours, theirs)
    for forward in forwards:
        np.testing.assert_array_equal(forward(), output)


def tape_chain_seconds(length: int) -> float:
    """Seconds for the bare tape to record ``length`` negations of a 0-d leaf (the
    collector as it is); checks the chain's gradient, ``(-1) ** length``."""
    gc.collect()
    leaf = Value(np.array(3.0), True)
    start = time.perf_counter()
    node = leaf
    for _ in range(length):
        node = negate(node)
    built = time.perf_counter() - start
    backward(node)
    if float(leaf.grad) != (-1.0 if length % 2 else 1.0):
        raise RuntimeError(f"tape_chain_seconds: wrong gradient {leaf.grad} through the chain")
    return built


def _table(title: str, samples: dict[str, list[float]], base: str) -> None:
    print(f"{title}\n\n| candidate | µs per call | × tight step |\n|---|---|---|")
    for name, values in samples.items():
        ratios = [value / tight for value, tight in zip(values, samples[base], strict=True)]
        print(
            f"| {name} | {statistics.median(values) * 1e6:.1f} | {statistics.median(ratios):.2f}× |"
        )
    print()


def _time(candidates: dict[str, Callable[[], Any]], rounds: int) -> dict[str, list[float]]:
    timings = interleaved_medians(candidates, rounds, 0.05)
    return {name: timing["samples_s"] for name, timing in timings.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    parser.add_argument("--rounds", type=int, default=41)
    parser.add_argument("--chain-length", type=int, default=1_000_000, help="0 skips the chain")
    args = parser.parse_args()
    set_blas_threads(1)
    dtype = np.dtype(args.dtype)
    for case in ("S", "M"):
        shape, batch = SIZES[case]
        network = Network(shape, batch, dtype)
        check_floors(network)
        steps = network.step_factories()
        candidates = {"tight hand-written": steps["tight"]()}
        if case == "S":  # the captured targets are S's: the straight line is written for it
            candidates["straight line"] = straight_step(network)[0]
        candidates["bare tape"] = tape_step(network)[0]
        candidates["tinygrad_nn eager"] = steps["tinygrad_nn"]()
        candidates["captured"] = steps["captured"]()
        samples = _time(candidates, args.rounds)
        _table(
            f"# {case} step ({shape}, batch {batch}, {args.dtype})", samples, "tight hand-written"
        )
        if case == "S":
            forwards = network.inference_factories()
            samples = _time(
                {
                    "tight hand-written": forwards["tight"](),
                    "straight line": straight_forward(network)[0],
                    "bare tape, recording off": tape_forward(network)[0],
                    "tinygrad_nn eager": forwards["tinygrad_nn"](),
                    "captured": forwards["captured"](),
                },
                args.rounds,
            )
            _table(
                f"# S inference ({shape}, batch {batch}, {args.dtype})",
                samples,
                "tight hand-written",
            )
    if args.chain_length:
        try:
            import torch
        except ImportError:
            torch = None
        ours = chain_times(args.chain_length, torch)
        collecting = gc.isenabled()
        with_gc = tape_chain_seconds(args.chain_length)
        gc.disable()
        try:
            without_gc = tape_chain_seconds(args.chain_length)
        finally:
            if collecting:
                gc.enable()
        rows = {
            "bare tape": with_gc,
            "bare tape, collector off": without_gc,
            "tinygrad_nn": ours["tinygrad_nn"]["forward_s"],
            "tinygrad_nn, collector off": ours["tinygrad_nn"]["forward_no_gc_s"],
        }
        if torch is not None:
            rows["PyTorch"] = ours["torch"]["forward_s"]
        print(f"# Building a chain of {args.chain_length:,} negations\n")
        print("| candidate | seconds | × PyTorch |\n|---|---|---|")
        for name, seconds in rows.items():
            ratio = f"{seconds / rows['PyTorch']:.2f}×" if "PyTorch" in rows else "—"
            print(f"| {name} | {seconds:.2f} | {ratio} |")


if __name__ == "__main__":
    main()
