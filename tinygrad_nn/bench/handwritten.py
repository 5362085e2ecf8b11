"""The yardstick: the article's network, its backprop written by hand as tightly as NumPy allows.

`TightMLP` is the original article's algorithm with nothing else: every layer's weights are
one ``(out, in + 1)`` array whose column 0 is the bias, fed by a constant-1 column of the
layer input; relu on every layer, the output included; the cost is ``sum(error**2)`` and
the update ``w -= lr * delta.T @ [1, a] / batch``, the gradient of ``cost / (2 * batch)``
(see `tinygrad_nn.reference`). What makes it tight is only how the arrays are handled:

* every array a step needs is allocated once, at construction, for one batch size;
* the constant-1 column is written once: each layer's activations are written straight
  into the next layer's input buffer behind it (no concatenation per step);
* every NumPy call writes into its buffer with ``out=`` (no temporaries, no copies), and
  the gradient of the bias-less weights ``w[:, 1:]`` is read through a view.

It is the denominator of the benchmark's ratios (with `HandwrittenMLP`, the fastest of the
two in each case). `gemm_floor` is the step's matrix products alone: no implementation of
this network on NumPy can be faster.

Example:
    >>> net = TightMLP(HandwrittenMLP([1, 16, 2], rng=0).weights, batch=32)
    >>> cost = net.step(x, y, lr=0.1)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

__all__ = ["SIGN_MASK_LIMIT", "TightMLP", "gemm_floor"]

# Below this many elements relu's derivative is taken as sign(activation), a float array
# (one ufunc, no casting); above it as a boolean mask multiplied in place, which the ufunc
# machinery casts per element. Measured on one core: at 32 x 16 the sign form costs about
# 2.5 µs against 4 µs; at 128 x 256 it costs 52 µs against 30 µs, at 512 x 1024 1.0 ms
# against 0.66 ms. A hand-writer tuning both sizes would choose the same way.
SIGN_MASK_LIMIT = 4096


class TightMLP:
    """The article's relu network with preallocated buffers and hand-written backprop.

    Args:
        weights: Per layer an ``(out, in + 1)`` array, bias in column 0 (as
            `HandwrittenMLP.weights`); copied, in their dtype.
        batch: The batch size every call uses (the buffers are made for it).

    Attributes:
        weights: The layers' weights, updated in place by `step`.

    Example:
        >>> net = TightMLP(HandwrittenMLP([1, 16, 2], rng=0).weights, batch=32)
        >>> net.forward(np.zeros((32, 1))).shape
        (32, 2)
    """

    def __init__(self, weights: Sequence[np.ndarray], batch: int) -> None:
        if not weights:
            raise ValueError("TightMLP: weights must hold at least one layer")
        if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1:
            raise ValueError(f"TightMLP: batch must be a positive int, got {batch!r}")
        self.weights = [np.array(weight) for weight in weights]
        dtype = self.weights[0].dtype
        for index, (weight, following) in enumerate(
            zip(self.weights, [*self.weights[1:], None], strict=True)
        ):
            if weight.ndim != 2 or weight.dtype != dtype:
                raise ValueError(
                    f"TightMLP: weights[{index}] must be a 2-D {dtype} array, got "
                    f"{weight.dtype} {weight.shape}"
                )
            if following is not None and following.shape[1] != weight.shape[0] + 1:
                raise ValueError(
                    f"TightMLP: weights[{index + 1}] has shape {following.shape}; after "
                    f"weights[{index}] {weight.shape} it needs {weight.shape[0] + 1} columns"
                )
        self.batch = int(batch)
        widths = [weight.shape for weight in self.weights]
        # inputs[i] = [1, a_i]: column 0 is the constant 1, written here once.
        self.inputs = [np.empty((batch, n_in), dtype) for _, n_in in widths]
        for layer_input in self.inputs:
            layer_input[:, 0] = 1
        self.pre_activations = [np.empty((batch, n_out), dtype) for n_out, _ in widths]
        self.output = np.empty((batch, widths[-1][0]), dtype)
        self.deltas = [np.empty((batch, n_out), dtype) for n_out, _ in widths]
        self.gradients = [np.empty_like(weight) for weight in self.weights]
        self._derivative = [self._relu_derivative(z) for z in self.pre_activations]
        # Each layer's activations: the next input's columns 1: (a view), then the output.
        self._activations = [layer_input[:, 1:] for layer_input in self.inputs[1:]]
        self._activations.append(self.output)

    @staticmethod
    def _relu_derivative(z: np.ndarray) -> Callable[[np.ndarray, np.ndarray], None]:
        """``multiply(delta, f'(z))`` in place for relu, in the cheaper form for z's size."""
        if z.size < SIGN_MASK_LIMIT:
            factor = np.empty_like(z)

            def times_derivative(delta: np.ndarray, activation: np.ndarray) -> None:
                # relu(z) >= 0, so sign(relu(z)) is 1 where z > 0 and 0 elsewhere: f'(z).
                np.multiply(delta, np.sign(activation, out=factor), out=delta)

        else:
            mask = np.empty(z.shape, dtype=bool)

            def times_derivative(delta: np.ndarray, activation: np.ndarray) -> None:
                np.multiply(delta, np.greater(activation, 0, out=mask), out=delta)

        return times_derivative

    def forward(self, x: np.ndarray) -> np.ndarray:
        """The network's output for x of shape (batch, in); a buffer reused by the next call."""
        self.inputs[0][:, 1:] = x
        for layer_input, weight, z, activation in zip(
            self.inputs, self.weights, self.pre_activations, self._activations, strict=True
        ):
            np.dot(layer_input, weight.T, out=z)
            np.maximum(z, 0, out=activation)
        return self.output

    def _backward(self, x: np.ndarray, y: np.ndarray) -> float:
        """Forward, then ``gradients[i] = delta_i.T @ [1, a_i]`` (the batch sum, unscaled).

        Returns the article's cost ``sum(error**2)``.
        """
        error = self.deltas[-1]
        np.subtract(self.forward(x), y, out=error)
        cost = float(np.vdot(error, error))
        self._derivative[-1](error, self.output)
        for index in range(len(self.weights) - 1, -1, -1):
            delta = self.deltas[index]
            np.dot(delta.T, self.inputs[index], out=self.gradients[index])
            if index:
                # the bias column feeds no earlier layer: backpropagate through w[:, 1:] only
                previous = self.deltas[index - 1]
                np.dot(delta, self.weights[index][:, 1:], out=previous)
                self._derivative[index - 1](previous, self._activations[index - 1])
        return cost

    def step(self, x: np.ndarray, y: np.ndarray, lr: float) -> float:
        """One SGD step ``w -= lr / batch * delta.T @ [1, a]`` in place.

        Returns:
            The article's batch cost before the update, ``sum(error**2)``.
        """
        cost = self._backward(x, y)
        scale = lr / self.batch
        for weight, gradient in zip(self.weights, self.gradients, strict=True):
            np.multiply(gradient, scale, out=gradient)
            np.subtract(weight, gradient, out=weight)
        return cost

    def weight_gradients(self, x: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
        """d(cost / (2 batch))/d(weights[i]) for every layer, as new arrays (no update)."""
        self._backward(x, y)
        return [gradient / self.batch for gradient in self.gradients]


def gemm_floor(weights: Sequence[np.ndarray], x: np.ndarray, y: np.ndarray) -> Callable[[], None]:
    """A function running a training step's matrix products only, into preallocated buffers.

    Per layer the forward product ``[1, a] @ w.T`` and the weight gradient's
    ``delta.T @ [1, a]``, and for every layer but the first the backpropagated
    ``delta @ w[:, 1:]``: the BLAS work of `TightMLP.step` with nothing around it. The
    buffers hold one real step's values for ``(x, y)`` (garbage from ``np.empty`` may be
    subnormal and slow BLAS down many times).

    Example:
        >>> floor = gemm_floor(HandwrittenMLP([1, 16, 2], rng=0).weights, x, y)
        >>> floor()
    """
    net = TightMLP(weights, len(x))
    net.weight_gradients(x, y)
    products: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for index, weight in enumerate(net.weights):
        layer_input, z, delta = net.inputs[index], net.pre_activations[index], net.deltas[index]
        products.append((layer_input, weight.T, z))
        products.append((delta.T, layer_input, net.gradients[index]))
        if index:
            products.append((delta, weight[:, 1:], net.deltas[index - 1]))
    dot = np.dot

    def floor() -> None:
        for left, right, out in products:
            dot(left, right, out=out)

    return floor
