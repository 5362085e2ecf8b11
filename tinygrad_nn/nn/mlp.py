"""`MLP`: the article's fully connected network as a Module (Linear layers + activations)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tinygrad_nn import functional
from tinygrad_nn._random import as_generator
from tinygrad_nn.nn import init as _init
from tinygrad_nn.nn.layers import Linear
from tinygrad_nn.nn.module import Module
from tinygrad_nn.tensor import Tensor

__all__ = ["ACTIVATIONS", "MLP"]

ACTIVATIONS: dict[str | None, Callable[[Tensor], Tensor] | None] = {
    "relu": functional.relu,
    "sigmoid": functional.sigmoid,
    "tanh": functional.tanh,
    "identity": None,
    None: None,
}


def _activation_function(argument: str, value: Any) -> Callable[[Tensor], Tensor] | None:
    if not isinstance(value, (str, type(None))) or value not in ACTIVATIONS:
        names = ", ".join(repr(name) for name in ACTIVATIONS)
        raise ValueError(f"MLP: {argument} must be one of {names}; got {value!r}")
    return ACTIVATIONS[value]


class MLP(Module):
    """A fully connected network: ``Linear`` layers with an activation after each.

    ``MLP([1, 16, 2])`` is the article's network: 1 input, 16 relu hidden units, 2 relu
    outputs, weights and biases drawn from normal(0, 0.1). The layers are the plain list
    ``self.layers``, so parameters are named ``layers.0.weight``, ``layers.0.bias``, ...
    (the contract `tinygrad_nn.reference.HandwrittenMLP.from_module` relies on).

    Args:
        shape: layer widths, input first; at least two positive ints.
        activation: after every hidden layer: "relu", "sigmoid", "tanh", "identity" or None.
        output_activation: after the last layer (same choices); None leaves it linear.
        init: the `Linear` init scheme for every layer.
        rng: a ``numpy.random.Generator``, an int seed, or None; one stream for all layers.
        dtype: parameter dtype (default: `tnn.get_default_dtype()`).

    Example:
        >>> model = MLP([1, 16, 2], rng=0)
        >>> model(Tensor(np.zeros((8, 1)))).shape
        (8, 2)
    """

    def __init__(
        self,
        shape: Sequence[int],
        activation: str | None = "relu",
        output_activation: str | None = "relu",
        init: Any = "normal",
        rng: _init.RngLike = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        widths = list(shape) if isinstance(shape, Sequence) and not isinstance(shape, str) else []
        if len(widths) < 2 or any(
            isinstance(w, bool) or not isinstance(w, (int, np.integer)) or w < 1 for w in widths
        ):
            raise ValueError(f"MLP: shape must list at least two positive ints, got {shape!r}")
        self.shape = [int(w) for w in widths]
        self.activation = activation
        self.output_activation = output_activation
        generator = as_generator(rng, "MLP")
        self.layers = [
            Linear(n_in, n_out, init=init, dtype=dtype, rng=generator)
            for n_in, n_out in zip(self.shape[:-1], self.shape[1:], strict=True)
        ]

    # The activations are validated and resolved when set, so forward only reads them.
    @property
    def activation(self) -> str | None:
        """The hidden activation's name (as given)."""
        return self._activation

    @activation.setter
    def activation(self, value: str | None) -> None:
        self._hidden_fn = _activation_function("activation", value)
        self._activation = value

    @property
    def output_activation(self) -> str | None:
        """The output activation's name (as given), None for a linear output."""
        return self._output_activation

    @output_activation.setter
    def output_activation(self, value: str | None) -> None:
        self._output_fn = _activation_function("output_activation", value)
        self._output_activation = value

    def forward(self, x: Tensor) -> Tensor:
        layers = self.layers
        last = len(layers) - 1
        hidden_fn = self._hidden_fn
        for index, layer in enumerate(layers):
            x = layer(x)
            fn = hidden_fn if index < last else self._output_fn
            if fn is not None:
                x = fn(x)
        return x

    def extra_repr(self) -> str:
        return (
            f"shape={self.shape}, activation={self.activation!r}, "
            f"output_activation={self.output_activation!r}"
        )
