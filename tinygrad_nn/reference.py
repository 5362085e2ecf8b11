"""The hand-written backprop network that tinygrad_nn grew from, kept as the gradient oracle.

`HandwrittenMLP` follows the original article's algorithm step by step in plain NumPy:
every layer's weights are one ``(out, in + 1)`` array whose column 0 holds the bias, fed
by a constant-1 column appended to the layer input; the backward pass is the chain rule
written out by hand. The autodiff engine must produce the same gradients.

The scalar each gradient belongs to, for a batch of ``B`` rows, ``error = out - y`` and
penalties over the non-bias columns ``w[:, 1:]`` of every layer::

    cost="squared":   J = sum(error**2) / (2 * B) + l1 * sum(|w|) + l2 * sum(w**2)
    cost="absolute":  J = sum(|error|) / B        + l1 * sum(|w|) + l2 * sum(w**2)

The squared case is what the article's update differentiates (its reported cost is
``sum(error**2)``, its gradient is divided by ``B``, and the 2 of the square is dropped).
The penalties are ``tnn.losses.l1_penalty`` (sum |w|) and ``l2_penalty`` (sum w**2, no 1/2).

Two fixes against the article, both documented in ``docs/reference.md``:

* Its inference function hands each layer's pre-activations, not its activations, to the
  next layer. With its in-place relu that happens to give the right answer; with any other
  activation the hidden nonlinearity is skipped. `forward` uses the activations;
  `HandwrittenMLP.estimate_as_published` reproduces the published inference.
* Its sigmoid derivative ``exp(-z) / (1 + exp(-z))**2`` is NaN for large negative ``z``
  (inf / inf). Ours is ``s * (1 - s)`` with ``s = expit(z)``, finite everywhere.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from tinygrad_nn._random import as_generator

if TYPE_CHECKING:
    from numpy.typing import DTypeLike

    from tinygrad_nn.nn import MLP

__all__ = ["HandwrittenMLP", "relu", "relu_derivative", "sigmoid", "sigmoid_derivative"]

ACTIVATIONS = ("relu", "sigmoid")
COSTS = ("squared", "absolute")
INIT_STD = 0.1  # the article's eps: weights start as normal(init_mean, 0.1)

Array = np.ndarray
ActivationFn = Callable[[Array], Array]


def relu(z: Array) -> Array:
    """f(z) = max(z, 0)."""
    return np.maximum(z, 0)


def relu_derivative(z: Array) -> Array:
    """f'(z) = 1 where z > 0, else 0 (the kink at 0 takes 0, as in the article)."""
    return (z > 0).astype(z.dtype)


def sigmoid(z: Array) -> Array:
    """f(z) = 1 / (1 + exp(-z)), computed by scipy's overflow-free expit."""
    from scipy.special import expit

    return expit(z)


def sigmoid_derivative(z: Array) -> Array:
    """f'(z) = s * (1 - s) with s = expit(z); finite for every finite z."""
    s = sigmoid(z)
    return s * (1 - s)


def _identity(z: Array) -> Array:
    """f(z) = z."""
    return z


def _identity_derivative(z: Array) -> Array:
    """f'(z) = 1."""
    return np.ones_like(z)


_FUNCTIONS: dict[str | None, tuple[ActivationFn, ActivationFn]] = {
    "relu": (relu, relu_derivative),
    "sigmoid": (sigmoid, sigmoid_derivative),
    None: (_identity, _identity_derivative),
}


def _with_bias_column(activations: Array) -> Array:
    """Prepend the constant-1 column whose weight (column 0) acts as the bias."""
    ones = np.ones((activations.shape[0], 1), dtype=activations.dtype)
    return np.concatenate([ones, activations], axis=1)


def _check_rate(name: str, value: float, allow_zero: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"HandwrittenMLP: {name} must be a real number, got {value!r}")
    low_ok = value >= 0 if allow_zero else value > 0
    if not math.isfinite(value) or not low_ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"HandwrittenMLP: {name} must be finite and {bound}, got {value!r}")
    return float(value)


class HandwrittenMLP:
    """A fully connected network with hand-derived gradients (the article's algorithm).

    Layer ``i`` computes ``z_i = [1, a_i] @ weights[i].T`` and ``a_{i+1} = f(z_i)``, with
    ``a_0 = x``. ``gradients`` returns dJ/dweights for the scalar ``J`` of `cost` (see the
    module docstring for J exactly).

    Args:
        shape: Layer widths, input first, e.g. ``[1, 16, 2]`` (at least two entries).
        activation: Hidden activation, ``"relu"`` or ``"sigmoid"``.
        cost: ``"squared"`` (the article's) or ``"absolute"``.
        l1: Weight of the penalty sum(|w|) over non-bias weights.
        l2: Weight of the penalty sum(w**2) over non-bias weights.
        rng: None, an int seed or a ``numpy.random.Generator`` for the initial weights.
        output_activation: ``"same"`` (the hidden one, as the article's relu output),
            ``"relu"``, ``"sigmoid"``, or None (or ``"identity"``) for a linear output.
        dtype: Floating dtype of the weights and of the computation.
        init_mean: Mean of the normal(init_mean, 0.1) initial weights; the article's first
            exercise uses ``-0.1``.

    Example:
        >>> net = HandwrittenMLP([1, 16, 2], rng=0)
        >>> net.forward(np.zeros((5, 1))).shape
        (5, 2)
    """

    def __init__(
        self,
        shape: Sequence[int],
        activation: str = "relu",
        cost: str = "squared",
        l1: float = 0.0,
        l2: float = 0.0,
        rng: int | np.random.Generator | None = None,
        output_activation: str | None = "same",
        dtype: DTypeLike = np.float64,
        init_mean: float = 0.0,
    ) -> None:
        try:
            widths = list(shape)
        except TypeError:
            raise TypeError(
                f"HandwrittenMLP: shape must be a list of ints, got {shape!r}"
            ) from None
        if len(widths) < 2 or any(
            isinstance(w, bool) or not isinstance(w, (int, np.integer)) or w < 1 for w in widths
        ):
            raise ValueError(
                f"HandwrittenMLP: shape must list at least two positive ints, got {shape!r}"
            )
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"HandwrittenMLP: activation must be one of {ACTIVATIONS}, got {activation!r}"
            )
        if output_activation == "same":
            output_activation = activation
        elif output_activation == "identity":  # MLP's name for a linear output
            output_activation = None
        elif output_activation is not None and output_activation not in ACTIVATIONS:
            raise ValueError(
                "HandwrittenMLP: output_activation must be 'same', None, 'identity' or one of "
                f"{ACTIVATIONS}, got {output_activation!r}"
            )
        if cost not in COSTS:
            raise ValueError(f"HandwrittenMLP: cost must be one of {COSTS}, got {cost!r}")
        if not np.issubdtype(np.dtype(dtype), np.floating):
            raise TypeError(f"HandwrittenMLP: dtype must be a floating dtype, got {dtype!r}")

        self.shape: list[int] = [int(w) for w in widths]
        self.activation: str = activation
        self.output_activation: str | None = output_activation
        self.cost_name: str = cost
        self.l1: float = _check_rate("l1", l1, allow_zero=True)
        self.l2: float = _check_rate("l2", l2, allow_zero=True)
        self.dtype: np.dtype = np.dtype(dtype)

        generator = as_generator(rng, "HandwrittenMLP")
        self.weights: list[Array] = []
        for n_in, n_out in itertools.pairwise(self.shape):
            weight = generator.normal(init_mean, INIT_STD, size=(n_out, n_in + 1))
            self.weights.append(weight.astype(self.dtype))

    def __repr__(self) -> str:
        return (
            f"HandwrittenMLP(shape={self.shape}, activation={self.activation!r}, "
            f"output_activation={self.output_activation!r}, cost={self.cost_name!r}, "
            f"l1={self.l1}, l2={self.l2}, dtype={self.dtype})"
        )

    # ------------------------------------------------------------------ forward pass

    def _layer_activation(self, index: int) -> str | None:
        is_output_layer = index == len(self.weights) - 1
        return self.output_activation if is_output_layer else self.activation

    def _check_x(self, x: Array, method: str) -> Array:
        x = np.asarray(x, dtype=self.dtype)
        if x.ndim != 2 or x.shape[1] != self.shape[0]:
            raise ValueError(
                f"HandwrittenMLP.{method}: x must have shape (batch, {self.shape[0]}), "
                f"got {x.shape}"
            )
        return x

    def _check_y(self, x: Array, y: Array, method: str) -> Array:
        y = np.asarray(y, dtype=self.dtype)
        if y.shape != (x.shape[0], self.shape[-1]):
            raise ValueError(
                f"HandwrittenMLP.{method}: y must have shape ({x.shape[0]}, {self.shape[-1]}) "
                f"to match x {x.shape}, got {y.shape}"
            )
        return y

    def _run(self, x: Array) -> tuple[list[Array], list[Array], Array]:
        """Forward pass keeping what backprop needs: each layer's input with the bias
        column, each layer's pre-activation z, and the output."""
        inputs_with_bias: list[Array] = []
        pre_activations: list[Array] = []
        activations = x
        for index, weight in enumerate(self.weights):
            layer_input = _with_bias_column(activations)
            z = layer_input @ weight.T
            function, _ = _FUNCTIONS[self._layer_activation(index)]
            activations = function(z)
            inputs_with_bias.append(layer_input)
            pre_activations.append(z)
        return inputs_with_bias, pre_activations, activations

    def forward(self, x: Array) -> Array:
        """Network output, shape (batch, out), for x of shape (batch, in)."""
        _, _, output = self._run(self._check_x(x, "forward"))
        return output

    def estimate_as_published(self, x: Array, relu_in_place: bool = True) -> Array:
        """The article's inference, faithfully: hidden layers pass on z, not f(z).

        The article's relu is ``np.maximum(z, 0, z)``, which overwrites z, so for relu the
        z passed on is really relu(z) and the result equals `forward`. Set
        ``relu_in_place=False`` to model a relu that returns a new array (as a sigmoid
        always does): then every hidden activation is skipped.
        """
        activations = self._check_x(x, "estimate_as_published")
        last = len(self.weights) - 1
        for index, weight in enumerate(self.weights):
            z = _with_bias_column(activations) @ weight.T
            name = self._layer_activation(index)
            function, _ = _FUNCTIONS[name]
            passes_activation = index == last or (name == "relu" and relu_in_place)
            activations = function(z) if passes_activation else z
        return activations

    # ------------------------------------------------------------------ cost and gradients

    def _penalty(self) -> float:
        """l1 * sum(|w|) + l2 * sum(w**2) over the non-bias columns of every layer."""
        total = 0.0
        for weight in self.weights:
            total += self.l1 * np.sum(np.abs(weight[:, 1:])) + self.l2 * np.sum(weight[:, 1:] ** 2)
        return float(total)

    def _article_cost(self, error: Array) -> float:
        """The article's reported batch cost: sum(error**2), or sum(|error|) if absolute."""
        if self.cost_name == "squared":
            return float(np.sum(error**2))
        return float(np.sum(np.abs(error)))

    def cost(self, x: Array, y: Array) -> float:
        """The objective J whose gradient `gradients` returns (module docstring has J).

        Not the article's reported cost C (``sum(error**2)``, which `step` returns):
        for the squared cost J = C / (2 * batch) plus the penalties.
        """
        x = self._check_x(x, "cost")
        y = self._check_y(x, y, "cost")
        error = self.forward(x) - y
        batch = x.shape[0]
        if self.cost_name == "squared":
            data_term = np.sum(error**2) / (2 * batch)
        else:
            data_term = np.sum(np.abs(error)) / batch
        return float(data_term) + self._penalty()

    def _gradients_and_error(self, x: Array, y: Array, method: str) -> tuple[list[Array], Array]:
        x = self._check_x(x, method)
        y = self._check_y(x, y, method)
        inputs_with_bias, pre_activations, output = self._run(x)
        error = output - y
        batch = x.shape[0]

        # dJ/d(output) times B: squared d/d(out) (e**2 / 2) = e; absolute d/d(out) |e| = sign(e).
        output_gradient = error if self.cost_name == "squared" else np.sign(error)
        _, last_derivative = _FUNCTIONS[self.output_activation]
        # delta_i = dJ/dz_i times B: the output gradient times f'(z) of the output layer.
        delta = output_gradient * last_derivative(pre_activations[-1])

        gradients: list[Array] = []  # filled from the last layer back, reversed below
        for index in reversed(range(len(self.weights))):
            # z = [1, a] @ W.T, so dJ/dW = delta.T @ [1, a] / B (column 0: the bias).
            gradients.append(delta.T @ inputs_with_bias[index] / batch)
            if index > 0:
                # B * dJ/da = delta @ W[:, 1:] (the bias column feeds no earlier layer);
                # times f'(z) of the previous layer gives that layer's delta.
                _, derivative = _FUNCTIONS[self._layer_activation(index - 1)]
                upstream = delta @ self.weights[index][:, 1:]
                delta = upstream * derivative(pre_activations[index - 1])
        gradients.reverse()

        for weight, gradient in zip(self.weights, gradients, strict=True):
            # d/dw (l1 |w| + l2 w**2) = l1 sign(w) + 2 l2 w; the bias column is not penalised.
            gradient[:, 1:] += self.l1 * np.sign(weight[:, 1:]) + 2 * self.l2 * weight[:, 1:]
        return gradients, error

    def gradients(self, x: Array, y: Array) -> list[Array]:
        """dJ/dweights[i] for every layer, each of shape (out, in + 1), derived by hand."""
        gradients, _ = self._gradients_and_error(x, y, "gradients")
        return gradients

    def step(self, x: Array, y: Array, lr: float) -> float:
        """One SGD step ``w -= lr * dJ/dw`` in place.

        Returns:
            The article's batch cost before the update, unscaled and without penalties:
            sum(error**2) for the squared cost, sum(|error|) for the absolute cost.
        """
        lr = _check_rate("lr", lr, allow_zero=False)
        gradients, error = self._gradients_and_error(x, y, "step")
        reported = self._article_cost(error)
        for weight, gradient in zip(self.weights, gradients, strict=True):
            weight -= lr * gradient
        return reported

    # ------------------------------------------------------------------ tinygrad_nn.nn.MLP

    def to_module(self) -> MLP:
        """A `tinygrad_nn.nn.MLP` holding copies of these weights (bias = column 0)."""
        from tinygrad_nn.nn import MLP

        module = MLP(
            list(self.shape),
            activation=self.activation,
            output_activation=self.output_activation,
            dtype=self.dtype,
        )
        for index, (layer, weight) in enumerate(zip(module.layers, self.weights, strict=True)):
            for name, target, source in (
                ("weight", layer.weight.data, weight[:, 1:]),
                ("bias", layer.bias.data, weight[:, 0]),
            ):
                if target.shape != source.shape:
                    raise ValueError(
                        f"HandwrittenMLP.to_module: layers[{index}].{name} has shape "
                        f"{target.shape}, expected {source.shape}"
                    )
                target[...] = source
        return module

    @classmethod
    def from_module(cls, mlp: MLP) -> HandwrittenMLP:
        """A HandwrittenMLP holding copies of a `tinygrad_nn.nn.MLP`'s weights and biases."""
        layers = list(mlp.layers)
        if not layers:
            raise ValueError("HandwrittenMLP.from_module: the MLP has no layers")
        if any(layer.bias is None for layer in layers):
            raise ValueError("HandwrittenMLP.from_module: every Linear layer needs a bias")
        first_weight = layers[0].weight.data
        shape = [first_weight.shape[1]] + [layer.weight.data.shape[0] for layer in layers]
        network = cls(
            shape,
            activation=mlp.activation,
            output_activation=mlp.output_activation,
            dtype=first_weight.dtype,
        )
        for index, layer in enumerate(layers):
            weight, bias = layer.weight.data, layer.bias.data
            expected = (shape[index + 1], shape[index])
            if weight.shape != expected or bias.shape != expected[:1]:
                raise ValueError(
                    f"HandwrittenMLP.from_module: layers[{index}] has weight {weight.shape} "
                    f"and bias {bias.shape}; expected {expected} and {expected[:1]}"
                )
            network.weights[index] = np.concatenate([bias[:, None], weight], axis=1).astype(
                network.dtype
            )
        return network
